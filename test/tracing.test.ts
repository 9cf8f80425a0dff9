import { randomUUID } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sampleEvent } from '@herald/core';
import { afterEach, describe, expect, it } from 'vitest';
import { createStack, emailsFrom, eventually } from './helpers/aws.js';
import { finished, herald, start, waitForLog } from './helpers/cli.js';
import { FakeSendGrid } from './helpers/fake-sendgrid.js';
import { createGcpStack } from './helpers/gcp.js';
import { listenOnLoopback } from './helpers/loopback.js';
import { OtlpReceiver, type ReceivedSpan } from './helpers/otlp-receiver.js';
import { freePort } from './support/processes.js';

// One trace from the publisher, through a real queue (SNS → SQS on the AWS emulator, Pub/Sub on
// its emulator), to every delivery: `herald publish` and `herald run` are separate processes,
// each exporting its spans over OTLP to a receiver on loopback, as they would to a collector.

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

async function receiver(): Promise<{ otlp: OtlpReceiver; env: Record<string, string> }> {
  const otlp = new OtlpReceiver();
  const endpoint = await otlp.start();
  cleanup.push(() => otlp.stop());
  // Exported a fifth of a second after they end, rather than every five seconds.
  return { otlp, env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: endpoint, OTEL_BSP_SCHEDULE_DELAY: '200' } };
}

/** `herald run`, stopped (SIGTERM, exit 0 checked) after the test. */
async function run(configFile: string, env: Record<string, string>): Promise<ReturnType<typeof start>> {
  const child = start(['run', '--config', configFile, '--log-level', 'debug', '--log-format', 'json'], undefined, env);
  cleanup.push(async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    expect((await finished(child)).status).toBe(0);
  });
  await waitForLog(child, 'herald processor started');
  return child;
}

async function eventFile(event: object): Promise<string> {
  const file = join(tmpdir(), `herald-traced-${randomUUID()}.json`);
  await writeFile(file, JSON.stringify(event));
  cleanup.push(() => rm(file, { force: true }));
  return file;
}

const FAILED_NOTICE = (name: string, recipient: string) =>
  sampleEvent({
    id: randomUUID(),
    execution: { project: 'flytesnacks', domain: 'development', name },
    notifications: [{ phases: ['FAILED'], email: { recipients: [recipient] } }],
  });

/** The spans of one trace once `deliveries` deliver spans have arrived. */
async function traceWith(otlp: OtlpReceiver, traceId: string, deliveries: number): Promise<ReceivedSpan[]> {
  return eventually(async () => {
    const spans = otlp.trace(traceId);
    expect(spans.filter((s) => s.name.startsWith('deliver ')).length).toBeGreaterThanOrEqual(deliveries);
    expect(spans.filter((s) => s.name.startsWith('process ')).length).toBeGreaterThanOrEqual(1);
    return spans;
  }, 30_000);
}

/**
 * What every trace through the queue must hold: the producer's span, the consumer's `process`
 * span as its child, the steps of reading the message, and one `deliver` span per destination
 * with its `render` and `send`.
 * @param entry the span Herald began the trace with in its own processes (the producer's, or an
 *   ingest request's): the only one whose parent may be elsewhere.
 */
function expectOneTraceThroughTheQueue(
  spans: ReceivedSpan[],
  producer: ReceivedSpan,
  consumerSystem: string,
  entry = producer,
): void {
  const byId = new Map(spans.map((s) => [s.spanId, s]));
  const [processSpan, ...more] = spans.filter((s) => s.name.startsWith('process '));
  expect(more).toHaveLength(0);
  expect(processSpan?.kind).toBe(5); // CONSUMER
  expect(processSpan?.parentSpanId).toBe(producer.spanId);
  expect(processSpan?.attributes['messaging.system']).toBe(consumerSystem);
  expect(processSpan?.attributes['messaging.operation.type']).toBe('process');
  for (const step of ['decode', 'route']) {
    expect(spans.find((s) => s.name === step)?.parentSpanId).toBe(processSpan?.spanId);
  }
  const deliveries = spans.filter((s) => s.name.startsWith('deliver '));
  for (const delivery of deliveries) {
    expect(delivery.parentSpanId).toBe(processSpan?.spanId);
    expect(delivery.attributes['herald.delivery.outcome']).toBe('delivered');
    const parts = spans.filter((s) => s.parentSpanId === delivery.spanId);
    expect(parts.map((p) => p.name).sort()).toEqual(['render', 'send']);
    expect(parts.find((p) => p.name === 'send')?.kind).toBe(3); // CLIENT
  }
  // Nothing in the trace hangs off a span that is not in it, but the entry's own parent.
  for (const span of spans) {
    if (span !== entry && span.parentSpanId) expect(byId.has(span.parentSpanId)).toBe(true);
  }
}

/**
 * Posts `event` to the ingest endpoint with a caller's own trace context, and checks that trace
 * holds the request's server span, the publish under it, and the rest through the queue.
 */
async function expectIngestTrace(
  otlp: OtlpReceiver,
  port: number,
  event: object,
  topic: string,
  consumerSystem: string,
  deliveries: number,
): Promise<void> {
  const callerTrace = randomUUID().replaceAll('-', '');
  const response = await fetch(`http://127.0.0.1:${port}/v1/events`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', traceparent: `00-${callerTrace}-b7ad6b7169203331-01` },
    body: JSON.stringify(event),
  });
  expect(response.status).toBe(202);
  const ingested = await traceWith(otlp, callerTrace, deliveries);
  const request = ingested.find((s) => s.name === 'POST /v1/events');
  expect(request?.kind).toBe(2); // SERVER
  expect(request?.parentSpanId).toBe('b7ad6b7169203331');
  const send = ingested.find((s) => s.name === `send ${topic}`) as ReceivedSpan;
  expect(send.parentSpanId).toBe(request?.spanId);
  expectOneTraceThroughTheQueue(ingested, send, consumerSystem, request);
}

/** The JSON log lines of a process that name a trace. */
function logLinesOf(child: ReturnType<typeof start>, traceId: string): { msg: string; span_id: string }[] {
  return child.output.stderr
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { msg: string; trace_id?: string; span_id: string })
    .filter((line) => line.trace_id === traceId);
}

describe('one trace from publish to delivery', () => {
  it('on AWS: herald publish → SNS → SQS → herald run → each SES email, and POST /v1/events likewise', async () => {
    const { otlp, env } = await receiver();
    const port = await freePort();
    let hooks = 0;
    const webhook = await listenOnLoopback((req, res) => {
      req.resume();
      req.on('end', () => {
        hooks++;
        res.writeHead(204).end();
      });
    });
    cleanup.push(() => webhook.stop());
    const stack = await createStack({
      herald: `  channels:
    ops: {type: webhook, url: "${webhook.url}/hook"}
  rules:
    - {name: to-ops, notify: [ops]}
  http: {listen: "127.0.0.1:${port}", ingest: {enabled: true}}
`,
    });
    const processor = await run(stack.configFile, env);

    // From `herald publish`, a process of its own that starts the trace.
    const name = `traced-${randomUUID().slice(0, 6)}`;
    const published = await herald(
      ['publish', '--config', stack.configFile, '--event', await eventFile(FAILED_NOTICE(name, 'dev@example.com'))],
      { env },
    );
    expect(published.status).toBe(0);
    await eventually(async () => expect(await emailsFrom(stack)).toHaveLength(1));
    await eventually(async () => expect(hooks).toBe(1));
    const send = await eventually(async () => {
      const found = otlp.spans.find((s) => s.name === `send ${stack.id}` && s.service === 'herald');
      expect(found).toBeDefined();
      return found as ReceivedSpan;
    });
    expect(send.kind).toBe(4); // PRODUCER
    expect(send.parentSpanId).toBe('');
    expect(send.attributes['messaging.system']).toBe('aws.sns');
    const spans = await traceWith(otlp, send.traceId, 2);
    expectOneTraceThroughTheQueue(spans, send, 'aws_sqs');
    const providers = spans.filter((s) => s.name.startsWith('deliver ')).map((s) => s.attributes['herald.provider']);
    expect(providers.sort()).toEqual(['ses', 'webhook']);
    // The processor's log lines about the message name its trace.
    expect(logLinesOf(processor, send.traceId).length).toBeGreaterThan(0);

    // From an HTTP client that sends its own trace context.
    await expectIngestTrace(otlp, port, FAILED_NOTICE(`${name}-http`, 'dev@example.com'), stack.id, 'aws_sqs', 2);
  });

  it('on Pub/Sub: herald publish → topic → subscription → herald run → SendGrid, and POST /v1/events likewise', async () => {
    const { otlp, env } = await receiver();
    const key = `SG.${randomUUID()}`;
    const sendgrid = new FakeSendGrid(key);
    const sendgridEnv = { SENDGRID_API_KEY: key, HERALD_SENDGRID_BASE_URL: await sendgrid.start() };
    cleanup.push(() => sendgrid.stop());
    const port = await freePort();
    const stack = await createGcpStack(
      '{ serviceName: sendgrid, apiKeyEnvVar: SENDGRID_API_KEY }',
      sendgridEnv,
      `  http: {listen: "127.0.0.1:${port}", ingest: {enabled: true}}\n`,
    );
    await run(stack.configFile, { ...env, ...sendgridEnv });

    const name = `traced-${randomUUID().slice(0, 6)}`;
    const file = await eventFile(FAILED_NOTICE(name, 'dev@example.com'));
    // A script passes its own trace in TRACEPARENT: the publish continues it.
    const scriptTrace = randomUUID().replaceAll('-', '');
    const published = await herald(['publish', '--config', stack.configFile, '--event', file], {
      env: { ...env, TRACEPARENT: `00-${scriptTrace}-0102030405060708-01` },
    });
    expect(published.status).toBe(0);
    await eventually(async () => expect(sendgrid.accepted.length).toBe(1));

    const spans = await traceWith(otlp, scriptTrace, 1);
    const send = spans.find((s) => s.name === `send ${stack.config.publisher.topicName}`) as ReceivedSpan;
    expect(send.parentSpanId).toBe('0102030405060708');
    expect(send.attributes['messaging.system']).toBe('gcp_pubsub');
    expectOneTraceThroughTheQueue(spans, send, 'gcp_pubsub');
    expect(spans.find((s) => s.name.startsWith('process '))?.attributes).toMatchObject({
      'messaging.destination.subscription.name': stack.config.processor.queueName,
      'messaging.gcp_pubsub.message.delivery_attempt': 1,
    });

    const event = FAILED_NOTICE(`${name}-http`, 'dev@example.com');
    await expectIngestTrace(otlp, port, event, stack.config.publisher.topicName, 'gcp_pubsub', 1);
    await eventually(async () => expect(sendgrid.accepted.length).toBe(2));
  });
});
