import { nodeCrypto } from './node-builtin.js';

/**
 * JSON with the keys of every object sorted, so two values that are equal as JSON have one
 * text whatever order their keys were written in. Keys whose value is `undefined` are left out,
 * as `JSON.stringify` leaves them out; array order is kept, because it means something.
 */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) {
    return `[${value.map((item) => (item === undefined ? 'null' : canonicalJson(item))).join(',')}]`;
  }
  if (typeof value === 'object' && value !== null) {
    const entries = Object.keys(value)
      .sort()
      .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
      .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

/**
 * The id of an event published without one, derived from what the publisher gave: the
 * SHA-256 of the event's {@link canonicalJson} without its `id`, taken before Herald fills in
 * `version`, `time` or `source`. The same event handed in twice — a client retrying a request
 * whose answer it never saw, `herald publish` run twice on one file — therefore gets the same
 * id, and the processor, which settles each (event id, destination) once, delivers it once.
 *
 * The fields filled in later are left out on purpose: `time` would otherwise be "now" and
 * differ on every retry, and `source` differs between `herald publish` and the HTTP endpoint
 * for one and the same fact. The flip side: two events with identical content and no `time`
 * are one event. An engine that can report the same phase of the same execution twice (a
 * cleared and re-run Airflow DAG run) must send `time` or an `id` of its own.
 *
 * Formatted as an RFC 9562 UUID version 8 (the version for custom, e.g. hash-based, layouts):
 * 122 bits of the digest with the version and variant bits set, so it passes anywhere a UUID
 * is expected.
 * @example deriveEventId({ execution: { project: 'p', domain: 'd', name: 'n' }, phase: 'FAILED' })
 *   // always the same 'xxxxxxxx-xxxx-8xxx-Nxxx-xxxxxxxxxxxx' for this content
 */
export function deriveEventId(event: Record<string, unknown>): string {
  const { id: _, ...content } = event;
  const digest = nodeCrypto().createHash('sha256').update(canonicalJson(content), 'utf8').digest();
  digest[6] = ((digest[6] as number) & 0x0f) | 0x80;
  digest[8] = ((digest[8] as number) & 0x3f) | 0x80;
  const hex = digest.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}
