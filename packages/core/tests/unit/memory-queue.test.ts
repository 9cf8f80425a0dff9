import { QueueFullError } from '@herald/core';
import { MemoryQueue } from '@herald/core/runtime';
import { afterEach, describe, expect, it, vi } from 'vitest';

const never = new AbortController().signal;

describe('MemoryQueue', () => {
  afterEach(() => vi.useRealTimers());

  it('refuses at once when full instead of making the publisher wait', () => {
    const queue = new MemoryQueue(2);
    queue.send('a');
    queue.send('b');
    expect(() => queue.send('c')).toThrow(QueueFullError);
  });

  it('counts a received message against capacity until it is acked', async () => {
    const queue = new MemoryQueue(1);
    queue.send('a');
    const [message] = await queue.receive(10, never);
    expect(() => queue.send('b')).toThrow(QueueFullError);
    queue.ack(message as never);
    expect(queue.size).toBe(0);
    expect(() => queue.send('b')).not.toThrow();
  });

  it('hands a message out once, then again only after it is released, with its receive count', async () => {
    const queue = new MemoryQueue(10);
    queue.send('a');
    const [first] = await queue.receive(10, never);
    const aborted = new AbortController();
    aborted.abort();
    expect(await queue.receive(10, aborted.signal)).toEqual([]);
    queue.release(first as never);
    const [again] = await queue.receive(10, never);
    expect(again?.body).toBe('a');
    expect(again?.receiveCount).toBe(2);
  });

  it('brings a delayed message back only when its delay is over', async () => {
    vi.useFakeTimers();
    const queue = new MemoryQueue(10);
    queue.send('a');
    const [message] = await queue.receive(10, never);
    queue.release(message as never, 5_000);
    const pending = queue.receive(10, never);
    let received = false;
    void pending.then(() => {
      received = true;
    });
    await vi.advanceTimersByTimeAsync(4_999);
    expect(received).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect((await pending).map((m) => m.body)).toEqual(['a']);
  });

  it('wakes a waiting receiver when a message is sent', async () => {
    const queue = new MemoryQueue(10);
    const pending = queue.receive(10, never);
    queue.send('x');
    expect((await pending).map((m) => m.body)).toEqual(['x']);
  });
});
