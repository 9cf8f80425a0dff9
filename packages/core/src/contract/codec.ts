import { DecodeError } from './errors.js';
import { EVENT_VERSION, type ExecutionEvent, type ExecutionEventInput, executionEventSchema } from './event.js';
import { deriveEventId } from './event-id.js';
import { describeIssues } from './issues.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes one queue message body into a validated event.
 *
 * Accepts the event JSON itself (SQS raw delivery, Pub/Sub data, in-memory queue), an SNS
 * envelope (`{"Type":"Notification","Message":"<event JSON>"}`) as SQS receives it when raw
 * delivery is off, or the same as bytes.
 *
 * @throws DecodeError naming every bad field, e.g. `phase: expected one of …, got 'DONE'`.
 */
export function decodeEvent(body: string | Uint8Array): ExecutionEvent {
  let text: string;
  if (typeof body === 'string') {
    text = body;
  } else {
    try {
      text = utf8.decode(body);
    } catch {
      throw new DecodeError(['body: not valid UTF-8']);
    }
  }
  let value = parseJson(text, 'body');
  if (isSnsEnvelope(value)) value = parseJson(value.Message, 'Message (SNS envelope)');
  return validateEvent(value);
}

/**
 * Validates an already-parsed value as an ExecutionEvent.
 * @throws DecodeError naming every bad field.
 */
export function validateEvent(value: unknown): ExecutionEvent {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new DecodeError([`body: expected a JSON object, got ${Array.isArray(value) ? 'a list' : typeof value}`]);
  }
  const result = executionEventSchema.safeParse(value);
  if (result.success) return result.data;
  // Again, keeping the bad values to show them: only a refused event pays for that.
  const issues = executionEventSchema.safeParse(value, { reportInput: true }).error?.issues ?? result.error.issues;
  throw new DecodeError(describeIssues(issues).map((p) => `${p.path || 'body'}: ${p.message}`));
}

/** Serialises an event for the wire. */
export function encodeEvent(event: ExecutionEvent): string {
  return JSON.stringify(event);
}

/**
 * Attributes published next to the body (SNS message attributes, Pub/Sub attributes), so
 * subscriptions can filter on the server without decoding.
 */
export function eventAttributes(event: ExecutionEvent): { phase: string; project: string; domain: string } {
  return { phase: event.phase, project: event.execution.project, domain: event.execution.domain };
}

/**
 * Fills in what a publisher may leave out (`version`, `id`, `time` = now,
 * `source` = `defaultSource`), then validates. A missing `id` is derived from the event's
 * content as given ({@link deriveEventId}), before the other fields are filled in, so the same
 * event published again gets the same id and is delivered once.
 * @throws DecodeError when the result is not a valid event.
 */
export function completeEvent(
  input: ExecutionEventInput | Record<string, unknown>,
  defaultSource = 'herald',
): ExecutionEvent {
  const value = input as Record<string, unknown>;
  return validateEvent({
    ...value,
    version: value.version ?? EVENT_VERSION,
    id: value.id ?? deriveEventId(value),
    time: value.time ?? new Date().toISOString(),
    source: value.source ?? defaultSource,
  });
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const preview = text.length > 40 ? `${text.slice(0, 37)}...` : text;
    throw new DecodeError([`${what}: not JSON (${(err as Error).message}): ${JSON.stringify(preview)}`]);
  }
}

function isSnsEnvelope(value: unknown): value is { Type: 'Notification'; Message: string } {
  return (
    typeof value === 'object' &&
    value !== null &&
    (value as { Type?: unknown }).Type === 'Notification' &&
    typeof (value as { Message?: unknown }).Message === 'string'
  );
}
