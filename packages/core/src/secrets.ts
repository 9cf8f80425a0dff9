import { readFileSync } from 'node:fs';
import { ConfigError } from './errors.js';

/**
 * Reads a secret the way FlyteAdmin's config names it: from the environment variable `envVar`,
 * else from the file `filePath` (trailing newline removed). A secret that is named but missing
 * is a configuration error (exit 2) naming the key — never a crash at the first send. The
 * secret itself never appears in a message.
 */
export function readSecret(
  sources: { envVar?: string; filePath?: string },
  keyPath: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): string {
  if (sources.envVar) {
    const value = env[sources.envVar];
    if (value) return value;
    if (!sources.filePath) {
      throw new ConfigError([{ path: keyPath, message: `environment variable ${sources.envVar} is not set` }]);
    }
  }
  if (sources.filePath) {
    try {
      // Mounted secrets often end with a newline; surrounding whitespace is never part of one.
      const value = readFileSync(sources.filePath, 'utf8').trim();
      if (value) return value;
      throw new ConfigError([{ path: keyPath, message: `file ${sources.filePath} is empty` }]);
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      throw new ConfigError([
        {
          path: keyPath,
          message: `cannot read ${sources.filePath}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
        },
      ]);
    }
  }
  throw new ConfigError([{ path: keyPath, message: 'no secret configured' }]);
}
