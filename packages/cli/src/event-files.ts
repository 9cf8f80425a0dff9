import { readFileSync } from 'node:fs';
import type { ExecutionEvent } from '@herald/core';
import { EventInputError, parseEvents } from '@herald/publisher';
import { UsageError } from './errors.js';

/**
 * Reads events from a file (`-` is stdin): one JSON event, a JSON array of events, or JSON
 * lines. Missing `version`, `id`, `time` and `source` are filled in.
 * @throws UsageError when the file cannot be read, or naming the line of a bad event.
 */
export function readEvents(file: string): ExecutionEvent[] {
  let text: string;
  try {
    text = readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (err) {
    throw new UsageError(`cannot read events from ${file}: ${(err as Error).message}`);
  }
  try {
    return parseEvents(text, file);
  } catch (err) {
    // A bad event in a file the user handed in is bad usage: exit 2, naming the line.
    if (err instanceof EventInputError) throw new UsageError(err.message, { cause: err });
    throw err;
  }
}
