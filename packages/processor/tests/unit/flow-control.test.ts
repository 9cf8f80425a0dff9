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
    const waiting = limiter.waitForSlot(never).then(() => {
      woke = true;
    });
    await Promise.resolve();
    expect(woke).toBe(false);
    limiter.release();
    await waiting;
    expect(woke).toBe(true);
  });
});
