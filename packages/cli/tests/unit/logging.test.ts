import { Writable } from 'node:stream';
import { stripVTControlCharacters } from 'node:util';
import { describe, expect, it, vi } from 'vitest';
import { reachOf } from '../../../../test/helpers/import-graph.js';
import { createLogger } from '../../src/logging.js';

/** A stream that keeps what is written to it, and can pass for a terminal. */
function capture(options: { isTTY?: boolean } = {}) {
  let text = '';
  const stream = Object.assign(
    new Writable({
      write(chunk: Buffer, _encoding, done) {
        text += chunk.toString();
        done();
      },
    }),
    options,
  );
  const lines = () =>
    text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { stream, text: () => text, lines };
}

const RFC_3339_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Logs one line at each level, trace to fatal (info's with a field), and returns the lines. */
function logAtEveryLevel(logger: Awaited<ReturnType<typeof createLogger>>, out: ReturnType<typeof capture>) {
  logger.trace({}, 'a');
  logger.debug({}, 'b');
  logger.info({ eventId: 'e-1' }, 'email delivered');
  logger.warn({}, 'c');
  logger.error({}, 'd');
  logger.fatal({}, 'e');
  return out.lines();
}

describe('createLogger', () => {
  it('writes JSON lines with the level as a name and the time in RFC 3339', async () => {
    const out = capture();
    const logger = await createLogger('trace', { format: 'json', stream: out.stream });
    const lines = logAtEveryLevel(logger, out);
    expect(lines.map((l) => l.level)).toEqual(['trace', 'debug', 'info', 'warn', 'error', 'fatal']);
    expect(lines[2]).toEqual({
      level: 'info',
      time: expect.stringMatching(RFC_3339_UTC),
      eventId: 'e-1',
      msg: 'email delivered',
    });
  });

  it('writes JSON when the stream is not a terminal and no format is asked for', async () => {
    const out = capture();
    const logger = await createLogger('info', { stream: out.stream });
    logger.info({}, 'started');
    expect(out.lines()).toEqual([expect.objectContaining({ level: 'info', msg: 'started' })]);
  });

  it('writes readable lines to a terminal when no format is asked for', async () => {
    const out = capture({ isTTY: true });
    const logger = await createLogger('info', { stream: out.stream });
    logger.info({ eventId: 'e-1' }, 'email delivered');
    await vi.waitFor(() => expect(out.text()).toContain('email delivered'));
    // Coloured, for a terminal.
    expect(out.text()).not.toBe(stripVTControlCharacters(out.text()));
    const text = stripVTControlCharacters(out.text());
    expect(text).toMatch(/^\[\d{2}:\d{2}:\d{2}\.\d{3}\] INFO: email delivered\n {4}eventId: "e-1"\n$/);
  });

  it('writes what Cloud Logging reads: severity, message and time', async () => {
    const out = capture();
    const logger = await createLogger('trace', { format: 'gcp', stream: out.stream });
    const lines = logAtEveryLevel(logger, out);
    expect(lines.map((l) => l.severity)).toEqual(['DEBUG', 'DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL']);
    expect(lines[2]).toEqual({
      severity: 'INFO',
      time: expect.stringMatching(RFC_3339_UTC),
      eventId: 'e-1',
      message: 'email delivered',
    });
  });

  it('gives an error logged at error level its stack as stack_trace, for Error Reporting', async () => {
    const out = capture();
    const logger = await createLogger('info', { format: 'gcp', stream: out.stream });
    const err = new Error('connection refused');

    logger.error({ err, messageId: 'm-1' }, 'pipeline failed');
    logger.warn({ err }, 'receive failed; retrying');

    const [failed, retried] = out.lines();
    expect(failed).toMatchObject({ severity: 'ERROR', message: 'pipeline failed', stack_trace: err.stack });
    expect(failed?.stack_trace).toMatch(/^Error: connection refused\n {4}at /);
    // A warning keeps its stack under err, but is not an error to report.
    expect(retried).toMatchObject({ severity: 'WARNING', err: { message: 'connection refused', stack: err.stack } });
    expect(retried).not.toHaveProperty('stack_trace');
  });

  it.each(['json', 'gcp'] as const)(
    'adds the fields of a mixin to every %s line, those logged winning',
    async (format) => {
      const out = capture();
      const trace = { 'logging.googleapis.com/trace': 'projects/p/traces/abc', 'logging.googleapis.com/spanId': '01' };
      const logger = await createLogger('info', { format, stream: out.stream, mixin: () => trace });

      logger.info({}, 'one');
      logger.error({ 'logging.googleapis.com/spanId': '02', err: new Error('x') }, 'two');

      const [one, two] = out.lines();
      expect(one).toMatchObject(trace);
      expect(two).toMatchObject({ ...trace, 'logging.googleapis.com/spanId': '02' });
    },
  );

  it('loads pino-pretty only for readable lines', () => {
    const { packages, lazyPackages } = reachOf('packages/cli/src/logging.ts');
    expect(packages).toContain('pino');
    expect(packages).not.toContain('pino-pretty');
    expect(lazyPackages).toContain('pino-pretty');
  });
});
