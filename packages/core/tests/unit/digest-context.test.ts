import { type ExecutionEvent, type Phase, sampleEvent } from '@herald/core';
import {
  buildDigestContext,
  DEFAULT_DIGEST_HTML,
  DEFAULT_DIGEST_SUBJECT,
  DEFAULT_DIGEST_TEXT,
  DIGEST_LISTED,
  type DigestSummary,
  TemplateRenderer,
} from '@herald/core/templates';
import { describe, expect, it } from 'vitest';

/** One event per phase given, each its own execution (`e0`, `e1`, …) of project flytesnacks. */
function events(...phases: Phase[]): ExecutionEvent[] {
  return phases.map((phase, i) =>
    sampleEvent({ id: `id-${i}`, phase, execution: { project: 'flytesnacks', domain: 'development', name: `e${i}` } }),
  );
}

function summary(overrides: Partial<DigestSummary> = {}): DigestSummary {
  return {
    rule: 'storm',
    group: {},
    windowMs: 600_000,
    events: events('FAILED'),
    openedAt: new Date('2026-11-21T10:00:00Z'),
    closedAt: new Date('2026-11-21T10:10:00Z'),
    sentFirst: undefined,
    ...overrides,
  };
}

const renderer = new TemplateRenderer();
const subject = renderer.compilePlain(DEFAULT_DIGEST_SUBJECT, 'subject');
const text = renderer.compilePlain(DEFAULT_DIGEST_TEXT, 'text');

describe('a digest context', () => {
  it('counts the events of each phase and says so most frequent first', () => {
    const context = buildDigestContext(
      summary({ events: events('TIMED_OUT', 'FAILED', 'SUCCEEDED', 'FAILED', 'SUCCEEDED', 'FAILED') }),
    );
    expect(context.count).toBe(6);
    expect(context.phases).toEqual({ TIMED_OUT: 1, FAILED: 3, SUCCEEDED: 2 });
    expect(context.phaseSummary).toBe('3 FAILED, 2 SUCCEEDED, 1 TIMED_OUT');
  });

  it('lists phases seen equally often in the order they first came', () => {
    expect(buildDigestContext(summary({ events: events('TIMED_OUT', 'FAILED') })).phaseSummary).toBe(
      '1 TIMED_OUT, 1 FAILED',
    );
    expect(buildDigestContext(summary({ events: events('FAILED', 'TIMED_OUT') })).phaseSummary).toBe(
      '1 FAILED, 1 TIMED_OUT',
    );
  });

  it('makes every event a full event context, oldest first, and names the first and last', () => {
    const context = buildDigestContext(summary({ events: events('FAILED', 'TIMED_OUT', 'FAILED') }));
    expect(context.events.map((e) => [e.name, e.phaseName, e.phase])).toEqual([
      ['e0', 'FAILED', 'failed'],
      ['e1', 'TIMED_OUT', 'timed_out'],
      ['e2', 'FAILED', 'failed'],
    ]);
    expect(context.first?.name).toBe('e0');
    expect(context.last?.name).toBe('e2');
    expect(context.events[0]).toMatchObject({
      errorMessage: 'division by zero',
      workflow: { name: 'core.example.wf' },
    });
  });

  it(`lists the first ${DIGEST_LISTED} events and counts the rest in more`, () => {
    const many = events(...Array.from({ length: 120 }, () => 'FAILED' as const));
    const context = buildDigestContext(summary({ events: many }));
    expect(context.count).toBe(120);
    expect(context.events).toHaveLength(120);
    expect(context.listed).toHaveLength(50);
    expect(context.listed.map((e) => e.name)).toEqual(many.slice(0, 50).map((e) => e.execution.name));
    expect(context.more).toBe(70);
    expect(context.last?.name).toBe('e119');

    const exactly = buildDigestContext(summary({ events: many.slice(0, 50) }));
    expect([exactly.listed.length, exactly.more]).toEqual([50, 0]);
    const one = buildDigestContext(summary({ events: many.slice(0, 51) }));
    expect([one.listed.length, one.more]).toEqual([50, 1]);
  });

  it('writes the group, the window and the times as a person reads them', () => {
    const context = buildDigestContext(
      summary({ group: { project: 'flytesnacks', domain: 'development' }, windowMs: 5_400_000 }),
    );
    expect(context).toMatchObject({
      digest: true,
      rule: 'storm',
      group: { project: 'flytesnacks', domain: 'development' },
      groupText: 'project=flytesnacks domain=development',
      window: '1h30m',
      openedAt: '2026-11-21T10:00:00.000Z',
      closedAt: '2026-11-21T10:10:00.000Z',
      sentFirst: undefined,
    });
    expect(buildDigestContext(summary({ windowMs: 30_000 })).window).toBe('30s');
    expect(buildDigestContext(summary({ windowMs: 600_000 })).window).toBe('10m');
    expect(buildDigestContext(summary()).groupText).toBe('');
  });

  it('has the event sent on its own when the group opened, apart from the events', () => {
    const [opener] = events('FAILED');
    const context = buildDigestContext(summary({ sentFirst: opener }));
    expect(context.sentFirst).toMatchObject({ name: 'e0', phaseName: 'FAILED' });
  });

  it('counts nothing in an empty digest', () => {
    const context = buildDigestContext(summary({ events: [] }));
    expect(context).toMatchObject({ count: 0, listed: [], more: 0, phases: {}, phaseSummary: '' });
    expect(context.first).toBeUndefined();
    expect(context.last).toBeUndefined();
  });
});

describe("Herald's digest templates", () => {
  it('say how many notifications, in the singular for one, with the group when there is one', () => {
    expect(subject(buildDigestContext(summary({ events: events('FAILED', 'FAILED', 'TIMED_OUT') })))).toBe(
      '[Herald] 3 notifications: 2 FAILED, 1 TIMED_OUT',
    );
    expect(subject(buildDigestContext(summary({ group: { project: 'flytesnacks' } })))).toBe(
      '[Herald] 1 notification: 1 FAILED (project=flytesnacks)',
    );
  });

  it('list each event on a line, then how many more were left out', () => {
    const many = events(...Array.from({ length: 52 }, () => 'FAILED' as const));
    const lines = text(buildDigestContext(summary({ events: many }))).split('\n');
    expect(lines[0]).toBe('Rule storm, a 10m window:');
    expect(lines[1]).toBe('• flytesnacks/development/e0 FAILED (core.example.wf): division by zero');
    expect(lines.filter((line) => line.startsWith('• '))).toHaveLength(50);
    expect(lines.at(-2)).toBe('… and 2 more');
  });

  it('escape event values in the HTML body of a digest email', () => {
    const hostile = sampleEvent({ error: { code: 'X', message: '<script>alert(1)</script>' } });
    const email = renderer
      .compileEmail({ subject: DEFAULT_DIGEST_SUBJECT, html: DEFAULT_DIGEST_HTML }, 'digest')
      .render(buildDigestContext(summary({ events: [hostile] })) as never);
    expect(email.html).toContain('&lt;script&gt;');
    expect(email.html).not.toContain('<script>');
    expect(email.subject).toBe('[Herald] 1 notification: 1 FAILED');
  });
});
