import { readFileSync } from 'node:fs';
import {
  completeEvent,
  DecodeError,
  EMBEDDED_SANDBOX_CONFIG,
  type ExecutionEvent,
  loadConfigFile,
  parseConfig,
  type ResolvedConfig,
} from '@herald/core';
import { UsageError } from './errors.js';

/** The config from `--config`, or the embedded sandbox default when none is given. */
export function readConfig(file: string | undefined): ResolvedConfig {
  return file ? loadConfigFile(file) : parseConfig(EMBEDDED_SANDBOX_CONFIG);
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
  const whole = tryParse(text);
  if (whole.ok) {
    const values = Array.isArray(whole.value) ? whole.value : [whole.value];
    return values.map((value, i) => complete(value, values.length > 1 ? `${file} [${i}]` : file));
  }
  const events: ExecutionEvent[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    const parsed = tryParse(line);
    if (!parsed.ok) throw new UsageError(`${file} line ${i + 1}: not JSON (${parsed.error})`);
    events.push(complete(parsed.value, `${file} line ${i + 1}`));
  });
  if (events.length === 0) throw new UsageError(`${file}: no events found`);
  return events;
}

function complete(value: unknown, where: string): ExecutionEvent {
  try {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new DecodeError(['expected a JSON object']);
    }
    return completeEvent(value as Record<string, unknown>, 'herald-cli');
  } catch (err) {
    if (err instanceof DecodeError) throw new UsageError(`${where}: not a valid event: ${err.message}`);
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
