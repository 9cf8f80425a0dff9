import type { ResolvedConfig } from '@herald/core/config';
import type { Logger } from '@herald/core/runtime';
import type { TracingSession } from './tracing.js';
import { cliVersion } from './version.js';

/**
 * Starts tracing for a command when the config (or the OTEL_* variables) turn it on; undefined
 * otherwise, having loaded nothing of OpenTelemetry. The caller shuts the session down when the
 * command ends, so the last spans are sent.
 */
export async function openTracing(config: ResolvedConfig, logger: Logger): Promise<TracingSession | undefined> {
  if (!config.tracing.enabled) return undefined;
  const { startTracing } = await import('./tracing.js');
  const gcpProjectId = config.type === 'gcp' ? config.gcp.projectId : process.env.GOOGLE_CLOUD_PROJECT;
  const session = startTracing(config.tracing, { logger, version: cliVersion(), gcpProjectId });
  logger.debug({ endpoint: config.tracing.endpoint }, 'tracing on');
  return session;
}
