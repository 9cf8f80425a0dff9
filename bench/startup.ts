/**
 * Start-up and memory of the `herald` a user installs: the CLI packed and installed into an
 * empty prefix by the container's own scripts (deploy/container/build.sh, install.sh), each
 * command timed as a whole process next to `node -e 0` in the same run, rounds interleaved so
 * drift in the machine's speed falls on all alike. The workspace's own build (tsc output, one
 * module per file) is timed beside it, to show what the bundle saves.
 *
 * Then the RSS of an idle `herald run`, 3 s after start and once settled (V8 shrinks an idle
 * heap after about ten seconds): on the embedded sandbox default, and on AWS (SQS long polls
 * against the simulated AWS server of bench/simulated-aws-server.ts).
 *
 * Usage: tsx bench/startup.ts [--quick]   (writes bench/results/startup.json)
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { HERALD, statusKb } from './herald-process.js';
import { serveSimulatedAws } from './simulated-aws-server.js';
import { sleep } from './simulated-sqs.js';

const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 5 : 20;
/** RSS is read 3 s after start, and again once V8's memory reducer has run on an idle heap (~10 s). */
const IDLE_MS = quick ? 1_500 : 3_000;
const SETTLED_MS = quick ? 12_000 : 15_000;
const root = fileURLToPath(new URL('..', import.meta.url));
const sandboxConfig = join(root, 'examples/sandbox.yaml');

const work = mkdtempSync(join(tmpdir(), 'herald-startup-'));
const served = await serveSimulatedAws(5);
try {
  const out = join(work, 'out');
  const prefix = join(work, 'prefix');
  execFileSync('bash', [join(root, 'deploy/container/build.sh'), out], { stdio: 'ignore' });
  execFileSync('bash', [join(root, 'deploy/container/install.sh'), join(out, 'herald-cli.tgz'), prefix], {
    stdio: 'ignore',
  });
  const installed = join(prefix, 'lib/node_modules/@herald/cli/bin/herald.js');

  const commands: { label: string; args: string[] }[] = [
    { label: 'node -e 0', args: ['-e', '0'] },
    { label: 'herald --version (installed)', args: [installed, '--version'] },
    { label: 'herald validate sandbox (installed)', args: [installed, 'validate', '--config', sandboxConfig] },
    { label: 'herald --version (workspace build)', args: [HERALD, '--version'] },
    { label: 'herald validate sandbox (workspace build)', args: [HERALD, 'validate', '--config', sandboxConfig] },
  ];
  const samples = new Map(commands.map((c) => [c.label, { ms: [] as number[], rssKb: [] as number[] }]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const command of commands) {
      const measured = timeProcess(command.args);
      samples.get(command.label)?.ms.push(measured.ms);
      samples.get(command.label)?.rssKb.push(measured.rssKb);
    }
  }
  const startup = commands.map((c) => {
    const s = samples.get(c.label) as { ms: number[]; rssKb: number[] };
    return { command: c.label, medianMs: median(s.ms), peakRssMb: median(s.rssKb) / 1024 };
  });
  const node = startup[0] as (typeof startup)[number];

  const idleEnv = { AWS_ACCESS_KEY_ID: 'bench', AWS_SECRET_ACCESS_KEY: 'bench', AWS_REGION: 'us-east-1' };
  const awsConfig = join(work, 'aws.yaml');
  writeFileSync(
    awsConfig,
    `notifications:
  type: aws
  aws: { region: us-east-1 }
  publisher: { topicName: "arn:aws:sns:us-east-1:000000000000:idle" }
  processor: { queueName: idle, accountId: "000000000000" }
  emailer: { sender: herald@example.com }
herald:
  aws: { endpoint: "${served.endpoint}", waitTimeSeconds: 1 }
`,
  );
  const idle = [
    { label: 'sandbox (embedded default)', ...(await idleRss(installed, [], idleEnv)), targetMb: 70 },
    { label: 'AWS (SQS → SES)', ...(await idleRss(installed, ['--config', awsConfig], idleEnv)), targetMb: 85 },
  ];

  console.log(`start-up: median of ${ROUNDS} whole-process runs each, interleaved; target ≤ 2.5× node -e 0`);
  console.log('| command | wall ms | × node -e 0 | peak RSS MB |');
  console.log('|---|---:|---:|---:|');
  for (const s of startup) {
    console.log(
      `| ${s.command} | ${s.medianMs.toFixed(0)} | ${(s.medianMs / node.medianMs).toFixed(2)} | ${s.peakRssMb.toFixed(0)} |`,
    );
  }
  console.log('\nidle `herald run` (installed, node defaults as the bin starts it)');
  console.log(`| config | RSS MB after ${IDLE_MS / 1000} s | RSS MB after ${SETTLED_MS / 1000} s | target MB |`);
  console.log('|---|---:|---:|---:|');
  for (const i of idle) {
    console.log(`| ${i.label} | ${i.startedRssMb.toFixed(0)} | ${i.settledRssMb.toFixed(0)} | ${i.targetMb} |`);
  }

  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  writeFileSync(
    new URL('./results/startup.json', import.meta.url),
    `${JSON.stringify({ benchmark: 'startup', node: process.version, rounds: ROUNDS, startup, idle, time: new Date().toISOString() }, null, 2)}\n`,
  );
} finally {
  await served.close();
  rmSync(work, { recursive: true, force: true });
}

/** Wall time of one node process from spawn to exit, and its peak RSS (GNU time's %M). */
function timeProcess(args: string[]): { ms: number; rssKb: number } {
  const started = performance.now();
  const result = spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, ...args], {
    cwd: work,
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: '' },
  });
  const ms = performance.now() - started;
  if (result.status !== 0) throw new Error(`${args.join(' ')} exited with ${result.status}: ${result.stderr}`);
  return { ms, rssKb: Number(result.stderr.trim().split('\n').at(-1)) };
}

/** RSS of `herald run` idle after its start and once settled, then SIGTERM (it must exit 0). */
async function idleRss(
  bin: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ startedRssMb: number; settledRssMb: number }> {
  const child = spawn(process.execPath, [bin, 'run', ...args], {
    cwd: work,
    env: { ...process.env, ...env, NODE_OPTIONS: '' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  await new Promise<void>((resolve, reject) => {
    child.stderr?.on('data', (chunk) => {
      log += chunk;
      if (log.includes('herald processor started')) resolve();
    });
    void exited.then((code) => reject(new Error(`herald run exited with ${code}: ${log}`)));
  });
  await sleep(IDLE_MS);
  const startedRssMb = statusKb(child.pid as number, 'VmRSS') / 1024;
  await sleep(SETTLED_MS - IDLE_MS);
  const settledRssMb = statusKb(child.pid as number, 'VmRSS') / 1024;
  child.kill('SIGTERM');
  if ((await exited) !== 0) throw new Error(`herald run exited with an error on SIGTERM: ${log}`);
  return { startedRssMb, settledRssMb };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] as number;
}
