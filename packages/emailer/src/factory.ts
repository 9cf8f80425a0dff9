import { HeraldError } from '@herald/core';
import type { ResolvedConfig } from '@herald/core/config';
import {
  type Environment,
  findSmtpPassword,
  type Logger,
  readSecret,
  silentLogger,
  smtpPasswordPlaces,
} from '@herald/core/runtime';
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

/**
 * The SMTP password, looked up as FlyteAdmin does ({@link findSmtpPassword}). Like FlyteAdmin, a
 * secret that is not found means no password; Herald says so in the log (`herald validate`
 * reports it as an error).
 */
function smtpPassword(name: string, env: Environment, logger: Logger): string | undefined {
  const password = findSmtpPassword(name, env);
  if (password === undefined) {
    logger.warn(
      { secret: name },
      `SMTP password secret '${name}' not found (${smtpPasswordPlaces(name).join(', ')}): sending without a password`,
    );
  }
  return password;
}
