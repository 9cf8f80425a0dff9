import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sampleEvent } from '@herald/core';
import { parseConfig, type ResolvedConfig } from '@herald/core/config';
import { silentLogger } from '@herald/core/runtime';
import { HeraldApp } from '@herald/server';
import { InMemorySpanExporter, type ReadableSpan } from '@opentelemetry/sdk-trace-node';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startTracing, type TracingSession } from '../../src/tracing.js';

// Herald's spans in one process (the sandbox: publisher, in-process queue and processor), caught
// by OpenTelemetry's in-memory exporter. Across real queues and processes: test/tracing.test.ts.

let dir: string;
let app: HeraldApp | undefined;
let session: TracingSession | undefined;
const exporter = new InMemorySpanExporter();

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'herald-tracing-'));
  exporter.reset();
});
afterEach(async () => {
  await app?.stop();
  await session?.flush();
  app = undefined;
  session = undefined;
  await rm(dir, { recursive: true, force: true });
});

function sandboxConfig(extra = '', ingest = '{enabled: true}'): ResolvedConfig {
  return parseConfig(
    `notifications: {type: sandbox}
herald:
  outbox: {directory: outbox}
  http: {listen: "127.0.0.1:0", ingest: ${ingest}}
  tracing: {enabled: true, serviceName: herald-test}
${extra}`,
    { env: {}, baseDir: dir },
  );
}

async function startApp(config = sandboxConfig()): Promise<HeraldApp> {
  session = startTracing(config.tracing, { logger: silentLogger, version: '0.0.0-test', exporter });
  app = new HeraldApp(config, { logger: silentLogger, tracing: session.tracing });
  await app.start();
  return app;
}

/** Waits for `count` messages to be settled by the processor. */
function settled(running: HeraldApp, count: number): Promise<void> {
  let seen = 0;
  return new Promise((resolve) =>
    running.processor.events.on('message_settled', () => {
      if (++seen === count) resolve();
    }),
  );
}

/**
 * The spans ended once `processed` messages' `process` spans have: a message's span ends just
 * after the message is settled, when its handling returns.
 */
async function spans(processed: number): Promise<ReadableSpan[]> {
  for (let waited = 0; waited < 5_000; waited += 20) {
    await session?.flush();
    const all = exporter.getFinishedSpans();
    if (all.filter((s) => s.name.startsWith('process ')).length >= processed) return all;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`fewer than ${processed} messages' spans ended within 5 s`);
}

const named = (all: ReadableSpan[], name: string) => all.filter((s) => s.name === name);
const traceOf = (span: ReadableSpan | undefined) => span?.spanContext().traceId;
const idOf = (span: ReadableSpan | undefined) => span?.spanContext().spanId;
const parentOf = (span: ReadableSpan | undefined) => span?.parentSpanContext?.spanId;

const failedFor = (id: string, recipients: string[]) =>
  sampleEvent({ id, notifications: [{ phases: ['FAILED'], email: { recipients } }] });

describe('tracing', () => {
  it('continues the caller’s trace from POST /v1/events through the queue to each delivery', async () => {
    const running = await startApp(
      sandboxConfig(`  channels:
    ops: {type: webhook, url: "http://127.0.0.1:9/unreachable"}
  rules:
    - {name: to-ops, notify: [ops]}
  processor: {maxAttempts: 1}
`),
    );
    const done = settled(running, 1);
    const callerTrace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const response = await fetch(`${running.address}/v1/events`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', traceparent: `00-${callerTrace}-00f067aa0ba902b7-01` },
      body: JSON.stringify(failedFor('traced-1', ['oncall@example.com'])),
    });
    expect(response.status).toBe(202);
    await done;

    const all = await spans(1);
    const [request] = named(all, 'POST /v1/events');
    const [send] = named(all, 'send herald-sandbox');
    const [processSpan] = named(all, 'process herald-sandbox');
    const deliveries = all.filter((s) => s.name.startsWith('deliver '));
    expect(request?.attributes['http.response.status_code']).toBe(202);
    expect(parentOf(request)).toBe('00f067aa0ba902b7');
    expect(parentOf(send)).toBe(idOf(request));
    expect(send?.attributes).toMatchObject({ 'messaging.operation.type': 'send', 'herald.event.id': 'traced-1' });
    expect(parentOf(processSpan)).toBe(idOf(send));
    expect(processSpan?.attributes).toMatchObject({
      'messaging.system': 'herald.memory',
      'messaging.operation.type': 'process',
      'herald.event.id': 'traced-1',
      'herald.phase': 'FAILED',
    });
    for (const step of ['decode', 'route']) expect(parentOf(named(all, step)[0])).toBe(idOf(processSpan));

    // One span per destination, each with what became of it; the webhook's refusal is an error.
    expect(
      deliveries.map((d) => [d.attributes['herald.provider'], d.attributes['herald.delivery.outcome']]).sort(),
    ).toEqual([
      ['outbox', 'delivered'],
      ['webhook', 'attempts-exhausted'],
    ]);
    for (const delivery of deliveries) expect(parentOf(delivery)).toBe(idOf(processSpan));
    const email = deliveries.find((d) => d.attributes['herald.provider'] === 'outbox');
    expect(email?.attributes['herald.destination']).toContain('oncall@example.com');
    const emailParts = all.filter((s) => parentOf(s) === idOf(email)).map((s) => s.name);
    expect(emailParts.sort()).toEqual(['render', 'send']);
    const webhook = deliveries.find((d) => d.attributes['herald.provider'] === 'webhook');
    expect(webhook?.status.code).toBe(2); // SpanStatusCode.ERROR

    // Every span, from the request to the last send, is in the caller's trace.
    expect(new Set(all.map(traceOf))).toEqual(new Set([callerTrace]));
  });

  it('gives each event of a batch its own create span, which its processing continues', async () => {
    const running = await startApp();
    const done = settled(running, 3);
    await running.publish(['a', 'b', 'c'].map((id) => failedFor(`batch-${id}`, [`${id}@example.com`])));
    await done;

    const all = await spans(3);
    const [send] = named(all, 'send herald-sandbox');
    const creates = named(all, 'create herald-sandbox');
    expect(send?.attributes['messaging.batch.message_count']).toBe(3);
    expect(creates).toHaveLength(3);
    for (const create of creates) {
      expect(parentOf(create)).toBe(idOf(send));
      const processing = named(all, 'process herald-sandbox').find((p) => parentOf(p) === idOf(create));
      expect(processing?.attributes['herald.event.id']).toBe(create.attributes['herald.event.id']);
    }
    expect(new Set(all.map(traceOf)).size).toBe(1);
  });

  it('reads the trace context from the SNS envelope when SQS receives one without raw delivery', async () => {
    const config = sandboxConfig();
    session = startTracing(config.tracing, { logger: silentLogger, version: '0.0.0-test', exporter });
    const traceId = '0af7651916cd43dd8448eb211c80319c';
    const body = JSON.stringify({
      Type: 'Notification',
      MessageId: 'sns-1',
      Message: '{}',
      MessageAttributes: { traceparent: { Type: 'String', Value: `00-${traceId}-b7ad6b7169203331-01` } },
    });
    const message = { id: 'sqs-1', body, attributes: {}, receiveCount: 2 };
    await session.tracing.process(message, { system: 'aws_sqs', destination: 'herald' }, async () => {});

    const [processSpan] = named(await spans(1), 'process herald');
    expect(traceOf(processSpan)).toBe(traceId);
    expect(parentOf(processSpan)).toBe('b7ad6b7169203331');
    expect(processSpan?.attributes).toMatchObject({
      'messaging.message.id': 'sqs-1',
      'herald.message.receive_count': 2,
    });
  });

  it('carries only the trace context into the queue: no caller baggage, no empty tracestate', async () => {
    const running = await startApp();
    const sent: Record<string, string>[] = [];
    const queue = running.queue as NonNullable<HeraldApp['queue']>;
    const send = queue.send.bind(queue);
    queue.send = (body, attributes = {}) => {
      sent.push(attributes);
      return send(body, attributes);
    };
    const done = settled(running, 1);
    const response = await fetch(`${running.address}/v1/events`, {
      method: 'POST',
      headers: {
        'Content-Type': 'application/json',
        traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
        tracestate: 'Not A Member',
        baggage: `secret=${'x'.repeat(2000)}`,
      },
      body: JSON.stringify(failedFor('clean-1', ['a@example.com'])),
    });
    expect(response.status).toBe(202);
    await done;
    expect(Object.keys(sent[0] ?? {}).sort()).toEqual(['domain', 'phase', 'project', 'traceparent']);
    expect(sent[0]?.traceparent).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
  });

  it('names the service from the file, over OTEL_SERVICE_NAME, and keeps long values short', async () => {
    vi.stubEnv('OTEL_SERVICE_NAME', 'notify');
    try {
      const running = await startApp();
      const done = settled(running, 1);
      await running.publish([failedFor('x'.repeat(1000), ['a@example.com'])]);
      await done;
      const [processSpan] = named(await spans(1), 'process herald-sandbox');
      expect(processSpan?.resource.attributes['service.name']).toBe('herald-test');
      expect(String(processSpan?.attributes['herald.event.id'])).toHaveLength(256);
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('traces a digest in a trace of its own, and the deliveries it folded as folded', async () => {
    const running = await startApp(
      sandboxConfig(`  rules:
    - {name: storm, email: ["ops@example.com"], digest: {window: 1s}}
`),
    );
    const sent = new Promise<void>((resolve) => running.processor.events.on('digest_sent', () => resolve()));
    const done = settled(running, 2);
    // Only the rule's address: the event's own notifications would not fold.
    await running.publish(['d-1', 'd-2'].map((id) => sampleEvent({ id, notifications: [] })));
    await done;
    await sent;

    const all = await spans(2);
    const folded = all.filter((s) => s.attributes['herald.delivery.outcome'] === 'folded');
    expect(folded).toHaveLength(2);
    const digest = await (async () => {
      for (let waited = 0; waited < 5_000; waited += 20) {
        await session?.flush();
        const found = exporter.getFinishedSpans().find((s) => s.attributes['herald.digest.id'] !== undefined);
        if (found) return found;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return undefined;
    })();
    expect(digest?.name).toBe('deliver outbox');
    expect(digest?.parentSpanContext).toBeUndefined();
    expect(digest?.attributes).toMatchObject({
      'herald.rule': 'storm',
      'herald.digest.count': 2,
      'herald.delivery.outcome': 'delivered',
    });
    expect(new Set(folded.map(traceOf)).has(traceOf(digest))).toBe(false);
  }, 15_000);

  it('does not let a caller without the ingest token continue its trace', async () => {
    vi.stubEnv('HERALD_TEST_INGEST_TOKEN', 's3cret');
    try {
      const running = await startApp(sandboxConfig('', '{enabled: true, tokenEnvVar: HERALD_TEST_INGEST_TOKEN}'));
      const callerTrace = '5bf92f3577b34da6a3ce929d0e0e4736';
      const post = (authorization?: string) =>
        fetch(`${running.address}/v1/events`, {
          method: 'POST',
          headers: {
            'Content-Type': 'application/json',
            traceparent: `00-${callerTrace}-00f067aa0ba902b7-01`,
            ...(authorization ? { authorization } : {}),
          },
          body: JSON.stringify(failedFor(`token-${authorization ? 'yes' : 'no'}`, ['a@example.com'])),
        });
      const done = settled(running, 1);
      expect((await post()).status).toBe(401);
      expect((await post('Bearer s3cret')).status).toBe(202);
      await done;
      const requests = named(await spans(1), 'POST /v1/events');
      const refused = requests.find((r) => r.attributes['http.response.status_code'] === 401);
      const accepted = requests.find((r) => r.attributes['http.response.status_code'] === 202);
      expect(traceOf(refused)).not.toBe(callerTrace);
      expect(parentOf(refused)).toBeUndefined();
      expect(traceOf(accepted)).toBe(callerTrace);
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it('marks the decode step failed for a message that cannot be read', async () => {
    const running = await startApp();
    const done = settled(running, 1);
    running.queue?.send('{"not": "an event"}');
    await done;

    const all = await spans(1);
    const [decode] = named(all, 'decode');
    expect(decode?.status.code).toBe(2);
    expect(decode?.events.map((e) => e.name)).toContain('exception');
    expect(named(all, 'route')).toHaveLength(0);
  });
});

describe('herald.tracing with the OTEL_* variables', () => {
  const resolve = (env: Record<string, string>, tracing = '') =>
    parseConfig(`notifications: {type: sandbox}\n${tracing ? `herald: {tracing: ${tracing}}\n` : ''}`, { env }).tracing;

  it('is off unless the file or the environment turns it on', () => {
    expect(resolve({}).enabled).toBe(false);
    expect(resolve({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' }).enabled).toBe(true);
    expect(resolve({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' }).enabled).toBe(true);
    expect(resolve({ OTEL_TRACES_EXPORTER: 'otlp' }).enabled).toBe(true);
    expect(resolve({}, '{enabled: true}').enabled).toBe(true);
  });

  it('lets none, OTEL_SDK_DISABLED and the file turn it off', () => {
    expect(resolve({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }).enabled).toBe(false);
    expect(resolve({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' }, '{enabled: false}').enabled).toBe(false);
    expect(resolve({ OTEL_SDK_DISABLED: 'true' }, '{enabled: true}').enabled).toBe(false);
  });

  it('is named by OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES unless the file names it', () => {
    expect(resolve({ OTEL_SERVICE_NAME: 'notify' }).serviceName).toBeUndefined();
    expect(resolve({}, '{serviceName: herald-eu}').serviceName).toBe('herald-eu');
  });

  it('warns of an OTLP protocol other than HTTP with JSON', () => {
    const config = parseConfig('notifications: {type: sandbox}\n', {
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4317', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' },
    });
    expect(config.warnings.join('\n')).toMatch(/OTEL_EXPORTER_OTLP_PROTOCOL=grpc: Herald sends OTLP over HTTP/);
  });

  it('warns about an exporter Herald does not have, and refuses a ratio outside 0..1', () => {
    const config = parseConfig('notifications: {type: sandbox}\n', { env: { OTEL_TRACES_EXPORTER: 'zipkin' } });
    expect(config.tracing.enabled).toBe(false);
    expect(config.warnings.join('\n')).toMatch(/OTEL_TRACES_EXPORTER names zipkin/);
    expect(() => resolve({}, '{sampleRatio: 1.5}')).toThrow(/herald\.tracing\.sampleRatio/);
  });
});
