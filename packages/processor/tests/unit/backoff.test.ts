import { backoffDelayMs } from '@herald/processor';
import { describe, expect, it } from 'vitest';

describe('backoffDelayMs', () => {
  const policy = { baseDelayMs: 1000, maxDelayMs: 60_000 };

  it('doubles per attempt, with half of it random', () => {
    expect([1, 2, 3].map((a) => backoffDelayMs(policy, a, 0, () => 0))).toEqual([500, 1000, 2000]);
    expect([1, 2, 3].map((a) => backoffDelayMs(policy, a, 0, () => 1))).toEqual([1000, 2000, 4000]);
  });

  it('never exceeds the maximum', () => {
    expect(backoffDelayMs(policy, 30, 0, () => 1)).toBe(60_000);
  });

  it("waits at least as long as the server's Retry-After, up to the maximum", () => {
    expect(backoffDelayMs(policy, 1, 7_000, () => 0)).toBe(7_000);
    expect(backoffDelayMs(policy, 1, 600_000, () => 0)).toBe(60_000);
  });
});
