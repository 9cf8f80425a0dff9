import {
  EMBEDDED_SANDBOX_CONFIG,
  type LoadOptions,
  loadConfigFile,
  parseConfig,
  type ResolvedConfig,
} from '@herald/core/config';

// Only the config's reading: `herald validate` imports this and nothing of the publisher, whose
// event parsing is in event-files.ts.

/**
 * The config from `--config`, or the embedded sandbox default when none is given (it names no
 * secrets). With `checkSecrets`, a secret that cannot be read is one more problem listed.
 */
export function readConfig(file: string | undefined, options: LoadOptions = {}): ResolvedConfig {
  return file ? loadConfigFile(file, process.env, options) : parseConfig(EMBEDDED_SANDBOX_CONFIG);
}
