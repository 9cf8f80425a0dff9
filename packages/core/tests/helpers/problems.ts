import { ConfigError } from '@herald/core';
import { type LoadOptions, parseConfig } from '@herald/core/config';

/** The problems a config is refused with, as `path: message`; throws when it is accepted. */
export function problemsOf(yaml: string, env: Record<string, string> = {}, options: LoadOptions = {}): string[] {
  try {
    parseConfig(yaml, { ...options, env });
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => `${p.path}: ${p.message}`);
    throw err;
  }
  throw new Error('expected a ConfigError');
}
