import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import { DeliveryError } from '@herald/core';
import { abortableBy, acceptAbortSignals, CACHED_AWS_HANDLERS } from '@herald/core/runtime';
import { type EmailMessage, SesEmailer } from '@herald/emailer';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

/**
 * The SES emailer's clients build each command's middleware once (`cacheMiddleware`) and take
 * a delivery's abort signal on the command's input: checked here with the real SDK against an
 * HTTP server on loopback that holds each request until the test answers it.
 */

interface Held {
  /** The subject of the SESv2 SendEmail it carries. */
  subject: string;
  response: ServerResponse;
  /** Resolves when the client's side of the request is gone (cut, or answered). */
  closed: Promise<void>;
}

let server: Server;
let endpoint: string;
let held: Held[];
let arrived: (() => void)[];

beforeEach(async () => {
  process.env.AWS_ACCESS_KEY_ID ??= 'test';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'test';
  held = [];
  arrived = [];
  server = createServer(async (request, response) => {
    const closed = new Promise<void>((resolve) => response.once('close', () => resolve()));
    const subject = subjectOf(await bodyOf(request));
    held.push({ subject, response, closed });
    for (const wake of arrived.splice(0)) wake();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** Resolves once `n` requests have reached the server. */
async function requestsArrived(n: number): Promise<void> {
  while (held.length < n) await new Promise<void>((resolve) => arrived.push(resolve));
}

function answer(h: Held, messageId: string): void {
  h.response.writeHead(200, { 'content-type': 'application/json' });
  h.response.end(JSON.stringify({ MessageId: messageId }));
}

const message = (subject: string): EmailMessage => ({
  from: 'herald@example.com',
  to: ['oncall@example.com'],
  subject,
  html: '<p>run failed</p>',
  text: 'run failed',
  idempotencyKey: `signals-${subject}`,
});

const emailerFor = () => new SesEmailer({ region: 'us-east-1', endpoint, api: 'v2' });

describe('SES sends with cached middleware and per-delivery signals', () => {
  it('cuts only the request whose signal aborts; the other send still gets its answer', async () => {
    const emailer = emailerFor();
    try {
      // A first send, answered, so the later ones run on the cached stack.
      const first = emailer.send(message('first'), { signal: new AbortController().signal });
      await requestsArrived(1);
      answer(held[0] as Held, 'm-1');
      await expect(first).resolves.toEqual({ messageId: 'm-1' });

      const cut = new AbortController();
      const kept = new AbortController();
      const cutSend = emailer.send(message('cut'), { signal: cut.signal });
      const keptSend = emailer.send(message('kept'), { signal: kept.signal });
      await requestsArrived(3);
      cut.abort(new Error('delivery timed out'));
      const failure = await cutSend.then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(failure).toBeInstanceOf(DeliveryError);
      expect((failure as DeliveryError).retryable).toBe(true);
      expect((failure as DeliveryError).message).toBe('ses: aborted (delivery timeout or shutdown)');
      // The server saw the cut request's connection go; the other is still waiting for its answer.
      const cutRequest = held.find((h) => h.subject === 'cut') as Held;
      const keptRequest = held.find((h) => h.subject === 'kept') as Held;
      await cutRequest.closed;
      expect(keptRequest.response.writableEnded).toBe(false);
      answer(keptRequest, 'm-3');
      await expect(keptSend).resolves.toEqual({ messageId: 'm-3' });
    } finally {
      await emailer.close();
    }
  });

  it('sends nothing for a delivery whose signal has already aborted', async () => {
    const emailer = emailerFor();
    try {
      const warm = emailer.send(message('warm'));
      await requestsArrived(1);
      answer(held[0] as Held, 'm-1');
      await warm;
      const aborted = AbortSignal.abort(new Error('shutting down'));
      await expect(emailer.send(message('late'), { signal: aborted })).rejects.toThrow(/aborted/);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(held).toHaveLength(1);
    } finally {
      await emailer.close();
    }
  });
});

describe('a client with cached middleware', () => {
  it('does not keep the first email it sent', async () => {
    // The SESv2 client as the SES emailer builds it, sending one email the way it does.
    const client = acceptAbortSignals(cachedClient());
    try {
      const first = await sendFirst(client);
      const second = client.send(new SendEmailCommand(sendEmailInput('second')));
      await requestsArrived(2);
      answer(held[1] as Held, 'm-2');
      await second;
      collectGarbage();
      // The cached handler still serves the class; the first email's input is gone with it.
      expect(first.deref()).toBeUndefined();
    } finally {
      client.destroy();
    }
  });
});

describe('a client that sent commands before it was given to Herald', () => {
  it('has its requests cut by their signals from then on', async () => {
    const client = cachedClient();
    try {
      // The embedding program's own send: its handler is cached without Herald's middleware.
      const own = client.send(new SendEmailCommand(sendEmailInput('own')));
      await requestsArrived(1);
      answer(held[0] as Held, 'm-1');
      await own;

      acceptAbortSignals(client);
      const cut = new AbortController();
      const send = client.send(new SendEmailCommand(abortableBy(cut.signal, sendEmailInput('cut'))));
      await requestsArrived(2);
      cut.abort(new Error('delivery timed out'));
      await expect(send).rejects.toThrow();
      await (held[1] as Held).closed;
    } finally {
      client.destroy();
    }
  });
});

/** An SESv2 client with the settings of the SES emailer's: cached middleware. */
function cachedClient(): SESv2Client {
  return new SESv2Client({
    region: 'us-east-1',
    endpoint,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    ...CACHED_AWS_HANDLERS,
  });
}

/** Sends the first email on `client` and answers it; returns a weak reference to its input. */
async function sendFirst(client: SESv2Client): Promise<WeakRef<object>> {
  const input = sendEmailInput('first');
  const sent = client.send(new SendEmailCommand(abortableBy(new AbortController().signal, input)));
  await requestsArrived(1);
  answer(held[0] as Held, 'm-1');
  await sent;
  return new WeakRef(input);
}

function sendEmailInput(subject: string) {
  return {
    FromEmailAddress: 'herald@example.com',
    Destination: { ToAddresses: ['oncall@example.com'] },
    Content: { Simple: { Subject: { Data: subject }, Body: { Text: { Data: 'run failed' } } } },
  };
}

/** A full collection, without node started with --expose-gc. */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

async function bodyOf(request: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of request) text += chunk;
  return text;
}

function subjectOf(body: string): string {
  return (JSON.parse(body) as { Content: { Simple: { Subject: { Data: string } } } }).Content.Simple.Subject.Data;
}
