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
 * Usage: tsx bench/backlog.ts [--quick] [--events N]   (writes bench/results/backlog.json)
 *   HERALD_BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the Herald process.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { encodeEvent, sampleEvent } from '@herald/core';
import { freePort, type StartedPostgres, startPostgres } from '../test/support/processes.js';
import { serveSimulatedAws } from './simulated-aws-server.js';
import { sleep } from './simulated-sqs.js';

const quick = process.argv.includes('--quick');
const eventsArg = process.argv.indexOf('--events');
const EVENTS = eventsArg > 0 ? Number(process.argv[eventsArg + 1]) : quick ? 2_500 : 50_000;
const SQS_LATENCY_MS = 5;
const HERALD = fileURLToPath(new URL('../packages/cli/bin/herald.js', import.meta.url));
const TIMEOUT_MS = 300_000;
/** Rounds of no store / SQLite / PostgreSQL, one after the other. */
const STORE_ROUNDS = 2;
const STORES = ['no store', 'SQLite', 'PostgreSQL'] as const;
type StoreName = (typeof STORES)[number];
type StoreRun = { store: StoreName; round: number } & Awaited<ReturnType<typeof drain>>;

interface HeraldProcess {
  child: ChildProcess;
  /** Deliveries per event id, from the `email delivered` log lines. */
  deliveries: Map<string, number>;
  startedAt: Promise<number>;
  exited: Promise<number | null>;
  /** `http://127.0.0.1:PORT/metrics` when it serves its metrics. */
  metricsUrl: string | undefined;
}

/** What a Herald process is given beyond the queue and SES: its store, an HTTP port for metrics. */
interface HeraldExtras {
  storeUrl?: string | undefined;
  httpPort?: number | undefined;
}

/**
 * V8 lets garbage pile up to a heap limit sized from the machine's memory (about 4 GB here), so
 * the RSS of a busy process says more about that limit than about what it keeps. The second
 * variant caps the old generation, as a container's memory limit would, to show what Herald
 * needs; the live heap after a drain is ~30 MB either way.
 */
const VARIANTS: { label: string; nodeArgs: string[] }[] = [
  { label: 'node defaults', nodeArgs: [] },
  { label: '--max-old-space-size=128', nodeArgs: ['--max-old-space-size=128'] },
];

const served = await serveSimulatedAws(SQS_LATENCY_MS);
const work = mkdtempSync(join(tmpdir(), 'herald-backlog-'));
let postgres: StartedPostgres | undefined;
try {
  const results = [];
  for (const [i, variant] of VARIANTS.entries()) {
    const idle = await idleRss(variant.nodeArgs);
    const drained = await drain(`backlog${i}`, EVENTS, variant.nodeArgs);
    results.push({ variant: variant.label, idleRssMb: idle.rssMb, ...drained });
    if (!exactlyOnce(drained)) process.exitCode = 1;
  }

  // The delivery log: node's defaults, each Herald process serving its metrics (no store too,
  // so the three differ only in the store).
  postgres = await startPostgres();
  const storeRuns: StoreRun[] = [];
  for (let round = 0; round < STORE_ROUNDS; round++) {
    for (const store of STORES) {
      const storeUrl = await freshStore(store, round, postgres);
      const drained = await drain(`store${round}-${STORES.indexOf(store)}`, EVENTS, [], {
        storeUrl,
        httpPort: await freePort(),
      });
      storeRuns.push({ store, round, ...drained });
      if (!exactlyOnce(drained)) process.exitCode = 1;
    }
  }
  const storeTotals = STORES.map((store) => totals(store, storeRuns));
  const none = storeTotals[0] as ReturnType<typeof totals>;
  console.log(
    `backlog: ${EVENTS} events preloaded in a simulated SQS (${SQS_LATENCY_MS} ms per call), drained by \`herald run\` (SQS → SES)`,
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
  console.log(
    `\ndelivery log: the same backlog drained with no store / SQLite / PostgreSQL, node defaults, ${STORE_ROUNDS} rounds alternated (totals)`,
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
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  writeFileSync(
    new URL('./results/backlog.json', import.meta.url),
    `${JSON.stringify({ benchmark: 'backlog', node: process.version, sqsLatencyMs: SQS_LATENCY_MS, events: EVENTS, quick, results, store: { rounds: STORE_ROUNDS, totals: storeTotals, runs: storeRuns }, time: new Date().toISOString() }, null, 2)}\n`,
  );
} finally {
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
  const herald = startHerald('idle', nodeArgs);
  await herald.startedAt;
  await sleep(quick ? 1_000 : 2_000);
  const rssMb = statusKb(herald.child.pid as number, 'VmRSS') / 1024;
  await stop(herald);
  return { rssMb };
}

async function drain(queue: string, n: number, nodeArgs: string[], extras: HeraldExtras = {}) {
  const queueUrl = served.queueUrl(queue);
  const callsBefore = served.sqs.totalCalls();
  const emailsBefore = served.emailsSent();
  for (let i = 0; i < n; i++) {
    const event = sampleEvent({
      id: `backlog-${i}`,
      execution: { project: 'flytesnacks', domain: 'development', name: `run-${i}` },
      notifications: [{ phases: ['FAILED'], email: { recipients: ['oncall@example.com'] } }],
    });
    served.sqs.enqueue(queueUrl, encodeEvent(event));
  }
  const herald = startHerald(queue, nodeArgs, extras);
  const pid = herald.child.pid as number;
  const startedAt = await herald.startedAt;
  const cpuAtStart = cpuMs(pid);
  let peakSampledKb = 0;
  const sampler = setInterval(() => {
    peakSampledKb = Math.max(peakSampledKb, statusKb(pid, 'VmRSS'));
  }, 50);
  const deadline = Date.now() + TIMEOUT_MS;
  while (herald.deliveries.size < n || served.sqs.size(queueUrl) > 0) {
    if (Date.now() > deadline) throw new Error(`only ${herald.deliveries.size} of ${n} delivered in ${TIMEOUT_MS} ms`);
    if (herald.child.exitCode !== null) throw new Error(`herald exited with ${herald.child.exitCode}`);
    await sleep(20);
  }
  const seconds = (performance.now() - startedAt) / 1000;
  const cpuUsed = cpuMs(pid) - cpuAtStart;
  clearInterval(sampler);
  const peakRssKb = statusKb(pid, 'VmHWM');
  // Read after the CPU: the scrape costs Herald a little. Every message is deleted by now, and a
  // message is deleted only once its deliveries are recorded, so every store write is counted.
  const storeRoundTrips = herald.metricsUrl ? await roundTripsOf(herald.metricsUrl, extras.storeUrl) : undefined;
  await stop(herald);
  let duplicates = 0;
  for (const count of herald.deliveries.values()) duplicates += count - 1;
  return {
    events: n,
    seconds,
    eventsPerSecond: n / seconds,
    lost: n - herald.deliveries.size,
    sesCalls: served.emailsSent() - emailsBefore,
    duplicates,
    peakRssMb: Math.max(peakRssKb, peakSampledKb) / 1024,
    cpuMsPer1000: (cpuUsed / n) * 1000,
    sqsCallsPer1000: ((served.sqs.totalCalls() - callsBefore) / n) * 1000,
    storeRoundTrips,
  };
}

/**
 * `herald_store_round_trips_total` from Herald's metrics: there with a store, absent without one
 * (either way round fails the run, since the table would then compare the wrong things).
 */
async function roundTripsOf(metricsUrl: string, storeUrl: string | undefined): Promise<number | undefined> {
  const text = await (await fetch(metricsUrl)).text();
  const match = /^herald_store_round_trips_total (\d+)$/m.exec(text);
  if (storeUrl && !match) throw new Error(`herald_store_round_trips_total not served with store ${storeUrl}`);
  if (!storeUrl && match) throw new Error('herald_store_round_trips_total served without a store');
  return match ? Number(match[1]) : undefined;
}

function startHerald(name: string, variantArgs: string[], extras: HeraldExtras = {}): HeraldProcess {
  const configFile = join(work, `${name}.yaml`);
  writeFileSync(
    configFile,
    `notifications:
  type: aws
  aws: { region: us-east-1 }
  publisher: { topicName: "arn:aws:sns:us-east-1:000000000000:${name}" }
  processor: { queueName: ${name}, accountId: "000000000000" }
  emailer: { sender: herald@example.com }
herald:
  aws: { endpoint: "${served.endpoint}", waitTimeSeconds: 1 }
${extras.storeUrl ? `  store: { url: ${JSON.stringify(extras.storeUrl)} }\n` : ''}${extras.httpPort ? `  http: { listen: "127.0.0.1:${extras.httpPort}" }\n` : ''}`,
  );
  // HERALD_BENCH_NODE_ARGS: more node flags for the Herald process, e.g. --cpu-prof.
  const nodeArgs = [...variantArgs, ...(process.env.HERALD_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean)];
  const child = spawn(process.execPath, [...nodeArgs, HERALD, 'run', '--config', configFile], {
    env: {
      ...process.env,
      AWS_ACCESS_KEY_ID: 'bench',
      AWS_SECRET_ACCESS_KEY: 'bench',
      AWS_REGION: 'us-east-1',
      NODE_OPTIONS: '',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const deliveries = new Map<string, number>();
  let started: (at: number) => void = () => {};
  const startedAt = new Promise<number>((resolve) => {
    started = resolve;
  });
  const lastLines: string[] = [];
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => {
    lastLines.push(line);
    if (lastLines.length > 5) lastLines.shift();
    let entry: { msg?: string; eventId?: string };
    try {
      entry = JSON.parse(line);
    } catch {
      return;
    }
    if (entry.msg === 'email delivered' && entry.eventId) {
      deliveries.set(entry.eventId, (deliveries.get(entry.eventId) ?? 0) + 1);
    } else if (entry.msg === 'herald processor started') {
      started(performance.now());
    }
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const exitedEarly = exited.then((code) => {
    throw new Error(`herald ${name} exited with ${code} before it started: ${lastLines.join('\n')}`);
  });
  exitedEarly.catch(() => {});
  const metricsUrl = extras.httpPort ? `http://127.0.0.1:${extras.httpPort}/metrics` : undefined;
  return { child, deliveries, startedAt: Promise.race([startedAt, exitedEarly]), exited, metricsUrl };
}

/** SIGTERM: Herald drains what it holds and exits 0. */
async function stop(herald: HeraldProcess): Promise<void> {
  herald.child.kill('SIGTERM');
  const code = await herald.exited;
  if (code !== 0) throw new Error(`herald exited with ${code} on SIGTERM`);
}

function statusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) : 0;
}

/** User + system CPU of a process so far, in ms (/proc/PID/stat fields 14 and 15, in clock ticks). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks / 100) * 1000;
}
