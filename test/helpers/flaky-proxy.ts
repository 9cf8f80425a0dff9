import { type IncomingMessage, request, type ServerResponse } from 'node:http';
import { type LoopbackServer, listenOnLoopback } from './loopback.js';

/**
 * An HTTP proxy on loopback in front of a real endpoint that answers the first `failures`
 * requests (after the first `forwardBeforeFailing`, which it forwards) itself — with a 503 ServiceUnavailable in AWS's XML error shape — and forwards the
 * rest. It stands for a provider having a bad minute, with real requests and real responses.
 */
export class FlakyProxy {
  private server: LoopbackServer | undefined;
  failures: number;
  failed = 0;
  forwarded = 0;
  /** Added before forwarding each request: a slow provider. */
  delayMs = 0;
  /** How a failing request fails: an HTTP 503, or the connection reset without an answer. */
  mode: '503' | 'reset' = '503';
  /** Failures start only once this many requests have been forwarded: a provider that goes bad part-way. */
  forwardBeforeFailing = 0;

  constructor(
    private readonly target: string,
    failures: number,
  ) {
    this.failures = failures;
  }

  async start(): Promise<string> {
    this.server = await listenOnLoopback((req, res) => this.handle(req, res));
    return this.server.url;
  }

  async stop(): Promise<void> {
    await this.server?.stop();
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (this.forwarded >= this.forwardBeforeFailing && this.failed < this.failures) {
        this.failed++;
        if (this.mode === 'reset') {
          req.socket.destroy();
          return;
        }
        res.writeHead(503, { 'content-type': 'text/xml' });
        res.end(
          '<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code>' +
            '<Message>Service is unavailable</Message></Error><RequestId>flaky</RequestId></ErrorResponse>',
        );
        return;
      }
      this.forwarded++;
      setTimeout(() => this.forward(req, res, Buffer.concat(chunks)), this.delayMs);
    });
  }

  private forward(req: IncomingMessage, res: ServerResponse, body: Buffer): void {
    {
      const url = new URL(req.url ?? '/', this.target);
      const upstream = request(url, { method: req.method, headers: { ...req.headers, host: url.host } }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      upstream.on('error', (err) => {
        res.writeHead(502);
        res.end(String(err));
      });
      upstream.end(body);
    }
  }
}
