import { PassThrough } from 'node:stream';
import {
  BodyTooLargeError,
  bearerMatches,
  EventInputError,
  mediaTypeOf,
  parseEvents,
  parseIngestBody,
  readBody,
  sha256,
} from '@herald/cli';
import { describe, expect, it } from 'vitest';

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
