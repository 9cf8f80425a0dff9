import { DecodeError } from '@herald/core';
import Long from 'long';
import { describe, expect, it } from 'vitest';
import { cloudEventType } from '../../src/flyte/cloudevent.js';
import { decodeFlyteEgress, type EgressResult } from '../../src/flyte/egress.js';
import { flyteidl } from '../../src/flyte/flyteidl.js';

// Messages are built the way FlyteAdmin builds them: the external event is the flyteidl
// protobuf itself; a cloud event is a CloudEvents protobuf whose binary_data is the jsonpb
// (protojson) of the request (v1) or of a CloudEventWorkflowExecution (v2). The flyteidl npm
// build has no toJSON, so the protojson is written by hand in jsonpb's form: lowerCamelCase,
// enums by name, Timestamps as RFC 3339, defaults left out.

const { flyteidl: fl, google } = flyteidl();
const Phase = fl.core.WorkflowExecution.Phase;
const REQUEST = 'flyteidl.admin.WorkflowExecutionEventRequest';
const OCCURRED_MS = Date.UTC(2025, 0, 2, 3, 4, 5, 678);
const execution = { project: 'flytesnacks', domain: 'development', name: 'abc123' };

function externalBytes(event: Record<string, unknown>): Uint8Array {
  const request = fl.admin.WorkflowExecutionEventRequest.create({
    requestId: 'req-1',
    event: {
      executionId: execution,
      producerId: 'propeller',
      occurredAt: google.protobuf.Timestamp.create({
        seconds: Long.fromNumber(Math.floor(OCCURRED_MS / 1000)),
        nanos: (OCCURRED_MS % 1000) * 1e6,
      }),
      ...event,
    },
  });
  return fl.admin.WorkflowExecutionEventRequest.encode(request).finish();
}

const failedBytes = () =>
  externalBytes({
    phase: Phase.FAILED,
    error: { code: 'USER:Oops', message: 'task failed: boom', errorUri: 's3://b/e.pb', kind: 1 },
  });

/** A CloudEvent as sdk-go's protobuf format marshals FlyteAdmin's event. */
function cloudEventBytes(type: string, data: unknown, as: 'binary_data' | 'text_data' = 'binary_data'): Uint8Array {
  const CloudEvent = cloudEventType();
  const text = typeof data === 'string' ? data : JSON.stringify(data);
  const message = CloudEvent.fromObject({
    id: 'project:"flytesnacks" domain:"development" name:"abc123".FAILED',
    source: 'flytesnacks/development/abc123/end-node',
    spec_version: '1.0',
    type,
    attributes: {
      datacontenttype: { ce_string: 'application/json' },
      jsonschemaurl: { ce_string: '' },
      time: { ce_timestamp: { seconds: Math.floor(OCCURRED_MS / 1000), nanos: 678_000_000 } },
    },
    [as]: as === 'binary_data' ? Buffer.from(text) : text,
  });
  return CloudEvent.encode(message).finish();
}

const V1_TYPE = `com.flyte.resource.${REQUEST}`;
const V2_TYPE = 'com.flyte.resource.cloudevents.WorkflowExecution';
const rawFailed = {
  executionId: execution,
  producerId: 'propeller',
  phase: 'FAILED',
  occurredAt: '2025-01-02T03:04:05.678Z',
  error: { code: 'USER:Oops', message: 'task failed: boom', errorUri: 's3://b/e.pb', kind: 'USER' },
};

function eventOf(result: EgressResult) {
  if (result.kind !== 'event') throw new Error(`expected an event, got skipped: ${result.reason}`);
  return result.event;
}

function decodeError(fn: () => unknown): DecodeError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(DecodeError);
    return err as DecodeError;
  }
  throw new Error('expected a DecodeError');
}

describe('decodeFlyteEgress: external events (WorkflowExecutionEventRequest protobuf)', () => {
  it('maps a FAILED event with its error field by field', () => {
    const event = eventOf(decodeFlyteEgress(failedBytes(), REQUEST, 'external'));
    expect(event.version).toBe(1);
    expect(event.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(event.time).toBe('2025-01-02T03:04:05.678Z');
    expect(event.source).toBe('flyteadmin');
    expect(event.execution).toEqual(execution);
    expect(event.phase).toBe('FAILED');
    expect(event.error).toEqual({ code: 'USER:Oops', message: 'task failed: boom' });
    for (const absent of ['launchPlan', 'workflow', 'labels', 'startedAt', 'endedAt', 'previousPhase'] as const) {
      expect(event[absent]).toBeUndefined();
    }
  });

  it('maps SUCCEEDED with an output URI and no error, also without a key', () => {
    const bytes = externalBytes({ phase: Phase.SUCCEEDED, outputUri: 's3://b/outputs.pb' });
    const event = eventOf(decodeFlyteEgress(bytes, undefined, 'external'));
    expect(event.phase).toBe('SUCCEEDED');
    expect(event.error).toBeUndefined();
  });

  it('writes occurredAt as protojson does: 0, 3, 6 or 9 fractional digits', () => {
    const at = (seconds: number, nanos: number) =>
      eventOf(
        decodeFlyteEgress(externalBytes({ phase: Phase.RUNNING, occurredAt: { seconds, nanos } }), REQUEST, 'external'),
      ).time;
    expect(at(1735787045, 0)).toBe('2025-01-02T03:04:05Z');
    expect(at(1735787045, 678_901_000)).toBe('2025-01-02T03:04:05.678901Z');
    expect(at(1735787045, 678_901_234)).toBe('2025-01-02T03:04:05.678901234Z');
  });

  it('skips node and task events with a reason, whatever their bytes', () => {
    for (const key of ['flyteidl.admin.NodeExecutionEventRequest', 'flyteidl.admin.TaskExecutionEventRequest']) {
      const result = decodeFlyteEgress(new Uint8Array([0xff, 0x01]), key, 'external');
      expect(result).toEqual({ kind: 'skipped', reason: expect.stringContaining(key) });
    }
  });

  it('rejects a truncated protobuf, a message without event or occurredAt, and a foreign key', () => {
    const bytes = failedBytes();
    expect(
      decodeError(() => decodeFlyteEgress(bytes.subarray(0, bytes.length - 5), REQUEST, 'external')).problems,
    ).toEqual([expect.stringMatching(/^flyteidl\.admin\.WorkflowExecutionEventRequest: not a valid protobuf message/)]);
    expect(decodeError(() => decodeFlyteEgress(new Uint8Array(), REQUEST, 'external')).problems).toEqual([
      'event: missing',
    ]);
    const noTime = fl.admin.WorkflowExecutionEventRequest.encode({
      event: { executionId: execution, phase: 6 },
    }).finish();
    expect(decodeError(() => decodeFlyteEgress(noTime, REQUEST, 'external')).problems).toEqual([
      'event.occurredAt: missing',
    ]);
    expect(decodeError(() => decodeFlyteEgress(bytes, 'cloudevents.WorkflowExecution', 'external')).problems).toEqual([
      `key: expected '${REQUEST}' for external events, got 'cloudevents.WorkflowExecution'`,
    ]);
  });

  it('gives the same bytes the same id, and another phase change another id', () => {
    const a = eventOf(decodeFlyteEgress(failedBytes(), REQUEST, 'external'));
    const b = eventOf(decodeFlyteEgress(failedBytes(), REQUEST, 'external'));
    const other = eventOf(decodeFlyteEgress(externalBytes({ phase: Phase.FAILING }), REQUEST, 'external'));
    expect(b.id).toBe(a.id);
    expect(other.id).not.toBe(a.id);
  });
});

describe('decodeFlyteEgress: cloud events (CloudEvents protobuf with protojson data)', () => {
  it('maps v1 (WorkflowExecutionEventRequest JSON) to the same event as the external protobuf', () => {
    const bytes = cloudEventBytes(V1_TYPE, { requestId: 'req-1', event: rawFailed });
    const event = eventOf(decodeFlyteEgress(bytes, REQUEST, 'cloudevent'));
    expect(event).toEqual(eventOf(decodeFlyteEgress(failedBytes(), REQUEST, 'external')));
    expect(event.error).toEqual({ code: 'USER:Oops', message: 'task failed: boom' });
    expect(event.launchPlan).toBeUndefined();
  });

  it('maps v2 (CloudEventWorkflowExecution JSON) with its launch plan and labels', () => {
    const data = {
      rawEvent: { ...rawFailed, phase: 'SUCCEEDED', error: undefined, outputUri: 's3://b/o.pb' },
      launchPlanId: { resourceType: 'LAUNCH_PLAN', ...execution, name: 'daily', version: 'v7' },
      labels: { team: 'ml' },
      principal: 'alice',
    };
    const event = eventOf(
      decodeFlyteEgress(cloudEventBytes(V2_TYPE, data), 'cloudevents.WorkflowExecution', 'cloudevent'),
    );
    expect(event.source).toBe('flyteadmin');
    expect(event.execution).toEqual(execution);
    expect(event.phase).toBe('SUCCEEDED');
    expect(event.time).toBe('2025-01-02T03:04:05.678Z');
    expect(event.error).toBeUndefined();
    expect(event.launchPlan).toEqual({ project: 'flytesnacks', domain: 'development', name: 'daily', version: 'v7' });
    expect(event.labels).toEqual({ team: 'ml' });
  });

  it('accepts the phase as an integer, text_data, and an unknown type by the data shape', () => {
    const bytes = cloudEventBytes('com.example.relayed', { rawEvent: { ...rawFailed, phase: 8 } }, 'text_data');
    const event = eventOf(decodeFlyteEgress(bytes, undefined, 'cloudevent'));
    expect(event.phase).toBe('TIMED_OUT');
  });

  it('skips node, task and execution-start events by type or by key', () => {
    for (const kind of ['cloudevents.NodeExecution', 'cloudevents.TaskExecution', 'cloudevents.ExecutionStart']) {
      const result = decodeFlyteEgress(cloudEventBytes(`com.flyte.resource.${kind}`, {}), undefined, 'cloudevent');
      expect(result).toEqual({ kind: 'skipped', reason: expect.stringContaining(kind) });
    }
    const node = cloudEventBytes('com.flyte.resource.flyteidl.admin.NodeExecutionEventRequest', {});
    expect(decodeFlyteEgress(node, 'flyteidl.admin.NodeExecutionEventRequest', 'cloudevent').kind).toBe('skipped');
  });

  it('rejects non-JSON data, a truncated CloudEvent, a missing data field and a bad phase', () => {
    expect(
      decodeError(() => decodeFlyteEgress(cloudEventBytes(V2_TYPE, '<xml/>'), undefined, 'cloudevent')).problems,
    ).toEqual([expect.stringMatching(/^binary_data: not JSON \(.*\): "<xml\/>"$/)]);
    // Cut inside the id string, of a Buffer: protobufjs's Buffer reader alone would accept that.
    const bytes = cloudEventBytes(V2_TYPE, { rawEvent: rawFailed });
    expect(Buffer.isBuffer(bytes)).toBe(true);
    expect(decodeError(() => decodeFlyteEgress(bytes.subarray(0, 40), undefined, 'cloudevent')).problems).toEqual([
      expect.stringMatching(/^io\.cloudevents\.v1\.CloudEvent: not a valid protobuf message/),
    ]);
    expect(decodeError(() => decodeFlyteEgress(new Uint8Array(), undefined, 'cloudevent')).problems).toEqual([
      'data: missing (expected protojson in binary_data or text_data)',
    ]);
    const badPhase = cloudEventBytes(V2_TYPE, { rawEvent: { ...rawFailed, phase: 'DONE' } });
    expect(decodeError(() => decodeFlyteEgress(badPhase, undefined, 'cloudevent')).problems).toEqual([
      expect.stringMatching(/^data\.rawEvent\.phase: .*'DONE'/),
    ]);
  });

  it('gives the same bytes the same id', () => {
    const bytes = cloudEventBytes(V2_TYPE, { rawEvent: rawFailed });
    expect(eventOf(decodeFlyteEgress(bytes, undefined, 'cloudevent')).id).toBe(
      eventOf(decodeFlyteEgress(Uint8Array.from(bytes), undefined, 'cloudevent')).id,
    );
  });
});
