import { InFlightLimiter } from '@herald/processor';
import { describe, expect, it } from 'vitest';

const never = new AbortController().signal;

describe('InFlightLimiter', () => {
  it('counts reserved slots as unavailable but not as in flight', () => {
    const limiter = new InFlightLimiter(10);
    limiter.reserve(10);
    expect(limiter.available).toBe(0);
    expect(limiter.inFlight).toBe(0);
  });

  it('turns the filled part of a reservation into messages in flight and frees the rest', () => {
    const limiter = new InFlightLimiter(10);
    limiter.reserve(10);
    limiter.fill(10, 3);
    expect(limiter.inFlight).toBe(3);
    expect(limiter.available).toBe(7);
  });

  it('is idle while a receive waits with its reservation', async () => {
    const limiter = new InFlightLimiter(10);
    limiter.reserve(10);
    await expect(limiter.idle()).resolves.toBeUndefined();
  });

  it('wakes a waiting receive when a message is done', async () => {
    const limiter = new InFlightLimiter(1);
    limiter.reserve(1);
    limiter.fill(1, 1);
    let woke = false;
    const waiting = limiter.reserveSlots(1, 1, never).then(() => {
      woke = true;
    });
    await Promise.resolve();
    expect(woke).toBe(false);
    limiter.release();
    await waiting;
    expect(woke).toBe(true);
  });

  it('wakes a receive that wants a full batch only once that many slots are free', async () => {
    const limiter = new InFlightLimiter(20);
    limiter.reserve(20);
    limiter.fill(20, 20);
    let woke = false;
    const waiting = limiter.reserveSlots(10, 10, never).then(() => {
      woke = true;
    });
    for (let i = 0; i < 9; i++) limiter.release();
    await Promise.resolve();
    expect(woke).toBe(false);
    limiter.release();
    await waiting;
    expect(woke).toBe(true);
  });

  it('wakes waiters in order, each with slots of its own', async () => {
    const limiter = new InFlightLimiter(20);
    limiter.reserve(20);
    limiter.fill(20, 20);
    const woke: string[] = [];
    const first = limiter.reserveSlots(10, 10, never).then(() => woke.push('first'));
    const second = limiter.reserveSlots(10, 10, never).then(() => woke.push('second'));
    for (let i = 0; i < 15; i++) limiter.release();
    await first;
    await Promise.resolve();
    expect(woke).toEqual(['first']);
    for (let i = 0; i < 5; i++) limiter.release();
    await second;
    expect(woke).toEqual(['first', 'second']);
  });

  it('lets an aborted waiter go without holding back the ones behind it', async () => {
    const limiter = new InFlightLimiter(4);
    limiter.reserve(4);
    limiter.fill(4, 4);
    const stop = new AbortController();
    const big = limiter.reserveSlots(4, 4, stop.signal);
    let smallWoke = false;
    const small = limiter.reserveSlots(1, 1, never).then(() => {
      smallWoke = true;
    });
    limiter.release();
    await Promise.resolve();
    expect(smallWoke).toBe(false);
    stop.abort();
    await big;
    limiter.release();
    await small;
    expect(smallWoke).toBe(true);
  });
});
