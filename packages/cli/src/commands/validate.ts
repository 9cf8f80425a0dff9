import { formatDurationText, type ResolvedConfig, type ResolvedDigest } from '@herald/core/config';

/** The one-paragraph summary `herald validate` prints for a good config. */
export function describeConfig(config: ResolvedConfig): string {
  const lines = [`OK: ${config.source}`, `  type: ${config.type}`, `  emailer: ${config.emailer.provider}`];
  if (config.type === 'aws') {
    lines.push(
      `  region: ${config.aws.region}`,
      `  topic: ${config.publisher.topicName}`,
      `  queue: ${config.processor.queueName} (account ${config.processor.accountId})`,
    );
  }
  if (config.type === 'gcp') {
    lines.push(
      `  project: ${config.gcp.projectId}`,
      `  topic: ${config.publisher.topicName}`,
      `  subscription: ${config.processor.queueName}`,
    );
  }
  if (config.emailer.provider === 'outbox') lines.push(`  outbox: ${config.outbox.directory}`);
  lines.push(`  delivery log: ${describeStore(config.store)}`);
  const { listen, ingest, metrics } = config.http;
  if (listen) {
    const routes = ['/healthz', '/readyz', ...(metrics ? ['/metrics'] : []), ...(ingest.enabled ? ['/v1/events'] : [])];
    const host = listen.host.includes(':') ? `[${listen.host}]` : listen.host;
    const token = ingest.enabled && ingest.tokenEnvVar ? ` (bearer token from ${ingest.tokenEnvVar})` : '';
    lines.push(`  http: ${host}:${listen.port} ${routes.join(' ')}${token}`);
  }
  for (const rule of config.rules) {
    if (rule.digest) lines.push(`  rule ${rule.name}: ${describeDigest(rule.digest)}`);
    if (rule.oncePer) lines.push(`  rule ${rule.name}: once per ${rule.oncePer} and destination`);
    if (rule.rateLimit) {
      const { max, perMs } = rule.rateLimit;
      lines.push(
        `  rule ${rule.name}: at most ${max} per ${formatDurationText(perMs)} per destination, the rest in a digest`,
      );
    }
    if (rule.expect) {
      lines.push(
        `  rule ${rule.name}: alert when an execution is still ${rule.expect.after} after ${formatDurationText(rule.expect.withinMs)}`,
      );
    }
  }
  if (config.eventNotifications.digest) {
    lines.push(`  event notifications: ${describeDigest(config.eventNotifications.digest)}`);
  }
  for (const warning of config.warnings) lines.push(`  warning: ${warning}`);
  return lines.join('\n');
}

/** `digest every 30s by project, immediateFirst, at most 1000`: how a rule folds its notifications. */
export function describeDigest(digest: ResolvedDigest): string {
  const by = digest.groupBy.length > 0 ? ` by ${digest.groupBy.join(', ')}` : '';
  const first = digest.immediateFirst ? ', the first sent at once' : '';
  return `digest every ${formatDurationText(digest.windowMs)}${by}${first}, at most ${digest.max} per digest`;
}

/** Where the delivery log is, never showing a password a URL may hold. */
function describeStore(store: ResolvedConfig['store']): string {
  if (!store) return 'none (deliveries remembered in memory while the process runs)';
  const secret = store.urlSecret;
  if (secret) return `from ${secret.envVar ? `$${secret.envVar}` : secret.filePath} (not shown)`;
  return (store.url ?? '').replace(/\/\/[^@/]*@/, '//***@');
}
