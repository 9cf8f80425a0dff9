import { DecodeError, QueueFullError, sampleEvent } from '@herald/core';
import { MemoryQueue } from '@herald/core/runtime';
import { MemoryPublisher, prepareEvents } from '@herald/publisher';
import { describe, expect, it } from 'vitest';

describe('prepareEvents', () => {
  it("refuses a notification on a phase that is not terminal, as Flyte's rule says", () => {
    const event = sampleEvent({
      notifications: [{ phases: ['FAILED', 'RUNNING'], email: { recipients: ['a@example.com'] } }],
    });
    expect(() => prepareEvents([event])).toThrow(DecodeError);
    expect(() => prepareEvents([event])).toThrow(
      'notifications[0].phases[1]: RUNNING is not a terminal phase (expected one of SUCCEEDED, FAILED, ABORTED, TIMED_OUT)',
    );
  });

  it('gives an event prepared again without an id the same id, so publishing it twice delivers it once', () => {
    const { id, time, version, source, ...rest } = sampleEvent();
    const [first] = prepareEvents([structuredClone(rest)]);
    const [again] = prepareEvents([structuredClone(rest)]);
    expect(again?.id).toBe(first?.id);
    expect(prepareEvents([{ ...rest, phase: 'TIMED_OUT' }])[0]?.id).not.toBe(first?.id);
  });

  it('fills in the envelope fields an engine may leave out', () => {
    const { id, time, version, source, ...rest } = sampleEvent();
    const [event] = prepareEvents([rest]);
    expect(event?.version).toBe(1);
    expect(event?.id).toBeTruthy();
  });
});

describe('MemoryPublisher', () => {
  it('publishes none of a batch that holds a bad event', async () => {
    const queue = new MemoryQueue(10);
    const bad = sampleEvent({ phase: 'DONE' as never });
    await expect(new MemoryPublisher(queue).publish([sampleEvent(), bad])).rejects.toThrow(DecodeError);
    expect(queue.size).toBe(0);
  });

  it('refuses at once when the queue is full, never waiting for the processor', async () => {
    const queue = new MemoryQueue(1);
    const publisher = new MemoryPublisher(queue);
    await publisher.publish([sampleEvent()]);
    await expect(publisher.publish([sampleEvent({ id: 'second' })])).rejects.toThrow(/in-memory queue is full/);
  });

  it('publishes none of a batch the queue has no room for, so a retried batch sends nothing twice', async () => {
    const queue = new MemoryQueue(3);
    const publisher = new MemoryPublisher(queue);
    await publisher.publish([sampleEvent({ id: 'first' })]);
    const batch = ['a', 'b', 'c'].map((id) => sampleEvent({ id }));
    await expect(publisher.publish(batch)).rejects.toThrow(QueueFullError);
    await expect(publisher.publish(batch)).rejects.toThrow('room for 2 of 3 messages (capacity 3)');
    expect(queue.size).toBe(1);
    expect(await publisher.publish(batch.slice(0, 2))).toHaveLength(2);
    expect(queue.size).toBe(3);
  });
});
