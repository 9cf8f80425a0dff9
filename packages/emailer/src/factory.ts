import { HeraldError, type ResolvedConfig } from '@herald/core';
import type { Emailer } from './emailer.js';
import { OutboxEmailer } from './outbox.js';
import { SesEmailer } from './ses.js';

/**
 * The emailer a config chooses (`config.emailer.provider`, resolved by the loader the way
 * FlyteAdmin chooses: `emailServerConfig.serviceName`, else SES for aws, the outbox for sandbox).
 * @returns undefined when email is disabled (`type: local`).
 * @throws HeraldError when the chosen provider is not part of this build.
 */
export function createEmailer(config: ResolvedConfig): Emailer | undefined {
  switch (config.emailer.provider) {
    case 'outbox':
      return new OutboxEmailer({ directory: config.outbox.directory });
    case 'ses':
      return new SesEmailer({
        region: config.aws.region,
        endpoint: config.awsTransport.endpoint,
        api: config.awsTransport.sesApi,
      });
    case 'none':
      return undefined;
    default:
      throw new HeraldError(
        `email provider '${config.emailer.provider}' is not available in this version of Herald; ` +
          'use type: sandbox (outbox), type: aws (SES), or set herald.emailer.provider',
      );
  }
}
