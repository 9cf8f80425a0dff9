import type { flyteidl as FlyteTypes } from '@flyteorg/flyteidl/gen/pb-js/flyteidl.js';
import { DecodeError, deriveEventId, type ExecutionEvent, PHASES, validateEvent } from '@herald/core';
import { type CloudEventMessage, decodeCloudEvent } from './cloudevent.js';
import { flyteidl } from './flyteidl.js';
import { parseRequestJson, parseWrappedJson, type WorkflowEventJson } from './protojson.js';

/**
 * Decoding of what FlyteAdmin publishes about executions (its `externalEvents:` and
 * `cloudEvents:` publishers) into Herald's ExecutionEvent, so Herald can notify from Flyte's
 * own event stream. Pure: bytes in, event out; the sources decide where the bytes come from.
 */

/**
 * Which FlyteAdmin publisher wrote the bytes. `external`: `externalEvents`, a protobuf
 * WorkflowExecutionEventRequest. `cloudevent`: `cloudEvents` (v1 or v2), a CloudEvents protobuf
 * whose data is protojson. They cannot be told apart by key (both v1 publishers use the same
 * one), so each source is configured with one.
 */
export type FlyteEgressMode = 'external' | 'cloudevent';

/** A workflow event, or something FlyteAdmin publishes that Herald deliberately ignores. */
export type EgressResult = { kind: 'event'; event: ExecutionEvent } | { kind: 'skipped'; reason: string };

/** The key (SNS Subject, Pub/Sub attribute `key`) of workflow events from `externalEvents` and CloudEvents v1. */
const WORKFLOW_REQUEST = 'flyteidl.admin.WorkflowExecutionEventRequest';
/** The key of workflow events from CloudEvents v2. */
const WORKFLOW_WRAPPED = 'cloudevents.WorkflowExecution';
/** FlyteAdmin's CloudEvent `type` is this prefix plus the key. */
const CLOUDEVENT_TYPE_PREFIX = 'com.flyte.resource.';

/** Keys and CloudEvent types (without the prefix) of events Herald does not notify on. */
const SKIPPED: ReadonlyMap<string, string> = new Map([
  ['flyteidl.admin.NodeExecutionEventRequest', 'node execution event'],
  ['flyteidl.admin.TaskExecutionEventRequest', 'task execution event'],
  ['cloudevents.NodeExecution', 'node execution event'],
  ['cloudevents.TaskExecution', 'task execution event'],
  ['cloudevents.ExecutionStart', 'execution start event'],
]);

/** Herald's `source` for every event decoded here. */
const SOURCE = 'flyteadmin';

/** The fields of one workflow phase change that Herald maps, whichever format carried them. */
type Mapped = Omit<ExecutionEvent, 'version' | 'id' | 'source'>;

/**
 * Decodes one message FlyteAdmin published. Node, task and execution-start events are
 * skipped with a reason, since Herald notifies on workflow executions only.
 * @param key the message's key (SNS Subject, Pub/Sub attribute `key`), when the transport has one.
 * @throws DecodeError with one problem line per fault, for bytes that cannot be a workflow event.
 */
export function decodeFlyteEgress(bytes: Uint8Array, key: string | undefined, mode: FlyteEgressMode): EgressResult {
  const skip = key === undefined ? undefined : SKIPPED.get(key);
  if (skip) return { kind: 'skipped', reason: `${skip} (${key}): Herald notifies on workflow executions only` };
  if (mode === 'external') {
    // Anything else on the topic is not ours to guess at: protobuf decodes almost any bytes
    // as almost any message, so a node event read as a workflow event would yield garbage.
    if (key !== undefined && key !== WORKFLOW_REQUEST) {
      throw new DecodeError([`key: expected '${WORKFLOW_REQUEST}' for external events, got '${key}'`]);
    }
    return { kind: 'event', event: toEvent(decodeRequestProto(bytes)) };
  }
  return decodeCloudEventBytes(bytes);
}

/** `externalEvents`: the WorkflowExecutionEventRequest protobuf itself. */
function decodeRequestProto(bytes: Uint8Array): Mapped {
  let request: FlyteTypes.admin.WorkflowExecutionEventRequest;
  try {
    request = flyteidl().flyteidl.admin.WorkflowExecutionEventRequest.decode(strict(bytes));
  } catch (err) {
    throw new DecodeError([`${WORKFLOW_REQUEST}: not a valid protobuf message (${(err as Error).message})`]);
  }
  const event = request.event;
  if (!event) throw new DecodeError(['event: missing']);
  const id = event.executionId;
  if (!id?.project || !id.domain || !id.name) {
    throw new DecodeError(['event.executionId: expected project, domain and name']);
  }
  const phase = PHASES[event.phase ?? 0];
  if (!phase) throw new DecodeError([`event.phase: unknown phase ${String(event.phase)}`]);
  if (!event.occurredAt) throw new DecodeError(['event.occurredAt: missing']);
  // Only the oneof discriminator says which output was set; `error` may be a stale default.
  const error = (event as FlyteTypes.event.WorkflowExecutionEvent).outputResult === 'error' ? event.error : undefined;
  return {
    execution: { project: id.project, domain: id.domain, name: id.name },
    phase,
    time: formatTimestamp(event.occurredAt.seconds, event.occurredAt.nanos),
    ...(error && { error: { ...(error.code && { code: error.code }), message: error.message ?? '' } }),
  };
}

/**
 * The same bytes, but never as a Node Buffer. protobufjs reads a Buffer with its BufferReader,
 * whose string reads clamp to the end of the input, so a message cut off inside a string field
 * decodes without error into a shortened string. Its plain Uint8Array reader checks lengths.
 */
function strict(bytes: Uint8Array): Uint8Array {
  return Buffer.isBuffer(bytes) ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength) : bytes;
}

/** `cloudEvents`: a CloudEvents protobuf whose data is v1 or v2 protojson. */
function decodeCloudEventBytes(bytes: Uint8Array): EgressResult {
  let cloudEvent: CloudEventMessage;
  try {
    cloudEvent = decodeCloudEvent(strict(bytes));
  } catch (err) {
    throw new DecodeError([`io.cloudevents.v1.CloudEvent: not a valid protobuf message (${(err as Error).message})`]);
  }
  const type = cloudEvent.type;
  const kind = type.startsWith(CLOUDEVENT_TYPE_PREFIX) ? type.slice(CLOUDEVENT_TYPE_PREFIX.length) : '';
  const skip = SKIPPED.get(kind);
  if (skip)
    return {
      kind: 'skipped',
      reason: `${skip} (CloudEvent type ${type}): Herald notifies on workflow executions only`,
    };

  const data = cloudEventData(cloudEvent);
  // The type says which publisher wrote it; the shape decides for a type Herald does not know.
  const isObject = typeof data === 'object' && data !== null;
  if (kind === WORKFLOW_WRAPPED || (kind !== WORKFLOW_REQUEST && isObject && 'rawEvent' in data)) {
    const wrapped = parseWrappedJson(data);
    const lp = wrapped.launchPlanId;
    return {
      kind: 'event',
      event: toEvent({
        ...fromEventJson(wrapped.rawEvent),
        ...(lp && { launchPlan: { project: lp.project, domain: lp.domain, name: lp.name, version: lp.version } }),
        ...(wrapped.labels && Object.keys(wrapped.labels).length > 0 && { labels: wrapped.labels }),
      }),
    };
  }
  if (kind === WORKFLOW_REQUEST || (isObject && 'event' in data)) {
    return { kind: 'event', event: toEvent(fromEventJson(parseRequestJson(data).event)) };
  }
  throw new DecodeError([
    `type: expected a Flyte workflow CloudEvent (${CLOUDEVENT_TYPE_PREFIX}${WORKFLOW_WRAPPED} or ${CLOUDEVENT_TYPE_PREFIX}${WORKFLOW_REQUEST}), got '${type}'`,
  ]);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The CloudEvent's data parsed as JSON. FlyteAdmin sends it as binary_data; text_data is accepted too. */
function cloudEventData(cloudEvent: CloudEventMessage): unknown {
  let text: string;
  if (cloudEvent.data === 'binary_data' && cloudEvent.binary_data) {
    try {
      text = utf8.decode(cloudEvent.binary_data);
    } catch {
      throw new DecodeError(['binary_data: not valid UTF-8 (expected protojson)']);
    }
  } else if (cloudEvent.data === 'text_data' && cloudEvent.text_data !== undefined) {
    text = cloudEvent.text_data;
  } else if (cloudEvent.data === 'proto_data') {
    throw new DecodeError([
      `proto_data: not supported (${cloudEvent.proto_data?.type_url ?? 'no type_url'}); expected JSON`,
    ]);
  } else {
    throw new DecodeError(['data: missing (expected protojson in binary_data or text_data)']);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    const preview = text.length > 40 ? `${text.slice(0, 37)}...` : text;
    throw new DecodeError([`${cloudEvent.data}: not JSON (${(err as Error).message}): ${JSON.stringify(preview)}`]);
  }
}

function fromEventJson(event: WorkflowEventJson): Mapped {
  const { project, domain, name } = event.executionId;
  const error = event.error;
  return {
    execution: { project, domain, name },
    phase: event.phase,
    time: event.occurredAt,
    ...(error && { error: { ...(error.code && { code: error.code }), message: error.message } }),
  };
}

/**
 * Completes and validates the event. Its id is derived from what identifies the phase change
 * (execution, phase, occurredAt) rather than from the whole message, so a redelivered message,
 * and the same change arriving through both publishers or with v2's SUCCEEDED-only extras,
 * is one event to the ledger and is delivered once.
 */
function toEvent(mapped: Mapped): ExecutionEvent {
  const id = deriveEventId({ source: SOURCE, execution: mapped.execution, phase: mapped.phase, time: mapped.time });
  return validateEvent({ version: 1, id, source: SOURCE, ...mapped });
}

/** Smallest and largest seconds of an RFC 3339 time (years 0001 to 9999), as protojson checks. */
const MIN_SECONDS = -62_135_596_800;
const MAX_SECONDS = 253_402_300_799;

/**
 * A google.protobuf.Timestamp as protojson writes it: UTC, with 0, 3, 6 or 9 fractional digits,
 * so an event has the same `time` whether it came as protobuf or as CloudEvent JSON.
 */
function formatTimestamp(
  seconds: number | { toNumber(): number } | null | undefined,
  nanos: number | null | undefined,
) {
  const s = typeof seconds === 'number' ? seconds : (seconds?.toNumber() ?? 0);
  const n = nanos ?? 0;
  if (s < MIN_SECONDS || s > MAX_SECONDS || n < 0 || n > 999_999_999) {
    throw new DecodeError([`event.occurredAt: out of range (seconds ${s}, nanos ${n})`]);
  }
  const digits = String(n).padStart(9, '0');
  const fraction =
    n === 0 ? '' : `.${n % 1e6 === 0 ? digits.slice(0, 3) : n % 1e3 === 0 ? digits.slice(0, 6) : digits}`;
  return `${new Date(s * 1000).toISOString().slice(0, 19)}${fraction}Z`;
}
