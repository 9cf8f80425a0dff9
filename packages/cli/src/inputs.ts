import { readFileSync } from 'node:fs';
import {
  completeEvent,
  DecodeError,
  EMBEDDED_SANDBOX_CONFIG,
  type ExecutionEvent,
  type LoadOptions,
  loadConfigFile,
  parseConfig,
  type ResolvedConfig,
} from '@herald/core';
import { UsageError } from './errors.js';

/**
 * The config from `--config`, or the embedded sandbox default when none is given (it names no
 * secrets). With `checkSecrets`, a secret that cannot be read is one more problem listed.
 */
export function readConfig(file: string | undefined, options: LoadOptions = {}): ResolvedConfig {
  return file ? loadConfigFile(file, process.env, options) : parseConfig(EMBEDDED_SANDBOX_CONFIG);
}

/**
 * Reads events from a file (`-` is stdin): one JSON event, a JSON array of events, or JSON
 * lines. Missing `version`, `id`, `time` and `source` are filled in.
 * @throws UsageError naming the file and line of a bad event.
 */
export function readEvents(file: string): ExecutionEvent[] {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read events from ${file}: ${(err as Error).message}`);
  }
  return parseEvents(text, file);
}

/** Where a bad event is in what was read: its line (JSON lines) or its index (a JSON array). */
export interface EventLocation {
  line?: number;
  index?: number;
}

/** An event that cannot be read or is not valid; the message names where it is and why. */
export class EventInputError extends UsageError {
  override name = 'EventInputError';

  constructor(
    /** What was read: a file name, `-`, or `body`. */
    readonly input: string,
    readonly location: EventLocation,
    /** What is wrong, without the location. */
    readonly detail: string,
  ) {
    const at =
      location.line !== undefined
        ? ` line ${location.line}`
        : location.index !== undefined
          ? ` [${location.index}]`
          : '';
    super(`${input}${at}: ${detail}`);
  }
}

/**
 * Parses one JSON event, a JSON array of events, or JSON lines, and turns each into a complete
 * event with `check` (by default: fill in the envelope fields and validate). Every event is
 * checked before any is returned, so a caller publishing them publishes all or none.
 * @param input names what was read in error messages (a file name, `body`).
 * @throws EventInputError naming the line or index of the first bad event.
 */
export function parseEvents(
  text: string,
  input: string,
  check: (value: Record<string, unknown>) => ExecutionEvent = (value) => completeEvent(value, 'herald-cli'),
): ExecutionEvent[] {
  const whole = tryParse(text);
  if (whole.ok) {
    const values = Array.isArray(whole.value) ? whole.value : [whole.value];
    if (values.length === 0) throw new EventInputError(input, {}, 'no events found');
    return values.map((value, i) => complete(value, input, values.length > 1 ? { index: i } : {}, check));
  }
  const events: ExecutionEvent[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const parsed = tryParse(line);
    if (!parsed.ok) throw new EventInputError(input, { line: i + 1 }, `not JSON (${parsed.error})`);
    events.push(complete(parsed.value, input, { line: i + 1 }, check));
  });
  if (events.length === 0) throw new EventInputError(input, {}, 'no events found');
  return events;
}

function complete(
  value: unknown,
  input: string,
  location: EventLocation,
  check: (value: Record<string, unknown>) => ExecutionEvent,
): ExecutionEvent {
  try {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new DecodeError(['expected a JSON object']);
    }
    return check(value as Record<string, unknown>);
  } catch (err) {
    if (err instanceof DecodeError) throw new EventInputError(input, location, `not a valid event: ${err.message}`);
    throw err;
  }
}

function tryParse(text: string): { ok: true; value: unknown } | { ok: false; error: string } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}
