import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeliveryError, encodeEvent, sampleEvent } from '@herald/core';
import { parseConfig } from '@herald/core/config';
import { MemoryQueue, silentLogger } from '@herald/core/runtime';
import {
  createProcessor,
  MemoryLedger,
  MemorySource,
  type ProcessorDependencies,
  type ProcessorEventMap,
  ProcessorEvents,
  StoreLedger,
} from '@herald/processor';
import { createMetrics, type HeraldMetrics } from '@herald/server';
import { describe, expect, it } from 'vitest';

// The server reaches emailers and channels only through the processor.
type Emailer = NonNullable<ProcessorDependencies['emailer']>;
type Channel = NonNullable<ProcessorDependencies['channels']> extends ReadonlyMap<string, infer C> ? C : never;

/** A processor as the metrics see it: its events, and an in-flight count a test can move. */
function fakeProcessor() {
  return { events: new ProcessorEvents(), inFlight: 0 };
}

/** The value of one series, or undefined when the series does not exist. */
async function sampleOf(
  metrics: HeraldMetrics,
  name: string,
  labels: Record<string, string> = {},
): Promise<number | undefined> {
  const metric = metrics.registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  const sample = values.find(
    (v) =>
      (v as { metricName?: string }).metricName === undefined &&
      Object.keys(labels).length === Object.keys(v.labels).length &&
      Object.entries(labels).every(([k, value]) => v.labels[k] === value),
  );
  return sample?.value;
}

const delivered = (provider: string, durationMs: number): ProcessorEventMap['delivered'] => ({
  messageId: 'm-1',
  eventId: 'event-123',
  destination: 'email:oncall@example.com',
  channel: provider === 'slack' ? 'slack' : 'email',
  provider,
  providerMessageId: '<x@example.com>',
  to: ['oncall@example.com'],
  subject: 'FAILED',
  text: 'body',
  durationMs,
});

describe('createMetrics', () => {
  it('counts every lifecycle event the processor emits', async () => {
    const processor = fakeProcessor();
    const metrics = createMetrics(processor, { defaultMetrics: false });
    const { events } = processor;

    events.emit('message_received', { messageId: 'm-1', receiveCount: 1 });
    events.emit('message_received', { messageId: 'm-2', receiveCount: 2 });
    events.emit('delivered', delivered('ses', 120));
    events.emit('delivered', delivered('slack', 40));
    events.emit('delivered', delivered('ses', 80));
    events.emit('retry_scheduled', {
      messageId: 'm-2',
      eventId: 'e-2',
      destinations: ['email:a@example.com'],
      attempt: 1,
      delayMs: 1000,
      error: 'throttled',
    });
    events.emit('dead_lettered', { messageId: 'm-3', kind: 'undecodable', reason: 'not JSON' });
    events.emit('dead_lettered', {
      messageId: 'm-4',
      kind: 'permanent-failure',
      reason: 'bad address',
      eventId: 'e-4',
    });
    events.emit('duplicate_skipped', { messageId: 'm-5', eventId: 'e-5', destination: 'email:a@example.com' });
    events.emit('message_skipped', { messageId: 'm-7', reason: 'a FlyteAdmin node event' });
    const failure = { messageId: 'm-8', eventId: 'e-8', destination: 'email:x', error: '503' };
    events.emit('delivery_failed', { ...failure, provider: 'ses', retryable: true });
    events.emit('delivery_failed', { ...failure, provider: 'ses', retryable: true });
    events.emit('delivery_failed', { ...failure, provider: 'slack', retryable: false });
    events.emit('claim_held_elsewhere', { messageId: 'm-9', eventId: 'e-9', destination: 'channel:oncall' });
    events.emit('ledger_answered', { operation: 'claim', durationMs: 3 });
    events.emit('message_settled', { messageId: 'm-1', eventId: 'e-1', outcome: 'acked' });
    events.emit('message_settled', { messageId: 'm-2', eventId: 'e-2', outcome: 'retry' });
    events.emit('message_settled', { messageId: 'm-3', outcome: 'acked' });
    events.emit('source_error', { operation: 'ack', messageId: 'm-6', error: 'reset' });

    expect(await sampleOf(metrics, 'herald_messages_received_total')).toBe(2);
    expect(await sampleOf(metrics, 'herald_deliveries_total', { provider: 'ses' })).toBe(2);
    expect(await sampleOf(metrics, 'herald_deliveries_total', { provider: 'slack' })).toBe(1);
    expect(await sampleOf(metrics, 'herald_retries_scheduled_total')).toBe(1);
    expect(await sampleOf(metrics, 'herald_dead_lettered_total', { kind: 'undecodable' })).toBe(1);
    expect(await sampleOf(metrics, 'herald_dead_lettered_total', { kind: 'permanent-failure' })).toBe(1);
    expect(await sampleOf(metrics, 'herald_dead_lettered_total', { kind: 'attempts-exhausted' })).toBe(0);
    expect(await sampleOf(metrics, 'herald_duplicates_skipped_total')).toBe(1);
    expect(await sampleOf(metrics, 'herald_messages_skipped_total')).toBe(1);
    expect(await sampleOf(metrics, 'herald_delivery_failures_total', { provider: 'ses', retryable: 'true' })).toBe(2);
    expect(await sampleOf(metrics, 'herald_delivery_failures_total', { provider: 'slack', retryable: 'false' })).toBe(
      1,
    );
    expect(await sampleOf(metrics, 'herald_claims_lost_total')).toBe(1);
    const claimSeconds = await metrics.registry.getSingleMetric('herald_store_claim_seconds')?.get();
    const count = claimSeconds?.values.find((v) => (v as { metricName?: string }).metricName?.endsWith('_count'));
    expect(count?.value).toBe(1);
    expect(await sampleOf(metrics, 'herald_messages_settled_total', { outcome: 'acked' })).toBe(2);
    expect(await sampleOf(metrics, 'herald_messages_settled_total', { outcome: 'retry' })).toBe(1);
    expect(await sampleOf(metrics, 'herald_source_errors_total', { operation: 'ack' })).toBe(1);
    expect(await sampleOf(metrics, 'herald_source_errors_total', { operation: 'receive' })).toBe(0);
  });

  it('observes delivery durations in seconds, per provider', async () => {
    const processor = fakeProcessor();
    const metrics = createMetrics(processor, { defaultMetrics: false });
    processor.events.emit('delivered', delivered('ses', 120));
    processor.events.emit('delivered', delivered('ses', 3));
    processor.events.emit('delivered', delivered('smtp', 2_000));

    const text = await metrics.registry.metrics();
    expect(text).toContain('herald_delivery_duration_seconds_count{provider="ses"} 2');
    expect(text).toContain('herald_delivery_duration_seconds_sum{provider="ses"} 0.123');
    expect(text).toContain('herald_delivery_duration_seconds_bucket{le="0.005",provider="ses"} 1');
    expect(text).toContain('herald_delivery_duration_seconds_bucket{le="0.25",provider="ses"} 2');
    expect(text).toContain('herald_delivery_duration_seconds_bucket{le="1",provider="smtp"} 0');
    expect(text).toContain('herald_delivery_duration_seconds_bucket{le="2.5",provider="smtp"} 1');
  });

  it('reads the in-flight gauge when scraped', async () => {
    const processor = fakeProcessor();
    const metrics = createMetrics(processor, { defaultMetrics: false });
    processor.inFlight = 7;
    expect(await sampleOf(metrics, 'herald_in_flight')).toBe(7);
    processor.inFlight = 0;
    expect(await sampleOf(metrics, 'herald_in_flight')).toBe(0);
  });

  it('keeps label values to small fixed sets: never ids, addresses or free text', async () => {
    const processor = fakeProcessor();
    const metrics = createMetrics(processor, { defaultMetrics: false });
    processor.events.emit('delivered', delivered('outbox', 1));
    processor.events.emit('source_error', { operation: 'visibility of m-77 for event-123', error: 'x' });
    processor.events.emit('dead_lettered', {
      messageId: 'm-9',
      kind: 'attempts-exhausted',
      reason: 'oncall@example.com refused',
      eventId: 'event-123',
      destination: 'email:oncall@example.com',
    });

    const text = await metrics.registry.metrics();
    expect(await sampleOf(metrics, 'herald_source_errors_total', { operation: 'other' })).toBe(1);
    for (const leak of ['event-123', 'oncall@example.com', 'm-9', 'm-77', 'refused']) expect(text).not.toContain(leak);
  });

  it('counts ingested events and refused requests by reason, every reason present from the start', async () => {
    const metrics = createMetrics(fakeProcessor(), { defaultMetrics: false });
    expect(await sampleOf(metrics, 'herald_ingest_rejected_total', { reason: 'queue_full' })).toBe(0);
    metrics.eventsIngested(3);
    metrics.eventsIngested(2);
    metrics.ingestRejected('unauthorized');
    metrics.ingestRejected('unauthorized');
    metrics.ingestRejected('too_large');
    expect(await sampleOf(metrics, 'herald_events_ingested_total')).toBe(5);
    expect(await sampleOf(metrics, 'herald_ingest_rejected_total', { reason: 'unauthorized' })).toBe(2);
    expect(await sampleOf(metrics, 'herald_ingest_rejected_total', { reason: 'too_large' })).toBe(1);
    expect(await sampleOf(metrics, 'herald_ingest_rejected_total', { reason: 'invalid' })).toBe(0);
  });

  it("adds Node's process metrics under their standard names to a registry of its own", async () => {
    const one = createMetrics(fakeProcessor());
    const two = createMetrics(fakeProcessor());
    one.eventsIngested(1);
    const text = await one.registry.metrics();
    for (const name of [
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_heap_size_used_bytes',
      'nodejs_eventloop_lag_seconds',
    ]) {
      expect(text).toMatch(new RegExp(`^${name} \\d`, 'm'));
    }
    expect(text).not.toMatch(/^herald_(process|nodejs)_/m);
    // Herald's own keep their prefix.
    expect(text).toMatch(/^herald_events_ingested_total 1$/m);
    // Separate registries: one's counts do not show in the other's.
    expect(await sampleOf(two, 'herald_events_ingested_total')).toBe(0);
  });

  it("reads the delivery store's round trips when scraped, only when a store is configured", async () => {
    expect(
      createMetrics(fakeProcessor(), { defaultMetrics: false }).registry.getSingleMetric(
        'herald_store_round_trips_total',
      ),
    ).toBeUndefined();
    const inMemory = createMetrics({ ...fakeProcessor(), ledger: new MemoryLedger(100) }, { defaultMetrics: false });
    expect(await inMemory.registry.metrics()).not.toContain('herald_store_round_trips_total');

    const dir = await mkdtemp(join(tmpdir(), 'herald-metrics-'));
    const ledger = new StoreLedger({
      url: `sqlite:${join(dir, 'herald.db')}`,
      leaseMs: 30_000,
      retentionDays: 14,
      logger: silentLogger,
    });
    try {
      const metrics = createMetrics({ ...fakeProcessor(), ledger }, { defaultMetrics: false });
      expect(await sampleOf(metrics, 'herald_store_round_trips_total')).toBe(0);
      await ledger.start();
      const key = { eventId: 'e-1', destination: 'email:oncall@example.com' };
      await ledger.begin({
        ...key,
        label: 'oncall@example.com',
        execution: { project: 'p', domain: 'd', name: 'f8a1b2c3' },
        phase: 'FAILED',
      });
      await ledger.delivered(key, { providerMessageId: 'm-1', subject: 'FAILED' });
      const trips = ledger.roundTrips;
      expect(trips).toBeGreaterThan(0);
      expect(await sampleOf(metrics, 'herald_store_round_trips_total')).toBe(trips);
      // Scraped again with nothing new: the same count, not twice it.
      expect(await sampleOf(metrics, 'herald_store_round_trips_total')).toBe(trips);
      const text = await metrics.registry.metrics();
      expect(text).toContain('# TYPE herald_store_round_trips_total counter');
      expect(text).toMatch(new RegExp(`^herald_store_round_trips_total ${trips}$`, 'm'));
      // Closed, the store counts nothing; the counter never goes back.
      await ledger.close();
      expect(await sampleOf(metrics, 'herald_store_round_trips_total')).toBe(trips);
    } finally {
      await ledger.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('counts a failed attempt under its provider, for every emailer and every kind of channel', async () => {
    // Each emailer fails transiently, each channel permanently: both values of `retryable`.
    const emailers = ['ses', 'sendgrid', 'smtp', 'outbox'];
    const channels = { chat: 'slack', pager: 'pagerduty', hook: 'webhook', tickets: 'jira' } as const;
    for (const emailer of emailers) {
      const metrics = await failEveryDelivery(emailer, channels);
      expect(await sampleOf(metrics, 'herald_delivery_failures_total', { provider: emailer, retryable: 'true' })).toBe(
        1,
      );
      for (const type of Object.values(channels)) {
        expect(await sampleOf(metrics, 'herald_delivery_failures_total', { provider: type, retryable: 'false' })).toBe(
          1,
        );
      }
    }
  });
});

/**
 * Runs one FAILED event through a processor whose emailer (named `emailer`) and channels all
 * refuse it, once (maxAttempts 1), and returns the metrics that watched.
 */
async function failEveryDelivery(emailer: string, channels: Record<string, Channel['type']>): Promise<HeraldMetrics> {
  const config = parseConfig(
    `notifications: {type: sandbox, emailer: {sender: herald@example.com}}
herald:
  processor: {maxAttempts: 1}
  channels:
    chat: { type: slack, webhookUrlEnvVar: SLACK_URL }
    pager: { type: pagerduty, routingKeyEnvVar: PD_KEY }
    hook: { type: webhook, url: "https://hooks.example.com" }
    tickets: { type: jira, baseUrl: "https://jira.example.com", project: OPS, emailEnvVar: JIRA_EMAIL, apiTokenEnvVar: JIRA_TOKEN }
  rules:
    - { name: everyone, email: [oncall@example.com], notify: [${Object.keys(channels).join(', ')}] }
`,
    { env: {} },
  );
  const refusing: Emailer = {
    name: emailer,
    send: async () => {
      throw new DeliveryError(emailer, 'throttled', { retryable: true });
    },
    close: async () => {},
  };
  const refusingChannel = (name: string, type: Channel['type']): Channel => ({
    name,
    type,
    prepare: () => ({
      method: 'POST',
      url: 'https://x.example.com',
      headers: {},
      body: '{}',
      preview: { url: 'https://x.example.com', headers: {}, body: {}, summary: 'FAILED' },
    }),
    prepareDigest: () => undefined,
    send: async () => {
      throw new DeliveryError(name, '400 Bad Request', { retryable: false });
    },
  });
  const queue = new MemoryQueue(10);
  const processor = createProcessor(config, {
    memoryQueue: queue,
    source: new MemorySource(queue),
    emailer: refusing,
    channels: new Map(Object.entries(channels).map(([name, type]) => [name, refusingChannel(name, type)])),
    ledger: new MemoryLedger(100),
  });
  const metrics = createMetrics(processor, { defaultMetrics: false });
  const settled = new Promise((resolve) => processor.events.on('message_settled', resolve));
  await processor.start();
  queue.send(encodeEvent(sampleEvent({ id: `e-${emailer}` })));
  await settled;
  await processor.stop();
  return metrics;
}
