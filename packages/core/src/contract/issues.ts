import type * as z from 'zod';
import { maskUrlCredentials } from './urls.js';

/**
 * How a bad value is shown in a message, given where it is. The config loader passes one that
 * names the environment variable instead of a value that came from one.
 */
export type ValueDescriber = (value: unknown, path: readonly PropertyKey[]) => string;

/**
 * Says more about an unknown key found in the mapping at `path` (for instance the key it
 * probably misspells: `did you mean 'maxInFlight'?`); undefined when there is nothing to add.
 */
export type UnknownKeyHint = (path: readonly PropertyKey[], key: string) => string | undefined;

/**
 * Turns schema issues into `path: what was expected, got what` lines, the form used by both
 * the event decoder and the config loader, so every validation error in Herald reads alike.
 * @param describe shows each bad value; {@link describeValue} by default.
 * @param hint adds to `unknown key`; nothing by default.
 */
export function describeIssues(
  issues: readonly z.core.$ZodIssue[],
  basePath: readonly PropertyKey[] = [],
  describe: ValueDescriber = describeValue,
  hint: UnknownKeyHint = () => undefined,
): { path: string; message: string }[] {
  const out: { path: string; message: string }[] = [];
  for (const issue of issues) {
    const path = [...basePath, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const more = hint(path, key);
        out.push({ path: formatPath([...path, key]), message: more ? `unknown key (${more})` : 'unknown key' });
      }
      continue;
    }
    if (issue.code === 'invalid_union' && issue.errors.length > 0) {
      // Report the branch that got furthest: the one whose first issue has the longest path.
      const best = [...issue.errors].sort((a, b) => (b[0]?.path.length ?? 0) - (a[0]?.path.length ?? 0))[0];
      if (best && best.length > 0) {
        out.push(...describeIssues(best, path, describe, hint));
        continue;
      }
    }
    out.push({ path: formatPath(path), message: describeIssue(issue, (value) => describe(value, path)) });
  }
  return out;
}

function describeIssue(issue: z.core.$ZodIssue, show: (value: unknown) => string): string {
  const input = (issue as { input?: unknown }).input;
  switch (issue.code) {
    case 'invalid_type':
      if (input === undefined) return `is required (expected ${article(issue.expected)})`;
      return `expected ${article(issue.expected)}, got ${show(input)}`;
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => String(v)).join(', ')}, got ${show(input)}`;
    case 'too_small':
      if (issue.origin === 'string' && issue.minimum === 1) return 'expected a non-empty string';
      if (issue.origin === 'array' && issue.minimum === 1) return 'expected a non-empty list';
      return `expected ${issue.origin} ${issue.inclusive ? '>=' : '>'} ${String(issue.minimum)}, got ${show(input)}`;
    case 'too_big':
      return `expected ${issue.origin} ${issue.inclusive ? '<=' : '<'} ${String(issue.maximum)}, got ${show(input)}`;
    case 'invalid_format':
      // A regex check carries its own message ("expected an email address"), and so does the
      // config's http(s) URL check.
      if (issue.format === 'regex' || issue.format === 'url') return `${issue.message}, got ${show(input)}`;
      return `expected ${issue.format === 'datetime' ? 'an ISO 8601 date-time' : `a valid ${issue.format}`}, got ${show(input)}`;
    default:
      return issue.message;
  }
}

function article(expected: string): string {
  switch (expected) {
    case 'array':
      return 'a list';
    case 'object':
      return 'a mapping';
    case 'int':
      return 'an integer';
    default:
      return /^[aeiou]/.test(expected) ? `an ${expected}` : `a ${expected}`;
  }
}

/**
 * A short, single-line rendering of a bad value for an error message. Credentials in a URL
 * (`user:password@`, query values) are masked before anything is cut short.
 */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') {
    const masked = maskUrlCredentials(value);
    const shown = masked.length > 60 ? `${masked.slice(0, 57)}...` : masked;
    return `'${shown.replace(/[\r\n]/g, ' ')}'`;
  }
  return String(value);
}

/** `a.b[0].c` from `['a', 'b', 0, 'c']`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out;
}
