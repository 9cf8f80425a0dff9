import { createRequire } from 'node:module';
import { type DeliveryLedger, type ProcessorEventMap, type ProcessorEvents, StoreLedger } from '@herald/processor';
import type { Registry } from 'prom-client';

const require = createRequire(import.meta.url);
let promClient: typeof import('prom-client') | undefined;

/**
 * prom-client, loaded by the first {@link createMetrics}: only a process that serves metrics
 * loads it. createMetrics is synchronous (an application builds its metrics with the processor,
 * to count from its first event), so this is a `require` (prom-client is a CommonJS package).
 */
function loadPromClient(): typeof import('prom-client') {
  promClient ??= require('prom-client') as typeof import('prom-client');
  return promClient;
}

/** Why the ingest endpoint refused a request: the `reason` label of `herald_ingest_rejected_total`. */
export const INGEST_REJECTIONS = [
  'unauthorized',
  'unsupported_media_type',
  'too_large',
  'event_too_large',
  'invalid',
  'queue_full',
  'stopping',
  'publish_failed',
] as const;
export type IngestRejection = (typeof INGEST_REJECTIONS)[number];

const DEAD_LETTER_KINDS: readonly ProcessorEventMap['dead_lettered']['kind'][] = [
  'undecodable',
  'permanent-failure',
  'attempts-exhausted',
  'shutdown',
];
const SETTLE_OUTCOMES: readonly ProcessorEventMap['message_settled']['outcome'][] = ['acked', 'retry'];
/** The source operations the pipeline reports failures of; anything else is counted as `other`. */
const SOURCE_OPERATIONS = ['receive', 'ack', 'retryLater', 'deadLetter'] as const;

/** Seconds; a send is aborted at the delivery timeout (30 s by default). */
const DELIVERY_SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * What the metrics read from the processor: its lifecycle events, how much it holds and its
 * delivery ledger (a {@link StoreLedger} when a store is configured).
 */
export interface MetricsSource {
  readonly events: ProcessorEvents;
  readonly inFlight: number;
  readonly ledger?: DeliveryLedger | undefined;
}

/** Herald's Prometheus metrics, in a registry of their own. */
export interface HeraldMetrics {
  readonly registry: Registry;
  /** `count` events published by the ingest endpoint (also those of a request that failed part-way). */
  eventsIngested(count: number): void;
  /** One ingest request refused. */
  ingestRejected(reason: IngestRejection): void;
}

/**
 * Counts what the processor reports through its lifecycle events. Label values come from small
 * fixed sets (provider, dead-letter kind, settle outcome, source operation, rejection reason),
 * never from event ids or addresses, so the number of series stays bounded.
 * @param options.defaultMetrics adds Node's process metrics (CPU, memory, event loop, GC) under
 *   prom-client's standard names (`process_cpu_seconds_total`, `nodejs_heap_size_used_bytes`),
 *   the ones stock Node.js dashboards query; on unless turned off.
 */
export function createMetrics(source: MetricsSource, options: { defaultMetrics?: boolean } = {}): HeraldMetrics {
  const { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } = loadPromClient();
  const registry = new Registry();
  const registers = [registry];
  // No prefix: Herald's own metrics are `herald_…`, Node's keep the names dashboards expect.
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });

  const received = new Counter({
    name: 'herald_messages_received_total',
    help: 'Messages received from the queue, redeliveries included.',
    registers,
  });
  const deliveries = new Counter({
    name: 'herald_deliveries_total',
    help: 'Deliveries that succeeded, by provider (emailer or channel type).',
    labelNames: ['provider'] as const,
    registers,
  });
  const deliverySeconds = new Histogram({
    name: 'herald_delivery_duration_seconds',
    help: 'Time a successful delivery took, by provider.',
    labelNames: ['provider'] as const,
    buckets: DELIVERY_SECONDS_BUCKETS,
    registers,
  });
  const retries = new Counter({
    name: 'herald_retries_scheduled_total',
    help: 'Messages handed back to the queue to be retried later.',
    registers,
  });
  const deadLettered = new Counter({
    name: 'herald_dead_lettered_total',
    help: 'Messages or deliveries sent to the dead-letter destination, by kind.',
    labelNames: ['kind'] as const,
    registers,
  });
  const duplicates = new Counter({
    name: 'herald_duplicates_skipped_total',
    help: 'Deliveries skipped because they had already been made (a redelivered message).',
    registers,
  });
  const failures = new Counter({
    name: 'herald_delivery_failures_total',
    help: 'Delivery attempts that failed, by provider (the emailer, or the kind of destination) and whether they are retried.',
    labelNames: ['provider', 'retryable'] as const,
    registers,
  });
  const silenced = new Counter({
    name: 'herald_deliveries_silenced_total',
    help: 'Deliveries a silence muted: logged silenced, not sent.',
    registers,
  });
  const folded = new Counter({
    name: 'herald_deliveries_folded_total',
    help: 'Deliveries folded into a digest: logged folded with the digest, sent with it.',
    registers,
  });
  const suppressed = new Counter({
    name: 'herald_deliveries_suppressed_total',
    help: "Deliveries a rule's oncePer suppressed: their key was sent for another event.",
    registers,
  });
  const digestsSent = new Counter({
    name: 'herald_digests_sent_total',
    help: 'Digests sent, by who took them (emailer or channel type).',
    labelNames: ['provider'] as const,
    registers,
  });
  const digestFailures = new Counter({
    name: 'herald_digest_failures_total',
    help: 'Digest sends that failed, by provider and whether they are retried.',
    labelNames: ['provider', 'retryable'] as const,
    registers,
  });
  const claimsLost = new Counter({
    name: 'herald_claims_lost_total',
    help: 'Deliveries left to another copy or replica that held their claim.',
    registers,
  });
  const ledgerSeconds = new Histogram({
    name: 'herald_store_claim_seconds',
    help: 'Time the delivery ledger (its store, when one is configured) took to answer a claim.',
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers,
  });
  const skipped = new Counter({
    name: 'herald_messages_skipped_total',
    help: 'Messages that ask for no notification by design (FlyteAdmin node and task events), acked.',
    registers,
  });
  const settled = new Counter({
    name: 'herald_messages_settled_total',
    help: 'Messages settled, by outcome: acked (done) or retry (handed back).',
    labelNames: ['outcome'] as const,
    registers,
  });
  const sourceErrors = new Counter({
    name: 'herald_source_errors_total',
    help: 'Queue operations that failed, by operation; the message is not lost.',
    labelNames: ['operation'] as const,
    registers,
  });
  new Gauge({
    name: 'herald_in_flight',
    help: 'Messages in the pipeline now.',
    registers,
    collect() {
      this.set(source.inFlight);
    },
  });
  const { ledger } = source;
  if (ledger instanceof StoreLedger) {
    // Read from the store when scraped; a store closed and opened again counts from 0, so only
    // what it counted since the last scrape is added and the counter never goes back.
    let seen = 0;
    new Counter({
      name: 'herald_store_round_trips_total',
      help: 'Round trips to the delivery store: claims, log writes, kept messages and purges, those made together sharing one.',
      registers,
      collect() {
        const trips = ledger.roundTrips;
        this.inc(trips >= seen ? trips - seen : trips);
        seen = trips;
      },
    });
  }
  const ingested = new Counter({
    name: 'herald_events_ingested_total',
    help: 'Events published through POST /v1/events.',
    registers,
  });
  const rejected = new Counter({
    name: 'herald_ingest_rejected_total',
    help: 'Requests to POST /v1/events turned away, by reason; only a publish_failed one may have published part of its events (counted in herald_events_ingested_total).',
    labelNames: ['reason'] as const,
    registers,
  });

  // Every series of a fixed label set exists from the start at 0, so rate() and alerts see the
  // first increment instead of a series appearing out of nowhere.
  for (const kind of DEAD_LETTER_KINDS) deadLettered.labels(kind).inc(0);
  for (const outcome of SETTLE_OUTCOMES) settled.labels(outcome).inc(0);
  for (const operation of SOURCE_OPERATIONS) sourceErrors.labels(operation).inc(0);
  for (const reason of INGEST_REJECTIONS) rejected.labels(reason).inc(0);

  const { events } = source;
  events.on('message_received', () => received.inc());
  events.on('delivered', (e) => {
    deliveries.labels(e.provider).inc();
    deliverySeconds.labels(e.provider).observe(e.durationMs / 1000);
  });
  events.on('retry_scheduled', () => retries.inc());
  events.on('dead_lettered', (e) => deadLettered.labels(e.kind).inc());
  events.on('duplicate_skipped', () => duplicates.inc());
  events.on('message_skipped', () => skipped.inc());
  events.on('delivery_failed', (e) => failures.labels(e.provider, String(e.retryable)).inc());
  events.on('claim_held_elsewhere', () => claimsLost.inc());
  events.on('delivery_silenced', () => silenced.inc());
  events.on('delivery_folded', () => folded.inc());
  events.on('delivery_suppressed', () => suppressed.inc());
  events.on('digest_sent', (e) => digestsSent.labels(e.provider).inc());
  events.on('digest_failed', (e) => digestFailures.labels(e.provider, String(!e.deadLettered)).inc());
  events.on('ledger_answered', (e) => ledgerSeconds.observe(e.durationMs / 1000));
  events.on('message_settled', (e) => settled.labels(e.outcome).inc());
  events.on('source_error', (e) => {
    const known = (SOURCE_OPERATIONS as readonly string[]).includes(e.operation);
    sourceErrors.labels(known ? e.operation : 'other').inc();
  });

  return {
    registry,
    eventsIngested: (count) => ingested.inc(count),
    ingestRejected: (reason) => rejected.labels(reason).inc(),
  };
}
