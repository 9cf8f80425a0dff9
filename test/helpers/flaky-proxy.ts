import { type IncomingMessage, request, type ServerResponse } from 'node:http';
import { type LoopbackServer, listenOnLoopback } from './loopback.js';

/**
 * An HTTP proxy on loopback in front of a real endpoint that answers the first `failures`
 * requests (after the first `forwardBeforeFailing`, which it forwards) itself — with a 503
 * ServiceUnavailable in AWS's XML error shape — and forwards the rest. It stands for a provider
 * having a bad minute, with real requests and real responses.
 *
 * Two longer faults, switched on and off by the test: `down` fails every request while it is
 * true (an outage of any length), and `cut()` takes the network path away — open connections
 * are dropped, new ones are reset as soon as they are accepted — until `restore()`.
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
  /** While true, every request fails the way `mode` says. */
  down = false;
  /** Connections reset on arrival while the path was cut. */
  refused = 0;
  private isCut = false;

  constructor(
    private readonly target: string,
    failures: number,
  ) {
    this.failures = failures;
  }

  async start(): Promise<string> {
    this.server = await listenOnLoopback((req, res) => this.handle(req, res));
    this.server.server.on('connection', (socket) => {
      if (!this.isCut) return;
      this.refused++;
      socket.destroy();
    });
    return this.server.url;
  }

  async stop(): Promise<void> {
    await this.server?.stop();
  }

  /** Drops every open connection and resets new ones until {@link restore}. */
  cut(): void {
    this.isCut = true;
    this.server?.server.closeAllConnections();
  }

  restore(): void {
    this.isCut = false;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      if (this.down || (this.forwarded >= this.forwardBeforeFailing && this.failed < this.failures)) {
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
    // Dropped by a cut while it waited: nothing to forward it for.
    if (res.destroyed) return;
    const url = new URL(req.url ?? '/', this.target);
    const upstream = request(url, { method: req.method, headers: { ...req.headers, host: url.host } }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', (err) => {
      if (res.destroyed || res.headersSent) return;
      res.writeHead(502);
      res.end(String(err));
    });
    // A cut drops the client's side; the upstream call goes with it, as it would on a real network.
    res.on('close', () => upstream.destroy());
    upstream.end(body);
  }
}
