import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { RenderedDelivery, RenderedRequest } from '@herald/cli';
import PostalMime from 'postal-mime';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { finished, herald, root, start, waitForLog } from './helpers/cli.js';
import { TestSmtpServer } from './helpers/smtp.js';

const fixture = (name: string) => join(root, 'packages/core/tests/fixtures', name);
const example = (name: string) => join(root, 'examples', name);

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'herald-cli-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function sandboxConfig(extra = ''): Promise<string> {
  const file = join(dir, 'herald.yaml');
  await writeFile(file, `notifications: {type: sandbox}\nherald:\n  outbox: {directory: outbox}\n${extra}`);
  return file;
}

describe('herald itself', () => {
  it('prints its version', async () => {
    const result = await herald(['--version']);
    expect(result.status).toBe(0);
    const { version } = JSON.parse(await readFile(join(root, 'packages/cli/package.json'), 'utf8')) as {
      version: string;
    };
    expect(result.stdout.trim()).toBe(version);
  });

  it('says to build, without a stack trace, when run before the build', async () => {
    // The launcher as it is in git, beside no dist/: a checkout before `pnpm build`.
    await mkdir(join(dir, 'bin'));
    await writeFile(join(dir, 'bin', 'herald.js'), await readFile(join(root, 'packages/cli/bin/herald.js'), 'utf8'));
    const result = await promisify(execFile)(process.execPath, [join(dir, 'bin', 'herald.js'), '--version']).then(
      () => ({ status: 0, stderr: '' }),
      (err: { code?: number; stderr?: string }) => ({ status: err.code, stderr: err.stderr ?? '' }),
    );
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(
      'herald: not built yet: run `pnpm build` first (`pnpm demo` and `pnpm test` build too)\n',
    );
  });
});

describe('herald validate', () => {
  it("accepts FlyteAdmin's documented AWS block", async () => {
    const result = await herald(['validate', '--config', fixture('flyteadmin-aws.yaml')]);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('type: aws');
    expect(result.stdout).toContain('warning: notifications.region is deprecated');
  });

  it("accepts FlyteAdmin's GCP block with SendGrid", async () => {
    const result = await herald(['validate', '--config', fixture('flyteadmin-gcp-sendgrid.yaml')], {
      env: { SENDGRID_API_KEY: 'SG.test' },
    });
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('emailer: sendgrid');
  });

  it('exits 2 naming every bad key', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, 'notifications:\n  type: aws\n  region: 42\n  emailer:\n    body: "{{#each}}"\n');
    const result = await herald(['validate', '--config', file]);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('notifications.region: expected a string, got 42');
    expect(result.stderr).toContain('notifications.emailer.body: template does not parse');
  });

  it('names the variables bad values came from, and never prints a secret', async () => {
    const file = await sandboxConfig(`  channels:
    alerts: { type: slack, url: "\${SLACK_WEBHOOK_URL}" }
    hook: { type: webhook, urlEnvVar: HOOK_URL }
    pd: { type: pagerduty, routingKeyEnvVar: PD_KEY, url: "https://bot:hunter2@events example.com/v2?token=abc" }
`);
    const result = await herald(['validate', '--config', file], {
      env: {
        SLACK_WEBHOOK_URL: 'hooks.slack.com/services/T000/B000/XXXXSECRETXXXX',
        HOOK_URL: 'ftp://hooks.example.com/YYYYSECRETYYYY',
      },
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(
      'herald.channels.alerts.url: expected a valid http(s) URL, got the value of ${SLACK_WEBHOOK_URL} (not shown)',
    );
    expect(result.stderr).toContain(
      'herald.channels.hook.urlEnvVar: expected an http or https URL, got the value of ${HOOK_URL} (not shown)',
    );
    expect(result.stderr).toContain(
      "herald.channels.pd.url: expected a valid http(s) URL, got 'https://***@events example.com/v2?token=***'",
    );
    for (const secret of ['XXXXSECRET', 'YYYYSECRET', 'hunter2', 'token=abc']) {
      expect(result.stdout + result.stderr).not.toContain(secret);
    }
  });

  it('exits 2 naming a template that would write to the logs', async () => {
    const file = join(dir, 'log.yaml');
    await writeFile(file, 'notifications:\n  type: sandbox\n  emailer:\n    body: \'{{log "email delivered"}}\'\n');
    const result = await herald(['validate', '--config', file]);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("notifications.emailer.body: {{log}} is not available in Herald's templates");
  });

  it('exits 2 listing every secret herald run would need and cannot read, naming no value', async () => {
    const file =
      await sandboxConfig(`  http: { listen: "127.0.0.1:0", ingest: { enabled: true, tokenEnvVar: HERALD_TEST_INGEST } }
  channels:
    alerts: { type: slack, webhookUrlEnvVar: HERALD_TEST_SLACK }
    hook: { type: webhook, urlFile: ${join(dir, 'missing-hook-url')}, signingSecretEnvVar: HERALD_TEST_SIGNING }
    pager: { type: pagerduty, routingKeyEnvVar: HERALD_TEST_PD }
`);
    const result = await herald(['validate', '--config', file], { env: { HERALD_TEST_PD: 'XXXXSECRET' } });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('4 problems in configuration');
    for (const line of [
      'herald.http.ingest.tokenEnvVar: environment variable HERALD_TEST_INGEST is not set',
      'herald.channels.alerts.webhookUrlEnvVar: environment variable HERALD_TEST_SLACK is not set',
      `herald.channels.hook.urlEnvVar: cannot read ${join(dir, 'missing-hook-url')}: ENOENT`,
      'herald.channels.hook.signingSecretEnvVar: environment variable HERALD_TEST_SIGNING is not set',
    ]) {
      expect(result.stderr).toContain(line);
    }
    expect(result.stdout + result.stderr).not.toContain('XXXXSECRET');

    const skipped = await herald(['validate', '--config', file, '--skip-secrets']);
    expect(skipped.status).toBe(0);
    expect(skipped.stdout).toContain(`OK: ${file}`);
  });

  it("exits 2 naming the SendGrid key variable in FlyteAdmin's GCP block when it is not set", async () => {
    const result = await herald(['validate', '--config', fixture('flyteadmin-gcp-sendgrid.yaml')], {
      env: { SENDGRID_API_KEY: '' },
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(
      'notifications.emailer.emailServerConfig.apiKeyEnvVar: environment variable SENDGRID_API_KEY is not set',
    );
  });

  it('refuses a config herald run refuses, with the same message', async () => {
    const file = await sandboxConfig('  channels:\n    pager: { type: pagerduty, severity: critical }\n');
    const message =
      'herald.channels.pager.routingKeyEnvVar: expected routingKeyEnvVar or routingKeyFile (where the integration routing key is read from)';
    const validated = await herald(['validate', '--config', file, '--skip-secrets']);
    const ran = await herald(['run', '--config', file, '--exit-when-idle']);
    expect(validated.status).toBe(2);
    expect(ran.status).toBe(2);
    expect(validated.stderr).toContain(message);
    expect(ran.stderr).toContain(message);
  });

  it('exits 2 naming the key a misspelt one deep in the file most likely means', async () => {
    const file = await sandboxConfig(
      '  channels:\n    alerts: { type: slack, url: "http://127.0.0.1:1/x", txt: hi }\n',
    );
    const result = await herald(['validate', '--config', file, '--skip-secrets']);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("herald.channels.alerts.txt: unknown key (did you mean 'text'?)");
  });

  it('exits 2 when the file does not exist', async () => {
    const result = await herald(['validate', '--config', join(dir, 'missing.yaml')]);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('cannot read config file');
  });
});

describe('herald render', () => {
  it('shows the HTML escaped and the text plain, one JSON element per delivery', async () => {
    const result = await herald([
      'render',
      '--config',
      example('sandbox.yaml'),
      '--event',
      example('events/failed.json'),
      '--json',
    ]);
    expect(result.status).toBe(0);
    const deliveries = JSON.parse(result.stdout);
    expect(deliveries).toHaveLength(1);
    expect(deliveries[0]).toMatchObject({
      channel: 'email',
      to: ['ml-team@example.com', 'oncall@example.com', 'platform@example.com'],
      subject: 'Notice: Execution "core.flyte_basics.hello_world.wf" has failed in "development".',
    });
    expect(deliveries[0].html).toContain('&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;');
    expect(deliveries[0].html).not.toContain('<script>');
    expect(deliveries[0].text).toContain("<script>alert('x')</script>");
  });

  it('needs no secret: each is shown as ***, a URL written in the file as written', async () => {
    const result = await herald(
      ['render', '--config', example('channels.yaml'), '--event', example('events/failed.json'), '--json'],
      { env: { SLACK_WEBHOOK_URL: '', PAGERDUTY_ROUTING_KEY: '', WEBHOOK_SECRET: '' } },
    );
    expect(result.status).toBe(0);
    const requests = (JSON.parse(result.stdout) as RenderedDelivery[]).filter(
      (d): d is RenderedRequest => d.channel !== 'email',
    );
    const byChannel = (channel: string) => requests.find((d) => d.channel === channel);
    expect(byChannel('slack')?.url).toBe('***');
    expect(byChannel('pagerduty')?.body).toMatchObject({ routing_key: '***' });
    expect(byChannel('webhook')?.url).toBe('https://audit.example.com/herald');
    expect(byChannel('webhook')?.headers?.['X-Herald-Signature-256']).toBe('sha256=***');
  });

  it('reads JSON lines from stdin and renders nothing for a phase nobody asked for', async () => {
    const running = await readFile(example('events/running.json'), 'utf8');
    const result = await herald(['render', '--event', '-', '--json'], {
      input: `${JSON.stringify(JSON.parse(running))}\n`,
    });
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual([]);
  });

  it('prints valid JSON whatever the templates an event carries do, one error per refused email', async () => {
    const failed = JSON.parse(await readFile(example('events/failed.json'), 'utf8'));
    const labels = Object.fromEntries(Array.from({ length: 300 }, (_, i) => [`key${i}`, `value${i}`]));
    const forged = '{"level":"info","msg":"email delivered"}';
    const email = (recipient: string, extra: Record<string, string>) => ({
      phases: ['FAILED'],
      email: { recipients: [recipient], ...extra },
    });
    const event = {
      ...failed,
      labels,
      notifications: [
        email('forger@example.com', { subject: `{{log '${forged}'}}`, body: `{{log '${forged}' level="error"}}` }),
        email('nested@example.com', {
          body: '{{#each @root.labels}}{{#each @root.labels}}{{#each @root.labels}}x{{/each}}{{/each}}{{/each}}',
        }),
        email('own@example.com', { subject: 'own: {{ name }}', body: '<p>{{upper phase}}</p>' }),
      ],
    };
    const result = await herald(['render', '--event', '-', '--json'], { input: JSON.stringify(event) });

    expect(result.status).toBe(0);
    expect(result.stderr).toBe('');
    const deliveries = JSON.parse(result.stdout);
    const byRecipient = (to: string) => deliveries.find((d: { to: string[] }) => d.to.includes(to));
    expect(byRecipient('forger@example.com').error).toContain("{{log}} is not available in Herald's templates");
    expect(byRecipient('nested@example.com').error).toContain('nests loops ({{#each}}) 3 deep');
    expect(byRecipient('own@example.com')).toMatchObject({ subject: 'own: f8a1b2c3', html: '<p>FAILED</p>' });
  });

  it('exits 2 naming the line of a bad event', async () => {
    const result = await herald(['render', '--event', '-'], { input: '{"phase":"FAILED"}\nnot json\n' });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/- line 1: not a valid event: .*execution: is required/);
  });
});

describe('herald run (sandbox)', () => {
  it('publishes, delivers to the outbox and exits when idle', async () => {
    const config = await sandboxConfig();
    const result = await herald([
      'run',
      '--config',
      config,
      '--publish',
      example('events/failed.json'),
      example('events/succeeded.json'),
      example('events/running.json'),
      '--exit-when-idle',
    ]);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('2 emails delivered');

    const files = (await readdir(join(dir, 'outbox'))).filter((f) => f.endsWith('.eml')).sort();
    expect(files).toHaveLength(2);
    const parsed = await PostalMime.parse(await readFile(join(dir, 'outbox', files[0] as string)));
    expect(parsed.subject).toBeTruthy();
    expect(parsed.html).toBeTruthy();
    expect(parsed.text).toBeTruthy();
  });

  it('logs JSON lines on stderr, one per delivery', async () => {
    const config = await sandboxConfig();
    const result = await herald([
      'run',
      '--config',
      config,
      '--publish',
      example('events/failed.json'),
      '--exit-when-idle',
    ]);
    const lines = result.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const delivered = lines.filter((l) => l.msg === 'email delivered');
    expect(delivered).toHaveLength(1);
    expect(delivered[0].location).toMatch(/\.eml$/);
  });

  it('logs level names with --log-format json', async () => {
    const result = await herald([
      '--log-format',
      'json',
      'run',
      '--config',
      await sandboxConfig(),
      '--publish',
      example('events/failed.json'),
      '--exit-when-idle',
    ]);
    expect(result.status).toBe(0);
    const lines = result.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.find((l) => l.msg === 'herald processor started')).toMatchObject({ level: 'info' });
    expect(lines.find((l) => l.msg === 'email delivered')).toMatchObject({ level: 'info' });
    expect(lines.every((l) => typeof l.level === 'string')).toBe(true);
  });

  it('logs what Cloud Logging reads with HERALD_LOG_FORMAT=gcp: severity, message and time', async () => {
    const result = await herald(
      ['run', '--config', await sandboxConfig(), '--publish', example('events/failed.json'), '--exit-when-idle'],
      { env: { HERALD_LOG_FORMAT: 'gcp' } },
    );
    expect(result.status).toBe(0);
    const lines = result.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const delivered = lines.find((l) => l.message === 'email delivered');
    expect(delivered).toMatchObject({ severity: 'INFO', time: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T[\d:.]+Z$/) });
    expect(delivered).not.toHaveProperty('level');
    expect(delivered).not.toHaveProperty('msg');
  });

  it('delivers an event template, dead-letters one that tries to write log lines, and exits when idle', async () => {
    const failed = JSON.parse(await readFile(example('events/failed.json'), 'utf8'));
    const event = {
      ...failed,
      notifications: [
        { phases: ['FAILED'], email: { recipients: ['own@example.com'], body: '<p>{{ name }}</p>' } },
        {
          phases: ['FAILED'],
          email: { recipients: ['forger@example.com'], body: '{{log \'{"level":"info","msg":"email delivered"}\'}}' },
        },
      ],
    };
    const file = join(dir, 'event.json');
    await writeFile(file, JSON.stringify(event));
    const result = await herald(['run', '--config', await sandboxConfig(), '--publish', file, '--exit-when-idle']);

    expect(result.status).toBe(0);
    const lines = result.stderr
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.msg === 'email delivered')).toHaveLength(1);
    const deadLetters = (await readFile(join(dir, 'outbox', 'dead-letter.jsonl'), 'utf8')).trim().split('\n');
    expect(deadLetters).toHaveLength(1);
    expect(JSON.parse(deadLetters[0] as string).reason).toContain('{{log}} is not available');
  });

  it('stops on SIGTERM and exits 0', async () => {
    const child = start(['run', '--config', await sandboxConfig()]);
    await waitForLog(child, 'herald processor started');
    child.kill('SIGTERM');
    const result = await finished(child);
    expect(result.status).toBe(0);
    expect(result.stderr).toContain('herald processor stopped');
  });

  it('with an SMTP emailer, exits 0 on SIGTERM once idle, its pooled connection closed', async () => {
    const smtp = new TestSmtpServer();
    const port = await smtp.start();
    const file = join(dir, 'smtp.yaml');
    await writeFile(
      file,
      `notifications:
  type: sandbox
  emailer:
    sender: herald@example.com
    emailServerConfig: { serviceName: smtp, smtpServer: 127.0.0.1, smtpPort: "${port}", smtpSkipTLSVerify: true }
`,
    );
    const child = start(['run', '--config', file, '--publish', example('events/failed.json')]);
    try {
      await waitForLog(child, 'email delivered');
      expect(smtp.received).toHaveLength(1);
      child.kill('SIGTERM');
      // Without the connection closed, the process logs that it stopped and then never exits.
      const exited = await Promise.race([
        finished(child),
        new Promise<undefined>((resolve) => setTimeout(resolve, 15_000, undefined)),
      ]);
      expect(exited?.status, 'herald run did not exit after SIGTERM').toBe(0);
    } finally {
      child.kill('SIGKILL');
      await smtp.stop();
    }
  });

  it('runs on the embedded sandbox default without a config', async () => {
    const result = await herald(['run', '--publish', example('events/failed.json'), '--exit-when-idle'], { cwd: dir });
    expect(result.status).toBe(0);
    expect((await readdir(join(dir, 'outbox'))).some((f) => f.endsWith('.eml'))).toBe(true);
  });
});

describe('herald send-test', () => {
  it('sends one email rendered from the configured templates through the configured emailer', async () => {
    const result = await herald(['send-test', '--config', await sandboxConfig(), '--to', 'me@example.com']);
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/^sent via outbox: <\w+@example\.com> \(.+\.eml\)\n$/);
    const [file] = (await readdir(join(dir, 'outbox'))).filter((f) => f.endsWith('.eml'));
    const parsed = await PostalMime.parse(await readFile(join(dir, 'outbox', file as string)));
    expect(parsed.to?.map((a) => a.address)).toEqual(['me@example.com']);
    expect(parsed.subject).toMatch(/^\[test\] /);
  });

  it('exits 2 for an address that is not one', async () => {
    const result = await herald(['send-test', '--config', await sandboxConfig(), '--to', 'nope']);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("--to: 'nope' is not an email address");
  });
});

describe('usage errors', () => {
  it('exits 2 on an unknown command', async () => {
    expect((await herald(['frobnicate'])).status).toBe(2);
  });

  it("exits 2 for an event that breaks Flyte's rule of notifications on terminal phases", async () => {
    const event = JSON.stringify({
      execution: { project: 'p', domain: 'd', name: 'n' },
      phase: 'RUNNING',
      notifications: [{ phases: ['RUNNING'], email: { recipients: ['a@example.com'] } }],
    });
    const result = await herald(['run', '--config', await sandboxConfig(), '--publish', '-', '--exit-when-idle'], {
      input: event,
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('notifications[0].phases[0]: RUNNING is not a terminal phase');
  });

  it('explains that a sandbox queue cannot be published to from outside', async () => {
    const result = await herald([
      'publish',
      '--config',
      await sandboxConfig(),
      '--event',
      example('events/failed.json'),
    ]);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('herald run --publish');
  });

  it('exits 2 for a log format it does not know, from the option or HERALD_LOG_FORMAT', async () => {
    const flag = await herald(['--log-format', 'xml', 'render', '--event', example('events/failed.json')]);
    expect(flag.status).toBe(2);
    expect(flag.stderr).toContain('Allowed choices are json, pretty, gcp');
    const env = await herald(['render', '--event', example('events/failed.json')], {
      env: { HERALD_LOG_FORMAT: 'xml' },
    });
    expect(env.status).toBe(2);
    expect(env.stderr).toContain("from env 'HERALD_LOG_FORMAT' is invalid");
  });

  it('prints help and exits 0', async () => {
    const result = await herald(['--help']);
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('render');
  });
});

describe('herald deliveries (the sandbox keeps its log in its outbox directory)', () => {
  it('lists each destination with its status and attempts, shows an event, and a second run sends nothing again', async () => {
    const failed = JSON.parse(await readFile(example('events/failed.json'), 'utf8'));
    const event = {
      ...failed,
      notifications: [
        { phases: ['FAILED'], email: { recipients: ['own@example.com'] } },
        { phases: ['FAILED'], slack: { channel: 'nowhere' } },
      ],
    };
    const events = join(dir, 'event.json');
    await writeFile(events, JSON.stringify(event));
    const config = await sandboxConfig();
    const first = await herald(['run', '--config', config, '--publish', events, '--exit-when-idle']);
    expect(first.status).toBe(0);

    const listed = await herald(['deliveries', 'list', '--config', config, '--execution', 'f8a1b2c3', '--json']);
    expect(listed.status).toBe(0);
    const rows = JSON.parse(listed.stdout) as { label: string; status: string; attempts: number; lastError: string }[];
    expect(rows.map((r) => [r.label, r.status, r.attempts]).sort()).toEqual([
      ['email to own@example.com', 'delivered', 1],
      ["unknown 'nowhere'", 'dead-lettered', 1],
    ]);
    expect(rows.find((r) => r.status === 'dead-lettered')?.lastError).toBe(
      "nowhere: no channel named 'nowhere' in herald.channels",
    );

    const shown = await herald(['deliveries', 'show', failed.id, '--config', config]);
    expect(shown.stdout).toContain("unknown 'nowhere': dead-lettered after 1 attempt");
    expect(shown.stdout).toMatch(/#1 \S+ delivered/);

    const again = await herald(['run', '--config', config, '--publish', events, '--exit-when-idle']);
    expect(again.stdout).toContain('0 emails delivered');
    expect(again.stdout).toContain('2 skipped: already delivered or dead-lettered');
  });

  it('exits 2 for a config that keeps no log, saying how to keep one', async () => {
    const file = join(dir, 'local.yaml');
    await writeFile(file, 'notifications: {type: local}\n');
    const result = await herald(['deliveries', 'list', '--config', file]);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('keeps no delivery log: set herald.store.url');
  });
});

describe('storm control in the sandbox (examples/storm-control.yaml)', () => {
  /** The example, copied so that its outbox (`../outbox`) and delivery log land in this test's directory. */
  async function stormConfig(): Promise<string> {
    const file = join(dir, 'conf', 'storm-control.yaml');
    await mkdir(join(dir, 'conf'));
    await writeFile(file, await readFile(example('storm-control.yaml'), 'utf8'));
    return file;
  }

  it('renders which deliveries fold, which are suppressed, the digest and the still-running alert', async () => {
    const result = await herald([
      'render',
      '--config',
      example('storm-control.yaml'),
      '--event',
      example('events/storm.jsonl'),
      '--json',
    ]);
    expect(result.status).toBe(0);
    const rendered = JSON.parse(result.stdout) as RenderedDelivery[];
    const roles = rendered.map((r) => r.digest?.role ?? (r.suppressed ? 'suppressed' : 'sent'));
    expect(roles.filter((role) => role === 'first')).toHaveLength(1);
    expect(roles.filter((role) => role === 'held')).toHaveLength(5);
    expect(roles.filter((role) => role === 'suppressed')).toHaveLength(1);
    const digest = rendered.find((r) => r.digest?.role === 'digest');
    expect(digest).toMatchObject({
      channel: 'email',
      subject: '[Herald] 5 notifications: 5 FAILED (project=flytesnacks domain=development)',
    });
    const alert = rendered.find((r) => r.digest?.role === 'watch');
    expect(alert).toMatchObject({ subject: '[Herald] etl/production/nightly-0427 still RUNNING after 2h' });
  });

  it('sends the first failure and one nightly email, holds the rest in the log, and watches the running job', async () => {
    const config = await stormConfig();
    const ran = await herald([
      'run',
      '--config',
      config,
      '--publish',
      example('events/storm.jsonl'),
      '--exit-when-idle',
    ]);
    expect(ran.status).toBe(0);
    expect(ran.stdout).toContain('2 emails delivered');
    expect(ran.stdout).toContain('5 folded into 1 digest');
    const emails = (await readdir(join(dir, 'outbox'))).filter((name) => name.endsWith('.eml'));
    expect(emails).toHaveLength(2);

    const digests = JSON.parse((await herald(['digests', 'list', '--config', config, '--json'])).stdout) as {
      kind: string;
      status: string;
      members: number;
    }[];
    // nightly-0427 is watched; nightly-0426 ended before any start of it arrived: recorded met.
    expect(digests.map((d) => [d.kind, d.status, d.members]).sort()).toEqual([
      ['digest', 'open', 5],
      ['overdue', 'met', 1],
      ['overdue', 'open', 1],
    ]);
    const suppressed = await herald(['deliveries', 'list', '--config', config, '--status', 'suppressed']);
    expect(suppressed.stdout).toContain("sent once per 'nightly-0426-failed'");
    const folded = await herald(['deliveries', 'list', '--config', config, '--status', 'folded', '--json']);
    expect(JSON.parse(folded.stdout)).toHaveLength(5);
  });
});
