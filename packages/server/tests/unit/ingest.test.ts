import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import { type Logger, MemoryQueue } from '@herald/core/runtime';
import { EventInputError, MemoryPublisher, PublishError, parseEvents, SNS_MAX_MESSAGE_BYTES } from '@herald/publisher';
import {
  BodyTooLargeError,
  bearerMatches,
  createIngestHandler,
  type IngestHandler,
  type IngestOptions,
  mediaTypeOf,
  parseIngestBody,
  readBody,
  sha256,
} from '@herald/server';
import { afterEach, describe, expect, it } from 'vitest';

const event = (phase = 'FAILED', extra: Record<string, unknown> = {}) => ({
  execution: { project: 'flytesnacks', domain: 'development', name: 'a1' },
  phase,
  ...extra,
});

function errorOf(run: () => unknown): EventInputError {
  try {
    run();
  } catch (err) {
    if (err instanceof EventInputError) return err;
    throw err;
  }
  throw new Error('expected an EventInputError');
}

describe('parseIngestBody', () => {
  it('reads one event, a JSON array and JSON lines alike', () => {
    expect(parseIngestBody(JSON.stringify(event()))).toHaveLength(1);
    expect(parseIngestBody(JSON.stringify([event(), event('SUCCEEDED')])).map((e) => e.phase)).toEqual([
      'FAILED',
      'SUCCEEDED',
    ]);
    const lines = `${JSON.stringify(event())}\r\n\n${JSON.stringify(event('ABORTED'))}\n`;
    expect(parseIngestBody(lines).map((e) => e.phase)).toEqual(['FAILED', 'ABORTED']);
  });

  it('fills in the envelope an engine leaves out, with source herald-http, and keeps what it gives', () => {
    const [filled] = parseIngestBody(JSON.stringify(event()));
    expect(filled).toMatchObject({ version: 1, source: 'herald-http' });
    expect(filled?.id).toMatch(/^[0-9a-f-]{36}$/);
    const [kept] = parseIngestBody(JSON.stringify(event('FAILED', { id: 'run-7', source: 'argo' })));
    expect(kept).toMatchObject({ id: 'run-7', source: 'argo' });
  });

  it('gives an event sent again without an id the same id, so a retried request is delivered once', () => {
    const body = JSON.stringify([event(), event('SUCCEEDED'), event('FAILED', { time: '2026-11-21T10:00:00Z' })]);
    const first = parseIngestBody(body).map((e) => e.id);
    const retry = parseIngestBody(body).map((e) => e.id);
    expect(retry).toEqual(first);
    expect(new Set(first).size).toBe(3);
    // herald publish reads the same event to the same id.
    expect(parseEvents(JSON.stringify(event()), 'events.json')[0]?.id).toBe(first[0]);
  });

  it('names the line of a bad event in JSON lines', () => {
    const err = errorOf(() => parseIngestBody(`${JSON.stringify(event())}\n{"phase":"FAILED"}\n`));
    expect(err.location).toEqual({ line: 2 });
    expect(err.message).toMatch(/^body line 2: not a valid event: execution: is required/);
  });

  it('names the line that is not JSON', () => {
    const err = errorOf(() => parseIngestBody(`${JSON.stringify(event())}\n{"phase":\n`));
    expect(err.location).toEqual({ line: 2 });
    expect(err.message).toMatch(/^body line 2: not JSON/);
  });

  it('names the index and the field of a bad event in an array', () => {
    const err = errorOf(() => parseIngestBody(JSON.stringify([event(), event('DONE')])));
    expect(err.location).toEqual({ index: 1 });
    expect(err.message).toMatch(/^body \[1\]: not a valid event: phase: expected one of UNDEFINED, .*got 'DONE'/);
  });

  it("applies Flyte's rule that notifications are for terminal phases, as publishing does", () => {
    const running = event('RUNNING', {
      notifications: [{ phases: ['RUNNING'], email: { recipients: ['a@example.com'] } }],
    });
    const err = errorOf(() => parseIngestBody(JSON.stringify(running)));
    expect(err.message).toBe(
      'body: not a valid event: notifications[0].phases[0]: RUNNING is not a terminal phase (expected one of SUCCEEDED, FAILED, ABORTED, TIMED_OUT)',
    );
  });

  it('refuses a body without events, and values that are not objects', () => {
    expect(errorOf(() => parseIngestBody('')).message).toBe('body: no events found');
    expect(errorOf(() => parseIngestBody('[]')).message).toBe('body: no events found');
    expect(errorOf(() => parseIngestBody('\n\n')).message).toBe('body: no events found');
    expect(errorOf(() => parseIngestBody('[1]')).message).toBe('body: not a valid event: expected a JSON object');
  });
});

describe('parseEvents (the CLI reads event files with it)', () => {
  it('fills in source herald-cli and does not apply the publishing rule itself', () => {
    const running = event('RUNNING', { notifications: [{ phases: ['RUNNING'], email: { recipients: ['a@x.io'] } }] });
    const [parsed] = parseEvents(JSON.stringify(running), 'events.json');
    expect(parsed?.source).toBe('herald-cli');
  });

  it('names the file in its errors', () => {
    expect(errorOf(() => parseEvents('{"phase":"FAILED"}', 'events.json')).message).toMatch(
      /^events\.json: not a valid event: execution: is required/,
    );
  });
});

describe('mediaTypeOf', () => {
  it('drops parameters and case', () => {
    expect(mediaTypeOf('Application/JSON; charset=utf-8')).toBe('application/json');
    expect(mediaTypeOf('application/x-ndjson')).toBe('application/x-ndjson');
    expect(mediaTypeOf(undefined)).toBe('');
  });
});

describe('bearerMatches', () => {
  const digest = sha256('s3cret-token');

  it('accepts the token, whatever the case of the scheme', () => {
    expect(bearerMatches('Bearer s3cret-token', digest)).toBe(true);
    expect(bearerMatches('bearer s3cret-token', digest)).toBe(true);
  });

  it('refuses a missing, wrong, partial or differently carried token', () => {
    for (const header of [
      undefined,
      '',
      'Bearer',
      'Bearer ',
      'Bearer s3cret',
      'Bearer s3cret-token-and-more',
      'Basic s3cret-token',
      's3cret-token',
      'Bearer s3cret-token extra',
    ]) {
      expect(bearerMatches(header, digest), String(header)).toBe(false);
    }
  });
});

describe('readBody', () => {
  it('reads a body up to the limit, in as many chunks as it comes', async () => {
    const stream = new PassThrough();
    const body = readBody(stream, 10);
    stream.write('hello ');
    stream.end('body');
    expect((await body).toString()).toBe('hello body');
  });

  it('stops reading once the body passes the limit', async () => {
    const stream = new PassThrough();
    const body = readBody(stream, 10);
    stream.write('0123456789');
    stream.write('X');
    await expect(body).rejects.toBeInstanceOf(BodyTooLargeError);
    // Nothing reads what comes next: it stays in the stream.
    stream.write('more that nobody reads');
    await new Promise((resolve) => setImmediate(resolve));
    expect(stream.isPaused()).toBe(true);
    expect(stream.listenerCount('data')).toBe(0);
    expect(stream.readableLength).toBeGreaterThan(0);
  });

  it('fails when the stream closes before it ends', async () => {
    const stream = new PassThrough();
    const body = readBody(stream, 10);
    stream.write('half');
    stream.destroy();
    await expect(body).rejects.toThrow('closed the connection');
  });
});

/** A logger that keeps every entry. */
function recordingLogger(): Logger & { lines: { level: string; fields: Record<string, unknown>; msg?: string }[] } {
  const lines: { level: string; fields: Record<string, unknown>; msg?: string }[] = [];
  const log = (level: string) => (fields: object, msg?: string) => {
    lines.push({ level, fields: fields as Record<string, unknown>, msg });
  };
  return { lines, debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/** The ingest handler alone on a loopback server; resolves with the URL to POST to. */
async function serveIngest(
  options: Partial<IngestOptions> & Pick<IngestOptions, 'publisher'>,
): Promise<{ url: string; handler: IngestHandler; logger: ReturnType<typeof recordingLogger> }> {
  const logger = recordingLogger();
  const handler = createIngestHandler({
    token: undefined,
    maxBodyBytes: 1024 * 1024,
    logger,
    stopping: () => false,
    ...options,
  });
  const server = createServer((req, res) => void handler(req, res, false));
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/events`, handler, logger };
}

const postJson = (url: string, body: unknown, headers: Record<string, string> = {}) =>
  fetch(url, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: { 'Content-Type': 'application/json', ...headers },
  });

describe('POST /v1/events and the queue', () => {
  it('publishes nothing of a request with an event over the queue limit, and names it with its size', async () => {
    const queue = new MemoryQueue(100);
    const publisher = new MemoryPublisher(queue, { maxMessageBytes: SNS_MAX_MESSAGE_BYTES });
    const { url } = await serveIngest({ publisher });
    const big = event('FAILED', { id: 'big-one', error: { message: 'x'.repeat(300_000) } });
    const response = await postJson(url, [
      ...Array.from({ length: 15 }, (_, i) => event('FAILED', { id: `e${i}` })),
      big,
    ]);

    expect(response.status).toBe(413);
    const body = (await response.json()) as { error: string; events: Record<string, unknown>[] };
    expect(body.error).toMatch(
      /^1 event is too large for the queue; nothing was published: event \[15\] \(id big-one\)/,
    );
    expect(body.events).toEqual([
      {
        index: 15,
        eventId: 'big-one',
        bytes: expect.any(Number),
        maxBytes: 262_144,
        error: expect.stringMatching(
          /^event \[15\] \(id big-one\) is \d+ bytes, over the in-memory queue's limit of 262144/,
        ),
      },
    ]);
    expect(body.events[0]?.bytes).toBeGreaterThan(300_000);
    expect(queue.size).toBe(0);
    // The body was read whole: the connection stays usable.
    expect(response.headers.get('connection')).toBe('keep-alive');
  });

  it('answers a failure part-way with the events published and those not, by index and id', async () => {
    const publisher = {
      publish: async () => {
        throw new PublishError('cannot publish to arn:t: Throttling: Rate exceeded (1 of 2 events were published)', {
          published: [{ index: 0, eventId: 'e0', messageId: 'm0' }],
          failed: [{ index: 1, eventId: 'e1', error: 'cannot publish to arn:t: Throttling: Rate exceeded' }],
        });
      },
    };
    const { url } = await serveIngest({ publisher });
    const response = await postJson(url, [event('FAILED', { id: 'e0' }), event('FAILED', { id: 'e1' })]);
    expect(response.status).toBe(502);
    expect(await response.json()).toEqual({
      error: 'cannot publish to arn:t: Throttling: Rate exceeded (1 of 2 events were published)',
      published: [{ index: 0, eventId: 'e0', messageId: 'm0' }],
      failed: [{ index: 1, eventId: 'e1', error: 'cannot publish to arn:t: Throttling: Rate exceeded' }],
    });
  });

  it('answers a retried request with the ids of the first, so the processor delivers each once', async () => {
    const queue = new MemoryQueue(100);
    const { url } = await serveIngest({ publisher: new MemoryPublisher(queue) });
    const body = [event(), event('SUCCEEDED', { id: 'given' })];
    const ids = async () =>
      ((await (await postJson(url, body)).json()) as { published: { eventId: string }[] }).published.map(
        (p) => p.eventId,
      );
    const first = await ids();
    expect(await ids()).toEqual(first);
    const bodies = (await queue.receive(4)).map((m) => JSON.parse(m.body as string) as { id: string });
    expect(bodies.map((b) => b.id)).toEqual([...first, ...first]);
  });
});

describe('ingest refusal warnings', () => {
  it('logs the first refusals of a reason, then one line counting the rest', async () => {
    const { url, handler, logger } = await serveIngest({
      publisher: new MemoryPublisher(new MemoryQueue(10)),
      token: 'right',
      refusalWarnings: { intervalMs: 60_000, burst: 2 },
    });
    for (let i = 0; i < 10; i++) {
      expect((await postJson(url, event(), { Authorization: 'Bearer wrong' })).status).toBe(401);
    }
    expect((await postJson(url, event(), { Authorization: 'Bearer right', 'Content-Type': 'text/plain' })).status).toBe(
      415,
    );
    const refused = () => logger.lines.filter((l) => l.level === 'warn');
    expect(refused().map((l) => l.fields.reason)).toEqual(['unauthorized', 'unauthorized', 'unsupported_media_type']);

    handler.flushWarnings();
    expect(refused().at(-1)).toMatchObject({
      fields: { suppressed: { unauthorized: 8 } },
      msg: expect.stringMatching(/^ingest request refused: 8 more in the last \d+ s$/),
    });
  });
});
