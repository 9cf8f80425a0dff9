import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { WebhookChannel } from '@herald/channels';
import { sampleEvent } from '@herald/core';
import type { ChannelConfig } from '@herald/core/config';
import { secretReader } from '@herald/core/runtime';
import { TemplateRenderer } from '@herald/core/templates';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { hangUntilAborted, networkError, only, sendFailure, stubFetch, text } from './fetch-stub.js';

type WebhookConfig = Extract<ChannelConfig, { type: 'webhook' }>;

const renderer = new TemplateRenderer();
const HOOK_URL = 'https://audit.example.com/herald?source=flyte';
const SIGNING_SECRET = 'whsec_0123456789';

function webhook(config: Partial<WebhookConfig> = {}): WebhookChannel {
  return new WebhookChannel(
    'audit',
    { type: 'webhook', url: HOOK_URL, ...config },
    renderer,
    secretReader({ HOOK_SIGNING: SIGNING_SECRET }),
  );
}

const hmac = (body: string, secret = SIGNING_SECRET) =>
  `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('a webhook request', () => {
  it('POSTs the event itself as JSON by default', async () => {
    const sent = stubFetch(text(200, ''));
    const event = sampleEvent();

    const result = await webhook().send(webhook().prepare(event));

    const request = only(sent);
    expect(request.url).toBe(HOOK_URL);
    expect(request.method).toBe('POST');
    expect(request.headers).toEqual({ 'content-type': 'application/json' });
    expect(request.json).toEqual(event);
    expect(result).toEqual({ id: '200' });
  });

  it('uses the configured method and sends the configured headers as written', async () => {
    const sent = stubFetch(text(204, ''));
    const channel = webhook({
      method: 'PUT',
      headers: { Authorization: 'Bearer t0ken', 'X-Team': 'ml' },
    });

    const result = await channel.send(channel.prepare(sampleEvent()));

    const request = only(sent);
    expect(request.method).toBe('PUT');
    expect(request.headers).toEqual({
      'content-type': 'application/json',
      authorization: 'Bearer t0ken',
      'x-team': 'ml',
    });
    expect(result).toEqual({ id: '204' });
  });

  it('sends one Content-Type, the configured one, whatever case the configuration writes it in', async () => {
    const sent = stubFetch(text(200, ''), text(200, ''));
    const upper = webhook({ headers: { 'Content-Type': 'application/cloudevents+json' } });
    const lower = webhook({ method: 'PATCH', headers: { 'content-type': 'application/merge-patch+json' } });

    await upper.send(upper.prepare(sampleEvent()));
    await lower.send(lower.prepare(sampleEvent()));

    expect(sent.map((request) => request.headers['content-type'])).toEqual([
      'application/cloudevents+json',
      'application/merge-patch+json',
    ]);
    expect(upper.prepare(sampleEvent()).preview.headers).toEqual({ 'Content-Type': 'application/cloudevents+json' });
  });

  it('renders a body template string by string, keeping numbers, booleans and null as they are', async () => {
    const sent = stubFetch(text(200, ''));
    const channel = webhook({
      body: {
        text: '{{ project }}/{{ domain }}/{{ name }} {{ phaseName }}',
        error: '{{ errorMessage }}',
        tags: ['herald', 'team:{{ labels.team }}'],
        priority: 2,
        page: true,
        owner: null,
        nested: { url: '{{ url }}', duration: '{{ duration }}' },
      },
    });

    await channel.send(channel.prepare(sampleEvent()));

    expect(only(sent).json).toEqual({
      text: 'flytesnacks/development/f8a1b2c3 FAILED',
      error: 'division by zero',
      tags: ['herald', 'team:ml'],
      priority: 2,
      page: true,
      owner: null,
      nested: {
        url: 'https://flyte.example.com/console/projects/flytesnacks/domains/development/executions/f8a1b2c3',
        duration: '2m',
      },
    });
  });

  it('carries event values with quotes, braces and line breaks as text, never as JSON', async () => {
    const sent = stubFetch(text(200, ''));
    const channel = webhook({ body: { error: '{{ errorMessage }}', ok: false } });
    const message = 'x", "ok": true, "y": {"\n}</script>&';

    await channel.send(channel.prepare(sampleEvent({ error: { message } })));

    expect(only(sent).json).toEqual({ error: message, ok: false });
  });

  it('is signed with HMAC-SHA256 of the exact body bytes in X-Herald-Signature-256', async () => {
    const sent = stubFetch(text(200, ''));
    const channel = webhook({ signingSecretEnvVar: 'HOOK_SIGNING' });

    await channel.send(channel.prepare(sampleEvent()));

    const request = only(sent);
    expect(request.headers['x-herald-signature-256']).toBe(hmac(request.body));
    expect(request.headers['x-herald-signature-256']).not.toBe(hmac(request.body, 'another secret'));
  });

  it('is signed in the header the configuration names instead', async () => {
    const sent = stubFetch(text(200, ''));
    const channel = webhook({ signingSecretEnvVar: 'HOOK_SIGNING', signatureHeader: 'X-Hub-Signature-256' });

    await channel.send(channel.prepare(sampleEvent()));

    const request = only(sent);
    expect(request.headers['x-hub-signature-256']).toBe(hmac(request.body));
    expect(request.headers).not.toHaveProperty('x-herald-signature-256');
  });

  it('carries no signature without a signing secret', async () => {
    const sent = stubFetch(text(200, ''));

    await webhook().send(webhook().prepare(sampleEvent()));

    expect(Object.keys(only(sent).headers)).toEqual(['content-type']);
  });
});

describe("the endpoint's answers", () => {
  it.each([
    [400, 'bad payload'],
    [401, 'unauthorized'],
    [404, 'no such hook'],
    [422, 'unprocessable'],
  ])('%i fails permanently, with the body as the reason', async (status, body) => {
    stubFetch(text(status, body));

    const err = await sendFailure(() => webhook().send(webhook().prepare(sampleEvent())));

    expect(err.retryable).toBe(false);
    expect(err.message).toBe(`webhook: HTTP ${status}: ${body}`);
  });

  it('keeps the first 500 characters of a long error body', async () => {
    stubFetch(text(400, 'e'.repeat(600)));

    const err = await sendFailure(() => webhook().send(webhook().prepare(sampleEvent())));

    expect(err.message).toBe(`webhook: HTTP 400: ${'e'.repeat(500)}`);
  });

  it('429 is retried after Retry-After', async () => {
    stubFetch(text(429, 'slow down', { 'retry-after': '3' }));

    const err = await sendFailure(() => webhook().send(webhook().prepare(sampleEvent())));

    expect(err.retryable).toBe(true);
    expect(err.retryAfterMs).toBe(3000);
  });

  it.each([500, 503])('%i is retried', async (status) => {
    stubFetch(text(status, 'down'));

    const err = await sendFailure(() => webhook().send(webhook().prepare(sampleEvent())));

    expect(err.retryable).toBe(true);
    expect(err.message).toBe(`webhook: HTTP ${status}: down`);
  });

  it('a network failure is retried', async () => {
    stubFetch(networkError('ENOTFOUND'));

    const err = await sendFailure(() => webhook().send(webhook().prepare(sampleEvent())));

    expect(err.retryable).toBe(true);
    expect(err.message).toBe('webhook: request failed: ENOTFOUND');
  });
});

describe('a webhook send', () => {
  it('is aborted after timeoutMs and retried', async () => {
    stubFetch(hangUntilAborted);
    const channel = webhook({ timeoutMs: 5 });

    const err = await sendFailure(() => channel.send(channel.prepare(sampleEvent())));

    expect(err.retryable).toBe(true);
    expect(err.message).toBe('webhook: aborted (timeout or shutdown)');
  });

  it("is aborted by the caller's signal before its own timeout", async () => {
    const sent = stubFetch(hangUntilAborted);
    const channel = webhook({ timeoutMs: 600_000 });
    const controller = new AbortController();

    const sending = sendFailure(() => channel.send(channel.prepare(sampleEvent()), { signal: controller.signal }));
    await vi.waitUntil(() => sent.length === 1);
    expect(only(sent).signal?.aborted).toBe(false);
    controller.abort();
    const err = await sending;

    expect(only(sent).signal?.aborted).toBe(true);
    expect(err.retryable).toBe(true);
    expect(err.message).toBe('webhook: aborted (timeout or shutdown)');
  });
});

describe('a webhook request on the wire (loopback server)', () => {
  let server: Server | undefined;

  afterEach(async () => {
    const closing = server;
    server = undefined;
    if (!closing) return;
    closing.closeAllConnections();
    await new Promise((resolve) => closing.close(resolve));
  });

  /** Starts a server on 127.0.0.1 that hands each request to `handle`; returns its base URL. */
  async function listen(handle: (req: IncomingMessage, body: string) => [number, string] | undefined) {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const answer = handle(req, Buffer.concat(chunks).toString('utf8'));
        if (answer) res.writeHead(answer[0]).end(answer[1]);
      });
    });
    const listening = server;
    await new Promise<void>((resolve) => listening.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(listening.address() as { port: number }).port}`;
  }

  it('reaches the receiver with the method, path, headers and a body whose signature checks out', async () => {
    const received: { method?: string; url?: string; headers?: IncomingMessage['headers']; body?: string } = {};
    const base = await listen((req, body) => {
      Object.assign(received, { method: req.method, url: req.url, headers: req.headers, body });
      return [202, ''];
    });
    const channel = webhook({
      url: `${base}/hooks/herald?team=ml`,
      method: 'PATCH',
      headers: { 'X-Api-Key': 'k3y', 'Content-Type': 'application/vnd.herald+json' },
      body: { name: '{{ name }}', phase: '{{ phaseName }}' },
      signingSecretEnvVar: 'HOOK_SIGNING',
    });

    const result = await channel.send(channel.prepare(sampleEvent()));

    expect(result).toEqual({ id: '202' });
    expect(received.method).toBe('PATCH');
    expect(received.url).toBe('/hooks/herald?team=ml');
    expect(received.headers).toMatchObject({
      'content-type': 'application/vnd.herald+json',
      'x-api-key': 'k3y',
      'x-herald-signature-256': hmac(received.body ?? ''),
    });
    expect(JSON.parse(received.body ?? '')).toEqual({ name: 'f8a1b2c3', phase: 'FAILED' });
  });

  it('gives up on a receiver that never answers, once the caller aborts, and retries later', async () => {
    let arrived: () => void = () => {};
    const requestArrived = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    const base = await listen(() => {
      arrived();
      return undefined; // never answers
    });
    const channel = webhook({ url: `${base}/hook` });
    const controller = new AbortController();

    const sending = sendFailure(() => channel.send(channel.prepare(sampleEvent()), { signal: controller.signal }));
    await requestArrived;
    controller.abort();
    const err = await sending;

    expect(err.retryable).toBe(true);
    expect(err.message).toBe('webhook: aborted (timeout or shutdown)');
  });
});
