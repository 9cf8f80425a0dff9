import { sampleEvent } from '@herald/core';
import { backoffDelayMs, routeEvent } from '@herald/processor';
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

describe('routeEvent', () => {
  const emailer = { defaultRecipients: [] as string[], defaultPhases: ['FAILED' as const] };
  const config = { emailer } as Parameters<typeof routeEvent>[1];

  it('selects only notifications whose phases include the event phase', () => {
    const event = sampleEvent({
      phase: 'SUCCEEDED',
      notifications: [
        { phases: ['FAILED'], email: { recipients: ['f@example.com'] } },
        { phases: ['SUCCEEDED'], email: { recipients: ['s@example.com'] } },
      ],
    });
    expect(routeEvent(event, config).map((d) => d.to)).toEqual([['s@example.com']]);
  });

  it('gives the same key whatever order the recipients come in', () => {
    const a = routeEvent(
      sampleEvent({ notifications: [{ phases: ['FAILED'], email: { recipients: ['x@e.com', 'y@e.com'] } }] }),
      config,
    );
    const b = routeEvent(
      sampleEvent({ notifications: [{ phases: ['FAILED'], email: { recipients: ['Y@e.com', 'x@e.com'] } }] }),
      config,
    );
    expect(a[0]?.key).toBe(b[0]?.key);
  });

  it('keeps emails with different templates apart', () => {
    const event = sampleEvent({
      notifications: [
        { phases: ['FAILED'], email: { recipients: ['x@e.com'] } },
        { phases: ['FAILED'], email: { recipients: ['x@e.com'], body: '<p>custom</p>' } },
      ],
    });
    expect(routeEvent(event, config)).toHaveLength(2);
  });

  it('adds default recipients only in the default phases', () => {
    const withDefaults = { emailer: { ...emailer, defaultRecipients: ['ops@e.com'] } } as Parameters<
      typeof routeEvent
    >[1];
    expect(routeEvent(sampleEvent({ notifications: [] }), withDefaults).map((d) => d.to)).toEqual([['ops@e.com']]);
    expect(routeEvent(sampleEvent({ phase: 'SUCCEEDED', notifications: [] }), withDefaults)).toEqual([]);
  });
});
