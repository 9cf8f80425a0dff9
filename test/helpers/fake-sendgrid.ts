import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { type LoopbackServer, listenOnLoopback } from './loopback.js';

/** A mail as SendGrid's v3 Mail Send API receives it. */
export interface SendGridMail {
  personalizations: { to: { email: string }[] }[];
  from: { email: string };
  subject: string;
  content: { type: string; value: string }[];
  custom_args?: Record<string, string>;
}

/** An answer the fake gives instead of accepting: status, headers, body. */
export interface ScriptedAnswer {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

/**
 * SendGrid's `POST /v3/mail/send` on loopback, answering as the real API documents: 401 with
 * an `errors` list for a wrong key, 400 for a request missing required fields, 202 with an
 * `X-Message-Id` header and an empty body for an accepted mail. `script` answers the next
 * requests instead (429 with Retry-After, 5xx, …). SendGrid has no installable emulator; this
 * is the one fake in the suite.
 */
export class FakeSendGrid {
  readonly accepted: { mail: SendGridMail; authorization: string }[] = [];
  readonly requests: number[] = [];
  readonly script: ScriptedAnswer[] = [];
  /** Wait before answering each request: a slow provider. */
  delayMs = 0;
  private server: LoopbackServer | undefined;

  constructor(private readonly apiKey: string) {}

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
    req.on('end', () => setTimeout(() => this.answer(req, res, chunks), this.delayMs));
  }

  private answer(req: IncomingMessage, res: ServerResponse, chunks: Buffer[]): unknown {
    {
      this.requests.push(Date.now());
      const answer = (status: number, body?: unknown, headers: Record<string, string> = {}) => {
        res.writeHead(status, { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers });
        res.end(body === undefined ? '' : JSON.stringify(body));
      };
      if (req.method !== 'POST' || req.url !== '/v3/mail/send')
        return answer(404, { errors: [{ message: 'not found' }] });
      if (req.headers.authorization !== `Bearer ${this.apiKey}`) {
        return answer(401, {
          errors: [{ field: null, message: 'The provided authorization grant is invalid, expired, or revoked' }],
        });
      }
      const scripted = this.script.shift();
      if (scripted) return answer(scripted.status, scripted.body, scripted.headers);
      let mail: SendGridMail;
      try {
        mail = JSON.parse(Buffer.concat(chunks).toString('utf8')) as SendGridMail;
      } catch {
        return answer(400, { errors: [{ field: null, message: 'Bad Request' }] });
      }
      const missing = ['personalizations', 'from', 'subject', 'content'].filter((k) => !(k in mail));
      if (missing.length > 0) {
        return answer(400, {
          errors: missing.map((field) => ({ field, message: `The ${field} parameter is required.` })),
        });
      }
      this.accepted.push({ mail, authorization: req.headers.authorization ?? '' });
      answer(202, undefined, { 'x-message-id': randomUUID().replace(/-/g, '').slice(0, 22) });
    }
  }
}
