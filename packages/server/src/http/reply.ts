import type { ServerResponse } from 'node:http';

/** Extra response headers, e.g. `Retry-After`. */
export type Headers = Record<string, string | number>;

/** Answers with a JSON body. */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Headers = {}): void {
  send(res, status, 'application/json; charset=utf-8', `${JSON.stringify(body)}\n`, headers);
}

/** Answers with a plain-text body (a newline is added). */
export function sendText(res: ServerResponse, status: number, text: string, headers: Headers = {}): void {
  send(res, status, 'text/plain; charset=utf-8', `${text}\n`, headers);
}

/** Answers with `body` as it is. */
export function send(
  res: ServerResponse,
  status: number,
  contentType: string,
  body: string,
  headers: Headers = {},
): void {
  res.writeHead(status, {
    ...headers,
    'Content-Type': contentType,
    'Content-Length': Buffer.byteLength(body),
    'Cache-Control': 'no-store',
  });
  res.end(body);
}
