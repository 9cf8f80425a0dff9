import type { ConfigProblem } from '../contract/errors.js';
import { formatPath } from '../contract/issues.js';
import type { Environment } from '../runtime/secrets.js';

const REFERENCE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;
/** A string that is one reference and nothing else. */
const ONLY_REFERENCE = /^\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}]*)?\}$/;

/** The environment variables whose values went into one string of a config. */
export interface EnvFill {
  /** Their names, in order of appearance, each once. */
  readonly variables: readonly string[];
  /** True when the string was exactly one `${VAR}`, so the value is the variable's whole value. */
  readonly whole: boolean;
}

/**
 * Which strings of a config were filled from the environment, by key path
 * (`herald.channels.alerts.url`). A `${VAR:-default}` that fell back to its default is not
 * listed: that value is written in the file.
 */
export type EnvProvenance = ReadonlyMap<string, EnvFill>;

/**
 * Expands `${VAR}` and `${VAR:-default}` in every string of a parsed YAML tree; `$${` stands
 * for a literal `${`. Expansion happens after parsing, so a value can never change the YAML's
 * structure. Returns a new tree (the input is not modified) and where each variable went, so
 * that messages can name the variable instead of showing its value.
 */
export function expandEnv(
  value: unknown,
  env: Environment,
  problems: ConfigProblem[],
): { value: unknown; fromEnv: EnvProvenance } {
  const fromEnv = new Map<string, EnvFill>();
  return { value: expand(value, env, problems, [], fromEnv), fromEnv };
}

function expand(
  value: unknown,
  env: Environment,
  problems: ConfigProblem[],
  path: PropertyKey[],
  fromEnv: Map<string, EnvFill>,
): unknown {
  if (typeof value === 'string') {
    const used = new Set<string>();
    const expanded = value.replace(REFERENCE, (match, name: string | undefined, fallback: string | undefined) => {
      if (match === '$${') return '${';
      const found = env[name as string];
      if (found !== undefined && found !== '') {
        used.add(name as string);
        return found;
      }
      if (fallback !== undefined) return fallback;
      problems.push({ path: formatPath(path), message: `environment variable ${name} is not set` });
      return '';
    });
    if (used.size > 0) {
      fromEnv.set(formatPath(path), { variables: [...used], whole: ONLY_REFERENCE.test(value) });
    }
    return expanded;
  }
  if (Array.isArray(value)) return value.map((item, i) => expand(item, env, problems, [...path, i], fromEnv));
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) out[key] = expand(item, env, problems, [...path, key], fromEnv);
    return out;
  }
  return value;
}

/**
 * How a message refers to a value filled from the environment, never showing it:
 * `the value of ${SLACK_WEBHOOK_URL}`, or `a value made from ${HOST} and ${TOKEN}`.
 */
export function describeEnvFill(fill: EnvFill): string {
  const names = fill.variables.map((name) => `\${${name}}`);
  if (fill.whole) return `the value of ${names[0]}`;
  const last = names.pop();
  const listed = names.length === 0 ? last : `${names.join(', ')} and ${last}`;
  return `a value made from ${listed}`;
}
