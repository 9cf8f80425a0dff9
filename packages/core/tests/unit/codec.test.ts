import {
  canonicalJson,
  completeEvent,
  DecodeError,
  decodeEvent,
  deriveEventId,
  encodeEvent,
  eventAttributes,
  sampleEvent,
} from '@herald/core';
import { describe, expect, it } from 'vitest';

const event = sampleEvent();

function decodeError(body: string | Uint8Array): DecodeError {
  try {
    decodeEvent(body);
  } catch (err) {
    if (err instanceof DecodeError) return err;
    throw err;
  }
  throw new Error('expected a DecodeError');
}

describe('decodeEvent', () => {
  it('decodes a raw JSON body', () => {
    expect(decodeEvent(encodeEvent(event))).toEqual(event);
  });

  it('decodes an SNS envelope as SQS receives it without raw delivery', () => {
    const envelope = JSON.stringify({
      Type: 'Notification',
      MessageId: 'm-1',
      TopicArn: 'arn:x',
      Message: encodeEvent(event),
    });
    expect(decodeEvent(envelope)).toEqual(event);
  });

  it('decodes bytes, as Pub/Sub delivers data', () => {
    expect(decodeEvent(new TextEncoder().encode(encodeEvent(event)))).toEqual(event);
  });

  it('keeps unknown fields so newer publishers do not break older processors', () => {
    const decoded = decodeEvent(JSON.stringify({ ...event, cluster: 'us-east-1a' }));
    expect((decoded as Record<string, unknown>).cluster).toBe('us-east-1a');
  });

  it('names the field and the bad value of an unknown phase', () => {
    const err = decodeError(JSON.stringify({ ...event, phase: 'DONE' }));
    expect(err.problems).toEqual([
      "phase: expected one of UNDEFINED, QUEUED, RUNNING, SUCCEEDING, SUCCEEDED, FAILING, FAILED, ABORTED, TIMED_OUT, ABORTING, got 'DONE'",
    ]);
  });

  it('refuses an execution url that is not http or https, so it can never become a script link', () => {
    for (const url of [
      'javascript:alert(1)',
      'data:text/html,<script>alert(1)</script>',
      'JavaScript:x',
      ' https://x',
    ]) {
      expect(decodeError(JSON.stringify({ ...event, url })).problems).toEqual([
        `url: expected an http:// or https:// URL, got '${url}'`,
      ]);
    }
  });

  it('accepts http and https execution urls, and an empty one as no link', () => {
    for (const url of [
      'https://flyte.example.com/console/x',
      'http://localhost:30080/console',
      'HTTPS://X.EXAMPLE',
      '',
    ]) {
      expect(decodeEvent(JSON.stringify({ ...event, url })).url).toBe(url);
    }
  });

  it('lists every bad field, with nested paths', () => {
    const err = decodeError(
      JSON.stringify({
        ...event,
        execution: { project: 'p', domain: 'd' },
        notifications: [{ phases: [], email: { recipients: ['x'] } }],
      }),
    );
    expect(err.problems).toEqual(
      expect.arrayContaining([
        'execution.name: is required (expected a string)',
        'notifications[0].phases: expected a non-empty list',
        "notifications[0].email.recipients[0]: expected an email address, got 'x'",
      ]),
    );
  });

  it('rejects a body that is not JSON, quoting its start', () => {
    expect(decodeError('this is not an event {').message).toMatch(/^body: not JSON .*"this is not an event \{"$/);
  });

  it('rejects bytes that are not UTF-8', () => {
    expect(decodeError(new Uint8Array([0xff, 0xfe, 0x00])).message).toBe('body: not valid UTF-8');
  });

  it('rejects a JSON value that is not an object', () => {
    expect(decodeError('[1,2]').message).toBe('body: expected a JSON object, got a list');
  });

  it('rejects an SNS envelope whose Message is not JSON', () => {
    expect(decodeError(JSON.stringify({ Type: 'Notification', Message: 'nope' })).message).toMatch(
      /^Message \(SNS envelope\): not JSON/,
    );
  });

  it('rejects a notification without a destination', () => {
    const err = decodeError(JSON.stringify({ ...event, notifications: [{ phases: ['FAILED'] }] }));
    expect(err.problems).toEqual(['notifications[0]: expected one destination: email, slack, pagerDuty or webhook']);
  });
});

describe("an event's notifications in flyteidl's JSON", () => {
  const decoded = (notifications: unknown[]) => decodeEvent(JSON.stringify({ ...event, notifications })).notifications;

  it("read protojson's and FlyteAdmin's REST spellings as Herald's own", () => {
    const asRest = decoded([
      { phases: ['FAILED'], email: { recipients_email: ['a@example.com'], template: '' } },
      { phases: ['FAILED'], pager_duty: { recipients_email: ['pd@example.pagerduty.com'], template: '' } },
      { phases: ['FAILED'], slack: { recipients_email: ['c@example.slack.com'], template: '' } },
    ]);
    const asProtojson = decoded([
      { phases: ['FAILED'], email: { recipientsEmail: ['a@example.com'] } },
      { phases: ['FAILED'], pagerDuty: { recipientsEmail: ['pd@example.pagerduty.com'] } },
      { phases: ['FAILED'], slack: { recipientsEmail: ['c@example.slack.com'] } },
    ]);
    const asHerald = [
      { phases: ['FAILED'], email: { recipients: ['a@example.com'] } },
      { phases: ['FAILED'], pagerDuty: { recipients: ['pd@example.pagerduty.com'] } },
      { phases: ['FAILED'], slack: { recipients: ['c@example.slack.com'] } },
    ];
    expect(asRest).toEqual(asHerald);
    expect(asProtojson).toEqual(asHerald);
  });

  it("read phases given as numbers of Flyte's enum, and a written template as the body", () => {
    expect(
      decoded([
        { phases: [6, 8, 'SUCCEEDED'], email: { recipients_email: ['a@example.com'], template: '<p>{{ name }}</p>' } },
      ]),
    ).toEqual([
      {
        phases: ['FAILED', 'TIMED_OUT', 'SUCCEEDED'],
        email: { recipients: ['a@example.com'], body: '<p>{{ name }}</p>' },
      },
    ]);
  });

  it('refuse a phase number outside the enum, naming it', () => {
    const err = decodeError(
      JSON.stringify({ ...event, notifications: [{ phases: [10], email: { recipients: ['a@example.com'] } }] }),
    );
    expect(err.problems).toEqual([expect.stringMatching(/^notifications\[0\]\.phases\[0\]: .*10/)]);
  });
});

describe('completeEvent', () => {
  it('fills version, id, time and source when they are left out', () => {
    const { version, id, time, source, ...rest } = event;
    const completed = completeEvent(rest, 'my-engine');
    expect(completed.version).toBe(1);
    expect(completed.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(Number.isNaN(Date.parse(completed.time))).toBe(false);
    expect(completed.source).toBe('my-engine');
  });

  it('keeps the ids it is given', () => {
    expect(completeEvent(event).id).toBe(event.id);
  });

  it('gives the same event published twice the same id, so a retry is delivered once', () => {
    const { version, id, time, source, ...rest } = event;
    const first = completeEvent(structuredClone(rest), 'herald-http');
    const again = completeEvent(structuredClone(rest), 'herald-cli');
    expect(again.id).toBe(first.id);
    // An RFC 9562 version 8 UUID.
    expect(first.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('derives the id from the content as given, whatever the order of its keys', () => {
    const a = { phase: 'FAILED', execution: { project: 'p', domain: 'd', name: 'n' }, labels: { x: '1', y: '2' } };
    const b = { labels: { y: '2', x: '1' }, execution: { name: 'n', domain: 'd', project: 'p' }, phase: 'FAILED' };
    expect(completeEvent(b).id).toBe(completeEvent(a).id);
  });

  it('gives events that differ in any field, time included, different ids', () => {
    const base = { execution: { project: 'p', domain: 'd', name: 'n' }, phase: 'FAILED' };
    const ids = [
      base,
      { ...base, phase: 'SUCCEEDED' },
      { ...base, execution: { ...base.execution, name: 'm' } },
      { ...base, time: '2026-11-21T10:00:00Z' },
      { ...base, time: '2026-11-21T10:00:01Z' },
      { ...base, labels: { team: 'ml' } },
    ].map((input) => completeEvent(input).id);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('canonicalJson', () => {
  it('sorts keys at every level, keeps array order, and drops undefined as JSON does', () => {
    expect(canonicalJson({ b: [2, { d: 1, c: undefined }], a: 'x' })).toBe('{"a":"x","b":[2,{"d":1}]}');
    expect(canonicalJson([undefined, null, 'é'])).toBe('[null,null,"é"]');
  });
});

describe('deriveEventId', () => {
  it('ignores an id the event carries, so it names the content alone', () => {
    const content = { execution: { project: 'p', domain: 'd', name: 'n' }, phase: 'FAILED' };
    expect(deriveEventId({ ...content, id: 'x' })).toBe(deriveEventId(content));
  });
});

describe('eventAttributes', () => {
  it('exposes phase, project and domain for server-side filtering', () => {
    expect(eventAttributes(event)).toEqual({ phase: 'FAILED', project: 'flytesnacks', domain: 'development' });
  });
});
