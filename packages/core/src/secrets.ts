import { readFileSync } from 'node:fs';
import { ConfigError } from './errors.js';

/** Where a secret is configured to come from: an environment variable, else a file. */
export interface SecretSources {
  envVar?: string;
  filePath?: string;
}

/** A secret and where it was read from, so a message can name the place instead of the value. */
export interface SecretValue {
  readonly value: string;
  /** Which of the sources held it. */
  readonly from: 'envVar' | 'filePath';
  /** `the value of ${SLACK_WEBHOOK_URL}` or `the contents of /run/secrets/slack`. */
  readonly source: string;
}

/**
 * Reads a secret the way FlyteAdmin's config names it: from the environment variable `envVar`,
 * else from the file `filePath` (trailing newline removed). A secret that is named but missing
 * is a configuration error (exit 2) naming the key — never a crash at the first send. The
 * secret itself never appears in a message.
 */
export function readSecret(
  sources: SecretSources,
  keyPath: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): string {
  return readSecretValue(sources, keyPath, env).value;
}

/**
 * Like {@link readSecret}, saying where the secret came from.
 * @throws ConfigError naming `keyPath` when the secret is missing.
 */
export function readSecretValue(
  sources: SecretSources,
  keyPath: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): SecretValue {
  if (sources.envVar) {
    const value = env[sources.envVar];
    if (value) return fromEnv(sources.envVar, value);
    if (!sources.filePath) {
      throw new ConfigError([{ path: keyPath, message: `environment variable ${sources.envVar} is not set` }]);
    }
  }
  if (sources.filePath) {
    try {
      const value = readTrimmed(sources.filePath);
      if (value) return fromFile(sources.filePath, value);
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

/**
 * The secret {@link readSecret} would read, when it can be read now; undefined when it cannot
 * (variable unset, file missing or empty). For checks at validate time, which may run where
 * the secrets are not mounted and must not fail for that.
 */
export function findSecret(
  sources: SecretSources,
  env: Readonly<Record<string, string | undefined>> = process.env,
): SecretValue | undefined {
  const value = sources.envVar ? env[sources.envVar] : undefined;
  if (sources.envVar && value) return fromEnv(sources.envVar, value);
  if (!sources.filePath) return undefined;
  try {
    const contents = readTrimmed(sources.filePath);
    return contents ? fromFile(sources.filePath, contents) : undefined;
  } catch {
    return undefined;
  }
}

// Mounted secrets often end with a newline; surrounding whitespace is never part of one.
function readTrimmed(filePath: string): string {
  return readFileSync(filePath, 'utf8').trim();
}

function fromEnv(name: string, value: string): SecretValue {
  return { value, from: 'envVar', source: `the value of \${${name}}` };
}

function fromFile(filePath: string, value: string): SecretValue {
  return { value, from: 'filePath', source: `the contents of ${filePath}` };
}
