/**
 * Backlog drain: 50,000 events preloaded in the simulated SQS (5 ms per call), drained by a real
 * `herald run` process (built CLI, outbox emailer writing one .eml per event). The queue is
 * served over SQS's wire protocol from this process, so the memory sampled from /proc is Herald's
 * own: its peak RSS (VmHWM) while draining, next to the RSS of the same process idle on an empty
 * queue, measured in the same run. Every event must be delivered exactly once (counted per event
 * id from Herald's delivery log lines).
 *
 * Usage: tsx bench/backlog.ts [--quick] [--events N]   (writes bench/results/backlog.json)
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { encodeEvent, sampleEvent } from '@herald/core';
import { sleep } from './simulated-sqs.js';
import { serveSimulatedSqs } from './sqs-http.js';

const quick = process.argv.includes('--quick');
const eventsArg = process.argv.indexOf('--events');
const EVENTS = eventsArg > 0 ? Number(process.argv[eventsArg + 1]) : quick ? 10_000 : 50_000;
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

const served = await serveSimulatedSqs(SQS_LATENCY_MS);
const work = mkdtempSync(join(tmpdir(), 'herald-backlog-'));
try {
  const idle = await idleRss();
  const drained = await drain(EVENTS);
  const result = { benchmark: 'backlog', node: process.version, sqsLatencyMs: SQS_LATENCY_MS, idle, ...drained };
  console.log(
    `backlog: ${drained.events} events drained by \`herald run\` in ${drained.seconds.toFixed(1)} s (${drained.eventsPerSecond.toFixed(0)}/s), ${drained.lost} lost, ${drained.duplicates} emailed twice`,
  );
  console.log(
    `  Herald process: peak RSS ${drained.peakRssMb.toFixed(0)} MB while draining (idle on an empty queue: ${idle.rssMb.toFixed(0)} MB), CPU ${drained.cpuMsPer1000.toFixed(0)} ms per 1000 events`,
  );
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  writeFileSync(
    new URL('./results/backlog.json', import.meta.url),
    `${JSON.stringify({ ...result, quick, time: new Date().toISOString() }, null, 2)}\n`,
  );
  if (drained.lost > 0 || drained.duplicates > 0) process.exitCode = 1;
} finally {
  await served.close();
  rmSync(work, { recursive: true, force: true });
}

/** Herald's RSS after starting on an empty queue and polling it for two seconds. */
async function idleRss(): Promise<{ rssMb: number }> {
  const herald = startHerald('idle');
  await herald.startedAt;
  await sleep(2_000);
  const rssMb = statusKb(herald.child.pid as number, 'VmRSS') / 1024;
  await stop(herald);
  return { rssMb };
}

async function drain(n: number) {
  const queueUrl = served.queueUrl('backlog');
  for (let i = 0; i < n; i++) {
    const event = sampleEvent({
      id: `backlog-${i}`,
      execution: { project: 'flytesnacks', domain: 'development', name: `run-${i}` },
      notifications: [{ phases: ['FAILED'], email: { recipients: ['oncall@example.com'] } }],
    });
    served.sqs.enqueue(queueUrl, encodeEvent(event));
  }
  const herald = startHerald('backlog');
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
  if (process.env.HERALD_BENCH_DEBUG) console.error(Object.fromEntries(served.sqs.calls), process.cpuUsage());
  const cpuUsed = cpuMs(pid) - cpuAtStart;
  clearInterval(sampler);
  const peakRssKb = statusKb(pid, 'VmHWM');
  await stop(herald);
  const outbox = readdirSync(join(work, 'backlog-outbox')).filter((f) => f.endsWith('.eml')).length;
  let duplicates = 0;
  for (const count of herald.deliveries.values()) duplicates += count - 1;
  return {
    events: n,
    seconds,
    eventsPerSecond: n / seconds,
    lost: n - Math.min(herald.deliveries.size, outbox),
    duplicates,
    peakRssMb: Math.max(peakRssKb, peakSampledKb) / 1024,
    cpuMsPer1000: (cpuUsed / n) * 1000,
    sqsCallsPer1000: (served.sqs.totalCalls() / n) * 1000,
  };
}

function startHerald(name: string): HeraldProcess {
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
  emailer: { provider: outbox }
  outbox: { directory: ./${name}-outbox }
`,
  );
  // HERALD_BENCH_NODE_ARGS: extra node flags for the Herald process, e.g. --cpu-prof.
  const nodeArgs = (process.env.HERALD_BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);
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
