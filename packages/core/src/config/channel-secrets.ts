import type { SecretSources } from '../runtime/secrets.js';
import type { ChannelConfig, ChannelType } from './schema.js';

/** One secret a config tells `herald run` to read, and the key a message about it names. */
export interface SecretNeed {
  /** `herald.channels.pager.routingKeyEnvVar`: the key named when the secret is missing. */
  readonly keyPath: string;
  readonly sources: SecretSources;
}

/** The two keys that say where a channel's secret is read from, and when it is needed. */
interface ChannelSecretKeys {
  /** The key naming the environment variable (`routingKeyEnvVar`). */
  readonly envVar: string;
  /** The key naming the file (`routingKeyFile`). */
  readonly filePath: string;
  /** What the secret is, for a message saying where it must be read from. */
  readonly what: string;
  /**
   * `always`: the channel cannot work without it. `instead-of-url`: a URL kept secret, needed
   * when `url:` is not written. `if-named`: optional, read when either key is given.
   */
  readonly when: 'always' | 'instead-of-url' | 'if-named';
}

/**
 * Every secret of every channel type, in one place: the loader checks the keys with it,
 * `herald validate` lists what `herald run` will read with it, and each channel reads its
 * secrets through {@link channelSecret}, so all three name the same keys.
 */
const CHANNEL_SECRETS = {
  slack: {
    url: { envVar: 'webhookUrlEnvVar', filePath: 'webhookUrlFile', what: 'the webhook URL', when: 'instead-of-url' },
  },
  webhook: {
    url: { envVar: 'urlEnvVar', filePath: 'urlFile', what: 'the URL', when: 'instead-of-url' },
    signingSecret: {
      envVar: 'signingSecretEnvVar',
      filePath: 'signingSecretFile',
      what: 'the signing secret',
      when: 'if-named',
    },
  },
  pagerduty: {
    routingKey: {
      envVar: 'routingKeyEnvVar',
      filePath: 'routingKeyFile',
      what: 'the integration routing key',
      when: 'always',
    },
  },
  jira: {
    email: { envVar: 'emailEnvVar', filePath: 'emailFile', what: 'the account email', when: 'always' },
    apiToken: { envVar: 'apiTokenEnvVar', filePath: 'apiTokenFile', what: 'the API token', when: 'always' },
  },
} as const satisfies Record<ChannelType, Record<string, ChannelSecretKeys>>;

/** The secrets a channel type has: `routingKey` for PagerDuty, `url` for Slack … */
export type ChannelSecretRole<T extends ChannelType> = keyof (typeof CHANNEL_SECRETS)[T] & string;

type Fields = Readonly<Record<string, unknown>>;

function keysOf(type: string): ReadonlyArray<readonly [string, ChannelSecretKeys]> {
  return Object.hasOwn(CHANNEL_SECRETS, type) ? Object.entries(CHANNEL_SECRETS[type as ChannelType]) : [];
}

function needOf(name: string, keys: ChannelSecretKeys, channel: Fields): SecretNeed {
  const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
  return {
    keyPath: `herald.channels.${name}.${keys.envVar}`,
    sources: { envVar: text(channel[keys.envVar]), filePath: text(channel[keys.filePath]) },
  };
}

/** Where channel `name` reads its secret `role` from, and the key named when it is missing. */
export function channelSecret<C extends ChannelConfig>(
  name: string,
  channel: C,
  role: ChannelSecretRole<C['type']>,
): SecretNeed {
  const keys = (CHANNEL_SECRETS[channel.type] as Readonly<Record<string, ChannelSecretKeys>>)[role];
  if (!keys) throw new Error(`channel type ${channel.type} has no secret ${role}`);
  return needOf(name, keys, channel);
}

/** The secrets channel `name` will read when it is built, as configured. */
export function channelSecretsNeeded(name: string, channel: ChannelConfig): SecretNeed[] {
  const fields: Fields = channel;
  return keysOf(channel.type)
    .filter(([, keys]) => {
      const named = fields[keys.envVar] !== undefined || fields[keys.filePath] !== undefined;
      if (keys.when === 'instead-of-url') return fields.url === undefined;
      return keys.when === 'always' || named;
    })
    .map(([, keys]) => needOf(name, keys, fields));
}

/** A secret key pair that an unvalidated channel leaves out though the channel needs it. */
export interface UnnamedSecret {
  /** The key a problem names: `url` for a URL kept secret, else the variable's key. */
  readonly key: string;
  readonly message: string;
}

/**
 * For a channel not yet validated: the secrets it needs for which neither key is given (the
 * file alone shows that `herald run` cannot build it), and the URL secret it names, if any.
 */
export function channelSecretKeysOf(channel: Fields): {
  unnamed: UnnamedSecret[];
  urlSecret: { envVarKey: string; filePathKey: string; sources: SecretSources } | undefined;
} {
  const unnamed: UnnamedSecret[] = [];
  let urlSecret: { envVarKey: string; filePathKey: string; sources: SecretSources } | undefined;
  const type = typeof channel.type === 'string' ? channel.type : '';
  for (const [, keys] of keysOf(type)) {
    const named = channel[keys.envVar] !== undefined || channel[keys.filePath] !== undefined;
    if (keys.when === 'instead-of-url') {
      if (channel.url !== undefined) continue;
      if (!named) {
        unnamed.push({ key: 'url', message: `expected url, ${keys.envVar} or ${keys.filePath}` });
        continue;
      }
      urlSecret = { envVarKey: keys.envVar, filePathKey: keys.filePath, sources: needOf('', keys, channel).sources };
    } else if (keys.when === 'always' && !named) {
      unnamed.push({
        key: keys.envVar,
        message: `expected ${keys.envVar} or ${keys.filePath} (where ${keys.what} is read from)`,
      });
    }
  }
  return { unnamed, urlSecret };
}
