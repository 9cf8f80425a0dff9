import type { ConfigProblem } from '../contract/errors.js';
import { formatPath } from '../contract/issues.js';
import { httpUrlProblem } from '../contract/urls.js';
import { type Environment, findSecret } from '../runtime/secrets.js';
import { channelSecretKeysOf } from './channel-secrets.js';
import { isMapping } from './tree.js';

/**
 * What the file alone shows about each channel's secrets, checked where the rest of the config
 * is checked so that `herald validate` refuses what `herald run` would:
 * - a secret the channel cannot work without whose keys are both left out;
 * - a Slack or webhook URL kept in a secret that can be read now (variable set, file readable)
 *   and is malformed, as the channel would find before each send. The problem names the key and
 *   the variable or file, never the value. A secret that cannot be read here is left for
 *   `herald run`, which reads it at start-up (and `herald validate` without `--skip-secrets`).
 * Takes the channels unvalidated, so it also runs when other keys are wrong.
 */
export function checkChannelSecrets(channels: unknown, env: Environment, problems: ConfigProblem[]): void {
  if (!isMapping(channels)) return;
  for (const [name, channel] of Object.entries(channels)) {
    if (!isMapping(channel)) continue;
    const at = formatPath(['herald', 'channels', name]);
    const { unnamed, urlSecret } = channelSecretKeysOf(channel);
    for (const { key, message } of unnamed) problems.push({ path: `${at}.${key}`, message });
    if (!urlSecret) continue;
    const secret = findSecret(urlSecret.sources, env);
    const problem = secret && httpUrlProblem(secret.value);
    // findSecret reads only the sources given, so the value came from the variable or the file.
    if (secret && problem) {
      problems.push({
        path: `${at}.${secret.from === 'envVar' ? urlSecret.envVarKey : urlSecret.filePathKey}`,
        message: `${problem}, got ${secret.source} (not shown)`,
      });
    }
  }
}
