import type { HelperDelegate } from 'handlebars';
import { formatDuration } from './context.js';

/**
 * Handlebars' own helpers that templates may use, beside {@link templateHelpers}. Handlebars'
 * `log` is not among them: it writes to the process's console, so an event could forge log
 * lines (or break `herald render --json`) with it. See {@link UNAVAILABLE_HELPERS}.
 */
export const BUILTIN_HELPERS: readonly string[] = ['each', 'if', 'unless', 'with', 'lookup'];

/** Helpers Handlebars registers by default that Herald removes: each has a side effect. */
export const UNAVAILABLE_HELPERS: readonly string[] = ['log'];

/**
 * Helpers available in every template. Kept small and pure: templates come from config and
 * from events, so nothing here may reach outside the values it is given. No helper may share a
 * name with a top-level context variable: Handlebars would call the helper instead.
 */
export const templateHelpers: Record<string, HelperDelegate> = {
  /** `{{upper phase}}` -> `FAILED` */
  upper: (value: unknown) => String(value ?? '').toUpperCase(),
  /** `{{lower phaseName}}` -> `failed` */
  lower: (value: unknown) => String(value ?? '').toLowerCase(),
  /** `{{#if (eq phaseName "FAILED")}}…{{/if}}` */
  eq: (a: unknown, b: unknown) => a === b,
  /** `{{#if (ne phaseName "SUCCEEDED")}}…{{/if}}` */
  ne: (a: unknown, b: unknown) => a !== b,
  /** `{{default labels.team "unowned"}}`: the fallback when the value is empty. */
  default: (value: unknown, fallback: unknown) =>
    value === undefined || value === null || value === '' ? fallback : value,
  /** `{{json event}}`: the value as JSON (escaped like any value in an HTML body). */
  json: (value: unknown) => JSON.stringify(value, null, 2),
  /** `{{formatDate event.time}}` -> `2026-11-21 10:00:00 UTC`; unparseable input is shown as given. */
  formatDate: (value: unknown) => {
    const ms = typeof value === 'string' || typeof value === 'number' ? new Date(value).getTime() : Number.NaN;
    if (Number.isNaN(ms)) return String(value ?? '');
    return `${new Date(ms)
      .toISOString()
      .replace('T', ' ')
      .replace(/\.\d+Z$/, '')} UTC`;
  },
  /** `{{formatDuration durationMs}}` -> `1h 2m 5s` */
  formatDuration: (ms: unknown) => (typeof ms === 'number' ? formatDuration(ms) : ''),
  /** `{{truncate errorMessage 200}}`: at most N characters, with an ellipsis when cut. */
  truncate: (value: unknown, max: unknown) => {
    const text = String(value ?? '');
    const limit = typeof max === 'number' ? max : 200;
    if (text.length <= limit) return text;
    // A value escaped before rendering (Slack's &amp; &lt; &gt;) is never cut inside an entity.
    return `${text.slice(0, Math.max(0, limit - 1)).replace(/&[a-z]{0,4}$/, '')}…`;
  },
};
