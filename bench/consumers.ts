/**
 * Consumer designs under injected latency, all in one process on one simulated SQS (5 ms per
 * call, SQS semantics), with an emailer that takes 50 ms or 200 ms per email:
 *
 * - Herald: its processor and SqsSource, default settings (64 in flight, 4 receives open);
 * - FlyteAdmin-style: one message at a time, email then a blocking delete;
 * - sqs-consumer (npm) with batchSize 10: a batch is handled in parallel, the next receive
 *   waits for the batch's slowest message.
 *
 * At 50 ms per email Herald also runs with its delivery log in SQLite and in PostgreSQL (a
 * throwaway local cluster, fsync off), next to no store, with the store's round trips per event.
 *
 * Usage: tsx bench/consumers.ts [--quick] [--store-only]   (writes bench/results/consumers.json)
 *   STORE_ROUNDS=N alternates the three store runs N times (default 2); each round's ratios are
 *   printed with their median, as one drain's CPU moves by ±15 % on a small machine.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SQSClient } from '@aws-sdk/client-sqs';
import { decodeEvent, encodeEvent, sampleEvent } from '@herald/core';
import { parseConfig } from '@herald/core/config';
import { silentLogger } from '@herald/core/runtime';
import type { Emailer, EmailMessage, SendResult } from '@herald/emailer';
import { createProcessor, type DeliveryLedger, SqsSource, StoreLedger } from '@herald/processor';
import { Consumer } from 'sqs-consumer';
import { startPostgres } from '../test/support/processes.js';
import { SimulatedSqs, sleep } from './simulated-sqs.js';
import { collectGarbage, median } from './stats.js';

const quick = process.argv.includes('--quick');
/** Only the delivery-log comparison (and the warm-up), for working on the store. */
const storeOnly = process.argv.includes('--store-only');
const QUEUE = 'https://sqs.local/bench';
const SQS_LATENCY_MS = 5;
/** Rounds of the delivery-log comparison, each running no store, SQLite and PostgreSQL in turn. */
const STORE_ROUNDS = Math.max(1, Number.parseInt(process.env.STORE_ROUNDS ?? '', 10) || 2);

/** An emailer that takes `latencyMs` per email and records when each event's email went out. */
class LatencyEmailer implements Emailer {
  readonly name = 'latency';
  readonly sentAt = new Map<string, number>();
  /** Emails sent, duplicates included. */
  sends = 0;
  constructor(private readonly latencyMs: number) {}
  async send(message: EmailMessage): Promise<SendResult> {
    if (this.latencyMs > 0) await sleep(this.latencyMs);
    this.sends++;
    this.sentAt.set(message.idempotencyKey.split('/')[0] as string, performance.now());
    return { messageId: message.idempotencyKey };
  }
  async close(): Promise<void> {}
}

/** Store round trips of the last Herald run with a store. */
let storeTrips = 0;
/** How long each claim of the last Herald run with a store waited for its answer (ms). */
let claimWaits: number[] = [];

interface Run {
  stop(): Promise<void>;
}
type Design = (sqs: SimulatedSqs, emailer: LatencyEmailer) => Promise<Run>;

const heraldWith =
  (maxInFlight: number, storeUrl?: () => string): Design =>
  async (sqs, emailer) => {
    const config = parseConfig(
      `notifications: {type: aws, aws: {region: us-east-1}, publisher: {topicName: "arn:aws:sns:us-east-1:1:bench"}, processor: {queueName: bench, accountId: "1"}}
herald: {aws: {waitTimeSeconds: 1}, processor: {maxInFlight: ${maxInFlight}}}`,
      { env: {} },
    );
    const source = new SqsSource({
      queueName: 'bench',
      accountId: '1',
      deadLetterQueueName: 'bench-dlq',
      region: 'us-east-1',
      visibilityTimeoutSeconds: 30,
      waitTimeSeconds: 1,
      receiveConcurrency: config.awsTransport.receiveConcurrency,
      client: sqs as unknown as SQSClient,
    });
    let ledger: StoreLedger | undefined;
    if (storeUrl) {
      ledger = new StoreLedger({ url: storeUrl(), leaseMs: 60_000, retentionDays: 14, logger: silentLogger });
      await ledger.start();
    }
    const deps: { ledger?: DeliveryLedger } = ledger ? { ledger } : {};
    const processor = createProcessor(config, { source, emailer, logger: silentLogger, ...deps });
    const waits: number[] = [];
    if (ledger) processor.events.on('ledger_answered', (e) => waits.push(e.durationMs));
    await processor.start();
    return {
      stop: async () => {
        await processor.stop();
        storeTrips = ledger?.roundTrips ?? 0;
        claimWaits = waits;
        await ledger?.close();
      },
    };
  };

const flyteAdminStyle: Design = async (sqs, emailer) => {
  let running = true;
  const loop = (async () => {
    while (running) {
      const out = (await sqs.send(
        {
          constructor: { name: 'ReceiveMessageCommand' },
          input: { QueueUrl: QUEUE, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 },
        },
        {},
      )) as { Messages: { Body: string; ReceiptHandle: string }[] };
      for (const message of out.Messages) {
        const event = decodeEvent(message.Body);
        await emailer.send(email(event.id));
        await sqs.send({
          constructor: { name: 'DeleteMessageCommand' },
          input: { QueueUrl: QUEUE, ReceiptHandle: message.ReceiptHandle },
        });
      }
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
    },
  };
};

const sqsConsumer: Design = async (sqs, emailer) => {
  const consumer = Consumer.create({
    queueUrl: QUEUE,
    sqs: sqs as unknown as SQSClient,
    batchSize: 10,
    waitTimeSeconds: 1,
    handleMessage: async (message) => {
      await emailer.send(email(decodeEvent(message.Body ?? '').id));
      return message;
    },
  });
  consumer.on('error', () => {});
  consumer.start();
  return {
    stop: async () => {
      consumer.stop({ abort: false });
      await sleep(50);
    },
  };
};

function email(eventId: string): EmailMessage {
  return {
    from: 'a@example.com',
    to: ['b@example.com'],
    subject: 's',
    html: 'h',
    text: 't',
    idempotencyKey: `${eventId}/email`,
  };
}

function events(n: number): { id: string; body: string }[] {
  return Array.from({ length: n }, (_, i) => {
    const event = sampleEvent({
      id: `e${i}-${Math.random().toString(36).slice(2)}`,
      notifications: [{ phases: ['FAILED'], email: { recipients: ['b@example.com'] } }],
    });
    return { id: event.id, body: encodeEvent(event) };
  });
}

interface Measurement {
  design: string;
  emailLatencyMs: number;
  events: number;
  eventsPerSecond: number;
  p50LatencyMs: number;
  p99LatencyMs: number;
  cpuMsPer1000: number;
  peakRssMb: number;
  apiCallsPer1000: number;
  /** Emails sent more than once (must be 0). */
  duplicates: number;
}

/** Drains a preloaded backlog of `n` events; latency is from enqueue to email. */
async function measure(name: string, design: Design, emailLatencyMs: number, n: number): Promise<Measurement> {
  const sqs = new SimulatedSqs(SQS_LATENCY_MS);
  const emailer = new LatencyEmailer(emailLatencyMs);
  const enqueuedAt = new Map<string, number>();
  for (const event of events(n)) {
    sqs.enqueue(QUEUE, event.body);
    enqueuedAt.set(event.id, performance.now());
  }
  // Each run pays for its own garbage, all of it: the garbage of preloading and of the run
  // before is collected before the CPU is read, and what this run left is collected before it
  // is read again (otherwise the next run, in the middle of its drain, would pay for it).
  collectGarbage();
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 20);
  const cpu = process.cpuUsage();
  const started = performance.now();
  const run = await design(sqs, emailer);
  while (sqs.size(QUEUE) > 0) await sleep(5);
  const elapsed = (performance.now() - started) / 1000;
  collectGarbage();
  const cpuUsed = process.cpuUsage(cpu);
  await run.stop();
  clearInterval(sampler);
  const latencies = [...emailer.sentAt.entries()]
    .map(([id, at]) => at - (enqueuedAt.get(id) ?? at))
    .sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
  if (emailer.sentAt.size !== n) throw new Error(`${name}: ${emailer.sentAt.size} of ${n} events emailed: events lost`);
  return {
    design: name,
    emailLatencyMs,
    events: n,
    eventsPerSecond: n / elapsed,
    p50LatencyMs: pct(0.5),
    p99LatencyMs: pct(0.99),
    cpuMsPer1000: ((cpuUsed.user + cpuUsed.system) / 1000 / n) * 1000,
    peakRssMb: peakRss / 2 ** 20,
    apiCallsPer1000: (sqs.totalCalls() / n) * 1000,
    duplicates: emailer.sends - emailer.sentAt.size,
  };
}

interface SteadyMeasurement {
  design: string;
  emailLatencyMs: number;
  eventsPerSecond: number;
  events: number;
  p50LatencyMs: number;
  p99LatencyMs: number;
  maxLatencyMs: number;
}

/**
 * Events arrive at a steady `rate` (every 10 ms, a share of it) for `seconds`, as from a busy
 * engine, instead of as a preloaded backlog: latency from enqueue to email is then what an
 * operator sees while the consumer keeps up.
 */
async function steady(
  name: string,
  design: Design,
  emailLatencyMs: number,
  rate: number,
  seconds: number,
): Promise<SteadyMeasurement> {
  const sqs = new SimulatedSqs(SQS_LATENCY_MS);
  const emailer = new LatencyEmailer(emailLatencyMs);
  const run = await design(sqs, emailer);
  const all = events(Math.round(rate * seconds));
  const enqueuedAt = new Map<string, number>();
  const started = performance.now();
  let next = 0;
  while (next < all.length) {
    const due = Math.min(all.length, Math.floor(((performance.now() - started) / 1000) * rate));
    for (; next < due; next++) {
      const event = all[next] as { id: string; body: string };
      sqs.enqueue(QUEUE, event.body);
      enqueuedAt.set(event.id, performance.now());
    }
    await sleep(10);
  }
  const deadline = performance.now() + 10_000;
  while (emailer.sentAt.size < all.length && performance.now() < deadline) await sleep(5);
  await run.stop();
  if (emailer.sentAt.size !== all.length) {
    throw new Error(`${name}: ${emailer.sentAt.size} of ${all.length} emailed: it does not keep up with ${rate}/s`);
  }
  const latencies = [...emailer.sentAt.entries()]
    .map(([id, at]) => at - (enqueuedAt.get(id) ?? at))
    .sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
  return {
    design: name,
    emailLatencyMs,
    eventsPerSecond: rate,
    events: all.length,
    p50LatencyMs: pct(0.5),
    p99LatencyMs: pct(0.99),
    maxLatencyMs: latencies.at(-1) ?? 0,
  };
}

const results: Measurement[] = [];
const scale = quick ? 0.25 : 1;
// Warm-up: load every module and let the JIT settle before anything is measured.
await measure('warm-up', heraldWith(64), 1, 500);
for (const latency of storeOnly ? [] : [50, 200]) {
  const perSecond = 1000 / latency;
  // Sized so each design drains its backlog in a few seconds.
  results.push(await measure('Herald', heraldWith(64), latency, Math.round(64 * perSecond * 3 * scale)));
  results.push(
    await measure('Herald (maxInFlight 256)', heraldWith(256), latency, Math.round(256 * perSecond * 3 * scale)),
  );
  results.push(
    await measure('sqs-consumer (batchSize 10)', sqsConsumer, latency, Math.round(10 * perSecond * 3 * scale)),
  );
  results.push(
    await measure('FlyteAdmin-style loop', flyteAdminStyle, latency, Math.max(10, Math.round(perSecond * 3 * scale))),
  );
}
// The delivery log: Herald at 50 ms per email with no store, SQLite and PostgreSQL, alternated
// so drift in the machine's speed falls on all three alike.
const storeDir = mkdtempSync(join(tmpdir(), 'herald-bench-store-'));
const postgres = await startPostgres();
const storeResults: (Measurement & { tripsPerEvent: number; claimWaits: number[] })[] = [];
try {
  const backlog = Math.round(64 * 20 * 3 * scale);
  // A fresh database each round, as SQLite gets a fresh file: no round writes into the rows of another.
  const postgresUrls: string[] = [];
  for (let round = 0; round < STORE_ROUNDS; round++) {
    postgresUrls.push(await postgres.createDatabase(`herald_consumers_${round}_${process.pid}`));
  }
  for (let round = 0; round < STORE_ROUNDS; round++) {
    for (const [name, url] of [
      ['no store', undefined],
      ['SQLite', () => `sqlite:${join(storeDir, `bench-${round}-${Math.random().toString(36).slice(2)}.db`)}`],
      ['PostgreSQL', () => postgresUrls[round] as string],
    ] as const) {
      storeTrips = 0;
      claimWaits = [];
      const measured = await measure(`Herald, ${name}`, heraldWith(64, url), 50, backlog);
      storeResults.push({ ...measured, tripsPerEvent: storeTrips / backlog, claimWaits });
    }
  }
} finally {
  await postgres.stop();
  rmSync(storeDir, { recursive: true, force: true });
}

// A rate both Herald and sqs-consumer sustain at 50 ms per email (sqs-consumer's ceiling is
// ~160/s); the one-at-a-time loop (~18/s) cannot, so it is not in this comparison.
const STEADY_RATE = 100;
const steadyResults: SteadyMeasurement[] =
  quick || storeOnly
    ? []
    : [
        await steady('Herald', heraldWith(64), 50, STEADY_RATE, 4),
        await steady('sqs-consumer (batchSize 10)', sqsConsumer, 50, STEADY_RATE, 4),
      ];

console.log(
  `consumer designs, simulated SQS at ${SQS_LATENCY_MS} ms per call, preloaded backlog${quick ? ' (quick)' : ''}`,
);
console.log(
  '| email latency | design | events | events/s | × sqs-consumer | × FlyteAdmin | of Little bound | p50 ms | p99 ms | CPU ms/1000 | peak RSS MB | API calls/1000 |',
);
console.log('|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of results) {
  const peer = (design: string) =>
    results.find((x) => x.design.startsWith(design) && x.emailLatencyMs === r.emailLatencyMs)?.eventsPerSecond ?? 1;
  const inFlight = r.design === 'Herald' ? 64 : r.design.startsWith('Herald (maxInFlight 256)') ? 256 : 0;
  const bound = inFlight ? (r.eventsPerSecond / (inFlight / (r.emailLatencyMs / 1000))).toFixed(2) : '';
  console.log(
    `| ${r.emailLatencyMs} | ${r.design} | ${r.events} | ${r.eventsPerSecond.toFixed(1)} | ${(r.eventsPerSecond / peer('sqs-consumer')).toFixed(1)} | ${(r.eventsPerSecond / peer('FlyteAdmin')).toFixed(1)} | ${bound} | ${r.p50LatencyMs.toFixed(0)} | ${r.p99LatencyMs.toFixed(0)} | ${r.cpuMsPer1000.toFixed(0)} | ${r.peakRssMb.toFixed(0)} | ${r.apiCallsPer1000.toFixed(0)} |`,
  );
}
console.log(`\ndelivery log: Herald at 50 ms per email, no store / SQLite / PostgreSQL, ${STORE_ROUNDS} rounds each`);
console.log(
  '| store | events | events/s | × no store | CPU ms/1000 | CPU × no store | store round trips/event | claim p50 ms | claim p99 ms |',
);
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
const totals = (name: string) => {
  const rows = storeResults.filter((r) => r.design === `Herald, ${name}`);
  const sum = (pick: (r: (typeof rows)[number]) => number) => rows.reduce((a, r) => a + pick(r), 0);
  return {
    events: sum((r) => r.events),
    // Whole-run throughput: events over the summed drain times.
    eventsPerSecond: sum((r) => r.events) / sum((r) => r.events / r.eventsPerSecond),
    cpuMsPer1000: sum((r) => r.cpuMsPer1000 * r.events) / sum((r) => r.events),
    tripsPerEvent: sum((r) => r.tripsPerEvent * r.events) / sum((r) => r.events),
    claimWaits: rows.flatMap((r) => r.claimWaits).sort((a, b) => a - b),
  };
};
const claimPercentile = (sorted: number[], p: number) =>
  sorted.length === 0 ? '' : (sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0).toFixed(1);
const none = totals('no store');
for (const name of ['no store', 'SQLite', 'PostgreSQL']) {
  const t = totals(name);
  console.log(
    `| ${name} | ${t.events} | ${t.eventsPerSecond.toFixed(1)} | ${(t.eventsPerSecond / none.eventsPerSecond).toFixed(2)} | ${t.cpuMsPer1000.toFixed(0)} | ${(t.cpuMsPer1000 / none.cpuMsPer1000).toFixed(2)} | ${name === 'no store' ? '' : t.tripsPerEvent.toFixed(2)} | ${claimPercentile(t.claimWaits, 0.5)} | ${claimPercentile(t.claimWaits, 0.99)} |`,
  );
}
// Each round's ratios to the no-store run next to it, and their median.
const perRound = (name: string) => {
  const bases = storeResults.filter((r) => r.design === 'Herald, no store');
  const stores = storeResults.filter((r) => r.design === `Herald, ${name}`);
  return Array.from({ length: STORE_ROUNDS }, (_, round) => {
    const [base, store] = [bases[round], stores[round]];
    return base && store
      ? { throughput: store.eventsPerSecond / base.eventsPerSecond, cpu: store.cpuMsPer1000 / base.cpuMsPer1000 }
      : undefined;
  }).filter((r) => r !== undefined);
};
console.log('\n| store | throughput × no store, by round | median | CPU × no store, by round | median |');
console.log('|---|---|---:|---|---:|');
for (const name of ['SQLite', 'PostgreSQL']) {
  const rounds = perRound(name);
  const throughput = rounds.map((r) => r.throughput);
  const cpu = rounds.map((r) => r.cpu);
  console.log(
    `| ${name} | ${throughput.map((v) => v.toFixed(2)).join(', ')} | ${median(throughput).toFixed(2)} | ${cpu.map((v) => v.toFixed(2)).join(', ')} | ${median(cpu).toFixed(2)} |`,
  );
}
if (steadyResults.length > 0) {
  console.log(`\nsteady load: ${STEADY_RATE} events/s for 4 s, 50 ms per email; latency from enqueue to email`);
  console.log('| design | events | p50 ms | p99 ms | max ms |');
  console.log('|---|---:|---:|---:|---:|');
  for (const r of steadyResults) {
    console.log(
      `| ${r.design} | ${r.events} | ${r.p50LatencyMs.toFixed(0)} | ${r.p99LatencyMs.toFixed(0)} | ${r.maxLatencyMs.toFixed(0)} |`,
    );
  }
}
// A store-only run is a partial one: it leaves the last full run's results file alone.
if (!storeOnly) mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
if (!storeOnly)
  writeFileSync(
    new URL('./results/consumers.json', import.meta.url),
    `${JSON.stringify({ benchmark: 'consumers', node: process.version, sqsLatencyMs: SQS_LATENCY_MS, quick, results, store: storeResults, steady: steadyResults, time: new Date().toISOString() }, null, 2)}\n`,
  );
