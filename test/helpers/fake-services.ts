import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { type LoopbackServer, listenOnLoopback } from './loopback.js';

/** A request as one of the fake services received it. */
export interface Recorded {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  json: unknown;
}

/** An answer to give instead of the normal one. */
export interface Scripted {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

/**
 * Slack incoming webhooks, PagerDuty Events v2, a generic webhook receiver and Jira's create-
 * issue endpoint on one loopback server, answering with the status codes and bodies their
 * public documentation gives: Slack `200 ok`, PagerDuty `202 {"status":"success",…}` (400
 * "invalid event" without a routing key or summary), Jira `201 {"id","key","self"}` (401 on
 * bad credentials, 400 without a summary). `script[path]` overrides the next answers.
 */
export class FakeServices {
  readonly requests: Recorded[] = [];
  readonly script = new Map<string, Scripted[]>();
  private server: LoopbackServer | undefined;
  base = '';

  constructor(private readonly jiraAuthorization: string) {}

  async start(): Promise<string> {
    this.server = await listenOnLoopback((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = JSON.parse(body);
        } catch {
          json = undefined;
        }
        const path = req.url ?? '/';
        this.requests.push({ method: req.method ?? '', path, headers: req.headers, body, json });
        const send = (status: number, payload = '', headers: Record<string, string> = {}) => {
          res.writeHead(status, headers);
          res.end(payload);
        };
        const scripted = this.script.get(path)?.shift();
        if (scripted) return send(scripted.status, scripted.body ?? '', scripted.headers);
        if (path.startsWith('/slack/')) return send(200, 'ok', { 'content-type': 'text/html' });
        if (path === '/pagerduty/v2/enqueue') return this.pagerDuty(json, send);
        if (path === '/jira/rest/api/2/issue') return this.jira(req.headers.authorization, json, send);
        if (path.startsWith('/hook')) return send(204);
        send(404, 'not found');
      });
    });
    this.base = this.server.url;
    return this.base;
  }

  async stop(): Promise<void> {
    await this.server?.stop();
  }

  /** Requests to paths starting with `prefix`. */
  to(prefix: string): Recorded[] {
    return this.requests.filter((r) => r.path.startsWith(prefix));
  }

  private pagerDuty(
    json: unknown,
    send: (status: number, body?: string, headers?: Record<string, string>) => void,
  ): unknown {
    const event = json as {
      routing_key?: string;
      event_action?: string;
      dedup_key?: string;
      payload?: { summary?: string };
    };
    const errors: string[] = [];
    if (!event?.routing_key) errors.push("'routing_key' is missing or blank");
    if (event?.event_action === 'trigger' && !event.payload?.summary)
      errors.push("'payload.summary' is missing or blank");
    if (errors.length > 0) {
      return send(400, JSON.stringify({ status: 'invalid event', message: 'Event object is invalid', errors }), {
        'content-type': 'application/json',
      });
    }
    send(
      202,
      JSON.stringify({ status: 'success', message: 'Event processed', dedup_key: event.dedup_key ?? randomUUID() }),
      {
        'content-type': 'application/json',
      },
    );
  }

  private jira(
    authorization: string | undefined,
    json: unknown,
    send: (status: number, body?: string, headers?: Record<string, string>) => void,
  ): unknown {
    if (authorization !== this.jiraAuthorization)
      return send(401, 'Client must be authenticated to access this resource.');
    const fields = (json as { fields?: { summary?: string } })?.fields;
    if (!fields?.summary) {
      return send(
        400,
        JSON.stringify({ errorMessages: [], errors: { summary: 'You must specify a summary of the issue.' } }),
        {
          'content-type': 'application/json',
        },
      );
    }
    const id = String(10_000 + this.to('/jira').length);
    send(201, JSON.stringify({ id, key: `OPS-${id}`, self: `${this.base}/jira/rest/api/2/issue/${id}` }), {
      'content-type': 'application/json',
    });
  }
}
