import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import { ConfigError, type ConfigProblem } from '../contract/errors.js';
import { describeIssues, describeValue, formatPath, type ValueDescriber } from '../contract/issues.js';
import type { Environment } from '../runtime/secrets.js';
import { checkChannelSecrets } from './check-channels.js';
import { checkConfigTemplates, checkTemplateTree } from './check-templates.js';
import { describeEnvFill, type EnvProvenance, expandEnv } from './env.js';
import { resolveConfig } from './resolve.js';
import type { ResolvedConfig } from './resolved.js';
import { configFileSchema } from './schema.js';
import { missingSecrets } from './secret-needs.js';
import { valueAt } from './tree.js';
import { topLevelTypos, unknownKeyHint } from './typo-hints.js';

/*
 * Loading a config file, in order: parse the YAML, expand `${VAR}` references (env.ts), validate
 * the shape (schema.ts), resolve defaults (resolve.ts), then check what the shape cannot say:
 * templates (check-templates.ts), channel secrets (check-channels.ts) and, when asked, that
 * every secret can be read (secret-needs.ts). Every problem is collected, so one run lists all.
 */

/** The name a config built from {@link EMBEDDED_SANDBOX_CONFIG} reports as its source. */
export const EMBEDDED_SOURCE = '<embedded sandbox default>';

/** The configuration used when none is given: in-process queue, emails written to ./outbox. */
export const EMBEDDED_SANDBOX_CONFIG = `
notifications:
  type: sandbox
herald:
  outbox:
    directory: ./outbox
`;

/** How much {@link loadConfigFile} and {@link parseConfig} check besides the file itself. */
export interface LoadOptions {
  /**
   * Also read every secret the config names (`herald run` and `herald validate`), so a missing
   * one is listed with the other problems; off for commands that need none (`herald render`).
   * @defaultValue false
   */
  checkSecrets?: boolean;
}

/**
 * Reads, expands, validates and resolves a YAML config file.
 * Relative paths inside it (outbox directory, dead-letter file) are relative to the file.
 * @throws ConfigError listing every problem, each naming its key path.
 */
export function loadConfigFile(
  file: string,
  env: Environment = process.env,
  options: LoadOptions = {},
): ResolvedConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([{ path: '', message: `cannot read config file: ${(err as Error).message}` }], file);
  }
  return parseConfig(text, { ...options, source: file, env, baseDir: dirname(resolve(file)) });
}

/**
 * Like {@link loadConfigFile}, from YAML text.
 * @throws ConfigError listing every problem.
 */
export function parseConfig(
  text: string,
  options: LoadOptions & { source?: string; env?: Environment; baseDir?: string } = {},
): ResolvedConfig {
  const source = options.source ?? EMBEDDED_SOURCE;
  const env = options.env ?? process.env;
  const baseDir = options.baseDir ?? process.cwd();
  const problems: ConfigProblem[] = [];
  const warnings: string[] = [];

  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      doc.errors.map((e) => ({ path: '', message: `invalid YAML: ${e.message.split('\n')[0]}` })),
      source,
    );
  }
  const raw = doc.toJS() ?? {};
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ConfigError([{ path: '', message: 'expected a mapping at the top of the file' }], source);
  }
  problems.push(...topLevelTypos(raw as Record<string, unknown>));

  const { value: expanded, fromEnv } = expandEnv(raw, env, problems);
  const show = valueShower(fromEnv);
  const parsed = configFileSchema.safeParse(expanded, { reportInput: true });
  if (!parsed.success) {
    problems.push(...describeIssues(parsed.error.issues, [], show, unknownKeyHint(configFileSchema, expanded)));
    // Templates and channel URLs are checked even when other keys are wrong, so one run lists
    // every problem.
    checkTemplateTree(expanded, problems, fromEnv);
    checkChannelSecrets(valueAt(expanded, 'herald', 'channels'), env, problems);
    throw new ConfigError(problems, source);
  }
  const config = resolveConfig(parsed.data, { source, env, baseDir, warnings, problems, fromEnv, show });
  checkConfigTemplates(config, problems, fromEnv);
  checkChannelSecrets(config.channels, env, problems);
  if (options.checkSecrets) problems.push(...missingSecrets(config, env));
  if (problems.length > 0) throw new ConfigError(problems, source);
  return config;
}

/**
 * Shows a bad value in a message. One filled from the environment is named by its variable and
 * never shown: it may be a secret (a webhook URL, a token), and messages end up in CI logs.
 * Anything else is shown with the credentials of any URL in it masked.
 */
function valueShower(fromEnv: EnvProvenance): ValueDescriber {
  return (value, path) => {
    const fill = fromEnv.get(formatPath(path));
    return fill ? `${describeEnvFill(fill)} (not shown)` : describeValue(value);
  };
}
