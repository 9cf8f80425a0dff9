import { STATUS_CODES } from 'node:http';
import { DeliveryError } from '@herald/core';
import { expect, vi } from 'vitest';

/** One request a channel made, as the receiving server would read it. */
export interface SentRequest {
  url: string;
  method: string;
  /** Header names lower-cased, values as fetch would send them (duplicates joined by `, `). */
  headers: Record<string, string>;
  body: string;
  signal: AbortSignal | undefined;
}

/** What the stubbed endpoint does with one request: answer it, or fail as fetch would. */
export type Answer = Response | ((request: SentRequest) => Response | Promise<Response>);

/**
 * Replaces the global `fetch` with one that records each request and answers with `answers` in
 * order (the last one again once they run out). Undo with `vi.unstubAllGlobals()`.
 */
export function stubFetch(...answers: Answer[]): SentRequest[] {
  const sent: SentRequest[] = [];
  vi.stubGlobal('fetch', async (input: string | URL | Request, init: RequestInit = {}) => {
    const request: SentRequest = {
      url: String(input),
      method: init.method ?? 'GET',
      headers: Object.fromEntries(new Headers(init.headers).entries()),
      body: typeof init.body === 'string' ? init.body : '',
      signal: init.signal ?? undefined,
    };
    sent.push(request);
    const answer = answers[Math.min(sent.length - 1, answers.length - 1)];
    if (answer === undefined) throw new Error('stubFetch: no answer given');
    if (init.signal?.aborted) throw init.signal.reason;
    return typeof answer === 'function' ? answer(request) : answer.clone();
  });
  return sent;
}

/** A JSON answer with the given status (and its standard status text, as a server sends it). */
export function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return text(status, JSON.stringify(body), { 'content-type': 'application/json', ...headers });
}

/** A plain-text answer with the given status (and its standard status text, as a server sends it). */
export function text(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(status === 204 ? null : body, { status, statusText: STATUS_CODES[status] ?? '', headers });
}

/** What fetch throws when the socket fails: a TypeError whose cause carries the system error code. */
export function networkError(code: string): () => never {
  return () => {
    throw new TypeError('fetch failed', { cause: Object.assign(new Error(`connect ${code}`), { code }) });
  };
}

/** Never answers; rejects as fetch does (with the signal's reason) once the request's signal aborts. */
export function hangUntilAborted(request: SentRequest): Promise<Response> {
  return new Promise((_, reject) => {
    const { signal } = request;
    if (!signal) return; // a request without a signal would hang for ever: the test times out
    if (signal.aborted) reject(signal.reason);
    else signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

/** Runs `send` and returns what it rejected with; fails the test when it resolves. */
export async function sendFailure(send: () => Promise<unknown>): Promise<DeliveryError> {
  const err = await send().then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DeliveryError);
  return err as DeliveryError;
}

/** The one request a send made, parsed. */
export function only(sent: SentRequest[]): SentRequest & { json: unknown } {
  expect(sent).toHaveLength(1);
  const request = sent[0] as SentRequest;
  return { ...request, json: JSON.parse(request.body) };
}
