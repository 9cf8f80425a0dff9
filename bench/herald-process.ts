/**
 * A real `herald run` process for the benchmarks: the built CLI, configured for SQS and SES as
 * in production against the simulated AWS server (simulated-aws-server.ts), its log lines read
 * as they come, and what /proc says of its CPU and memory while it drains a backlog. Shared by
 * backlog.ts and digests.ts.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { sleep } from './simulated-sqs.js';

// HERALD_BENCH_BIN: another build's bin (to compare two builds on one machine).
export const HERALD =
  process.env.HERALD_BENCH_BIN ?? fileURLToPath(new URL('../packages/cli/bin/herald.js', import.meta.url));

export interface HeraldProcess {
  child: ChildProcess;
  /** Its config file, for other `herald` commands on the same store. */
  configFile: string;
  /** Deliveries per event id, from the `email delivered` log lines. */
  deliveries: Map<string, number>;
  /** The digests sent and the events each held, from the `digest sent` log lines, in order. */
  digestsSent: { digestId: string; count: number }[];
  startedAt: Promise<number>;
  exited: Promise<number | null>;
  /** `http://127.0.0.1:PORT/metrics` when it serves its metrics. */
  metricsUrl: string | undefined;
}

/** What a Herald process is given beyond the queue and SES: its store, an HTTP port for metrics, rules. */
export interface HeraldExtras {
  storeUrl?: string | undefined;
  httpPort?: number | undefined;
  /** `herald.rules`, written as JSON (which YAML reads as it is). */
  rules?: readonly object[] | undefined;
}

/** Where Herald processes find their config directory and the simulated AWS server. */
export interface HeraldPlace {
  /** A directory for their config files. */
  work: string;
  /** The simulated AWS server's endpoint (`ServedAws.endpoint`). */
  endpoint: string;
}

/** The Herald processes started and not yet seen to exit: what {@link killLeftovers} ends. */
const running = new Set<ChildProcess>();

export function startHerald(
  place: HeraldPlace,
  name: string,
  variantArgs: string[],
  extras: HeraldExtras = {},
): HeraldProcess {
  const configFile = join(place.work, `${name}.yaml`);
  writeFileSync(
    configFile,
    `notifications:
  type: aws
  aws: { region: us-east-1 }
  publisher: { topicName: "arn:aws:sns:us-east-1:000000000000:${name}" }
  processor: { queueName: ${name}, accountId: "000000000000" }
  emailer: { sender: herald@example.com }
herald:
  aws: { endpoint: "${place.endpoint}", waitTimeSeconds: 1 }
${extras.storeUrl ? `  store: { url: ${JSON.stringify(extras.storeUrl)} }\n` : ''}${extras.httpPort ? `  http: { listen: "127.0.0.1:${extras.httpPort}" }\n` : ''}${extras.rules ? `  rules: ${JSON.stringify(extras.rules)}\n` : ''}`,
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
  running.add(child);
  const deliveries = new Map<string, number>();
  const digestsSent: HeraldProcess['digestsSent'] = [];
  let started: (at: number) => void = () => {};
  const startedAt = new Promise<number>((resolve) => {
    started = resolve;
  });
  const lastLines: string[] = [];
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => {
    lastLines.push(line);
    if (lastLines.length > 5) lastLines.shift();
    let entry: { msg?: string; eventId?: string; digestId?: string; count?: number };
    try {
      entry = JSON.parse(line);
    } catch {
      return;
    }
    if (entry.msg === 'email delivered' && entry.eventId) {
      deliveries.set(entry.eventId, (deliveries.get(entry.eventId) ?? 0) + 1);
    } else if (entry.msg === 'digest sent') {
      digestsSent.push({ digestId: String(entry.digestId), count: Number(entry.count) });
    } else if (entry.msg === 'herald processor started') {
      started(performance.now());
    }
  });
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => {
      running.delete(child);
      resolve(code);
    }),
  );
  const exitedEarly = exited.then((code) => {
    throw new Error(`herald ${name} exited with ${code} before it started: ${lastLines.join('\n')}`);
  });
  exitedEarly.catch(() => {});
  const metricsUrl = extras.httpPort ? `http://127.0.0.1:${extras.httpPort}/metrics` : undefined;
  return {
    child,
    configFile,
    deliveries,
    digestsSent,
    startedAt: Promise.race([startedAt, exitedEarly]),
    exited,
    metricsUrl,
  };
}

/** SIGTERM: Herald drains what it holds and exits 0. */
export async function stop(herald: HeraldProcess): Promise<void> {
  herald.child.kill('SIGTERM');
  const code = await herald.exited;
  if (code !== 0) throw new Error(`herald exited with ${code} on SIGTERM`);
}

/** After a failure: SIGKILL each Herald process this module started that is still running, by its pid. */
export async function killLeftovers(): Promise<void> {
  await Promise.all(
    [...running].map(async (child) => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }),
  );
}

/** What a drain cost Herald: from its start until the drain was done. */
export interface DrainMeasure {
  seconds: number;
  cpuMs: number;
  /** The larger of the kernel's peak (VmHWM) and the RSS sampled every 50 ms. */
  peakRssKb: number;
  /** The CPU of the events after the warm-up, when one was asked for. */
  steady?: SteadyMeasure;
}

/** CPU over the part of a drain after its first events: the cost per event once warm. */
export interface SteadyMeasure {
  /** Events done in the window. */
  events: number;
  cpuMs: number;
}

/** A window's CPU per 1,000 events; NaN when the window never opened. */
export function cpuMsPer1000(window: SteadyMeasure | undefined): number {
  return window ? (window.cpuMs / window.events) * 1000 : Number.NaN;
}

/**
 * A steady-state window: opened once `done()` events are done (SDKs loaded on first use, code
 * compiled by the JIT), so a lazily loaded process and one that loads everything before it
 * starts are compared on the same work. `total` is the drain's size.
 */
export interface WarmUp {
  after: number;
  done: () => number;
  total: number;
}

/**
 * Watches a drain for its warm-up: call `poll` every few ms; `finish` (at the drain's end)
 * gives the window's CPU and events, or undefined when the drain ended before it opened.
 */
export function steadyWindow(pid: number, warmUp: WarmUp | undefined) {
  let opened: { cpuMs: number; doneBefore: number } | undefined;
  return {
    poll(): void {
      if (!warmUp || opened) return;
      const done = warmUp.done();
      if (done >= warmUp.after) opened = { cpuMs: cpuMs(pid), doneBefore: done };
    },
    finish(): SteadyMeasure | undefined {
      if (!warmUp || !opened) return undefined;
      return { events: warmUp.total - opened.doneBefore, cpuMs: cpuMs(pid) - opened.cpuMs };
    },
  };
}

/**
 * Measures a drain from Herald's `herald processor started` line until `done` (asked every
 * 20 ms) says it is over: wall time, the CPU Herald used meanwhile and its peak RSS. Fails the
 * drain when Herald exits or `timeoutMs` passes (`progress` says how far it got).
 */
export async function measureDrain(
  herald: HeraldProcess,
  done: () => boolean | Promise<boolean>,
  progress: () => string,
  timeoutMs: number,
  warmUp?: WarmUp,
): Promise<DrainMeasure> {
  const pid = herald.child.pid as number;
  const startedAt = await herald.startedAt;
  const cpuAtStart = cpuMs(pid);
  const window = steadyWindow(pid, warmUp);
  let peakSampledKb = 0;
  const sampler = setInterval(() => {
    peakSampledKb = Math.max(peakSampledKb, statusKb(pid, 'VmRSS'));
  }, 50);
  try {
    const deadline = Date.now() + timeoutMs;
    while (!(await done())) {
      if (Date.now() > deadline) throw new Error(`${progress()} in ${timeoutMs} ms`);
      if (herald.child.exitCode !== null) throw new Error(`herald exited with ${herald.child.exitCode}`);
      window.poll();
      await sleep(20);
    }
    const seconds = (performance.now() - startedAt) / 1000;
    const cpuUsed = cpuMs(pid) - cpuAtStart;
    const steady = window.finish();
    clearInterval(sampler);
    return {
      seconds,
      cpuMs: cpuUsed,
      peakRssKb: Math.max(statusKb(pid, 'VmHWM'), peakSampledKb),
      ...(steady ? { steady } : {}),
    };
  } finally {
    clearInterval(sampler);
  }
}

/**
 * `herald_store_round_trips_total` from Herald's metrics: there with a store, absent without one
 * (either way round fails the run, since the table would then compare the wrong things).
 */
export async function roundTripsOf(metricsUrl: string, storeUrl: string | undefined): Promise<number | undefined> {
  const text = await (await fetch(metricsUrl)).text();
  const trips = metricOf(text, 'herald_store_round_trips_total');
  if (storeUrl && trips === undefined)
    throw new Error(`herald_store_round_trips_total not served with store ${storeUrl}`);
  if (!storeUrl && trips !== undefined) throw new Error('herald_store_round_trips_total served without a store');
  return trips;
}

/** A metric's value in Prometheus' text format, summed over its labels; undefined when it has no series. */
export function metricOf(text: string, name: string): number | undefined {
  let sum: number | undefined;
  for (const match of text.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'gm'))) {
    sum = (sum ?? 0) + Number(match[1]);
  }
  return sum;
}

export function statusKb(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) : 0;
}

/** User + system CPU of a process so far, in ms (/proc/PID/stat fields 14 and 15, in clock ticks). */
export function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks / 100) * 1000;
}
