import { type ExecutionEvent, sampleEvent } from '@herald/core';
import { afterEach, describe, expect, it } from 'vitest';
import { failedEvent, type Harness, makeHarness } from '../helpers/harness.js';

let h: Harness;
afterEach(async () => {
  await h?.processor.stop();
});

/** A FAILED event with `count` labels whose email notification carries its own body. */
function eventWithBody(id: string, body: string, labels = 0): ExecutionEvent {
  return sampleEvent({
    id,
    execution: { project: 'p', domain: 'd', name: id },
    labels: Object.fromEntries(Array.from({ length: labels }, (_, i) => [`key${i}`, `value${i}`])),
    notifications: [{ phases: ['FAILED'], email: { recipients: ['owner@example.com'], body } }],
  });
}

/** Event ids in the order they were delivered or dead-lettered. */
function settledOrder(h: Harness): string[] {
  const order: string[] = [];
  h.processor.events.on('delivered', (d) => order.push(d.eventId));
  h.processor.events.on('dead_lettered', (d) => order.push(`dead:${d.eventId}`));
  return order;
}

// Templates carried on events render in a worker thread, which loads Handlebars when it starts.
describe('templates carried on events', { timeout: 60_000 }, () => {
  it('are delivered like configured ones, rendered from the event', async () => {
    h = makeHarness();
    h.processor.start();
    h.publish(eventWithBody('own', '<p>{{ name }} is {{upper phase}}</p>'));
    await h.acked(1);
    expect(h.emailer.sent).toEqual([
      expect.objectContaining({ to: ['owner@example.com'], html: '<p>own is FAILED</p>', text: 'own is FAILED' }),
    ]);
  });

  it('that loop {{#each @root.labels}} three deep over 1000 labels are dead-lettered at once while other events flow', async () => {
    h = makeHarness();
    h.processor.start();
    const nested =
      '{{#each @root.labels}}{{#each @root.labels}}{{#each @root.labels}}{{@key}}{{/each}}{{/each}}{{/each}}';
    h.publish(eventWithBody('nested', nested, 1000));
    for (let i = 0; i < 20; i++) h.publish(failedEvent(`good${i}`));
    await h.acked(21);

    expect(h.emailer.sent).toHaveLength(20);
    expect(h.source.deadLettered).toEqual([
      expect.objectContaining({
        kind: 'permanent-failure',
        eventId: 'nested',
        reason:
          'event notification (event notifications[0]).body: nests loops ({{#each}}) 3 deep; a template carried on an event may nest them at most 2 deep',
      }),
    ]);
  });

  it('that run over their budget are stopped and dead-lettered, while the processor keeps delivering', async () => {
    h = makeHarness('', { eventTemplateBudgetMs: 200 });
    const order = settledOrder(h);
    let ticks = 0;
    const ticker = setInterval(() => ticks++, 5);
    h.processor.start();
    // Within every static limit (two loops), but each step serialises 1000 labels: minutes of work.
    const slow =
      '{{#each @root.labels}}{{#each @root.labels}}{{#if (eq (json @root.labels) "")}}x{{/if}}{{/each}}{{/each}}';
    h.publish(eventWithBody('slow', slow, 1000));
    for (let i = 0; i < 20; i++) h.publish(failedEvent(`good${i}`));
    h.publish(eventWithBody('after', '<p>{{ name }}</p>'));
    await h.acked(22);
    clearInterval(ticker);

    expect(h.source.deadLettered).toEqual([
      expect.objectContaining({
        kind: 'permanent-failure',
        eventId: 'slow',
        reason:
          'event notification (event notifications[0]): rendering took longer than the 200 ms budget for templates carried on events (herald.processor.eventTemplateBudgetMs) and was stopped',
      }),
    ]);
    // Every good event was delivered before the slow one was given up on, and this thread's
    // timers kept firing meanwhile: nothing blocked the event loop.
    expect(order.slice(0, 20).every((id) => id.startsWith('good'))).toBe(true);
    expect(order).toContain('after');
    expect(ticks).toBeGreaterThan(1);
    expect(h.seen.retry_scheduled).toHaveLength(0);
  });

  it('that call log are dead-lettered naming the helper, and write nothing', async () => {
    h = makeHarness();
    h.processor.start();
    h.publish(eventWithBody('forger', '{{log \'{"level":"info","msg":"email delivered"}\'}}'));
    await h.acked(1);
    expect(h.emailer.attempts).toHaveLength(0);
    expect(h.source.deadLettered[0]?.reason).toBe(
      "event notification (event notifications[0]).body: {{log}} is not available in Herald's templates: a template must not write to Herald's logs",
    );
  });
});
