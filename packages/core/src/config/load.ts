import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import YAML from 'yaml';
import { ConfigError, type ConfigProblem, TemplateError } from '../contract/errors.js';
import { describeIssues, describeValue, formatPath, type ValueDescriber } from '../contract/issues.js';
import { httpUrlProblem } from '../contract/urls.js';
import { type Environment, findSecret } from '../runtime/secrets.js';
import { sampleTemplateContext } from '../templates/context.js';
import { knownPlaceholders, unknownPlaceholders } from '../templates/placeholders.js';
import { type CompiledEmailTemplate, TemplateRenderer } from '../templates/renderer.js';
import { CONFIG_DEFAULTS } from './defaults.js';
import { describeEnvFill, type EnvProvenance, expandEnv } from './env.js';
import type {
  ChannelConfig,
  EmailProvider,
  ResolvedConfig,
  ResolvedHttpConfig,
  ResolvedRule,
  RuleConfig,
  TransportType,
} from './resolved.js';
import { type ConfigFile, configFileSchema } from './schema.js';
import { missingSecrets } from './secret-needs.js';

/** The name a config built from {@link EMBEDDED_SANDBOX_CONFIG} reports as its source. */
export const EMBEDDED_SOURCE = '<embedded sandbox default>';

/** The configuration used when none is given: in-process queue, emails written to ./outbox. */
export const EMBEDDED_SANDBOX_CONFIG = `
notifications:
  type: sandbox
herald:
  outbox:
    directory: ./outbox
`;

/** How much {@link loadConfigFile} and {@link parseConfig} check besides the file itself. */
export interface LoadOptions {
  /**
   * Also read every secret the config names (`herald run` and `herald validate`), so a missing
   * one is listed with the other problems; off for commands that need none (`herald render`).
   * @defaultValue false
   */
  checkSecrets?: boolean;
}

/**
 * Reads, expands, validates and resolves a YAML config file.
 * Relative paths inside it (outbox directory, dead-letter file) are relative to the file.
 * @throws ConfigError listing every problem, each naming its key path.
 */
export function loadConfigFile(
  file: string,
  env: Environment = process.env,
  options: LoadOptions = {},
): ResolvedConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([{ path: '', message: `cannot read config file: ${(err as Error).message}` }], file);
  }
  return parseConfig(text, { ...options, source: file, env, baseDir: dirname(resolve(file)) });
}

/**
 * Like {@link loadConfigFile}, from YAML text.
 * @throws ConfigError listing every problem.
 */
export function parseConfig(
  text: string,
  options: LoadOptions & { source?: string; env?: Environment; baseDir?: string } = {},
): ResolvedConfig {
  const source = options.source ?? EMBEDDED_SOURCE;
  const env = options.env ?? process.env;
  const baseDir = options.baseDir ?? process.cwd();
  const problems: ConfigProblem[] = [];
  const warnings: string[] = [];

  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => ({ path: '', message: `invalid YAML: ${e.message.split('\n')[0]}` })),
      source,
    );
  }
  const raw = doc.toJS() ?? {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError([{ path: '', message: 'expected a mapping at the top of the file' }], source);
  }
  warnAboutTopLevelTypos(raw as Record<string, unknown>, warnings);

  const { value: expanded, fromEnv } = expandEnv(raw, env, problems);
  const show = valueShower(fromEnv);
  const parsed = configFileSchema.safeParse(expanded, { reportInput: true });
  if (!parsed.success) {
    problems.push(...describeIssues(parsed.error.issues, [], show));
    // Templates and channel URLs are checked even when other keys are wrong, so one run lists
    // every problem.
    checkTemplates(templateSourcesOf(expanded), problems, fromEnv);
    checkChannelUrls(valueAt(expanded, 'herald', 'channels'), env, problems);
    checkChannelSecretKeys(valueAt(expanded, 'herald', 'channels'), problems);
    throw new ConfigError(problems, source);
  }
  const config = resolveConfig(parsed.data, { source, env, baseDir, warnings, problems, fromEnv, show });
  checkTemplates(
    {
      subject: config.emailer.subject,
      body: config.emailer.body,
      text: config.emailer.text,
      partials: config.templates.partials,
    },
    problems,
    fromEnv,
  );
  checkChannelTemplates(config, problems, fromEnv);
  checkRuleTemplates(config, problems, fromEnv);
  checkChannelUrls(config.channels, env, problems);
  checkChannelSecretKeys(config.channels, problems);
  if (options.checkSecrets) problems.push(...missingSecrets(config, env));
  if (problems.length > 0) throw new ConfigError(problems, source);
  return config;
}

/**
 * Shows a bad value in a message. One filled from the environment is named by its variable and
 * never shown: it may be a secret (a webhook URL, a token), and messages end up in CI logs.
 * Anything else is shown with the credentials of any URL in it masked.
 */
function valueShower(fromEnv: EnvProvenance): ValueDescriber {
  return (value, path) => {
    const fill = fromEnv.get(formatPath(path));
    return fill ? `${describeEnvFill(fill)} (not shown)` : describeValue(value);
  };
}

/** What resolving needs besides the file: where it is, the environment, and where to report. */
interface ResolveContext {
  source: string;
  env: Environment;
  baseDir: string;
  warnings: string[];
  problems: ConfigProblem[];
  fromEnv: EnvProvenance;
  show: ValueDescriber;
}

function resolveConfig(file: ConfigFile, ctx: ResolveContext): ResolvedConfig {
  const n = file.notifications ?? {};
  const h = file.herald ?? {};
  const d = CONFIG_DEFAULTS;
  const type: TransportType = n.type ?? d.type;
  const server = n.emailer?.emailServerConfig ?? {};

  if (n.region !== undefined) {
    ctx.warnings.push('notifications.region is deprecated: use notifications.aws.region');
  }
  const region = n.aws?.region || n.region || ctx.env.AWS_REGION || ctx.env.AWS_DEFAULT_REGION || '';

  const outboxDirectory = resolve(ctx.baseDir, h.outbox?.directory ?? d.outbox.directory);
  const processing = {
    maxInFlight: h.processor?.maxInFlight ?? d.processor.maxInFlight,
    deliveryTimeoutMs: h.processor?.deliveryTimeoutMs ?? d.processor.deliveryTimeoutMs,
    maxAttempts: h.processor?.maxAttempts ?? d.processor.maxAttempts,
    retryBaseDelayMs: h.processor?.retryBaseDelayMs ?? d.processor.retryBaseDelayMs,
    retryMaxDelayMs: h.processor?.retryMaxDelayMs ?? d.processor.retryMaxDelayMs,
    shutdownGraceMs: h.processor?.shutdownGraceMs ?? d.processor.shutdownGraceMs,
    dedupCapacity: h.processor?.dedupCapacity ?? d.processor.dedupCapacity,
    eventTemplateBudgetMs: h.processor?.eventTemplateBudgetMs ?? d.processor.eventTemplateBudgetMs,
  };
  if (processing.retryBaseDelayMs > processing.retryMaxDelayMs) {
    const max = ctx.show(processing.retryMaxDelayMs, ['herald', 'processor', 'retryMaxDelayMs']);
    const base = ctx.show(processing.retryBaseDelayMs, ['herald', 'processor', 'retryBaseDelayMs']);
    ctx.problems.push({
      path: 'herald.processor.retryBaseDelayMs',
      message: `must not exceed herald.processor.retryMaxDelayMs (${max}), got ${base}`,
    });
  }

  const config: ResolvedConfig = {
    source: ctx.source,
    type,
    aws: { region },
    gcp: { projectId: n.gcp?.projectId ?? '' },
    publisher: { topicName: n.publisher?.topicName ?? '' },
    processor: { queueName: n.processor?.queueName ?? '', accountId: n.processor?.accountId ?? '' },
    reconnect: {
      attempts: n.reconnectAttempts ?? d.reconnectAttempts,
      delaySeconds: n.reconnectDelaySeconds ?? d.reconnectDelaySeconds,
    },
    emailer: {
      provider: chooseEmailProvider(type, server.serviceName, h.emailer?.provider, ctx.problems),
      sender: n.emailer?.sender || d.emailer.sender,
      subject: n.emailer?.subject || d.emailer.subject,
      body: n.emailer?.body || d.emailer.body,
      text: h.emailer?.text,
      defaultRecipients: h.emailer?.defaultRecipients ?? [...d.emailer.defaultRecipients],
      defaultPhases: h.emailer?.defaultPhases ?? [...d.emailer.defaultPhases],
      server: {
        serviceName: server.serviceName,
        apiKeyEnvVar: server.apiKeyEnvVar ?? '',
        apiKeyFilePath: server.apiKeyFilePath ?? '',
        smtpServer: server.smtpServer ?? '',
        smtpPort: server.smtpPort,
        smtpSkipTLSVerify: server.smtpSkipTLSVerify ?? false,
        smtpUsername: server.smtpUsername ?? '',
        smtpPasswordSecretName: server.smtpPasswordSecretName ?? '',
      },
    },
    templates: { partials: { ...(h.templates?.partials ?? {}) } },
    processing,
    sandbox: {
      queueCapacity: h.sandbox?.queueCapacity ?? d.sandbox.queueCapacity,
      deadLetterFile: resolve(ctx.baseDir, h.sandbox?.deadLetterFile ?? join(outboxDirectory, 'dead-letter.jsonl')),
    },
    outbox: { directory: outboxDirectory },
    awsTransport: {
      endpoint: h.aws?.endpoint,
      deadLetterQueueName: h.aws?.deadLetterQueueName ?? `${n.processor?.queueName ?? 'herald'}-dlq`,
      visibilityTimeoutSeconds: h.aws?.visibilityTimeoutSeconds ?? d.aws.visibilityTimeoutSeconds,
      waitTimeSeconds: h.aws?.waitTimeSeconds ?? d.aws.waitTimeSeconds,
      receiveConcurrency: h.aws?.receiveConcurrency ?? d.aws.receiveConcurrency,
      // One more than Herald's own limit: Herald dead-letters with a reason first; the redrive
      // only catches messages that crash the processor before it can settle them.
      maxReceiveCount: h.aws?.maxReceiveCount ?? processing.maxAttempts + 1,
      sesApi: h.aws?.sesApi ?? d.aws.sesApi,
    },
    gcpTransport: {
      deadLetterTopicName: h.gcp?.deadLetterTopicName ?? `${n.publisher?.topicName || 'herald'}-dlq`,
      orderingByExecution: h.gcp?.orderingByExecution ?? d.gcp.orderingByExecution,
      maxOutstandingBytes: h.gcp?.maxOutstandingBytes ?? d.gcp.maxOutstandingBytes,
      ackDeadlineSeconds: h.gcp?.ackDeadlineSeconds ?? d.gcp.ackDeadlineSeconds,
      maxDeliveryAttempts: h.gcp?.maxDeliveryAttempts ?? Math.min(100, Math.max(5, processing.maxAttempts + 1)),
      minimumBackoffSeconds: h.gcp?.minimumBackoffSeconds ?? d.gcp.minimumBackoffSeconds,
      maximumBackoffSeconds: h.gcp?.maximumBackoffSeconds ?? d.gcp.maximumBackoffSeconds,
    },
    sendgrid: { baseUrl: resolveSendGridBaseUrl(h.sendgrid?.baseUrl, ctx) },
    http: resolveHttp(h.http, ctx),
    channels: { ...(h.channels ?? {}) },
    fromEnvironment: new Set(ctx.fromEnv.keys()),
    rules: (h.rules ?? []).map((rule, i) => resolveRule(rule, i, h.channels ?? {}, ctx)),
    warnings: ctx.warnings,
  };
  requireTransportKeys(config, ctx.problems);
  return config;
}

/**
 * The environment wins, so an operator (or a test) can redirect SendGrid without editing the
 * file; the schema checked the file's URL, this checks the environment's.
 */
function resolveSendGridBaseUrl(fromFile: string | undefined, ctx: ResolveContext): string {
  const fromEnv = ctx.env.HERALD_SENDGRID_BASE_URL;
  const problem = fromEnv ? httpUrlProblem(fromEnv) : undefined;
  if (problem) {
    ctx.problems.push({
      path: 'herald.sendgrid.baseUrl',
      message: `${problem}, got the value of \${HERALD_SENDGRID_BASE_URL} (not shown)`,
    });
  }
  return (fromEnv || fromFile || CONFIG_DEFAULTS.sendgrid.baseUrl).replace(/\/+$/, '');
}

function resolveHttp(http: NonNullable<ConfigFile['herald']>['http'], ctx: ResolveContext): ResolvedHttpConfig {
  const { problems, warnings } = ctx;
  const d = CONFIG_DEFAULTS.http;
  const listen = http?.listen === undefined ? undefined : splitHostPort(http.listen);
  const ingest = {
    enabled: http?.ingest?.enabled ?? d.ingest.enabled,
    tokenEnvVar: http?.ingest?.tokenEnvVar,
    maxBodyBytes: http?.ingest?.maxBodyBytes ?? d.ingest.maxBodyBytes,
  };
  // Asking for an endpoint without saying where to serve it is a mistake, not a quiet no-op.
  for (const [key, wanted] of [
    ['ingest.enabled', ingest.enabled],
    ['metrics', http?.metrics === true],
  ] as const) {
    if (wanted && !listen) {
      problems.push({ path: 'herald.http.listen', message: `is required when herald.http.${key} is true` });
    }
  }
  if (listen && ingest.enabled && ingest.tokenEnvVar === undefined && !isLoopback(listen.host)) {
    const fill = ctx.fromEnv.get('herald.http.listen');
    const where = fill ? `herald.http.listen (${describeEnvFill(fill)}, not shown)` : http?.listen;
    warnings.push(`herald.http.ingest has no tokenEnvVar: anyone who can reach ${where} can publish events`);
  }
  return { listen, ingest, metrics: listen !== undefined && (http?.metrics ?? d.metrics) };
}

/** `127.0.0.1:9090` → host and port; `[::1]:9090` → `::1` (as `net.Server.listen` takes it). */
function splitHostPort(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  const host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(address.slice(colon + 1)) };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function resolveRule(
  rule: RuleConfig,
  index: number,
  channels: Record<string, ChannelConfig>,
  ctx: Pick<ResolveContext, 'problems' | 'show'>,
): ResolvedRule {
  const { problems } = ctx;
  const m = rule.match ?? {};
  const at = `herald.rules[${index}]`;
  if (m.onlyPhases && m.only_states) {
    problems.push({ path: `${at}.match.only_states`, message: 'give onlyPhases or only_states, not both' });
  }
  rule.notify?.forEach((name, i) => {
    if (!channels[name]) {
      const known = Object.keys(channels);
      problems.push({
        path: `${at}.notify[${i}]`,
        message: `no channel named ${ctx.show(name, ['herald', 'rules', index, 'notify', i])} in herald.channels${known.length ? ` (known: ${known.join(', ')})` : ''}`,
      });
    }
  });
  if (!rule.notify?.length && !rule.email?.length) {
    problems.push({ path: at, message: 'expected notify (channel names) or email (addresses), or both' });
  }
  return {
    name: rule.name,
    onlyPhases: m.onlyPhases ?? m.only_states,
    ignorePhases: [...(m.ignorePhases ?? []), ...(m.ignore_states ?? [])],
    project: m.project,
    domain: m.domain,
    workflow: m.workflow === undefined ? undefined : globToRegExp(m.workflow),
    labels: { ...(m.labels ?? {}) },
    notify: [...(rule.notify ?? [])],
    email: [...(rule.email ?? [])],
    subject: rule.subject,
    body: rule.body,
  };
}

/** `train-*` → /^train-.*$/: `*` any run of characters, `?` exactly one. */
export function globToRegExp(glob: string): RegExp {
  const escaped = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`);
}

/**
 * FlyteAdmin's choice of emailer: `emailServerConfig.serviceName` wins, else SES for aws.
 * Where FlyteAdmin silently drops email for gcp, Herald asks for an explicit choice.
 */
function chooseEmailProvider(
  type: TransportType,
  serviceName: 'sendgrid' | 'smtp' | undefined,
  explicit: EmailProvider | undefined,
  problems: ConfigProblem[],
): EmailProvider {
  if (explicit) return explicit;
  if (serviceName) return serviceName;
  switch (type) {
    case 'aws':
      return 'ses';
    case 'sandbox':
      return 'outbox';
    case 'local':
      return 'none';
    case 'gcp':
      problems.push({
        path: 'notifications.emailer.emailServerConfig.serviceName',
        message: 'type gcp has no built-in emailer: expected sendgrid or smtp (or set herald.emailer.provider)',
      });
      return 'none';
  }
}

function requireTransportKeys(config: ResolvedConfig, problems: ConfigProblem[]): void {
  const need = (ok: boolean, path: string, what: string) => {
    if (!ok) problems.push({ path, message: `is required for type ${config.type} (${what})` });
  };
  if (config.type === 'aws') {
    need(config.aws.region !== '', 'notifications.aws.region', 'or AWS_REGION in the environment');
    need(config.publisher.topicName !== '', 'notifications.publisher.topicName', 'the SNS topic ARN');
    need(config.processor.queueName !== '', 'notifications.processor.queueName', 'the SQS queue name');
    need(config.processor.accountId !== '', 'notifications.processor.accountId', 'the AWS account owning the queue');
  }
  if (config.type === 'gcp') {
    need(config.gcp.projectId !== '', 'notifications.gcp.projectId', 'the Google Cloud project');
    need(config.publisher.topicName !== '', 'notifications.publisher.topicName', 'the Pub/Sub topic');
    need(config.processor.queueName !== '', 'notifications.processor.queueName', 'the Pub/Sub subscription');
  }
  const server = config.emailer.server;
  if (config.emailer.provider === 'smtp') {
    need(server.smtpServer !== '', 'notifications.emailer.emailServerConfig.smtpServer', 'the SMTP host');
  }
  if (config.emailer.provider === 'sendgrid') {
    need(
      server.apiKeyEnvVar !== '' || server.apiKeyFilePath !== '',
      'notifications.emailer.emailServerConfig.apiKeyEnvVar',
      'or apiKeyFilePath: where the SendGrid API key is read from',
    );
  }
}

/** The renderer and the default email template a config describes. */
export interface ConfigTemplates {
  renderer: TemplateRenderer;
  defaultEmail: CompiledEmailTemplate;
}

/**
 * Compiles the templates a config names. Used by the loader, so a template that does not
 * parse is a config error, and by the processor, which renders with them.
 * @throws TemplateError naming the config key of the bad template.
 */
export function compileConfigTemplates(config: ResolvedConfig): ConfigTemplates {
  const renderer = new TemplateRenderer({
    partials: config.templates.partials,
    eventTemplateBudgetMs: config.processing.eventTemplateBudgetMs,
  });
  const defaultEmail = renderer.compileEmail(
    { subject: config.emailer.subject, html: config.emailer.body, text: config.emailer.text },
    'notifications.emailer',
  );
  return { renderer, defaultEmail };
}

interface TemplateSources {
  subject?: unknown;
  body?: unknown;
  text?: unknown;
  partials?: unknown;
}

function templateSourcesOf(tree: unknown): TemplateSources {
  return {
    subject: valueAt(tree, 'notifications', 'emailer', 'subject'),
    body: valueAt(tree, 'notifications', 'emailer', 'body'),
    text: valueAt(tree, 'herald', 'emailer', 'text'),
    partials: valueAt(tree, 'herald', 'templates', 'partials'),
  };
}

/** The value at a key path of a tree that has not been validated; undefined where it breaks off. */
function valueAt(tree: unknown, ...keys: string[]): unknown {
  return keys.reduce<unknown>((node, key) => (isMapping(node) ? node[key] : undefined), tree);
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/**
 * Compiles each template on its own, so every bad one is reported, then renders the email
 * once against a complete sample event: that also catches a reference to a partial that does
 * not exist, which Handlebars reports only when rendering.
 */
function checkTemplates(sources: TemplateSources, problems: ConfigProblem[], fromEnv: EnvProvenance): void {
  const partials: Record<string, string> = {};
  if (sources.partials && typeof sources.partials === 'object') {
    for (const [name, source] of Object.entries(sources.partials)) {
      if (typeof source !== 'string') continue;
      if (
        record(
          problems,
          fromEnv,
          formatPath(['herald', 'templates', 'partials', name]),
          () => new TemplateRenderer({ partials: { [name]: source } }),
        )
      ) {
        partials[name] = source;
      }
    }
  }
  const renderer = new TemplateRenderer({ partials });
  const str = (v: unknown, fallback: string) => (typeof v === 'string' && v !== '' ? v : fallback);
  const subject = str(sources.subject, CONFIG_DEFAULTS.emailer.subject);
  const body = str(sources.body, CONFIG_DEFAULTS.emailer.body);
  const text = typeof sources.text === 'string' ? sources.text : undefined;
  const sample = sampleTemplateContext();
  record(problems, fromEnv, 'notifications.emailer.subject', () => {
    renderer.compilePlain(subject, 'subject')(sample);
    checkPlaceholders(subject, 'subject');
  });
  record(problems, fromEnv, 'notifications.emailer.body', () => {
    renderer.compileEmail({ subject: '', html: body }, 'body').render(sample);
    checkPlaceholders(body, 'body');
  });
  if (text !== undefined) {
    record(problems, fromEnv, 'herald.emailer.text', () => {
      renderer.compilePlain(text, 'text')(sample);
      checkPlaceholders(text, 'text');
    });
  }
}

/**
 * A placeholder that names nothing renders empty (FlyteAdmin would leave it in the email as
 * written): either way a typo loses the value, so it is a config error.
 * @throws TemplateError listing the unknown placeholders and the known ones.
 */
function checkPlaceholders(source: string, where: string): void {
  const unknown = unknownPlaceholders(source);
  if (unknown.length === 0) return;
  const names = unknown.map((name) => `{{ ${name} }}`).join(', ');
  throw new TemplateError(
    where,
    `unknown placeholder${unknown.length > 1 ? 's' : ''} ${names} (would render empty); the template context has ${knownPlaceholders().join(', ')}`,
  );
}

/** Template-bearing keys of each channel type; JSON templates are checked string by string. */
const CHANNEL_TEMPLATE_KEYS = ['text', 'blocks', 'summary', 'description', 'body'] as const;

/**
 * Compiles and renders every channel template (and every string of a JSON payload template)
 * against the sample event, so `herald validate` catches them without needing the channels'
 * secrets.
 */
function checkChannelTemplates(config: ResolvedConfig, problems: ConfigProblem[], fromEnv: EnvProvenance): void {
  const renderer = new TemplateRenderer({ partials: config.templates.partials });
  const sample = sampleTemplateContext();
  const visit = (value: unknown, path: string): void => {
    if (typeof value === 'string') {
      record(problems, fromEnv, path, () => {
        renderer.compilePlain(value, path)(sample);
        checkPlaceholders(value, path);
      });
    } else if (Array.isArray(value)) {
      for (const [i, item] of value.entries()) visit(item, `${path}[${i}]`);
    } else if (value !== null && typeof value === 'object') {
      for (const [key, item] of Object.entries(value)) visit(item, `${path}.${key}`);
    }
  };
  for (const [name, channel] of Object.entries(config.channels)) {
    for (const key of CHANNEL_TEMPLATE_KEYS) {
      const value = (channel as Record<string, unknown>)[key];
      if (value !== undefined) visit(value, `herald.channels.${name}.${key}`);
    }
  }
}

/**
 * Compiles and renders each rule's own subject and body against the sample event: they are
 * config too, so a bad one is found by `herald validate` rather than dead-lettered at send time.
 */
function checkRuleTemplates(config: ResolvedConfig, problems: ConfigProblem[], fromEnv: EnvProvenance): void {
  const renderer = new TemplateRenderer({ partials: config.templates.partials });
  const sample = sampleTemplateContext();
  for (const [i, rule] of config.rules.entries()) {
    const subject = rule.subject;
    const body = rule.body;
    if (subject !== undefined) {
      record(problems, fromEnv, `herald.rules[${i}].subject`, () => renderer.compilePlain(subject, 'subject')(sample));
    }
    if (body !== undefined) {
      record(problems, fromEnv, `herald.rules[${i}].body`, () =>
        renderer.compileEmail({ subject: '', html: body }, 'body').render(sample),
      );
    }
  }
}

/**
 * Runs `attempt`; a TemplateError becomes a problem at `path`. True when it succeeded. The
 * reason is left out for a template filled from the environment: Handlebars' reasons quote
 * the template around the fault.
 */
function record(problems: ConfigProblem[], fromEnv: EnvProvenance, path: string, attempt: () => unknown): boolean {
  try {
    attempt();
    return true;
  } catch (err) {
    if (!(err instanceof TemplateError)) throw err;
    const fill = fromEnv.get(path);
    problems.push({
      path,
      message: fill
        ? `invalid template; the reason is not shown, as it may quote ${describeEnvFill(fill)}`
        : err.detail,
    });
    return false;
  }
}

/** Where each channel type that reads its URL from a secret names the variable and the file. */
const SECRET_URL_KEYS = {
  slack: { envVar: 'webhookUrlEnvVar', filePath: 'webhookUrlFile' },
  webhook: { envVar: 'urlEnvVar', filePath: 'urlFile' },
} as const;

/**
 * A Slack or webhook channel needs a URL: in the file (`url`, which the schema checks), or from
 * a secret. A secret that can be read now (variable set, file readable) is checked here as the
 * channel will check it before each send, so `herald validate` catches a malformed one; the
 * problem names the key and the variable or file, never the value. A secret that cannot be read
 * here is left for `herald run`, which reads it at start-up. Takes the channels unvalidated, so
 * it also runs when other keys are wrong.
 */
function checkChannelUrls(channels: unknown, env: Environment, problems: ConfigProblem[]): void {
  if (!isMapping(channels)) return;
  const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
  for (const [name, channel] of Object.entries(channels)) {
    if (!isMapping(channel) || channel.url !== undefined) continue;
    const type = text(channel.type);
    if (type === undefined || !Object.hasOwn(SECRET_URL_KEYS, type)) continue;
    const keys = SECRET_URL_KEYS[type as keyof typeof SECRET_URL_KEYS];
    const at = formatPath(['herald', 'channels', name]);
    const sources = { envVar: text(channel[keys.envVar]), filePath: text(channel[keys.filePath]) };
    if (sources.envVar === undefined && sources.filePath === undefined) {
      problems.push({ path: `${at}.url`, message: `expected url, ${keys.envVar} or ${keys.filePath}` });
      continue;
    }
    const secret = findSecret(sources, env);
    const problem = secret && httpUrlProblem(secret.value);
    // findSecret reads only the sources given, so the value came from the variable or the file.
    if (secret && problem) {
      problems.push({
        path: `${at}.${secret.from === 'envVar' ? keys.envVar : keys.filePath}`,
        message: `${problem}, got ${secret.source} (not shown)`,
      });
    }
  }
}

/** Secrets a channel type cannot work without: the key naming the variable, and the file. */
const REQUIRED_SECRET_KEYS: Record<string, ReadonlyArray<{ envVar: string; filePath: string; what: string }>> = {
  pagerduty: [{ envVar: 'routingKeyEnvVar', filePath: 'routingKeyFile', what: 'the integration routing key' }],
  jira: [
    { envVar: 'emailEnvVar', filePath: 'emailFile', what: 'the account email' },
    { envVar: 'apiTokenEnvVar', filePath: 'apiTokenFile', what: 'the API token' },
  ],
};

/**
 * A PagerDuty or Jira channel that names no place for a secret it needs: the file alone shows
 * that `herald run` cannot build it, so the loader refuses it (`herald validate` included).
 * Takes the channels unvalidated, so it also runs when other keys are wrong.
 */
function checkChannelSecretKeys(channels: unknown, problems: ConfigProblem[]): void {
  if (!isMapping(channels)) return;
  for (const [name, channel] of Object.entries(channels)) {
    if (!isMapping(channel) || typeof channel.type !== 'string') continue;
    if (!Object.hasOwn(REQUIRED_SECRET_KEYS, channel.type)) continue;
    for (const keys of REQUIRED_SECRET_KEYS[channel.type] ?? []) {
      if (channel[keys.envVar] !== undefined || channel[keys.filePath] !== undefined) continue;
      problems.push({
        path: formatPath(['herald', 'channels', name, keys.envVar]),
        message: `expected ${keys.envVar} or ${keys.filePath} (where ${keys.what} is read from)`,
      });
    }
  }
}

const KNOWN_TOP_LEVEL = ['notifications', 'herald'];

function warnAboutTopLevelTypos(raw: Record<string, unknown>, warnings: string[]): void {
  for (const key of Object.keys(raw)) {
    if (KNOWN_TOP_LEVEL.includes(key)) continue;
    const near = KNOWN_TOP_LEVEL.find((known) => editDistance(key.toLowerCase(), known) <= 2);
    if (near) warnings.push(`${key}: unknown top-level key ignored (did you mean '${near}'?)`);
  }
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j] as number;
      row[j] = Math.min(above + 1, (row[j - 1] as number) + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length] as number;
}
