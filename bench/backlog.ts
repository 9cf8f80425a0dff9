/**
 * Backlog drain: 50,000 events preloaded in the simulated SQS (5 ms per call), drained by a real
 * `herald run` process: the built CLI, configured for SQS and SES as in production. The queue
 * and SES are served over their wire protocols from this process (simulated-aws-server.ts), so
 * the memory read from /proc is Herald's own: its peak RSS (VmHWM) while draining, next to the
 * RSS of the same process idle on an empty queue, with node's defaults and with a capped heap.
 * Every event must be emailed exactly once (counted per event id from Herald's delivery log
 * lines); the run fails otherwise.
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
import { serveSimulatedAws } from './simulated-aws-server.js';
import { sleep } from './simulated-sqs.js';

const quick = process.argv.includes('--quick');
const eventsArg = process.argv.indexOf('--events');
const EVENTS = eventsArg > 0 ? Number(process.argv[eventsArg + 1]) : quick ? 2_500 : 50_000;
const SQS_LATENCY_MS = 5;
const HERALD = fileURLToPath(new URL('../packages/cli/bin/herald.js', import.meta.url));
const TIMEOUT_MS = 300_000;

interface HeraldProcess {
  child: ChildProcess;
  /** Deliveries per event id, from the `email delivered` log lines. */
  deliveries: Map<string, number>;
  startedAt: Promise<number>;
  exited: Promise<number | null>;
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
try {
  const results = [];
  for (const [i, variant] of VARIANTS.entries()) {
    const idle = await idleRss(variant.nodeArgs);
    const drained = await drain(`backlog${i}`, EVENTS, variant.nodeArgs);
    results.push({ variant: variant.label, idleRssMb: idle.rssMb, ...drained });
    if (drained.lost > 0 || drained.duplicates > 0) process.exitCode = 1;
  }
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
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  writeFileSync(
    new URL('./results/backlog.json', import.meta.url),
    `${JSON.stringify({ benchmark: 'backlog', node: process.version, sqsLatencyMs: SQS_LATENCY_MS, events: EVENTS, quick, results, time: new Date().toISOString() }, null, 2)}\n`,
  );
} finally {
  await served.close();
  rmSync(work, { recursive: true, force: true });
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

async function drain(queue: string, n: number, nodeArgs: string[]) {
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
  const herald = startHerald(queue, nodeArgs);
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
  };
}

function startHerald(name: string, variantArgs: string[]): HeraldProcess {
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
`,
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
  return { child, deliveries, startedAt: Promise.race([startedAt, exitedEarly]), exited };
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
