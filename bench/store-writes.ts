/**
 * The delivery log's own cost, without a queue or an emailer around it: deliveries driven
 * through the ledger the pipeline uses, the way the pipeline drives it. Receives of eight
 * messages, 64 in flight: each message is kept, its delivery claimed (the send waits for the
 * answer), and settled as delivered 50 ms later. Three ledgers take turns, so drift in the
 * machine's speed falls on all alike: the in-memory ledger (no store, the baseline), SQLite (a
 * fresh file each run) and PostgreSQL (a fresh database each run on a throwaway local cluster,
 * fsync off). A full garbage collection runs just before each run's CPU is read at its start
 * and just before it is read at its end, so a run pays for all its own garbage and none of
 * another's. The CPU is this process's: SQLite's engine runs in it, PostgreSQL's server does
 * not, so the two stores' figures are Herald's side of each, not the same thing.
 *
 * It reports each ledger's CPU per delivery (the median of its rounds) and what a store adds
 * to the in-memory ledger's, round by round: the figure to watch when working on the store,
 * whose share of a whole benchmark (bench/consumers.ts, bench/backlog.ts) is smaller than
 * their run-to-run spread.
 *
 * Usage: tsx bench/store-writes.ts [--quick] [--rounds N] [--deliveries N]   (writes bench/results/store-writes.json)
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeEvent, sampleEvent } from '@herald/core';
import { silentLogger } from '@herald/core/runtime';
import { type DeliveryLedger, MemoryLedger, StoreLedger } from '@herald/processor';
import { startPostgres } from '../test/support/processes.js';
import { sleep } from './simulated-sqs.js';
import { collectGarbage, median } from './stats.js';

const quick = process.argv.includes('--quick');
const option = (name: string, fallback: number) => {
  const at = process.argv.indexOf(name);
  return at >= 0 ? Math.max(1, Number(process.argv[at + 1]) || fallback) : fallback;
};
const ROUNDS = option('--rounds', quick ? 1 : 3);
const DELIVERIES = option('--deliveries', quick ? 4_000 : 20_000);
const RECEIVE = 8;
const IN_FLIGHT = 64;
const SEND_MS = 50;

const body = encodeEvent(
  sampleEvent({
    id: 'store-writes',
    notifications: [{ phases: ['FAILED'], email: { recipients: ['a@example.com'] } }],
  }),
);

interface Run {
  ledger: string;
  cpuUsPerDelivery: number;
  deliveriesPerSecond: number;
  roundTripsPerDelivery?: number;
}

/** Drives `ledger` through `n` deliveries; the CPU is this process's, the store's driver included. */
async function drive(name: string, ledger: DeliveryLedger & { roundTrips?: number }, n: number): Promise<Run> {
  const run = `${name}-${Math.random().toString(36).slice(2)}`;
  let next = 0;
  const one = async (i: number) => {
    const eventId = `${run}-${i}`;
    const destination = 'email:default:ab12cd34';
    void ledger.keep(eventId, { body, attributes: { phase: 'FAILED' } });
    const claim = await ledger.begin({
      eventId,
      destination,
      label: 'email to a@example.com',
      execution: { project: 'flytesnacks', domain: 'development', name: `run-${i}` },
      phase: 'FAILED',
    });
    if (claim.outcome !== 'claimed') throw new Error(`${name}: delivery ${i} was ${claim.outcome}, not claimed`);
    await sleep(SEND_MS);
    await ledger.delivered({ eventId, destination }, { providerMessageId: `m-${i}`, subject: 'Execution failed' });
  };
  const receiver = async () => {
    while (next < n) {
      const batch: Promise<void>[] = [];
      for (let k = 0; k < RECEIVE && next < n; k++) batch.push(one(next++));
      await Promise.all(batch);
    }
  };
  collectGarbage();
  const tripsBefore = ledger.roundTrips ?? 0;
  const cpu = process.cpuUsage();
  const started = performance.now();
  await Promise.all(Array.from({ length: IN_FLIGHT / RECEIVE }, receiver));
  const seconds = (performance.now() - started) / 1000;
  collectGarbage();
  const used = process.cpuUsage(cpu);
  return {
    ledger: name,
    cpuUsPerDelivery: (used.user + used.system) / n,
    deliveriesPerSecond: n / seconds,
    ...(ledger.roundTrips === undefined ? {} : { roundTripsPerDelivery: (ledger.roundTrips - tripsBefore) / n }),
  };
}

const dir = mkdtempSync(join(tmpdir(), 'herald-store-writes-'));
const postgres = await startPostgres();
const runs: Run[][] = [];
try {
  /** `n` deliveries through a store opened at `url` for this run alone, closed after it. */
  const onStore = async (name: string, url: string, n: number) => {
    const ledger = new StoreLedger({ url, leaseMs: 60_000, retentionDays: 14, logger: silentLogger });
    await ledger.start();
    try {
      return await drive(name, ledger, n);
    } finally {
      await ledger.close();
    }
  };
  const sqliteUrl = (run: string) => `sqlite:${join(dir, `${run}.db`)}`;
  const postgresUrl = (run: string) => postgres.createDatabase(`herald_store_writes_${run}_${process.pid}`);
  // Warm-up: every module loaded and the JIT settled before anything is measured.
  await drive('warm-up', new MemoryLedger(DELIVERIES), 1_000);
  await onStore('warm-up', sqliteUrl('warm'), 1_000);
  await onStore('warm-up', await postgresUrl('warm'), 1_000);
  for (let round = 0; round < ROUNDS; round++) {
    runs.push([
      await drive('memory', new MemoryLedger(DELIVERIES), DELIVERIES),
      await onStore('SQLite', sqliteUrl(`round_${round}`), DELIVERIES),
      await onStore('PostgreSQL', await postgresUrl(`round_${round}`), DELIVERIES),
    ]);
  }
} finally {
  await postgres.stop();
  rmSync(dir, { recursive: true, force: true });
}

console.log(
  `the delivery log alone: ${DELIVERIES} deliveries a run (receives of ${RECEIVE}, ${IN_FLIGHT} in flight, settled ${SEND_MS} ms after the claim), ${ROUNDS} rounds alternated`,
);
console.log(
  '| ledger | CPU µs/delivery, by round | median | added to memory, µs, by round | median | deliveries/s | round trips/delivery |',
);
console.log('|---|---|---:|---|---:|---:|---:|');
for (const [index, name] of ['memory', 'SQLite', 'PostgreSQL'].entries()) {
  const mine = runs.map((round) => round[index] as Run);
  const added = runs.map((round) => (round[index] as Run).cpuUsPerDelivery - (round[0] as Run).cpuUsPerDelivery);
  const trips = mine.map((r) => r.roundTripsPerDelivery).filter((t) => t !== undefined);
  console.log(
    `| ${name} | ${mine.map((r) => r.cpuUsPerDelivery.toFixed(0)).join(', ')} | ${median(mine.map((r) => r.cpuUsPerDelivery)).toFixed(0)} | ${index === 0 ? '' : added.map((a) => a.toFixed(0)).join(', ')} | ${index === 0 ? '' : median(added).toFixed(0)} | ${median(mine.map((r) => r.deliveriesPerSecond)).toFixed(0)} | ${trips.length ? median(trips).toFixed(3) : ''} |`,
  );
}
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(
  new URL('./results/store-writes.json', import.meta.url),
  `${JSON.stringify({ benchmark: 'store-writes', node: process.version, deliveries: DELIVERIES, receive: RECEIVE, inFlight: IN_FLIGHT, sendMs: SEND_MS, quick, runs, time: new Date().toISOString() }, null, 2)}\n`,
);
