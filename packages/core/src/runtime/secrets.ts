import { readFileSync } from 'node:fs';
import { ConfigError } from '../contract/errors.js';

/** Where environment variables are read from; tests pass their own. */
export type Environment = Readonly<Record<string, string | undefined>>;

/** Where a secret is configured to come from: an environment variable, else a file. */
export interface SecretSources {
  envVar?: string;
  filePath?: string;
}

/** A secret and where it was read from, so a message can name the place instead of the value. */
export interface SecretValue {
  readonly value: string;
  /** Which of the sources held it; `config` for a value written in the config file itself. */
  readonly from: 'envVar' | 'filePath' | 'config';
  /**
   * Whether the value must be masked wherever it is shown: always for a secret source, and for
   * a value written in the config when `\${VAR}` filled it (the variable may hold a secret).
   */
  readonly masked: boolean;
  /** `the value of ${SLACK_WEBHOOK_URL}` or `the contents of /run/secrets/slack`. */
  readonly source: string;
}

/**
 * Reads a secret the way FlyteAdmin's config names it: from the environment variable `envVar`,
 * else from the file `filePath` (trailing newline removed). A secret that is named but missing
 * is a configuration error (exit 2) naming the key — never a crash at the first send. The
 * secret itself never appears in a message.
 */
export function readSecret(sources: SecretSources, keyPath: string, env: Environment = process.env): string {
  return readSecretValue(sources, keyPath, env).value;
}

/**
 * Like {@link readSecret}, saying where the secret came from.
 * @throws ConfigError naming `keyPath` when the secret is missing.
 */
export function readSecretValue(sources: SecretSources, keyPath: string, env: Environment = process.env): SecretValue {
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
export function findSecret(sources: SecretSources, env: Environment = process.env): SecretValue | undefined {
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
  return { value, from: 'envVar', source: `the value of \${${name}}`, masked: true };
}

function fromFile(filePath: string, value: string): SecretValue {
  return { value, from: 'filePath', source: `the contents of ${filePath}`, masked: true };
}

/**
 * How a channel gets the values it may not show: `herald run` reads the secrets
 * ({@link secretReader}), `herald render` must work where none is mounted
 * ({@link secretStandIns}).
 */
export interface SecretReader {
  /**
   * The secret configured at `sources`.
   * @throws ConfigError naming `keyPath` when it cannot be read.
   */
  read(sources: SecretSources, keyPath: string): SecretValue;
  /** A value written in the config at `keyPath` (a plain `url:`), masked if the environment filled it. */
  written(value: string, keyPath: string): SecretValue;
}

/**
 * Reads secrets from `env` and the files they name, as `herald run` does.
 * @param fromEnvironment key paths whose value `\${VAR}` filled (`ResolvedConfig.fromEnvironment`).
 */
export function secretReader(
  env: Environment = process.env,
  fromEnvironment: ReadonlySet<string> = new Set(),
): SecretReader {
  return {
    read: (sources, keyPath) => readSecretValue(sources, keyPath, env),
    written: (value, keyPath) => writtenValue(value, keyPath, fromEnvironment),
  };
}

/** What {@link secretStandIns} puts where a secret would go; shown as is, it reveals nothing. */
export const SECRET_STAND_IN = '***';

/**
 * Reads no secret: each is replaced by {@link SECRET_STAND_IN}, so `herald render` shows what
 * would be sent on a machine that has none of them, and can never print one.
 */
export function secretStandIns(fromEnvironment: ReadonlySet<string> = new Set()): SecretReader {
  return {
    read: (sources, keyPath) => ({
      value: SECRET_STAND_IN,
      from: sources.envVar ? 'envVar' : 'filePath',
      source: `${keyPath} (not read)`,
      masked: true,
    }),
    written: (value, keyPath) => writtenValue(value, keyPath, fromEnvironment),
  };
}

function writtenValue(value: string, keyPath: string, fromEnvironment: ReadonlySet<string>): SecretValue {
  return { value, from: 'config', source: `the value of ${keyPath}`, masked: fromEnvironment.has(keyPath) };
}

/** Where FlyteAdmin's secret manager mounts secrets. */
const FLYTE_SECRETS_DIR = '/etc/secrets';

/**
 * FlyteAdmin's lookup of `smtpPasswordSecretName`: the environment variable
 * `FLYTE_SECRET_<name>`, then the file `/etc/secrets/<name>`. Herald also accepts the variable
 * `<name>` itself and an absolute file path.
 * @returns undefined when it is found nowhere (FlyteAdmin then sends without a password).
 */
export function findSmtpPassword(name: string, env: Environment = process.env): string | undefined {
  const fromEnv = env[`FLYTE_SECRET_${name}`] ?? env[name];
  if (fromEnv) return fromEnv.trim();
  return findSecret({ filePath: smtpPasswordFile(name) }, env)?.value;
}

/** The places {@link findSmtpPassword} looks, for a message saying it found nothing. */
export function smtpPasswordPlaces(name: string): string[] {
  return [`FLYTE_SECRET_${name}`, name, smtpPasswordFile(name)];
}

function smtpPasswordFile(name: string): string {
  return name.startsWith('/') ? name : `${FLYTE_SECRETS_DIR}/${name}`;
}
