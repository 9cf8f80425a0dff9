/**
 * Backlog drain: 50,000 events preloaded in the simulated SQS (5 ms per call), drained by a real
 * `herald run` process: the built CLI, configured for SQS and SES as in production. The queue
 * and SES are served over their wire protocols from this process (simulated-aws-server.ts), so
 * the memory read from /proc is Herald's own: its peak RSS (VmHWM) while draining, next to the
 * RSS of the same process idle on an empty queue, with node's defaults and with a capped heap.
 * Every event must be emailed exactly once (counted per event id from Herald's delivery log
 * lines, and by the SES calls answered); the run fails otherwise.
 *
 * The same run then drains the backlog with the delivery log (`herald.store`) three ways,
 * alternated over two rounds so drift in the machine's speed falls on all alike: no store, SQLite
 * (a fresh file each run) and PostgreSQL (a fresh database each run on one throwaway cluster,
 * fsync off). Those Herald processes serve their metrics, and the store's round trips are read
 * from `herald_store_round_trips_total` once the backlog is drained.
 *
 * Usage: tsx bench/backlog.ts [--quick] [--events N] [--ses-latency-ms N]   (writes bench/results/backlog.json)
 *   HERALD_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the Herald processes and the
 *   raw SDK loop alike.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { encodeEvent, sampleEvent } from '@herald/core';
import { freePort, type StartedPostgres, startPostgres } from '../test/support/processes.js';
import {
  cpuMs,
  cpuMsPer1000,
  type HeraldExtras,
  killLeftovers,
  measureDrain,
  roundTripsOf,
  startHerald,
  statusKb,
  steadyWindow,
  stop,
  type WarmUp,
} from './herald-process.js';
import { serveSimulatedAws } from './simulated-aws-server.js';
import { sleep } from './simulated-sqs.js';
import { median } from './stats.js';

const quick = process.argv.includes('--quick');
/** --only memory|cpu|stores: one part of the run (for working on it). */
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
const runs = (part: 'memory' | 'cpu' | 'stores') => only === undefined || only === part;
const eventsArg = process.argv.indexOf('--events');
const EVENTS = eventsArg > 0 ? Number(process.argv[eventsArg + 1]) : quick ? 2_500 : 50_000;
const SQS_LATENCY_MS = 5;
/**
 * --ses-latency-ms N: SES answers after N ms instead of the queue's 5 (with --only stores, the
 * delivery log's comparison at a real provider's pace, such as 50 ms per email).
 */
const sesLatencyArg = process.argv.indexOf('--ses-latency-ms');
const SES_LATENCY_MS = sesLatencyArg > 0 ? Number(process.argv[sesLatencyArg + 1]) : SQS_LATENCY_MS;
const RAW_DRAIN = fileURLToPath(new URL('./raw-sdk-drain.mjs', import.meta.url));
const TIMEOUT_MS = 300_000;
/** Rounds of no store / SQLite / PostgreSQL, one after the other (STORE_ROUNDS=N for more). */
const STORE_ROUNDS = Math.max(1, Number.parseInt(process.env.STORE_ROUNDS ?? '', 10) || 2);
/** Rounds of the raw SDK loop and Herald, one after the other. */
const CPU_ROUNDS = Number(process.env.CPU_ROUNDS ?? 3);
const STORES = ['no store', 'SQLite', 'PostgreSQL'] as const;
type StoreName = (typeof STORES)[number];
type StoreRun = { store: StoreName; round: number } & Awaited<ReturnType<typeof drain>>;

/**
 * V8 lets garbage pile up toward a heap limit sized from the machine's memory (about 4 GB here),
 * so the RSS of a busy process says more about how the heap is sized than about what it keeps
 * (~30 MB live after a drain). Three ways: what a user gets from the `herald` bin (it has the
 * heap grow by at most half at a time unless node was given heap flags), what the container and the
 * Kubernetes manifests set (a 128 MB old generation), and V8's own default growth (given as a
 * flag, so the bin leaves it alone).
 */
const VARIANTS: { label: string; nodeArgs: string[] }[] = [
  { label: 'herald bin defaults', nodeArgs: [] },
  { label: 'container: --max-old-space-size=128', nodeArgs: ['--max-old-space-size=128'] },
  { label: "V8's default growth", nodeArgs: ['--heap-growing-percent=0'] },
];

const served = await serveSimulatedAws(SQS_LATENCY_MS, SES_LATENCY_MS);
const work = mkdtempSync(join(tmpdir(), 'herald-backlog-'));
let postgres: StartedPostgres | undefined;
try {
  const results = [];
  for (const [i, variant] of VARIANTS.entries()) {
    if (!runs('memory')) break;
    const idle = await idleRss(variant.nodeArgs);
    const drained = await drain(`backlog${i}`, EVENTS, variant.nodeArgs);
    results.push({ variant: variant.label, idleRssMb: idle.rssMb, ...drained });
    if (!exactlyOnce(drained)) process.exitCode = 1;
  }

  // CPU per event next to the raw SDK loop, alternated so drift in the machine's speed falls on
  // all alike: the loop with the SDK's default client settings, the loop with Herald's client
  // setting (cacheMiddleware), and Herald as the bin starts it, no store.
  const cpuRounds: {
    round: number;
    raw: Awaited<ReturnType<typeof rawDrain>>;
    rawCached: Awaited<ReturnType<typeof rawDrain>>;
    herald: { cpuMsPer1000: number; steadyCpuMsPer1000: number; sqsCallsPer1000: number };
  }[] = [];
  for (let round = 0; round < (runs('cpu') ? CPU_ROUNDS : 0); round++) {
    const raw = await rawDrain(`raw${round}`, EVENTS);
    const rawCached = await rawDrain(`rawcached${round}`, EVENTS, ['--cached-handlers']);
    const herald = await drain(`cpu${round}`, EVENTS, [], {}, true);
    if (!exactlyOnce(herald)) process.exitCode = 1;
    cpuRounds.push({ round, raw, rawCached, herald });
  }

  // The delivery log: node's defaults, each Herald process serving its metrics (no store too,
  // so the three differ only in the store).
  if (runs('stores')) postgres = await startPostgres();
  const storeRuns: StoreRun[] = [];
  for (let round = 0; postgres && round < STORE_ROUNDS; round++) {
    for (const store of STORES) {
      const storeUrl = await freshStore(store, round, postgres as StartedPostgres);
      const drained = await drain(`store${round}-${STORES.indexOf(store)}`, EVENTS, [], {
        storeUrl,
        httpPort: await freePort(),
      });
      storeRuns.push({ store, round, ...drained });
      if (!exactlyOnce(drained)) process.exitCode = 1;
    }
  }
  const rawCpu = cpuRounds.reduce((a, r) => a + r.raw.cpuMsPer1000, 0) / cpuRounds.length;
  const rawCachedCpu = cpuRounds.reduce((a, r) => a + r.rawCached.cpuMsPer1000, 0) / cpuRounds.length;
  const heraldCpu = cpuRounds.reduce((a, r) => a + r.herald.cpuMsPer1000, 0) / cpuRounds.length;
  const storeTotals = STORES.map((store) => totals(store, storeRuns));
  const none = storeTotals[0] as ReturnType<typeof totals>;
  if (results.length > 0) {
    console.log(
      `backlog: ${EVENTS} events preloaded in a simulated SQS (${SQS_LATENCY_MS} ms per call), drained by \`herald run\` (SQS → SES, ${SES_LATENCY_MS} ms per email)`,
    );
    console.log(
      '| Herald process | drain s | events/s | lost | emailed twice | peak RSS MB | idle RSS MB | CPU ms/1000 | SQS calls/1000 |',
    );
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const r of results) {
      console.log(
        `| ${r.variant} | ${r.seconds.toFixed(1)} | ${r.eventsPerSecond.toFixed(0)} | ${r.lost} | ${r.duplicates} | ${r.peakRssMb.toFixed(0)} | ${r.idleRssMb.toFixed(0)} | ${r.cpuMsPer1000.toFixed(0)} | ${r.sqsCallsPer1000.toFixed(0)} |`,
      );
    }
  }
  if (cpuRounds.length > 0) {
    console.log(
      `\nCPU per event next to a raw SDK loop making the same SQS and SES calls (raw-sdk-drain.mjs), ${CPU_ROUNDS} rounds alternated`,
    );
    console.log(
      "Whole drain: from each process's start line to the end. Steady: after the first tenth of the events (at most 2,000), once both have loaded their SDKs.",
    );
    console.log(
      "Raw: the loop with the SDK's default client settings. Raw, cached: the same loop with the SDK's cacheMiddleware, as Herald's clients have.",
    );
    console.log(
      '| round | raw CPU ms/1000, whole | raw, steady | raw, cached, whole | raw, cached, steady | raw SQS calls/1000 | Herald CPU ms/1000, whole | Herald, steady | Herald SQS calls/1000 | Herald × raw, whole | Herald × raw, steady | Herald × raw cached, whole | Herald × raw cached, steady |',
    );
    console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    const ratio = (herald: number, raw: number) => (herald / raw).toFixed(2);
    for (const { round, raw, rawCached, herald } of cpuRounds) {
      console.log(
        `| ${round + 1} | ${raw.cpuMsPer1000.toFixed(0)} | ${raw.steadyCpuMsPer1000.toFixed(0)} | ${rawCached.cpuMsPer1000.toFixed(0)} | ${rawCached.steadyCpuMsPer1000.toFixed(0)} | ${raw.sqsCallsPer1000.toFixed(0)} | ${herald.cpuMsPer1000.toFixed(0)} | ${herald.steadyCpuMsPer1000.toFixed(0)} | ${herald.sqsCallsPer1000.toFixed(0)} | ${ratio(herald.cpuMsPer1000, raw.cpuMsPer1000)} | ${ratio(herald.steadyCpuMsPer1000, raw.steadyCpuMsPer1000)} | ${ratio(herald.cpuMsPer1000, rawCached.cpuMsPer1000)} | ${ratio(herald.steadyCpuMsPer1000, rawCached.steadyCpuMsPer1000)} |`,
      );
    }
    const medianOf = (ratio: (r: (typeof cpuRounds)[number]) => number) => median(cpuRounds.map(ratio)).toFixed(2);
    console.log(
      `| mean | ${rawCpu.toFixed(0)} | | ${rawCachedCpu.toFixed(0)} | | | ${heraldCpu.toFixed(0)} | | | ${ratio(heraldCpu, rawCpu)} | | ${ratio(heraldCpu, rawCachedCpu)} | |`,
    );
    console.log(
      `| median of rounds | | | | | | | | | ${medianOf((r) => r.herald.cpuMsPer1000 / r.raw.cpuMsPer1000)} | ${medianOf((r) => r.herald.steadyCpuMsPer1000 / r.raw.steadyCpuMsPer1000)} | ${medianOf((r) => r.herald.cpuMsPer1000 / r.rawCached.cpuMsPer1000)} | ${medianOf((r) => r.herald.steadyCpuMsPer1000 / r.rawCached.steadyCpuMsPer1000)} |`,
    );
  }
  if (storeRuns.length > 0) {
    console.log(
      `\ndelivery log: the same backlog drained with no store / SQLite / PostgreSQL, node defaults, ${SES_LATENCY_MS} ms per email, ${STORE_ROUNDS} rounds alternated (totals)`,
    );
    console.log(
      '| store | events | events/s | × no store | CPU ms/1000 | CPU × no store | peak RSS MB | store round trips/event | lost | emailed twice |',
    );
    console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
    for (const t of storeTotals) {
      console.log(
        `| ${t.store} | ${t.events} | ${t.eventsPerSecond.toFixed(0)} | ${(t.eventsPerSecond / none.eventsPerSecond).toFixed(2)} | ${t.cpuMsPer1000.toFixed(0)} | ${(t.cpuMsPer1000 / none.cpuMsPer1000).toFixed(2)} | ${t.peakRssMb.toFixed(0)} | ${t.tripsPerEvent === undefined ? '' : t.tripsPerEvent.toFixed(2)} | ${t.lost} | ${t.duplicates} |`,
      );
    }
    console.log('\neach run, in order');
    console.log('| round | store | drain s | events/s | CPU ms/1000 | peak RSS MB | store round trips/event |');
    console.log('|---:|---|---:|---:|---:|---:|---:|');
    for (const r of storeRuns) {
      console.log(
        `| ${r.round + 1} | ${r.store} | ${r.seconds.toFixed(1)} | ${r.eventsPerSecond.toFixed(0)} | ${r.cpuMsPer1000.toFixed(0)} | ${r.peakRssMb.toFixed(0)} | ${r.storeRoundTrips === undefined ? '' : (r.storeRoundTrips / r.events).toFixed(2)} |`,
      );
    }
  }
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  writeFileSync(
    new URL('./results/backlog.json', import.meta.url),
    `${JSON.stringify({ benchmark: 'backlog', node: process.version, sqsLatencyMs: SQS_LATENCY_MS, sesLatencyMs: SES_LATENCY_MS, events: EVENTS, quick, results, cpu: { rounds: cpuRounds, rawCpuMsPer1000: rawCpu, rawCachedCpuMsPer1000: rawCachedCpu, heraldCpuMsPer1000: heraldCpu }, store: { rounds: STORE_ROUNDS, totals: storeTotals, runs: storeRuns }, time: new Date().toISOString() }, null, 2)}\n`,
  );
} finally {
  await killLeftovers();
  await served.close();
  await postgres?.stop();
  rmSync(work, { recursive: true, force: true });
}

/** Where a run's delivery log goes: nowhere, a new SQLite file, or a new PostgreSQL database. */
async function freshStore(store: StoreName, round: number, cluster: StartedPostgres): Promise<string | undefined> {
  switch (store) {
    case 'no store':
      return undefined;
    case 'SQLite':
      return `sqlite:${join(work, `store-${round}.db`)}`;
    case 'PostgreSQL':
      return cluster.createDatabase(`herald_backlog_${round}_${process.pid}`);
  }
}

/** Every event emailed once: none missing and none twice in Herald's log, one SES call each. */
function exactlyOnce(r: { events: number; lost: number; duplicates: number; sesCalls: number }): boolean {
  const ok = r.lost === 0 && r.duplicates === 0 && r.sesCalls === r.events;
  if (!ok) {
    console.error(
      `not exactly once: ${r.lost} lost, ${r.duplicates} emailed twice, ${r.sesCalls} SES calls for ${r.events} events`,
    );
  }
  return ok;
}

/** One store's rounds together: throughput over the summed drain times, CPU and trips per event. */
function totals(store: StoreName, runs: readonly StoreRun[]) {
  const mine = runs.filter((r) => r.store === store);
  const sum = (pick: (r: (typeof mine)[number]) => number) => mine.reduce((a, r) => a + pick(r), 0);
  const events = sum((r) => r.events);
  return {
    store,
    events,
    seconds: sum((r) => r.seconds),
    eventsPerSecond: events / sum((r) => r.seconds),
    cpuMsPer1000: (sum((r) => (r.cpuMsPer1000 * r.events) / 1000) / events) * 1000,
    peakRssMb: Math.max(...mine.map((r) => r.peakRssMb)),
    tripsPerEvent: store === 'no store' ? undefined : sum((r) => r.storeRoundTrips ?? 0) / events,
    lost: sum((r) => r.lost),
    duplicates: sum((r) => r.duplicates),
  };
}

/** Herald's RSS after starting on an empty queue and polling it for two seconds (one when quick). */
async function idleRss(nodeArgs: string[]): Promise<{ rssMb: number }> {
  const herald = startHerald({ work, endpoint: served.endpoint }, 'idle', nodeArgs);
  await herald.startedAt;
  await sleep(quick ? 1_000 : 2_000);
  const rssMb = statusKb(herald.child.pid as number, 'VmRSS') / 1024;
  await stop(herald);
  return { rssMb };
}

async function drain(queue: string, n: number, nodeArgs: string[], extras: HeraldExtras = {}, steady = false) {
  const queueUrl = served.queueUrl(queue);
  const callsBefore = served.sqs.totalCalls();
  const emailsBefore = served.emailsSent();
  preload(queueUrl, n);
  const herald = startHerald({ work, endpoint: served.endpoint }, queue, nodeArgs, extras);
  const measured = await measureDrain(
    herald,
    () => herald.deliveries.size >= n && served.sqs.size(queueUrl) === 0,
    () => `only ${herald.deliveries.size} of ${n} delivered`,
    TIMEOUT_MS,
    steady ? warmUpOf(n, () => served.emailsSent() - emailsBefore) : undefined,
  );
  // Read after the CPU: the scrape costs Herald a little. Every message is deleted by now, and a
  // message is deleted only once its deliveries are recorded, so every store write is counted.
  const storeRoundTrips = herald.metricsUrl ? await roundTripsOf(herald.metricsUrl, extras.storeUrl) : undefined;
  await stop(herald);
  let duplicates = 0;
  for (const count of herald.deliveries.values()) duplicates += count - 1;
  return {
    events: n,
    seconds: measured.seconds,
    eventsPerSecond: n / measured.seconds,
    lost: n - herald.deliveries.size,
    sesCalls: served.emailsSent() - emailsBefore,
    duplicates,
    peakRssMb: measured.peakRssKb / 1024,
    cpuMsPer1000: (measured.cpuMs / n) * 1000,
    steadyCpuMsPer1000: cpuMsPer1000(measured.steady),
    sqsCallsPer1000: ((served.sqs.totalCalls() - callsBefore) / n) * 1000,
    storeRoundTrips,
  };
}

/**
 * The CPU comparison's warm-up: the first tenth of the events (at most 2,000), counted by the
 * emails the simulated SES answered, the same for Herald and the raw loop. Herald loads the
 * SQS and SES clients on first use, after its start line; the raw loop imports them before.
 */
function warmUpOf(n: number, done: () => number): WarmUp {
  return { after: Math.min(2_000, Math.floor(n / 10)), done, total: n };
}

/** n events, each FAILED with one email recipient, into the simulated queue. */
function preload(queueUrl: string, n: number): void {
  for (let i = 0; i < n; i++) {
    const event = sampleEvent({
      id: `backlog-${i}`,
      execution: { project: 'flytesnacks', domain: 'development', name: `run-${i}` },
      notifications: [{ phases: ['FAILED'], email: { recipients: ['oncall@example.com'] } }],
    });
    served.sqs.enqueue(queueUrl, encodeEvent(event));
  }
}

/**
 * The same backlog drained by raw-sdk-drain.mjs: the SQS and SES calls alone, measured as
 * Herald is, from its start line until every event was emailed and the queue is empty.
 */
async function rawDrain(queue: string, n: number, flags: string[] = []) {
  const queueUrl = served.queueUrl(queue);
  const emailsBefore = served.emailsSent();
  const callsBefore = served.sqs.totalCalls();
  preload(queueUrl, n);
  // The same profiling flags as the Herald process, so the two profiles compare.
  const nodeArgs = (process.env.HERALD_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...nodeArgs, RAW_DRAIN, served.endpoint, queueUrl, ...flags], {
    env: { ...process.env, AWS_ACCESS_KEY_ID: 'bench', AWS_SECRET_ACCESS_KEY: 'bench', NODE_OPTIONS: '' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  try {
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => {
        if (line === 'started') resolve();
      });
      void exited.then((code) => reject(new Error(`raw-sdk-drain exited with ${code} before it started`)));
    });
    const startedAt = performance.now();
    const cpuAtStart = cpuMs(child.pid as number);
    const window = steadyWindow(
      child.pid as number,
      warmUpOf(n, () => served.emailsSent() - emailsBefore),
    );
    const deadline = Date.now() + TIMEOUT_MS;
    while (served.emailsSent() - emailsBefore < n || served.sqs.size(queueUrl) > 0) {
      if (Date.now() > deadline) throw new Error(`raw drain: ${served.emailsSent() - emailsBefore} of ${n} emailed`);
      window.poll();
      await sleep(20);
    }
    const seconds = (performance.now() - startedAt) / 1000;
    const cpu = cpuMs(child.pid as number) - cpuAtStart;
    return {
      seconds,
      eventsPerSecond: n / seconds,
      cpuMsPer1000: (cpu / n) * 1000,
      steadyCpuMsPer1000: cpuMsPer1000(window.finish()),
      sqsCallsPer1000: ((served.sqs.totalCalls() - callsBefore) / n) * 1000,
    };
  } finally {
    child.kill('SIGTERM');
    await exited;
  }
}
