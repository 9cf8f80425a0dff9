import { ConfigError, type ConfigProblem } from '../contract/errors.js';
import { type Environment, findSmtpPassword, readSecretValue, smtpPasswordPlaces } from '../runtime/secrets.js';
import { channelSecretsNeeded, type SecretNeed } from './channel-secrets.js';
import type { ResolvedConfig } from './resolved.js';

export type { SecretNeed };

/**
 * Every secret `herald run` reads when it starts, with the key path it names when one is
 * missing. The channels and emailers read theirs with the same key paths, so `herald validate`
 * and `herald run` refuse a missing secret with the same message. The SMTP password is not
 * listed: FlyteAdmin looks it up in several places (see {@link findSmtpPassword}).
 */
export function secretsNeeded(config: ResolvedConfig): SecretNeed[] {
  const needs: SecretNeed[] = [];
  const server = config.emailer.server;
  if (config.emailer.provider === 'sendgrid') {
    needs.push({
      keyPath: server.apiKeyEnvVar
        ? 'notifications.emailer.emailServerConfig.apiKeyEnvVar'
        : 'notifications.emailer.emailServerConfig.apiKeyFilePath',
      sources: { envVar: server.apiKeyEnvVar || undefined, filePath: server.apiKeyFilePath || undefined },
    });
  }
  const { listen, ingest } = config.http;
  if (listen && ingest.enabled && ingest.tokenEnvVar) {
    needs.push({ keyPath: 'herald.http.ingest.tokenEnvVar', sources: { envVar: ingest.tokenEnvVar } });
  }
  const storeSecret = storeUrlSecret(config);
  if (storeSecret) needs.push(storeSecret);
  for (const [name, channel] of Object.entries(config.channels)) needs.push(...channelSecretsNeeded(name, channel));
  return needs;
}

/** The secret the delivery log's URL is read from, when the file names one. */
function storeUrlSecret(config: Pick<ResolvedConfig, 'store'>): SecretNeed | undefined {
  const sources = config.store?.urlSecret;
  if (!sources) return undefined;
  return { keyPath: sources.envVar ? 'herald.store.urlEnvVar' : 'herald.store.urlFile', sources };
}

/**
 * The delivery log's URL: as written, or read from its secret. Undefined when the config keeps
 * no log (deliveries are remembered in memory).
 * @throws ConfigError naming the key when the secret cannot be read.
 */
export function readStoreUrl(
  config: Pick<ResolvedConfig, 'store'>,
  env: Environment = process.env,
): string | undefined {
  if (!config.store) return undefined;
  const secret = storeUrlSecret(config);
  return secret ? readSecretValue(secret.sources, secret.keyPath, env).value : config.store.url;
}

/**
 * Every secret of {@link secretsNeeded} that cannot be read from `env` and the files now, plus
 * an SMTP password secret that is named but found nowhere, each as a problem naming the key
 * and the variable or file, never a value. Empty when all can be read.
 */
export function missingSecrets(config: ResolvedConfig, env: Environment = process.env): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const need of secretsNeeded(config)) {
    try {
      readSecretValue(need.sources, need.keyPath, env);
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      problems.push(...err.problems);
    }
  }
  const smtpSecret = config.emailer.server.smtpPasswordSecretName;
  if (config.emailer.provider === 'smtp' && smtpSecret && findSmtpPassword(smtpSecret, env) === undefined) {
    // `herald run` sends without a password then, as FlyteAdmin does, and the server refuses
    // every email: a check before deploying should say so.
    problems.push({
      path: 'notifications.emailer.emailServerConfig.smtpPasswordSecretName',
      message: `secret not found (looked in ${smtpPasswordPlaces(smtpSecret).join(', ')})`,
    });
  }
  return problems;
}
