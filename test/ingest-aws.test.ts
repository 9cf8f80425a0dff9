import { randomUUID } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '@herald/core/runtime';
import { createProcessor, type Processor } from '@herald/processor';
import { createPublisher, type Publisher, SnsPublisher } from '@herald/publisher';
import { HttpServer } from '@herald/server';
import { afterEach, describe, expect, it } from 'vitest';
import { type AwsStack, createStack, drain, emailsFrom, eventually } from './helpers/aws.js';
import { herald } from './helpers/cli.js';
import { FlakyProxy } from './helpers/flaky-proxy.js';

// Events handed to Herald on AWS — POST /v1/events, `herald publish` — against real SNS (the
// emulator): what a request publishes, and what a client that retries it ends up sending.

const cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

/** Serves POST /v1/events on loopback, publishing with `publisher`; resolves with the URL. */
async function serveIngest(publisher: Publisher): Promise<string> {
  const server = new HttpServer({
    host: '127.0.0.1',
    port: 0,
    logger: silentLogger,
    ready: () => true,
    ingest: { publisher, token: undefined, maxBodyBytes: 1024 * 1024 },
  });
  cleanup.push(async () => {
    await server.stop();
    await publisher.close();
  });
  return `${await server.start()}/v1/events`;
}

async function startProcessor(stack: AwsStack): Promise<Processor> {
  const processor = createProcessor(stack.config, { logger: silentLogger });
  cleanup.push(() => processor.stop());
  await processor.start();
  return processor;
}

/** A FAILED event as an engine sends it: no id, no time, one email recipient. */
function failed(stack: AwsStack, name: string, extra: Record<string, unknown> = {}) {
  return {
    execution: { project: 'flytesnacks', domain: 'development', name },
    phase: 'FAILED',
    notifications: [{ phases: ['FAILED'], email: { recipients: [`${name}@example.com`] } }],
    labels: { stack: stack.id },
    ...extra,
  };
}

const post = (url: string, events: unknown[]) =>
  fetch(url, { method: 'POST', body: JSON.stringify(events), headers: { 'Content-Type': 'application/json' } });

/** Counts the messages the processor finishes with (acked) and the deliveries it skips as done. */
function count(processor: Processor): { acked: number; duplicates: number } {
  const counts = { acked: 0, duplicates: 0 };
  processor.events.on('message_settled', (e) => {
    if (e.outcome === 'acked') counts.acked++;
  });
  processor.events.on('duplicate_skipped', () => counts.duplicates++);
  return counts;
}

async function jsonLines(events: unknown[]): Promise<string> {
  const file = join(tmpdir(), `herald-events-${randomUUID()}.jsonl`);
  await writeFile(file, `${events.map((e) => JSON.stringify(e)).join('\n')}\n`);
  cleanup.push(() => rm(file, { force: true }));
  return file;
}

interface Published {
  index: number;
  eventId: string;
  messageId: string;
}

describe('POST /v1/events on SNS', () => {
  it("publishes nothing of a request with one event over SNS's 256 KiB, and says which and why", async () => {
    const stack = await createStack();
    const url = await serveIngest(createPublisher(stack.config));
    const events = Array.from({ length: 15 }, (_, i) => failed(stack, `small-${i}`));
    events.push(failed(stack, 'big', { id: 'big-event', error: { message: 'x'.repeat(300 * 1024) } }));

    const response = await post(url, events);
    expect(response.status).toBe(413);
    const body = (await response.json()) as { error: string; events: Record<string, unknown>[] };
    expect(body.events).toEqual([
      {
        index: 15,
        eventId: 'big-event',
        bytes: expect.any(Number),
        maxBytes: 262_144,
        error: expect.stringMatching(
          /^event \[15\] \(id big-event\) is \d+ bytes, over SNS's limit of 262144 bytes per message \(body and attributes\)$/,
        ),
      },
    ]);
    expect(body.error).toContain('nothing was published');
    expect(await drain(stack.sqs, stack.queueUrl)).toEqual([]);
  });

  it('answers a failure part-way with what was published, and a retried request sends nothing twice', async () => {
    const stack = await createStack();
    const counts = count(await startProcessor(stack));

    // SNS through a proxy that, after the topic check and one PublishBatch, answers 503 to
    // everything — more times than the SDK retries: the topic "throttles after 10 of 16".
    const proxy = new FlakyProxy(process.env.AWS_ENDPOINT_URL as string, 0);
    const endpoint = await proxy.start();
    cleanup.push(() => proxy.stop());
    const publisher = new SnsPublisher({ topicArn: stack.config.publisher.topicName, region: 'us-east-1', endpoint });
    await publisher.start();
    const url = await serveIngest(publisher);
    proxy.forwardBeforeFailing = proxy.forwarded + 1;
    proxy.failures = 1_000_000;

    // The engine gives no ids: each is derived from the event, the same on every retry.
    const events = Array.from({ length: 16 }, (_, i) => failed(stack, `retry-${i}`));
    const partial = await post(url, events);
    expect(partial.status).toBe(502);
    const outcome = (await partial.json()) as {
      published: Published[];
      failed: { index: number; eventId: string; error: string }[];
    };
    expect(outcome.published.map((p) => p.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(outcome.failed.map((f) => f.index)).toEqual([10, 11, 12, 13, 14, 15]);
    expect(outcome.failed[0]?.error).toMatch(/ServiceUnavailable/);

    // SNS is back; the client retries the whole request, as a client that cannot parse the
    // answer would.
    proxy.failures = proxy.failed;
    const retried = await post(url, events);
    expect(retried.status).toBe(202);
    const { published } = (await retried.json()) as { published: Published[] };
    expect(published.map((p) => p.eventId)).toEqual([
      ...outcome.published.map((p) => p.eventId),
      ...outcome.failed.map((f) => f.eventId),
    ]);

    // 26 messages reach the queue (10 twice), or more: a queue delivers at least once, so a
    // message may come back (a receive whose visibility ran out on a loaded machine). Each of
    // the 16 events is handled once and emailed once; every other message is a known copy.
    await eventually(async () => {
      expect(counts.acked).toBeGreaterThanOrEqual(26);
      expect(counts.acked - counts.duplicates).toBe(16);
    }, 90_000);
    const sent = await emailsFrom(stack);
    expect(sent.map((m) => m.subject).sort()).toEqual(events.map((e) => `${e.execution.name} failed`).sort());
  });
});

describe('herald publish on SNS', () => {
  it("exits 2 naming an event over SNS's limit, and publishes none of the file", async () => {
    const stack = await createStack();
    const file = await jsonLines([
      failed(stack, 'small-1'),
      failed(stack, 'small-2'),
      failed(stack, 'big', { id: 'big-event', error: { message: 'x'.repeat(300 * 1024) } }),
    ]);
    const result = await herald(['publish', '--config', stack.configFile, '--event', file]);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(
      /^herald: .*\.jsonl: event \[2\] \(id big-event\) is \d+ bytes, over SNS's limit of 262144 bytes per message \(body and attributes\)\n$/,
    );
    expect(result.stdout).toBe('');
    expect(await drain(stack.sqs, stack.queueUrl)).toEqual([]);
  });

  it('delivers once what is published twice from the same file of events without ids', async () => {
    const stack = await createStack();
    const counts = count(await startProcessor(stack));
    const events = ['twice-1', 'twice-2', 'twice-3'].map((name) => failed(stack, name));
    const file = await jsonLines(events);
    const eventIds = (stdout: string) =>
      stdout
        .trim()
        .split('\n')
        .map((line) => line.split('\t')[1]);

    const first = await herald(['publish', '--config', stack.configFile, '--event', file]);
    const again = await herald(['publish', '--config', stack.configFile, '--event', file]);
    expect([first.status, again.status]).toEqual([0, 0]);
    expect(eventIds(again.stdout)).toEqual(eventIds(first.stdout));

    await eventually(async () => expect(counts.acked).toBe(6), 90_000);
    expect((await emailsFrom(stack)).map((m) => m.subject).sort()).toEqual([
      'twice-1 failed',
      'twice-2 failed',
      'twice-3 failed',
    ]);
    expect(counts.duplicates).toBe(3);
  });
});
