import { join, resolve } from 'node:path';
import { type ConfigProblem, GlobError } from '../contract/errors.js';
import { formatPath, type ValueDescriber } from '../contract/issues.js';
import { isTerminalPhase } from '../contract/phases.js';
import { httpUrlProblem } from '../contract/urls.js';
import type { Environment } from '../runtime/secrets.js';
import { CONFIG_DEFAULTS } from './defaults.js';
import { parseDuration } from './durations.js';
import { describeEnvFill, type EnvProvenance } from './env.js';
import { compileGlob } from './glob.js';
import type {
  ChannelConfig,
  EmailProvider,
  ResolvedConfig,
  ResolvedDigest,
  ResolvedHttpConfig,
  ResolvedRule,
  ResolvedTracingConfig,
  RuleConfig,
  TransportType,
} from './resolved.js';
import type { ConfigFile, DigestConfig } from './schema.js';

/** What resolving needs besides the file: where it is, the environment, and where to report. */
export interface ResolveContext {
  source: string;
  env: Environment;
  baseDir: string;
  warnings: string[];
  problems: ConfigProblem[];
  fromEnv: EnvProvenance;
  show: ValueDescriber;
}

/**
 * The file's settings with every default filled in, in the shape the rest of Herald reads.
 * Rules the file alone breaks (a missing key a transport needs, a rule naming no channel) are
 * added to `ctx.problems`.
 */
export function resolveConfig(file: ConfigFile, ctx: ResolveContext): ResolvedConfig {
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
    input: h.processor?.input ?? d.processor.input,
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
    store: resolveStore(h.store, type, outboxDirectory, ctx),
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
    tracing: resolveTracing(h.tracing, ctx),
    channels: { ...(h.channels ?? {}) },
    fromEnvironment: new Set(ctx.fromEnv.keys()),
    rules: (h.rules ?? []).map((rule, i) => resolveRule(rule, i, h.channels ?? {}, ctx)),
    eventNotifications: { digest: resolveDigest(h.eventNotifications?.digest) },
    warnings: ctx.warnings,
  };
  requireTransportKeys(config, ctx.problems);
  requireStoreForDigests(config, ctx.problems);
  requireUniqueRuleNames(config, ctx.problems);
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

/**
 * `herald.tracing` over OpenTelemetry's standard variables: OTEL_SDK_DISABLED turns tracing off
 * whatever the file says (the operator's switch); otherwise the file decides, and without it
 * OTEL_TRACES_EXPORTER=otlp, or an OTLP endpoint with no exporter named, turns tracing on.
 * Herald exports by OTLP only (any collector or vendor takes it): another exporter named is
 * warned about rather than silently ignored.
 */
function resolveTracing(
  tracing: NonNullable<ConfigFile['herald']>['tracing'],
  ctx: ResolveContext,
): ResolvedTracingConfig {
  const { env } = ctx;
  const named = (env.OTEL_TRACES_EXPORTER ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name !== '');
  const others = named.filter((name) => name !== 'otlp' && name !== 'none');
  if (others.length > 0) {
    ctx.warnings.push(
      `OTEL_TRACES_EXPORTER names ${others.join(', ')}: Herald exports traces by otlp only (point it at a collector)`,
    );
  }
  // The OTLP exporter Herald carries speaks HTTP with JSON bodies; a collector's gRPC port (4317)
  // would answer it with nothing but errors.
  for (const name of ['OTEL_EXPORTER_OTLP_PROTOCOL', 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL']) {
    const protocol = env[name]?.trim();
    if (protocol && protocol !== 'http/json') {
      ctx.warnings.push(
        `${name}=${protocol}: Herald sends OTLP over HTTP with JSON bodies (a collector's port 4318), not ${protocol}`,
      );
    }
  }
  const onByEnvironment =
    named.length > 0
      ? named.includes('otlp')
      : !!(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT || env.OTEL_EXPORTER_OTLP_ENDPOINT);
  const sdkDisabled = env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true';
  return {
    enabled: !sdkDisabled && (tracing?.enabled ?? onByEnvironment),
    endpoint: tracing?.endpoint,
    serviceName: tracing?.serviceName,
    sampleRatio: tracing?.sampleRatio,
  };
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
  if (rule.expect?.after !== undefined && isTerminalPhase(rule.expect.after)) {
    problems.push({
      path: `${at}.expect.after`,
      message: `${rule.expect.after} ends an execution: expect waits from a phase it goes on from (RUNNING, QUEUED)`,
    });
  }
  if (!rule.notify?.length && !rule.email?.length) {
    problems.push({ path: at, message: 'expected notify (channel names) or email (addresses), or both' });
  }
  return {
    name: rule.name,
    onlyPhases: m.onlyPhases ?? m.only_states,
    ignorePhases: [...(m.ignorePhases ?? []), ...(m.ignore_states ?? [])],
    project: m.project,
    domain: m.domain,
    workflow:
      m.workflow === undefined
        ? undefined
        : workflowGlob(m.workflow, ['herald', 'rules', index, 'match', 'workflow'], ctx),
    labels: { ...(m.labels ?? {}) },
    notify: [...(rule.notify ?? [])],
    email: [...(rule.email ?? [])],
    subject: rule.subject,
    body: rule.body,
    digest: resolveDigest(rule.digest),
    expect: rule.expect && {
      after: rule.expect.after ?? 'RUNNING',
      withinMs: parseDuration(rule.expect.within) ?? 0,
      subject: rule.expect.subject,
      body: rule.expect.body,
    },
    oncePer: rule.oncePer,
    rateLimit: rule.rateLimit && { max: rule.rateLimit.max, perMs: parseDuration(rule.rateLimit.per) ?? 0 },
  };
}

function resolveDigest(digest: DigestConfig | undefined): ResolvedDigest | undefined {
  if (!digest) return undefined;
  return {
    windowMs: parseDuration(digest.window ?? CONFIG_DEFAULTS.digest.window) ?? 0,
    groupBy: [...new Set(digest.groupBy ?? [])],
    max: digest.max ?? CONFIG_DEFAULTS.digest.max,
    immediateFirst: digest.immediateFirst ?? false,
    subject: digest.subject,
    body: digest.body,
  };
}

/**
 * A rule's name is its identity where it keeps state (its digests, its `expect` watches, its
 * send-once keys) and in logs: two rules of one name would share them.
 */
function requireUniqueRuleNames(config: ResolvedConfig, problems: ConfigProblem[]): void {
  const first = new Map<string, number>();
  config.rules.forEach((rule, i) => {
    const earlier = first.get(rule.name);
    if (earlier === undefined) first.set(rule.name, i);
    else
      problems.push({ path: `herald.rules[${i}].name`, message: `'${rule.name}' names herald.rules[${earlier}] too` });
  });
}

/**
 * A digest holds events in the delivery log until its window ends, so that it survives a
 * restart and exactly one replica sends it: without a store there is nowhere to hold them.
 */
function requireStoreForDigests(config: ResolvedConfig, problems: ConfigProblem[]): void {
  if (config.store || config.type === 'local') return;
  const needs = 'digests are held in the delivery log: set herald.store (sqlite:… or postgres://…)';
  config.rules.forEach((rule, i) => {
    if (rule.digest) problems.push({ path: `herald.rules[${i}].digest`, message: needs });
    if (rule.expect) {
      problems.push({
        path: `herald.rules[${i}].expect`,
        message: 'executions are watched in the delivery log: set herald.store (sqlite:… or postgres://…)',
      });
    }
    if (rule.oncePer) {
      problems.push({
        path: `herald.rules[${i}].oncePer`,
        message: 'send-once keys are kept in the delivery log: set herald.store (sqlite:… or postgres://…)',
      });
    }
    if (rule.rateLimit) {
      problems.push({
        path: `herald.rules[${i}].rateLimit`,
        message: 'rate limits count in the delivery log, across replicas: set herald.store (sqlite:… or postgres://…)',
      });
    }
  });
  if (config.eventNotifications.digest) problems.push({ path: 'herald.eventNotifications.digest', message: needs });
}

/** A rule's workflow glob, compiled once; one that does not compile is a problem at its key. */
function workflowGlob(
  pattern: string,
  path: (string | number)[],
  ctx: Pick<ResolveContext, 'problems' | 'show'>,
): RegExp | undefined {
  try {
    return compileGlob(pattern);
  } catch (err) {
    if (!(err instanceof GlobError)) throw err;
    ctx.problems.push({ path: formatPath(path), message: `${err.message}, got ${ctx.show(pattern, path)}` });
    return undefined;
  }
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

/**
 * The delivery log: as written; for the sandbox, a SQLite file in its outbox directory when
 * none is written; otherwise none (memory). A relative SQLite path is relative to the file.
 */
function resolveStore(
  store: NonNullable<ConfigFile['herald']>['store'],
  type: TransportType,
  outboxDirectory: string,
  ctx: Pick<ResolveContext, 'baseDir' | 'problems'>,
): ResolvedConfig['store'] {
  const retentionDays = store?.retentionDays ?? CONFIG_DEFAULTS.store.retentionDays;
  const named = [store?.url, store?.urlEnvVar, store?.urlFile].filter((v) => v !== undefined).length;
  if (named > 1) {
    ctx.problems.push({ path: 'herald.store.url', message: 'give one of url, urlEnvVar or urlFile' });
  }
  if (store?.urlEnvVar !== undefined || store?.urlFile !== undefined) {
    const filePath = store.urlFile === undefined ? undefined : resolve(ctx.baseDir, store.urlFile);
    return { urlSecret: { envVar: store.urlEnvVar, filePath }, retentionDays };
  }
  if (store?.url !== undefined) return { url: anchorSqlitePath(store.url, ctx.baseDir), retentionDays };
  if (type === 'sandbox') {
    return { url: `sqlite:${join(outboxDirectory, CONFIG_DEFAULTS.store.sandboxFile)}`, retentionDays };
  }
  return undefined;
}

/** `sqlite:data/herald.db` → `sqlite:/etc/herald/data/herald.db` for a config in /etc/herald. */
function anchorSqlitePath(url: string, baseDir: string): string {
  const sqlite = /^sqlite:(?!\/\/)(.+)$/i.exec(url);
  if (!sqlite || sqlite[1] === ':memory:') return url;
  return `sqlite:${resolve(baseDir, sqlite[1] as string)}`;
}
