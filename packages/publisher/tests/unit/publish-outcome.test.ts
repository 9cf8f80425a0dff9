import type { SNSClient } from '@aws-sdk/client-sns';
import type { PubSub } from '@google-cloud/pubsub';
import { type ExecutionEvent, sampleEvent } from '@herald/core';
import { MemoryQueue } from '@herald/core/runtime';
import {
  EventTooLargeError,
  MemoryPublisher,
  PUBSUB_MAX_MESSAGE_BYTES,
  PublishError,
  PubSubPublisher,
  SNS_MAX_MESSAGE_BYTES,
  SnsPublisher,
  snsBatches,
  snsMessageBytes,
} from '@herald/publisher';
import { describe, expect, it } from 'vitest';

/** An event whose SNS message (body and attributes) is exactly `bytes` long. */
function eventOfSize(bytes: number, id: string): ExecutionEvent {
  const base = sampleEvent({ id, labels: { pad: '' } });
  return sampleEvent({ id, labels: { pad: 'x'.repeat(bytes - snsMessageBytes(base)) } });
}

const events = (n: number) => Array.from({ length: n }, (_, i) => sampleEvent({ id: `e-${i}` }));

/** An SNS client whose `send` records each call and answers from `respond`. */
function stubSns(respond: (name: string, input: Record<string, unknown>, call: number) => unknown) {
  const calls: { name: string; input: Record<string, unknown> }[] = [];
  const client = {
    send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
      // The command's class tells the stub which API was called; production code never looks.
      const name = command.constructor.name;
      calls.push({ name, input: command.input });
      return respond(name, command.input, calls.length);
    },
    destroy() {},
  } as unknown as SNSClient;
  return { client, calls };
}

/** PublishBatch answers that accept every entry. */
function acceptAll(input: Record<string, unknown>) {
  const entries = input.PublishBatchRequestEntries as { Id: string }[];
  return { Successful: entries.map((e) => ({ Id: e.Id, MessageId: `m-${e.Id}` })), Failed: [] };
}

function throttled(): Error {
  return Object.assign(new Error('Rate exceeded'), { name: 'Throttling', $fault: 'client', $metadata: {} });
}

function snsPublisher(client: SNSClient): SnsPublisher {
  return new SnsPublisher({ topicArn: 'arn:aws:sns:us-east-1:1:t', region: 'us-east-1', client, entryAttempts: 2 });
}

async function rejection<T extends Error>(promise: Promise<unknown>, type: new (...args: never[]) => T): Promise<T> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof type) return err;
    throw err;
  }
  throw new Error(`expected a ${type.name}`);
}

describe('SnsPublisher size limit', () => {
  it("counts an event's body and message attributes against SNS's 256 KiB", () => {
    const publisher = snsPublisher(stubSns(() => ({})).client);
    expect(publisher.maxMessageBytes).toBe(262_144);
    expect(() => publisher.check([eventOfSize(SNS_MAX_MESSAGE_BYTES, 'fits')])).not.toThrow();
    expect(() => publisher.check([eventOfSize(SNS_MAX_MESSAGE_BYTES + 1, 'over')])).toThrow(EventTooLargeError);
  });

  it('publishes none of a batch with one oversize event, naming its index, id and size', async () => {
    const { client, calls } = stubSns((_, input) => acceptAll(input));
    const batch = [...events(15), eventOfSize(300_000, 'big-one')];
    const err = await rejection(snsPublisher(client).publish(batch), EventTooLargeError);
    expect(calls).toEqual([]);
    expect(err.events).toEqual([
      {
        index: 15,
        eventId: 'big-one',
        bytes: 300_000,
        maxBytes: 262_144,
        reason:
          "event [15] (id big-one) is 300000 bytes, over SNS's limit of 262144 bytes per message (body and attributes)",
      },
    ]);
  });

  it('keeps every PublishBatch request within 256 KiB and ten entries', () => {
    const sizes = [100_000, 100_000, 100_000, 2_000, 2_000];
    const items = sizes.map((bytes, index) => ({ index, event: eventOfSize(bytes, `s-${index}`) }));
    expect(snsBatches(items).map((b) => b.map((i) => i.index))).toEqual([
      [0, 1],
      [2, 3, 4],
    ]);
    const many = events(23).map((event, index) => ({ index, event }));
    expect(snsBatches(many).map((b) => b.length)).toEqual([10, 10, 3]);
  });
});

describe('SnsPublisher failing part-way', () => {
  it('says which events were published and which not when a later batch fails', async () => {
    // GetTopicAttributes, the first batch of ten, then throttling.
    const { client } = stubSns((name, input, call) => {
      if (name === 'GetTopicAttributesCommand') return {};
      if (call <= 2) return acceptAll(input);
      throw throttled();
    });
    const err = await rejection(snsPublisher(client).publish(events(16)), PublishError);
    expect(err.published.map((p) => [p.index, p.eventId, p.messageId])).toEqual(
      Array.from({ length: 10 }, (_, i) => [i, `e-${i}`, `m-${i}`]),
    );
    expect(err.failed.map((f) => f.eventId)).toEqual(['e-10', 'e-11', 'e-12', 'e-13', 'e-14', 'e-15']);
    expect(err.failed[0]?.error).toMatch(/cannot publish to arn:aws:sns:us-east-1:1:t: Throttling: Rate exceeded/);
    expect(err.message).toMatch(/10 of 16 events were published before the failure; 6 were not/);
  });

  it('accounts for entries SNS refused within a batch and for those it accepted', async () => {
    const { client } = stubSns((name, input) => {
      if (name === 'GetTopicAttributesCommand') return {};
      const entries = input.PublishBatchRequestEntries as { Id: string }[];
      return {
        Successful: entries.filter((e) => e.Id !== '1').map((e) => ({ Id: e.Id, MessageId: `m-${e.Id}` })),
        Failed: [{ Id: '1', Code: 'InvalidParameter', Message: 'bad', SenderFault: true }],
      };
    });
    const err = await rejection(snsPublisher(client).publish(events(3)), PublishError);
    expect(err.published.map((p) => p.eventId)).toEqual(['e-0', 'e-2']);
    expect(err.failed).toEqual([{ index: 1, eventId: 'e-1', error: 'SNS refused it: InvalidParameter: bad' }]);
  });

  it('lists every event as not published when the topic cannot be reached', async () => {
    const { client } = stubSns(() => {
      throw Object.assign(new Error('no such topic'), { name: 'NotFoundException', $metadata: {} });
    });
    const err = await rejection(snsPublisher(client).publish(events(2)), PublishError);
    expect(err.published).toEqual([]);
    expect(err.failed.map((f) => f.index)).toEqual([0, 1]);
    expect(err.message).toContain('does not exist');
  });
});

/** A Pub/Sub client whose topic accepts the first `accepted` messages and fails the rest. */
function stubPubSub(accepted: number) {
  let published = 0;
  const topic = {
    getMetadata: async () => [{}],
    publishMessage: async () => {
      published++;
      if (published > accepted) throw new Error('8 RESOURCE_EXHAUSTED: quota');
      return `p-${published}`;
    },
    resumePublishing() {},
    flush: async () => {},
  };
  return { client: { topic: () => topic, close: async () => {} } as unknown as PubSub, sent: () => published };
}

describe('PubSubPublisher', () => {
  const publisher = (client: PubSub) => new PubSubPublisher({ projectId: 'p', topicName: 't', client });

  it('refuses an event over 10 MB before sending any', async () => {
    const stub = stubPubSub(100);
    const big = sampleEvent({ id: 'huge', labels: { pad: 'x'.repeat(PUBSUB_MAX_MESSAGE_BYTES) } });
    const err = await rejection(publisher(stub.client).publish([sampleEvent(), big]), EventTooLargeError);
    expect(stub.sent()).toBe(0);
    expect(err.events.map((e) => [e.index, e.eventId, e.maxBytes])).toEqual([[1, 'huge', 10_000_000]]);
    expect(err.message).toContain("over Pub/Sub's limit of 10000000 bytes per message (data and attributes)");
  });

  it('says which events were published and which not when some fail', async () => {
    const err = await rejection(publisher(stubPubSub(2).client).publish(events(3)), PublishError);
    expect(err.published.map((p) => [p.eventId, p.messageId])).toEqual([
      ['e-0', 'p-1'],
      ['e-1', 'p-2'],
    ]);
    expect(err.failed).toEqual([{ index: 2, eventId: 'e-2', error: '8 RESOURCE_EXHAUSTED: quota' }]);
    expect(err.message).toMatch(/^cannot publish to Pub\/Sub topic t: 8 RESOURCE_EXHAUSTED/);
  });
});

describe('MemoryPublisher size limit', () => {
  it('takes any size by default, and refuses what is over a limit it is given', async () => {
    const big = sampleEvent({ id: 'big', labels: { pad: 'x'.repeat(300_000) } });
    expect(new MemoryPublisher(new MemoryQueue(10)).maxMessageBytes).toBeUndefined();
    await new MemoryPublisher(new MemoryQueue(10)).publish([big]);

    const queue = new MemoryQueue(10);
    const limited = new MemoryPublisher(queue, { maxMessageBytes: SNS_MAX_MESSAGE_BYTES });
    await expect(limited.publish([sampleEvent(), big])).rejects.toThrow(EventTooLargeError);
    expect(queue.size).toBe(0);
  });
});
