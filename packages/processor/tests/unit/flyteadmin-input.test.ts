import { DecodeError } from '@herald/core';
import { compileConfigTemplates, type MessageInput, parseConfig } from '@herald/core/config';
import type { Emailer, EmailMessage } from '@herald/emailer';
import Long from 'long';
import { describe, expect, it } from 'vitest';
import { flyteidl } from '../../src/flyte/flyteidl.js';
import { type ReaderParts, type ReadOutcome, readMessage } from '../../src/inputs/read-message.js';
import type { ReceivedMessage } from '../../src/sources/source.js';

// Messages are built as FlyteAdmin builds them (flyteidl's own classes) and carried as gizmo
// carries them: an SNS envelope whose Subject is the key and Message the base64 of the bytes,
// the bare base64 with raw delivery, or the bytes with a `key` attribute on Pub/Sub.

const { flyteidl: fl, google } = flyteidl();
const EMAIL_KEY = 'flyteidl.admin.EmailNotification';

function emailBytes(fields: Record<string, unknown> = {}): Uint8Array {
  const { EmailMessage } = fl.admin;
  return EmailMessage.encode(
    EmailMessage.create({
      recipientsEmail: ['owner@example.com', 'team@example.com'],
      senderEmail: 'flyte-notifications@example.com',
      subjectLine: 'Notice: Execution "wf" has failed in "development".',
      body: '<html><body><p>Execution <b>abc</b> failed.</p><p>{{ unknown }}</p></body></html>',
      ...fields,
    }),
  ).finish();
}

const base64 = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');

function snsEnvelope(subject: string, bytes: Uint8Array): ReceivedMessage {
  const body = JSON.stringify({
    Type: 'Notification',
    MessageId: 'b7c1',
    TopicArn: 'arn:aws:sns:us-east-1:123456789012:flyte-notifications',
    Subject: subject,
    Message: base64(bytes),
    Timestamp: '2025-01-02T03:04:05.678Z',
  });
  return { id: 'sqs-1', body, attributes: {}, receiveCount: 1 };
}

const rawSqs = (bytes: Uint8Array): ReceivedMessage => ({
  id: 'sqs-2',
  body: base64(bytes),
  attributes: {},
  receiveCount: 1,
});

const pubsub = (key: string, bytes: Uint8Array): ReceivedMessage => ({
  id: 'ps-1',
  body: bytes,
  attributes: { key },
  receiveCount: 1,
});

function parts(input: MessageInput, yaml = ''): ReaderParts & { sent: EmailMessage[] } {
  const config = parseConfig(`notifications: {type: sandbox}\nherald:\n  processor: {input: ${input}}\n${yaml}`, {
    env: {},
  });
  const sent: EmailMessage[] = [];
  const emailer: Emailer = {
    name: 'outbox',
    send: async (email) => {
      sent.push(email);
      return { messageId: `m${sent.length}` };
    },
    close: async () => {},
  };
  return {
    config,
    templates: compileConfigTemplates(config),
    emailer,
    channels: new Map(),
    codeRules: [],
    sent,
  };
}

async function sendAll(outcome: ReadOutcome): Promise<void> {
  if (outcome.kind !== 'work') throw new Error(`expected work, got ${outcome.kind}`);
  for (const delivery of outcome.work.deliveries) {
    const prepared = await delivery.prepare({});
    await prepared?.send({ signal: new AbortController().signal });
  }
}

function refusal(read: () => unknown): string {
  try {
    read();
  } catch (err) {
    if (err instanceof DecodeError) return err.message;
    throw err;
  }
  throw new Error('expected a DecodeError');
}

describe("FlyteAdmin's rendered emails", () => {
  it('are sent as FlyteAdmin sends them, from each of the three forms they arrive in', async () => {
    const bytes = emailBytes();
    for (const message of [snsEnvelope(EMAIL_KEY, bytes), rawSqs(bytes), pubsub(EMAIL_KEY, bytes)]) {
      const reader = parts('auto');
      const outcome = readMessage(message, reader);
      await sendAll(outcome);
      expect(reader.sent).toEqual([
        {
          from: 'flyte-notifications@example.com',
          to: ['owner@example.com', 'team@example.com'],
          subject: 'Notice: Execution "wf" has failed in "development".',
          // Verbatim: FlyteAdmin leaves a placeholder it does not know as written.
          html: '<html><body><p>Execution <b>abc</b> failed.</p><p>{{ unknown }}</p></body></html>',
          text: 'Execution abc failed.\n\n{{ unknown }}',
          idempotencyKey: expect.stringMatching(/^flyteadmin-email-[0-9a-f]{32}\/email$/),
        },
      ]);
    }
  });

  it('are one email per publish: a redelivery is the same email, a second publish of equal bytes another', () => {
    const idOf = (message: ReceivedMessage) => {
      const outcome = readMessage(message, parts('auto'));
      return outcome.kind === 'work' ? outcome.work.id : outcome.kind;
    };
    const bytes = emailBytes();
    const published = snsEnvelope(EMAIL_KEY, bytes);
    // SNS or SQS delivering one publish again: same envelope (same SNS MessageId), another receive.
    expect(idOf({ ...published, id: 'sqs-receive-2', receiveCount: 2 })).toBe(idOf(published));
    // Two executions a template renders alike are two publishes: each must be told.
    const again = { ...published, body: String(published.body).replace('"MessageId":"b7c1"', '"MessageId":"c9d2"') };
    expect(idOf(again)).not.toBe(idOf(published));
    // Pub/Sub and raw SQS: the queue's own message id says which publish it is.
    expect(idOf(pubsub(EMAIL_KEY, bytes))).toBe(idOf({ ...pubsub(EMAIL_KEY, bytes), receiveCount: 3 }));
    expect(idOf(pubsub(EMAIL_KEY, bytes))).not.toBe(idOf({ ...pubsub(EMAIL_KEY, bytes), id: 'ps-2' }));
  });

  it('keep the subject on one line', async () => {
    const reader = parts('flyteadmin');
    await sendAll(
      readMessage(snsEnvelope(EMAIL_KEY, emailBytes({ subjectLine: 'Failed\r\nBcc: x@evil.example' })), reader),
    );
    expect(reader.sent[0]?.subject).toBe('Failed Bcc: x@evil.example');
  });

  it('are dead-lettered with the reason when they cannot be sent as written', () => {
    const read = (message: ReceivedMessage) => () => readMessage(message, parts('auto'));
    expect(refusal(read(snsEnvelope(EMAIL_KEY, emailBytes({ recipientsEmail: [] }))))).toBe(
      'FlyteAdmin EmailMessage recipients_email: is empty, so the email would reach nobody',
    );
    expect(
      refusal(read(pubsub(EMAIL_KEY, emailBytes({ recipientsEmail: ['ok@example.com', 'not an address'] })))),
    ).toBe('FlyteAdmin EmailMessage recipients_email[1]: expected an email address, got "not an address"');
    const truncated = emailBytes().slice(0, 30);
    expect(refusal(read(pubsub(EMAIL_KEY, truncated)))).toMatch(/^FlyteAdmin EmailMessage: not a valid protobuf/);
    const badUtf8 = emailBytes({ subjectLine: 'caf\u00e9' });
    badUtf8[badUtf8.indexOf(0xc3)] = 0xff;
    expect(refusal(read(pubsub(EMAIL_KEY, badUtf8)))).toBe('FlyteAdmin EmailMessage: a text field is not valid UTF-8');
    const envelope = snsEnvelope(EMAIL_KEY, emailBytes());
    const notBase64 = { ...envelope, body: String(envelope.body).replace('"Message":"', '"Message":"%') };
    expect(refusal(read(notBase64))).toBe("Message (SNS envelope): expected standard base64 of FlyteAdmin's protobuf");
  });

  it('are told from base64 that is not one, which is refused as neither reading', () => {
    expect(refusal(() => readMessage(rawSqs(new Uint8Array([1, 2, 3, 4, 5, 6])), parts('auto')))).toMatch(
      /^body: not JSON, so not a Herald event; read as base64 of a FlyteAdmin email; FlyteAdmin EmailMessage/,
    );
  });

  it("are not read on a queue declared to carry Herald's events", () => {
    expect(refusal(() => readMessage(rawSqs(emailBytes()), parts('herald')))).toMatch(/^body: not JSON/);
  });
});

describe("FlyteAdmin's execution events", () => {
  const occurredAt = google.protobuf.Timestamp.create({ seconds: Long.fromNumber(1_735_787_045), nanos: 0 });
  const request = (phase: number, key = 'flyteidl.admin.WorkflowExecutionEventRequest') => {
    const { WorkflowExecutionEventRequest } = fl.admin;
    const bytes = WorkflowExecutionEventRequest.encode(
      WorkflowExecutionEventRequest.create({
        requestId: 'r1',
        event: {
          executionId: { project: 'flytesnacks', domain: 'development', name: 'abc123' },
          producerId: 'propeller',
          phase,
          occurredAt,
          ...(phase === fl.core.WorkflowExecution.Phase.FAILED
            ? { error: { code: 'USER:Boom', message: 'boom' } }
            : {}),
        },
      }),
    ).finish();
    return snsEnvelope(key, bytes);
  };
  const rules = `  rules:\n    - {name: failures, match: {onlyPhases: [FAILED]}, email: [oncall@example.com]}\n`;

  it("go through Herald's rules: a failure is emailed, a running execution is not", async () => {
    const failed = parts('flyteadmin-events', rules);
    await sendAll(readMessage(request(fl.core.WorkflowExecution.Phase.FAILED), failed));
    expect(failed.sent.map((email) => [email.to, email.subject])).toEqual([
      [['oncall@example.com'], 'Notice: Execution "abc123" has failed in "development".'],
    ]);

    const running = parts('flyteadmin-events', rules);
    const outcome = readMessage(request(fl.core.WorkflowExecution.Phase.RUNNING), running);
    expect(outcome.kind === 'work' && outcome.work.deliveries).toEqual([]);
  });

  it('skip node and task events, counted rather than dead-lettered', () => {
    const outcome = readMessage(
      request(2, 'flyteidl.admin.NodeExecutionEventRequest'),
      parts('flyteadmin-events', rules),
    );
    expect(outcome.kind).toBe('skipped');
  });

  it("need their mode named, since externalEvents and cloudEvents v1 share FlyteAdmin's key", () => {
    expect(refusal(() => readMessage(request(6), parts('auto', rules)))).toMatch(
      /set herald\.processor\.input to flyteadmin-events or flyteadmin-cloudevents$/,
    );
  });
});
