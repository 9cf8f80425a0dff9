import {
  type Environment,
  HeraldError,
  type Logger,
  type ResolvedConfig,
  readSecret,
  silentLogger,
} from '@herald/core';
import type { Emailer } from './emailer.js';
import { OutboxEmailer } from './outbox.js';

import { SendGridEmailer } from './sendgrid.js';
import { SesEmailer } from './ses.js';
import { SmtpEmailer } from './smtp.js';

/**
 * The emailer a config chooses (`config.emailer.provider`, resolved by the loader the way
 * FlyteAdmin chooses: `emailServerConfig.serviceName`, else SES for aws, the outbox for sandbox).
 * @returns undefined when email is disabled (`type: local`).
 * @throws ConfigError (exit 2) when a secret it names is missing.
 */
export function createEmailer(
  config: ResolvedConfig,
  env: Environment = process.env,
  logger: Logger = silentLogger,
): Emailer | undefined {
  switch (config.emailer.provider) {
    case 'outbox':
      return new OutboxEmailer({ directory: config.outbox.directory });
    case 'ses':
      return new SesEmailer({
        region: config.aws.region,
        endpoint: config.awsTransport.endpoint,
        api: config.awsTransport.sesApi,
      });
    case 'sendgrid': {
      const server = config.emailer.server;
      return new SendGridEmailer({
        apiKey: readSecret(
          { envVar: server.apiKeyEnvVar, filePath: server.apiKeyFilePath },
          server.apiKeyEnvVar
            ? 'notifications.emailer.emailServerConfig.apiKeyEnvVar'
            : 'notifications.emailer.emailServerConfig.apiKeyFilePath',
          env,
        ),
        baseUrl: config.sendgrid.baseUrl,
      });
    }
    case 'smtp': {
      const server = config.emailer.server;
      const secret = server.smtpPasswordSecretName;
      return new SmtpEmailer({
        host: server.smtpServer,
        port: server.smtpPort ?? 587,
        skipTlsVerify: server.smtpSkipTLSVerify,
        username: server.smtpUsername || undefined,
        password: secret ? smtpPassword(secret, env, logger) : undefined,
        timeoutMs: Math.max(1000, config.processing.deliveryTimeoutMs - 1000),
      });
    }
    case 'none':
      return undefined;
    default:
      throw new HeraldError(
        `email provider '${config.emailer.provider}' is not available in this version of Herald; ` +
          'use type: sandbox (outbox), type: aws (SES), or set herald.emailer.provider',
      );
  }
}

/** Where FlyteAdmin's secret manager mounts secrets. */
const FLYTE_SECRETS_DIR = '/etc/secrets';

/**
 * FlyteAdmin's lookup of `smtpPasswordSecretName`: the environment variable
 * `FLYTE_SECRET_<name>`, then the file `/etc/secrets/<name>`. Herald also accepts the variable
 * `<name>` itself and an absolute file path. Like FlyteAdmin, a secret that is not found means
 * no password; Herald says so in the log.
 */
function smtpPassword(name: string, env: Environment, logger: Logger): string | undefined {
  const fromEnv = env[`FLYTE_SECRET_${name}`] ?? env[name];
  if (fromEnv) return fromEnv.trim();
  for (const file of name.startsWith('/') ? [name] : [`${FLYTE_SECRETS_DIR}/${name}`]) {
    try {
      return readSecret({ filePath: file }, 'notifications.emailer.emailServerConfig.smtpPasswordSecretName', env);
    } catch {
      // not there: try the next place
    }
  }
  logger.warn(
    { secret: name },
    `SMTP password secret '${name}' not found (FLYTE_SECRET_${name}, ${name}, ${FLYTE_SECRETS_DIR}/${name}): sending without a password`,
  );
  return undefined;
}
