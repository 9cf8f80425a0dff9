import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileConfigTemplates, loadConfigFile, parseConfig } from '@herald/core/config';
import { describe, expect, it } from 'vitest';
import { problemsOf } from '../helpers/problems.js';

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));

describe('FlyteAdmin compatibility', () => {
  it("accepts FlyteAdmin's documented AWS block and keeps its meaning", () => {
    const config = loadConfigFile(fixture('flyteadmin-aws.yaml'), {});
    expect(config.type).toBe('aws');
    expect(config.aws.region).toBe('us-east-1');
    expect(config.publisher.topicName).toBe('arn:aws:sns:us-east-1:123456789012:flyte-notifications');
    expect(config.processor).toEqual({ queueName: 'flyte-notifications', accountId: '123456789012' });
    expect(config.emailer.provider).toBe('ses');
    expect(config.emailer.sender).toBe('flyte-notifications@company.com');
    expect(config.warnings).toEqual(['notifications.region is deprecated: use notifications.aws.region']);
  });

  it("accepts FlyteAdmin's GCP block with a SendGrid emailServerConfig", () => {
    const config = loadConfigFile(fixture('flyteadmin-gcp-sendgrid.yaml'), {});
    expect(config.type).toBe('gcp');
    expect(config.gcp.projectId).toBe('my-gcp-project');
    expect(config.emailer.provider).toBe('sendgrid');
    expect(config.emailer.server.apiKeyEnvVar).toBe('SENDGRID_API_KEY');
  });

  it('defaults to type local, as FlyteAdmin does', () => {
    const config = parseConfig('{}', { env: {} });
    expect(config.type).toBe('local');
    expect(config.emailer.provider).toBe('none');
    expect(config.reconnect).toEqual({ attempts: 0, delaySeconds: 0 });
  });

  it('prefers aws.region over the deprecated region', () => {
    const config = parseConfig('notifications: {type: sandbox, region: us-east-1, aws: {region: eu-west-1}}', {
      env: {},
    });
    expect(config.aws.region).toBe('eu-west-1');
  });

  it("reads smtpPort written as a string, as FlyteAdmin's YAML does", () => {
    const config = parseConfig(
      'notifications: {type: sandbox, emailer: {emailServerConfig: {serviceName: smtp, smtpServer: mail.local, smtpPort: "587"}}}',
      { env: {} },
    );
    expect(config.emailer.server.smtpPort).toBe(587);
    expect(config.emailer.provider).toBe('smtp');
  });

  it('asks for an emailer with type gcp, where FlyteAdmin silently sends nothing', () => {
    expect(
      problemsOf(
        'notifications: {type: gcp, gcp: {projectId: p}, publisher: {topicName: t}, processor: {queueName: q}}',
      ),
    ).toEqual([
      'notifications.emailer.emailServerConfig.serviceName: type gcp has no built-in emailer: expected sendgrid or smtp (or set herald.emailer.provider)',
    ]);
  });
});

describe('validation errors', () => {
  it('names the key path, what was expected and what was found', () => {
    expect(problemsOf('notifications: {type: sandbox, processor: {queueName: 42}}')).toEqual([
      'notifications.processor.queueName: expected a string, got 42',
    ]);
  });

  it('lists every problem at once, templates included', () => {
    const problems = problemsOf(`
notifications:
  type: carrier-pigeon
  reconnectAttempts: many
  emailer:
    subject: "{{#if phase}}unclosed"
herald:
  processor:
    maxInFlight: 0
  colour: blue
`);
    expect(problems).toEqual([
      "notifications.type: expected one of aws, gcp, sandbox, local, none, got 'carrier-pigeon'",
      "notifications.reconnectAttempts: expected a number, got 'many'",
      'herald.processor.maxInFlight: expected number >= 1, got 0',
      'herald.colour: unknown key',
      "notifications.emailer.subject: template does not parse: line 1: unexpected end of template (unclosed block or mustache?) near '...{#if phase}}unclosed'",
    ]);
  });

  it('reports a partial that does not exist at load time, not at send time', () => {
    expect(problemsOf('notifications: {type: sandbox, emailer: {body: "{{> footer}}"}}')).toEqual([
      'notifications.emailer.body: The partial footer could not be found',
    ]);
  });

  it('requires what each transport needs', () => {
    expect(problemsOf('notifications: {type: aws}')).toEqual([
      'notifications.aws.region: is required for type aws (or AWS_REGION in the environment)',
      'notifications.publisher.topicName: is required for type aws (the SNS topic ARN)',
      'notifications.processor.queueName: is required for type aws (the SQS queue name)',
      'notifications.processor.accountId: is required for type aws (the AWS account owning the queue)',
    ]);
  });

  it('checks that the first retry delay does not exceed the longest', () => {
    expect(problemsOf('herald: {processor: {retryBaseDelayMs: 5000, retryMaxDelayMs: 1000}}')).toEqual([
      'herald.processor.retryBaseDelayMs: must not exceed herald.processor.retryMaxDelayMs (1000), got 5000',
    ]);
  });

  it('reports a placeholder that names nothing instead of rendering it empty', () => {
    const problems = problemsOf(`
notifications:
  type: sandbox
  emailer:
    subject: "{{ nmae }} has {{ phase }}"
    body: "<p>{{ workflow.nme }} {{#if error}}{{ eror }}{{/if}}</p>"
herald:
  channels:
    team: { type: webhook, url: "http://127.0.0.1:1/hook", body: { run: "{{ executon.name }}" } }
`);
    expect(problems).toHaveLength(3);
    expect(problems[0]).toMatch(
      /^notifications\.emailer\.subject: unknown placeholder \{\{ nmae \}\} \(would render empty\); the template context has project, domain, name, phase/,
    );
    expect(problems[1]).toMatch(
      /^notifications\.emailer\.body: unknown placeholders \{\{ workflow\.nme \}\}, \{\{ eror \}\}/,
    );
    expect(problems[2]).toMatch(/^herald\.channels\.team\.body\.run: unknown placeholder \{\{ executon\.name \}\}/);
  });

  it('accepts every name of the template context, helpers, labels and names inside each/with blocks', () => {
    expect(() =>
      parseConfig(
        `
notifications:
  type: sandbox
  emailer:
    subject: "{{ upper name }} {{ phase }} {{ workflow.name }} {{ launch_plan.version }} {{ default labels.team 'none' }}"
    body: >-
      <p>{{ event.execution.project }} {{ duration }} {{ url }} {{#if (eq phaseName "FAILED")}}{{ errorMessage }}{{/if}}</p>
      {{#each labels}}<li>{{@key}}={{this}}</li>{{/each}}{{#with workflow}}{{ name }} {{ anything }}{{/with}}
`,
        { env: {} },
      ),
    ).not.toThrow();
  });

  it('reports invalid YAML', () => {
    expect(problemsOf('notifications: [unclosed')[0]).toMatch(/^: invalid YAML/);
  });

  it('refuses a top-level key that looks like a typo of a section', () => {
    expect(problemsOf('herlad: {}')).toEqual(["herlad: unknown key (did you mean 'herald'?)"]);
  });
});

describe('environment variables', () => {
  it('expands ${VAR} and ${VAR:-default}', () => {
    const config = parseConfig(
      'notifications: {type: aws, aws: {region: "${REGION}"}, publisher: {topicName: "arn:${ACCOUNT:-000}"}, processor: {queueName: q, accountId: "${ACCOUNT:-000}"}}',
      { env: { REGION: 'eu-central-1' } },
    );
    expect(config.aws.region).toBe('eu-central-1');
    expect(config.publisher.topicName).toBe('arn:000');
  });

  it('expands numbers too', () => {
    expect(parseConfig('herald: {processor: {maxInFlight: "${N}"}}', { env: { N: '7' } }).processing.maxInFlight).toBe(
      7,
    );
  });

  it('names the key whose variable is not set', () => {
    expect(problemsOf('notifications: {type: sandbox, emailer: {sender: "${SENDER}"}}')).toContain(
      'notifications.emailer.sender: environment variable SENDER is not set',
    );
  });

  it('keeps $${ as a literal ${', () => {
    expect(parseConfig('notifications: {emailer: {sender: "a$${b}@x.org"}}', { env: {} }).emailer.sender).toBe(
      'a${b}@x.org',
    );
  });
});

describe('defaults', () => {
  it('resolves relative paths against the config file', () => {
    const config = parseConfig('notifications: {type: sandbox}\nherald: {outbox: {directory: mail}}', {
      env: {},
      baseDir: '/srv/herald',
    });
    expect(config.outbox.directory).toBe('/srv/herald/mail');
    expect(config.sandbox.deadLetterFile).toBe('/srv/herald/mail/dead-letter.jsonl');
  });
});

describe('the time budget of templates carried on events', () => {
  it('is a second unless set, and set in milliseconds up to a minute', () => {
    expect(parseConfig('notifications: {type: sandbox}', { env: {} }).processing.eventTemplateBudgetMs).toBe(1000);
    expect(
      parseConfig('herald: {processor: {eventTemplateBudgetMs: 250}}', { env: {} }).processing.eventTemplateBudgetMs,
    ).toBe(250);
    expect(problemsOf('herald: {processor: {eventTemplateBudgetMs: 0}}')).toEqual([
      'herald.processor.eventTemplateBudgetMs: expected number >= 1, got 0',
    ]);
  });
});

describe('templates that write to the logs', () => {
  it('are refused wherever the config has a template, naming the key', () => {
    expect(
      problemsOf(`
notifications: {type: sandbox, emailer: {body: '{{log "email delivered"}}'}}
herald:
  channels:
    hook: { type: webhook, url: "https://example.com/h", body: { msg: "{{log name}}" } }
  rules:
    - { name: r, email: [a@example.com], subject: "{{ name }}", body: "<p>{{#each labels}}{{log this}}{{/each}}</p>" }
`),
    ).toEqual([
      "notifications.emailer.body: {{log}} is not available in Herald's templates: a template must not write to Herald's logs",
      "herald.channels.hook.body.msg: {{log}} is not available in Herald's templates: a template must not write to Herald's logs",
      "herald.rules[0].body: {{log}} is not available in Herald's templates: a template must not write to Herald's logs",
    ]);
  });
});

describe('channel templates', () => {
  it('are checked when the config is loaded, string by string in JSON payloads, without secrets', () => {
    expect(
      problemsOf(`
herald:
  channels:
    chat: { type: slack, webhookUrlEnvVar: NOT_NEEDED_TO_VALIDATE, blocks: [{ type: section, text: "{{#if name}}" }] }
    hook: { type: webhook, url: "https://example.com/h", body: { ok: "{{ name }}", bad: "{{ upper }" } }
`),
    ).toEqual([
      "herald.channels.chat.blocks[0].text: template does not parse: line 1: unexpected end of template (unclosed block or mustache?) near '{{#if name}}'",
      "herald.channels.hook.body.bad: template does not parse: line 1: unexpected INVALID near '{{ upper }'",
    ]);
  });
});

describe('values from the environment and secrets in messages', () => {
  const SECRET_URL = 'hooks.slack.com/services/T000/B000/XXXXSECRETXXXX';
  const slackUrl = (url: string) => `herald:\n  channels:\n    alerts: { type: slack, url: "${url}" }\n`;

  it('names the variable a bad value came from instead of showing it', () => {
    expect(problemsOf(slackUrl('${SLACK_WEBHOOK_URL}'), { SLACK_WEBHOOK_URL: SECRET_URL })).toEqual([
      'herald.channels.alerts.url: expected a valid http(s) URL, got the value of ${SLACK_WEBHOOK_URL} (not shown)',
    ]);
  });

  it('names every variable of a value made from several', () => {
    expect(
      problemsOf(slackUrl('https://${HOOK_HOST}/services/${HOOK_PATH}'), {
        HOOK_HOST: 'hooks slack com',
        HOOK_PATH: 'T000/B000/XXXXSECRETXXXX',
      }),
    ).toEqual([
      'herald.channels.alerts.url: expected a valid http(s) URL, got a value made from ${HOOK_HOST} and ${HOOK_PATH} (not shown)',
    ]);
  });

  it('hides values of every kind, not only URLs', () => {
    expect(
      problemsOf('notifications: {type: "${TRANSPORT}"}\nherald: {processor: {maxInFlight: "${IN_FLIGHT}"}}', {
        TRANSPORT: 'sqs-token-123',
        IN_FLIGHT: 'token-456',
      }),
    ).toEqual([
      'notifications.type: expected one of aws, gcp, sandbox, local, none, got the value of ${TRANSPORT} (not shown)',
      'herald.processor.maxInFlight: expected a number, got the value of ${IN_FLIGHT} (not shown)',
    ]);
  });

  it('hides them in cross-key rules and channel names too', () => {
    expect(
      problemsOf(
        `
herald:
  processor: { retryBaseDelayMs: "\${BASE}", retryMaxDelayMs: 1000 }
  channels: { chat: { type: slack, url: "https://hooks.example.com/x" } }
  rules: [{ name: r, notify: ["\${CHANNEL}"] }]
`,
        { BASE: '5000', CHANNEL: 'secret-channel' },
      ),
    ).toEqual([
      'herald.processor.retryBaseDelayMs: must not exceed herald.processor.retryMaxDelayMs (1000), got the value of ${BASE} (not shown)',
      'herald.rules[0].notify[0]: no channel named the value of ${CHANNEL} (not shown) in herald.channels (known: chat)',
    ]);
  });

  it('does not quote a template filled from the environment, as template errors quote the template', () => {
    expect(
      problemsOf('notifications: {type: sandbox, emailer: {subject: "${SUBJECT}"}}', {
        SUBJECT: '{{#if token-abc}}',
      }),
    ).toEqual([
      'notifications.emailer.subject: invalid template; the reason is not shown, as it may quote the value of ${SUBJECT}',
    ]);
  });

  it('shows a value that fell back to its default, which is written in the file', () => {
    expect(problemsOf(slackUrl('${SLACK_WEBHOOK_URL:-not-a-url}'))).toEqual([
      "herald.channels.alerts.url: expected a valid http(s) URL, got 'not-a-url'",
    ]);
  });

  it('masks user:password@ and query values of a URL written in the file', () => {
    expect(
      problemsOf(
        `
herald:
  sendgrid: { baseUrl: "https://api:hunter2@sendgrid example.com/v3?key=SG.abc&region=eu" }
  channels:
    hook: { type: webhook, url: "https://bot:hunter2@hooks.example.com/in" }
    pd: { type: pagerduty, routingKeyEnvVar: PD_KEY, url: "ftp://events.example.com/?token=abc" }
`,
      ),
    ).toEqual([
      "herald.sendgrid.baseUrl: expected a valid http(s) URL, got 'https://***@sendgrid example.com/v3?key=***&region=***'",
      "herald.channels.hook.url: expected a URL without user:password@ (requests refuse one; send credentials in a header), got 'https://***@hooks.example.com/in'",
      "herald.channels.pd.url: expected an http or https URL, got 'ftp://events.example.com/?token=***'",
    ]);
  });

  it('checks HERALD_SENDGRID_BASE_URL without showing it', () => {
    expect(problemsOf('notifications: {type: sandbox}', { HERALD_SENDGRID_BASE_URL: 'sendgrid.local/SECRET' })).toEqual(
      [
        'herald.sendgrid.baseUrl: expected a valid http(s) URL, got the value of ${HERALD_SENDGRID_BASE_URL} (not shown)',
      ],
    );
  });
});

describe('channel URLs read from secrets', () => {
  const channels = (yaml: string) => `notifications: {type: sandbox}\nherald:\n  channels:\n${yaml}`;

  it('are checked when the variable is set, naming the key and the variable, not the value', () => {
    const yaml = channels('    alerts: { type: slack, webhookUrlEnvVar: SLACK_WEBHOOK_URL }\n');
    expect(problemsOf(yaml, { SLACK_WEBHOOK_URL: 'hooks.slack.com/services/T000/B000/XXXXSECRETXXXX' })).toEqual([
      'herald.channels.alerts.webhookUrlEnvVar: expected a valid http(s) URL, got the value of ${SLACK_WEBHOOK_URL} (not shown)',
    ]);
  });

  it('are checked when the file can be read, naming the file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'herald-config-'));
    try {
      const file = join(dir, 'hook-url');
      await writeFile(file, 'ftp://hooks.example.com/XXXXSECRETXXXX\n');
      expect(problemsOf(channels(`    hook: { type: webhook, urlFile: "${file}" }\n`))).toEqual([
        `herald.channels.hook.urlFile: expected an http or https URL, got the contents of ${file} (not shown)`,
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('are left for start-up when the secret cannot be read yet, and accepted when valid', () => {
    const yaml = channels(
      '    alerts: { type: slack, webhookUrlEnvVar: SLACK_WEBHOOK_URL }\n    hook: { type: webhook, urlEnvVar: HOOK_URL, urlFile: /nonexistent/hook-url }\n',
    );
    expect(() => parseConfig(yaml, { env: { HOOK_URL: 'https://hooks.example.com/in' } })).not.toThrow();
  });

  it('are required when the file has no url', () => {
    expect(
      problemsOf(channels('    alerts: { type: slack, text: hi }\n    hook: { type: webhook, method: PUT }\n')),
    ).toEqual([
      'herald.channels.alerts.url: expected url, webhookUrlEnvVar or webhookUrlFile',
      'herald.channels.hook.url: expected url, urlEnvVar or urlFile',
    ]);
  });

  it('are checked along with the other problems of a file that does not validate', () => {
    expect(
      problemsOf(channels('    alerts: { type: slack, webhookUrlEnvVar: SLACK_WEBHOOK_URL, colour: red }\n'), {
        SLACK_WEBHOOK_URL: 'not a url',
      }),
    ).toEqual([
      'herald.channels.alerts.colour: unknown key',
      'herald.channels.alerts.webhookUrlEnvVar: expected a valid http(s) URL, got the value of ${SLACK_WEBHOOK_URL} (not shown)',
    ]);
  });
});

describe('secrets', () => {
  const everySecret = `
notifications:
  type: gcp
  gcp: {projectId: p}
  publisher: {topicName: t}
  processor: {queueName: q}
  emailer: {emailServerConfig: {serviceName: sendgrid, apiKeyEnvVar: SENDGRID_API_KEY}}
herald:
  http: {listen: "127.0.0.1:9090", ingest: {enabled: true, tokenEnvVar: INGEST_TOKEN}}
  channels:
    alerts: { type: slack, webhookUrlEnvVar: SLACK_WEBHOOK_URL }
    hook: { type: webhook, urlFile: /nonexistent/hook-url, signingSecretEnvVar: HOOK_SIGNING }
    pager: { type: pagerduty, routingKeyFile: /nonexistent/pd-key }
    tickets: { type: jira, baseUrl: "https://jira.example.com", project: OPS, emailEnvVar: JIRA_EMAIL, apiTokenEnvVar: JIRA_TOKEN }
`;

  it('that cannot be read are all listed when asked for, naming the key and the variable or file', () => {
    expect(problemsOf(everySecret, {}, { checkSecrets: true })).toEqual([
      'notifications.emailer.emailServerConfig.apiKeyEnvVar: environment variable SENDGRID_API_KEY is not set',
      'herald.http.ingest.tokenEnvVar: environment variable INGEST_TOKEN is not set',
      'herald.channels.alerts.webhookUrlEnvVar: environment variable SLACK_WEBHOOK_URL is not set',
      'herald.channels.hook.urlEnvVar: cannot read /nonexistent/hook-url: ENOENT',
      'herald.channels.hook.signingSecretEnvVar: environment variable HOOK_SIGNING is not set',
      'herald.channels.pager.routingKeyEnvVar: cannot read /nonexistent/pd-key: ENOENT',
      'herald.channels.tickets.emailEnvVar: environment variable JIRA_EMAIL is not set',
      'herald.channels.tickets.apiTokenEnvVar: environment variable JIRA_TOKEN is not set',
    ]);
  });

  it('are not read unless asked for', () => {
    expect(() => parseConfig(everySecret, { env: {} })).not.toThrow();
  });

  it('are listed with the other problems of a file that passes the schema', () => {
    const yaml = `notifications: {type: sandbox}\nherald:\n  processor: {retryBaseDelayMs: 5000, retryMaxDelayMs: 1000}\n  channels:\n    alerts: { type: slack, webhookUrlEnvVar: SLACK_WEBHOOK_URL }\n`;
    expect(problemsOf(yaml, {}, { checkSecrets: true })).toEqual([
      'herald.processor.retryBaseDelayMs: must not exceed herald.processor.retryMaxDelayMs (1000), got 5000',
      'herald.channels.alerts.webhookUrlEnvVar: environment variable SLACK_WEBHOOK_URL is not set',
    ]);
  });

  it('are accepted when every one can be read, and never quoted', () => {
    const env = {
      SENDGRID_API_KEY: 'SG.x',
      INGEST_TOKEN: 't',
      SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/x',
      HOOK_SIGNING: 's',
      JIRA_EMAIL: 'bot@example.com',
      JIRA_TOKEN: 'j',
    };
    const yaml = everySecret.replace(/\/nonexistent\//g, '/dev/null/');
    const problems = problemsOf(yaml, env, { checkSecrets: true });
    expect(problems).toEqual([
      'herald.channels.hook.urlEnvVar: cannot read /dev/null/hook-url: ENOTDIR',
      'herald.channels.pager.routingKeyEnvVar: cannot read /dev/null/pd-key: ENOTDIR',
    ]);
    expect(() =>
      parseConfig(
        everySecret
          .replace(/urlFile: \S+,/, 'url: "https://hooks.example.com/in",')
          .replace(/routingKeyFile: \S+ /, 'routingKeyEnvVar: PD_KEY '),
        {
          env: { ...env, PD_KEY: 'k' },
          checkSecrets: true,
        },
      ),
    ).not.toThrow();
  });

  it('include an SMTP password secret that is named but found nowhere', () => {
    const yaml =
      'notifications:\n  type: sandbox\n  emailer: {emailServerConfig: {serviceName: smtp, smtpServer: mail.example.com, smtpPasswordSecretName: smtp_pw}}\n';
    expect(problemsOf(yaml, {}, { checkSecrets: true })).toEqual([
      'notifications.emailer.emailServerConfig.smtpPasswordSecretName: secret not found (looked in FLYTE_SECRET_smtp_pw, smtp_pw, /etc/secrets/smtp_pw)',
    ]);
    expect(() => parseConfig(yaml, { env: { FLYTE_SECRET_smtp_pw: 'pw' }, checkSecrets: true })).not.toThrow();
  });

  it('a channel cannot work without must be named in the file, secrets read or not', () => {
    const yaml = `notifications: {type: sandbox}\nherald:\n  channels:\n    pager: { type: pagerduty }\n    tickets: { type: jira, baseUrl: "https://jira.example.com", project: OPS, emailEnvVar: JIRA_EMAIL }\n`;
    expect(problemsOf(yaml)).toEqual([
      'herald.channels.pager.routingKeyEnvVar: expected routingKeyEnvVar or routingKeyFile (where the integration routing key is read from)',
      'herald.channels.tickets.apiTokenEnvVar: expected apiTokenEnvVar or apiTokenFile (where the API token is read from)',
    ]);
  });
});

describe("a rule's own templates", () => {
  it('are checked as the processor renders them, each problem under the key that holds it', () => {
    expect(
      problemsOf(`
notifications: {type: sandbox}
herald:
  rules:
    - { name: a, email: [a@example.com], subject: "{{#if name}}unclosed" }
    - { name: b, email: [b@example.com], body: "<p>{{> missing}}</p>" }
    - { name: c, email: [c@example.com], subject: "{{ name }} ok", body: "<p>{{ phase }}</p>" }
`),
    ).toEqual([
      expect.stringMatching(/^herald\.rules\[0\]\.subject: /),
      'herald.rules[1].body: The partial missing could not be found',
    ]);
  });
});

describe('compiled templates', () => {
  it('are compiled once per loaded config: the loader checks the templates the processor renders with', () => {
    const config = parseConfig(
      `
notifications: {type: sandbox, emailer: {subject: "Run {{ name }}"}}
herald:
  rules:
    - { name: r, email: [a@example.com], subject: "Rule {{ name }}" }
`,
      { env: {} },
    );
    const templates = compileConfigTemplates(config);
    expect(compileConfigTemplates(config)).toBe(templates);
    const ruleSources = { subject: 'Rule {{ name }}', html: config.emailer.body, text: undefined };
    expect(templates.renderer.compileCachedEmail(ruleSources, 'again')).toBe(
      templates.renderer.compileCachedEmail(ruleSources, 'and again'),
    );
    // Another load is another config, with templates of its own.
    expect(compileConfigTemplates(parseConfig('notifications: {type: sandbox}', { env: {} }))).not.toBe(templates);
  });
});

describe("FlyteAdmin's type: none", () => {
  it('is read as local: no notifications, as FlyteAdmin treats it', () => {
    expect(parseConfig('notifications: {type: none}', { env: {} }).type).toBe('local');
  });
});

describe('herald.store', () => {
  const aws = `notifications: {type: aws, aws: {region: us-east-1}, publisher: {topicName: "arn:aws:sns:us-east-1:1:t"}, processor: {queueName: q, accountId: "1"}}`;

  it('is none for a transport unless written, and for the sandbox a SQLite file in its outbox', () => {
    expect(parseConfig(aws, { env: {} }).store).toBeUndefined();
    expect(
      parseConfig('notifications: {type: sandbox}\nherald: {outbox: {directory: /tmp/box}}', { env: {} }).store,
    ).toEqual({
      url: 'sqlite:/tmp/box/herald.db',
      retentionDays: 14,
    });
  });

  it('reads a relative SQLite path against the config file, and a PostgreSQL URL as written', () => {
    const sqlite = parseConfig(`${aws}\nherald: {store: {url: "sqlite:data/herald.db", retentionDays: 3}}`, {
      env: {},
      baseDir: '/etc/herald',
    });
    expect(sqlite.store).toEqual({ url: 'sqlite:/etc/herald/data/herald.db', retentionDays: 3 });
    const pg = parseConfig(`${aws}\nherald: {store: {url: "postgres://herald@db:5432/herald"}}`, { env: {} });
    expect(pg.store?.url).toBe('postgres://herald@db:5432/herald');
  });

  it('takes a URL with a password from a secret, which validate requires and run reads', () => {
    const yaml = `${aws}\nherald: {store: {urlEnvVar: HERALD_STORE_URL}}`;
    expect(parseConfig(yaml, { env: {} }).store).toEqual({
      urlSecret: { envVar: 'HERALD_STORE_URL', filePath: undefined },
      retentionDays: 14,
    });
    expect(problemsOf(yaml, {}, { checkSecrets: true })).toEqual([
      'herald.store.urlEnvVar: environment variable HERALD_STORE_URL is not set',
    ]);
    expect(problemsOf(`${aws}\nherald: {store: {url: "sqlite:x.db", urlEnvVar: HERALD_STORE_URL}}`)).toEqual([
      'herald.store.url: give one of url, urlEnvVar or urlFile',
    ]);
  });
});
