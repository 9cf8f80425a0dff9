import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { type ExecutionEvent, HeraldError } from '@herald/core';
import { type Logger, MemoryQueue } from '@herald/core/runtime';
import { ProcessorEvents } from '@herald/processor';
import { MemoryPublisher, type Publisher } from '@herald/publisher';
import { createMetrics, type HeraldMetrics, HttpServer, type HttpServerOptions } from '@herald/server';
import { afterEach, describe, expect, it } from 'vitest';

const TOKEN = 'tok-7f3a9c1e5b';

const event = (phase = 'FAILED', extra: Record<string, unknown> = {}) => ({
  execution: { project: 'flytesnacks', domain: 'development', name: 'a1' },
  phase,
  notifications: [{ phases: ['FAILED'], email: { recipients: ['oncall@example.com'] } }],
  ...extra,
});

/** A logger that keeps every entry, to check what reaches the logs. */
function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const log = (level: string) => (fields: object, message?: string) => {
    lines.push(JSON.stringify({ level, ...fields, msg: message }));
  };
  return { lines, debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

interface Started {
  server: HttpServer;
  url: string;
  queue: MemoryQueue;
  metrics: HeraldMetrics;
  logger: ReturnType<typeof recordingLogger>;
}

const servers: HttpServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

async function startServer(
  options: {
    capacity?: number;
    maxBodyBytes?: number;
    token?: string | undefined;
    publisher?: (queue: MemoryQueue) => Pick<Publisher, 'publish'>;
    ingest?: boolean;
    metrics?: boolean;
    ready?: () => boolean;
    drainMs?: number;
    requestTimeoutMs?: number;
  } = {},
): Promise<Started> {
  const queue = new MemoryQueue(options.capacity ?? 100);
  const metrics = createMetrics({ events: new ProcessorEvents(), inFlight: 0 }, { defaultMetrics: false });
  const logger = recordingLogger();
  const serverOptions: HttpServerOptions = {
    host: '127.0.0.1',
    port: 0,
    logger,
    ready: options.ready ?? (() => true),
    metrics: options.metrics === false ? undefined : metrics,
    ingest:
      options.ingest === false
        ? undefined
        : {
            publisher: options.publisher?.(queue) ?? new MemoryPublisher(queue),
            token: 'token' in options ? options.token : TOKEN,
            maxBodyBytes: options.maxBodyBytes ?? 4096,
          },
    drainMs: options.drainMs,
    requestTimeoutMs: options.requestTimeoutMs,
  };
  const server = new HttpServer(serverOptions);
  servers.push(server);
  const url = await server.start();
  return { server, url, queue, metrics, logger };
}

function post(url: string, body: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}/v1/events`, {
    method: 'POST',
    body,
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${TOKEN}`, ...headers },
  });
}

async function metricsText(url: string): Promise<string> {
  return (await fetch(`${url}/metrics`)).text();
}

describe('POST /v1/events', () => {
  it('publishes every event of the body and answers 202 with their ids', async () => {
    const { url, queue } = await startServer();
    const response = await post(url, JSON.stringify([event(), event('SUCCEEDED', { id: 'run-2' })]));
    expect(response.status).toBe(202);
    const { published } = (await response.json()) as { published: { eventId: string; messageId: string }[] };
    expect(published).toHaveLength(2);
    expect(published[1]?.eventId).toBe('run-2');
    expect(published.every((p) => p.messageId.length > 0)).toBe(true);
    expect(queue.size).toBe(2);

    const [first] = await queue.receive(1);
    const body = JSON.parse(first?.body as string) as ExecutionEvent;
    expect(body).toMatchObject({ id: published[0]?.eventId, source: 'herald-http', phase: 'FAILED' });
    expect(await metricsText(url)).toContain('herald_events_ingested_total 2');
  });

  it('reads JSON lines', async () => {
    const { url, queue } = await startServer();
    const lines = `${JSON.stringify(event())}\n${JSON.stringify(event('ABORTED'))}\n`;
    const response = await post(url, lines, { 'Content-Type': 'application/x-ndjson' });
    expect(response.status).toBe(202);
    expect(queue.size).toBe(2);
  });

  it('publishes nothing when one event is bad, and names its line', async () => {
    const { url, queue } = await startServer();
    const lines = `${JSON.stringify(event())}\n${JSON.stringify({ phase: 'FAILED' })}\n`;
    const response = await post(url, lines, { 'Content-Type': 'application/x-ndjson; charset=utf-8' });
    expect(response.status).toBe(400);
    const body = (await response.json()) as { error: string; line: number };
    expect(body.line).toBe(2);
    // The body was read whole: the connection can serve the next request.
    expect(response.headers.get('connection')).toBe('keep-alive');
    expect(body.error).toMatch(/^body line 2: not a valid event: execution: is required/);
    expect(queue.size).toBe(0);
    expect(await metricsText(url)).toContain('herald_ingest_rejected_total{reason="invalid"} 1');
  });

  it('names the index and field of a bad event in an array', async () => {
    const { url, queue } = await startServer();
    const response = await post(url, JSON.stringify([event(), event('DONE')]));
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ index: 1, error: expect.stringMatching(/^body \[1\]: .*phase:/) });
    expect(queue.size).toBe(0);
  });

  it('refuses a body that is not UTF-8', async () => {
    const { url } = await startServer();
    const response = await fetch(`${url}/v1/events`, {
      method: 'POST',
      body: Buffer.from([0x7b, 0xff, 0xfe, 0x7d]),
      headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${TOKEN}` },
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({ error: 'body: not UTF-8' });
  });

  it('answers 401 without the right bearer token, and never logs the token', async () => {
    const { url, queue, logger } = await startServer();
    const missing = await post(url, JSON.stringify(event()), { Authorization: '' });
    expect(missing.status).toBe(401);
    expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="herald"');
    // Its body is never read: the connection closes rather than take an upload of any size.
    expect(missing.headers.get('connection')).toBe('close');
    const wrong = await post(url, JSON.stringify(event()), { Authorization: `Bearer ${TOKEN}x` });
    expect(wrong.status).toBe(401);
    expect(queue.size).toBe(0);
    expect(await metricsText(url)).toContain('herald_ingest_rejected_total{reason="unauthorized"} 2');

    expect((await post(url, JSON.stringify(event()))).status).toBe(202);
    expect(logger.lines.some((line) => line.includes('unauthorized'))).toBe(true);
    for (const line of logger.lines) expect(line).not.toContain(TOKEN);
  });

  it('asks for no token when none is configured', async () => {
    const { url } = await startServer({ token: undefined });
    expect((await post(url, JSON.stringify(event()), { Authorization: '' })).status).toBe(202);
  });

  it('answers 413 for a declared length over the limit without reading the body', async () => {
    const { url, queue } = await startServer({ maxBodyBytes: 1024 });
    const response = await post(url, JSON.stringify([event(), event(), event(), event(), event(), event(), event()]));
    expect(response.status).toBe(413);
    expect(response.headers.get('connection')).toBe('close');
    expect(await response.json()).toEqual({
      error: 'request body is larger than herald.http.ingest.maxBodyBytes (1024)',
    });
    expect(queue.size).toBe(0);
  });

  it('answers 413 and stops reading a chunked body once it passes the limit', async () => {
    const { url, queue } = await startServer({ maxBodyBytes: 1024 });
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${url}/v1/events`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${TOKEN}` },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      // No Content-Length: the size is only known while reading. 2 KiB, then the request stays open.
      req.write(`[${' '.repeat(2048)}`);
    });
    expect(status).toBe(413);
    expect(queue.size).toBe(0);
  });

  it('answers 413 before a client waiting for 100 Continue sends its body', async () => {
    const { url } = await startServer({ maxBodyBytes: 1024 });
    const answer = await new Promise<{ status: number; continued: boolean }>((resolve, reject) => {
      let continued = false;
      const req = request(`${url}/v1/events`, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          'Content-Length': 5000,
          Expect: '100-continue',
          Authorization: `Bearer ${TOKEN}`,
        },
      });
      req.on('continue', () => {
        continued = true;
      });
      req.on('response', (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, continued });
        req.destroy();
      });
      req.on('error', reject);
      req.flushHeaders();
    });
    expect(answer).toEqual({ status: 413, continued: false });
  });

  it('answers 415 for other media types', async () => {
    const { url } = await startServer();
    const response = await post(url, JSON.stringify(event()), { 'Content-Type': 'text/plain' });
    expect(response.status).toBe(415);
    expect(await response.json()).toEqual({
      error: 'expected Content-Type application/json or application/x-ndjson, got text/plain',
    });
  });

  it('answers 405 for other methods', async () => {
    const { url } = await startServer();
    const response = await fetch(`${url}/v1/events`);
    expect(response.status).toBe(405);
    expect(response.headers.get('allow')).toBe('POST');
  });

  it('answers 503 with Retry-After when the queue is full, publishing none of the request', async () => {
    const { url, queue } = await startServer({ capacity: 2 });
    expect((await post(url, JSON.stringify(event()))).status).toBe(202);
    const response = await post(url, JSON.stringify([event(), event()]));
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('1');
    expect(((await response.json()) as { error: string }).error).toMatch(/in-memory queue is full/);
    expect(queue.size).toBe(1);
    expect(await metricsText(url)).toContain('herald_ingest_rejected_total{reason="queue_full"} 1');
  });

  it('answers 502 when the transport refuses the publish', async () => {
    const { url } = await startServer({
      publisher: () => ({
        publish: async () => {
          throw new HeraldError('SNS topic arn:aws:sns:us-east-1:1:t does not exist');
        },
      }),
    });
    const response = await post(url, JSON.stringify(event()));
    expect(response.status).toBe(502);
    expect(await response.json()).toEqual({ error: 'SNS topic arn:aws:sns:us-east-1:1:t does not exist' });
  });
});

describe('routes', () => {
  it('answers /healthz while running and /readyz as the processor says', async () => {
    let ready = false;
    const { url } = await startServer({ ready: () => ready });
    const health = await fetch(`${url}/healthz`);
    expect([health.status, await health.text()]).toEqual([200, 'ok\n']);
    expect((await fetch(`${url}/readyz`)).status).toBe(503);
    ready = true;
    expect((await fetch(`${url}/readyz?verbose=1`)).status).toBe(200);
    expect((await fetch(`${url}/healthz`, { method: 'HEAD' })).status).toBe(200);
    expect((await fetch(`${url}/healthz`, { method: 'POST' })).status).toBe(405);
  });

  it('serves Prometheus text at /metrics', async () => {
    const { url } = await startServer();
    const response = await fetch(`${url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(await response.text()).toContain('# TYPE herald_messages_received_total counter');
  });

  it('answers 404 for unknown paths, and for endpoints that are turned off', async () => {
    const { url } = await startServer({ ingest: false, metrics: false });
    expect((await fetch(`${url}/nope`)).status).toBe(404);
    expect((await fetch(`${url}/metrics`)).status).toBe(404);
    expect((await post(url, JSON.stringify(event()))).status).toBe(404);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });

  it('reports an address it cannot listen on', async () => {
    const { url } = await startServer();
    const port = Number(new URL(url).port);
    const second = new HttpServer({ host: '127.0.0.1', port, logger: recordingLogger(), ready: () => true });
    await expect(second.start()).rejects.toThrow(`cannot listen on 127.0.0.1:${port}: EADDRINUSE`);
  });
});

describe('slow clients', () => {
  it('cuts a client that trickles its headers at the stated limit, not at twice it', async () => {
    const limitMs = 600;
    const { url } = await startServer({ requestTimeoutMs: limitMs });
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    const received = readAll(socket);
    socket.write('POST /v1/events HTTP/1.1\r\nHost: herald\r\n');
    // A header line every 100 ms: the connection is never idle, the headers never end.
    const trickle = setInterval(() => socket.write(`X-Slow-${Date.now()}: 1\r\n`), 100);
    try {
      // Node used to check timeouts every 30 s whatever the limit; "well before twice the limit"
      // tells the two apart without measuring time closely.
      const cut = await Promise.race([
        received,
        new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 2 * limitMs)),
      ]);
      expect(cut).toMatch(/^HTTP\/1\.1 408 /);
    } finally {
      clearInterval(trickle);
      socket.destroy();
    }
  });

  it('cuts a client that sends its body too slowly', async () => {
    const limitMs = 600;
    const { url, queue } = await startServer({ requestTimeoutMs: limitMs, token: undefined });
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    const received = readAll(socket);
    socket.write(
      'POST /v1/events HTTP/1.1\r\nHost: herald\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n',
    );
    const trickle = setInterval(() => socket.write(' '), 100);
    try {
      const cut = await Promise.race([
        received,
        new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 2 * limitMs)),
      ]);
      expect(cut).toMatch(/^HTTP\/1\.1 408 /);
      expect(queue.size).toBe(0);
    } finally {
      clearInterval(trickle);
      socket.destroy();
    }
  });
});

describe('stop', () => {
  it('closes idle keep-alive connections at once instead of waiting for them', async () => {
    const { url, server } = await startServer({ drainMs: 10_000 });
    // fetch keeps the connection open for the next request.
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    // Which comes first: the stop, or the end of the 10 s it would wait for a busy connection.
    const first = await Promise.race([
      server.stop().then(() => 'stopped'),
      new Promise((resolve) => setTimeout(resolve, 10_000, 'waited for the idle connection')).then(String),
    ]);
    expect(first).toBe('stopped');
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });

  it('closes a connection whose request does not finish within the drain time', async () => {
    const { url, server, queue } = await startServer({ token: undefined, drainMs: 200 });
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    const received = readAll(socket);
    // Headers and half a body; the rest never comes.
    socket.write(
      'POST /v1/events HTTP/1.1\r\nHost: herald\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"ex',
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    await server.stop();
    // Closed without an answer: the drain time ended the connection, not the client.
    expect(await received).toBe('');
    expect(queue.size).toBe(0);
  });

  it('lets a request being answered finish, and refuses the next one on its connection', async () => {
    let release: () => void = () => {};
    let publishing: () => void = () => {};
    const inPublish = new Promise<void>((resolve) => {
      publishing = resolve;
    });
    const { url, server, queue } = await startServer({
      token: undefined,
      publisher: (q) => ({
        publish: async (events) => {
          publishing();
          await new Promise<void>((resolve) => {
            release = resolve;
          });
          return new MemoryPublisher(q).publish(events);
        },
      }),
    });
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    const received = readAll(socket);
    const body = JSON.stringify(event());
    socket.write(
      `POST /v1/events HTTP/1.1\r\nHost: herald\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
    await inPublish;
    let stopped = false;
    const stopping = server.stop().then(() => {
      stopped = true;
    });
    // A second request, pipelined on the same connection, arrives while the server stops.
    socket.write('GET /healthz HTTP/1.1\r\nHost: herald\r\n\r\n');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(stopped).toBe(false);
    release();

    const text = await received;
    await stopping;
    const [first, second] = text.split(/(?=HTTP\/1\.1 )/);
    expect(first).toMatch(/^HTTP\/1\.1 202 /);
    expect(second).toMatch(/^HTTP\/1\.1 503 /);
    expect(second).toMatch(/\r\nconnection: close\r\n/i);
    expect(second).toMatch(/\r\n\r\nstopping\n$/);
    expect(queue.size).toBe(1);
  });
});

/** Everything a socket receives until the server closes it. */
function readAll(socket: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
    });
    socket.on('end', () => resolve(text));
    socket.on('error', reject);
  });
}
