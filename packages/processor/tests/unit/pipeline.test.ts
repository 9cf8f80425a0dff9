import { sampleEvent } from '@herald/core';
import { afterEach, describe, expect, it } from 'vitest';
import { failedEvent, type Harness, makeHarness } from '../helpers/harness.js';

let h: Harness;
afterEach(async () => {
  await h?.processor.stop();
});

describe('pipeline', () => {
  it('delivers an email for a matching notification and acks the message', async () => {
    h = makeHarness();
    h.processor.start();
    h.publish(failedEvent('e1', ['a@example.com']));
    await h.acked(1);

    expect(h.emailer.sent).toHaveLength(1);
    expect(h.emailer.sent[0]).toMatchObject({
      from: 'herald@example.com',
      to: ['a@example.com'],
      subject: 'e1 failed',
      html: '<p>e1</p>',
      text: 'e1',
      idempotencyKey: expect.stringMatching(/^e1\/email:default:/),
    });
    expect(h.queue.size).toBe(0);
  });

  it('acks an event no notification asks for, sending nothing', async () => {
    h = makeHarness();
    h.processor.start();
    h.publish(sampleEvent({ phase: 'RUNNING' }));
    await h.acked(1);
    expect(h.emailer.attempts).toHaveLength(0);
  });

  it('dead-letters an undecodable message with its reason and keeps delivering the others', async () => {
    h = makeHarness();
    h.processor.start();
    h.publish('this is not an event {');
    h.publish(failedEvent('e2'));
    await h.acked(2);

    expect(h.source.deadLettered).toHaveLength(1);
    expect(h.source.deadLettered[0]).toMatchObject({ kind: 'undecodable', body: 'this is not an event {' });
    expect(h.source.deadLettered[0]?.reason).toMatch(/^body: not JSON/);
    expect(h.emailer.sent.map((m) => m.subject)).toEqual(['e2 failed']);
  });

  it('retries a transient failure with backoff and then delivers exactly once', async () => {
    h = makeHarness();
    h.emailer.script.push('transient', 'transient');
    h.processor.start();
    h.publish(failedEvent('e3'));
    await h.acked(1);

    expect(h.emailer.attempts).toHaveLength(3);
    expect(h.emailer.sent).toHaveLength(1);
    expect(h.seen.retry_scheduled.map((r) => [r.attempt, r.delayMs])).toEqual([
      [1, 8], // base 10 ms, equal jitter at random 0.5 → 7.5 rounded
      [2, 15],
    ]);
  });

  it('does not send again to a destination that succeeded when another one is retried', async () => {
    h = makeHarness();
    h.emailer.byRecipient.set('flaky@example.com', 'transient');
    const event = sampleEvent({
      id: 'e4',
      notifications: [
        { phases: ['FAILED'], email: { recipients: ['steady@example.com'] } },
        { phases: ['FAILED'], email: { recipients: ['flaky@example.com'], subject: 'other template' } },
      ],
    });
    h.processor.start();
    h.publish(event);
    await h.acked(1);

    const toSteady = h.emailer.attempts.filter((m) => m.to[0] === 'steady@example.com');
    expect(toSteady).toHaveLength(1);
    expect(h.seen.duplicate_skipped.length).toBeGreaterThan(0);
    // maxAttempts is 3: the flaky destination is given up on and recorded, not dropped.
    expect(h.source.deadLettered).toEqual([
      expect.objectContaining({
        kind: 'attempts-exhausted',
        eventId: 'e4',
        reason: expect.stringMatching(/^gave up after 3 attempts/),
      }),
    ]);
  });

  it('dead-letters a permanently failing destination while the others are delivered once', async () => {
    h = makeHarness();
    h.emailer.byRecipient.set('bounce@example.com', 'permanent');
    const event = sampleEvent({
      id: 'e5',
      notifications: [
        { phases: ['FAILED'], email: { recipients: ['bounce@example.com'], subject: 'a' } },
        { phases: ['FAILED'], email: { recipients: ['fine@example.com'] } },
      ],
    });
    h.processor.start();
    h.publish(event);
    await h.acked(1);

    expect(h.emailer.sent.map((m) => m.to)).toEqual([['fine@example.com']]);
    expect(h.source.deadLettered).toEqual([
      expect.objectContaining({ kind: 'permanent-failure', reason: 'recording: address rejected', eventId: 'e5' }),
    ]);
    expect(h.seen.retry_scheduled).toHaveLength(0);
  });

  it('dead-letters a destination whose event-supplied template does not parse', async () => {
    h = makeHarness();
    h.processor.start();
    h.publish(
      sampleEvent({
        notifications: [{ phases: ['FAILED'], email: { recipients: ['x@example.com'], subject: '{{#if' } }],
      }),
    );
    await h.acked(1);
    expect(h.source.deadLettered[0]).toMatchObject({ kind: 'permanent-failure' });
    expect(h.source.deadLettered[0]?.reason).toMatch(/template does not parse/);
  });

  it('treats an unclassified provider error as transient rather than losing the message', async () => {
    h = makeHarness();
    h.emailer.script.push('throw');
    h.processor.start();
    h.publish(failedEvent('e6'));
    await h.acked(1);
    expect(h.emailer.sent).toHaveLength(1);
    expect(h.seen.retry_scheduled[0]?.error).toBe('bug in provider');
  });

  it('suppresses a second email when the same event is delivered twice', async () => {
    h = makeHarness();
    h.processor.start();
    h.publish(failedEvent('e7'));
    h.publish(failedEvent('e7'));
    await h.acked(2);
    expect(h.emailer.sent).toHaveLength(1);
    expect(h.seen.duplicate_skipped).toHaveLength(1);
  });

  it('on its last attempt, leaves a delivery another copy is making to that copy instead of dead-lettering it', async () => {
    h = makeHarness('', { maxAttempts: 1 });
    h.emailer.delayMs = 100;
    h.processor.start();
    // Two copies of one event (SNS and SQS deliver at least once), handled at the same time.
    h.publish(failedEvent('twice'));
    h.publish(failedEvent('twice'));
    await h.acked(2);

    expect(h.emailer.sent).toHaveLength(1);
    expect(h.source.deadLettered).toHaveLength(0);
    expect(h.seen.dead_lettered).toHaveLength(0);
    expect(h.seen.duplicate_skipped).toHaveLength(1);
  });

  it('does not count a message as settled when the source refuses to take it back', async () => {
    h = makeHarness();
    h.emailer.script.push('transient');
    const refused = new Promise<void>((resolve) => h.processor.events.on('source_error', () => resolve()));
    // What SQS answers to a stale receipt handle.
    h.source.retryLater = async () => {
      throw new Error('The input receipt handle is invalid');
    };
    h.processor.start();
    h.publish(failedEvent('stale'));
    await refused;

    expect(h.seen.retry_scheduled).toHaveLength(1);
    expect(h.seen.source_error).toEqual([expect.objectContaining({ operation: 'retryLater' })]);
    expect(h.seen.message_settled).toHaveLength(0);
  });

  it('sends one email when the same address is reached by two notifications', async () => {
    h = makeHarness('  emailer: {defaultRecipients: [A@example.com]}');
    h.processor.start();
    h.publish(failedEvent('e8', ['a@example.com', 'b@example.com']));
    await h.acked(1);
    expect(h.emailer.sent.map((m) => m.to)).toEqual([['a@example.com', 'b@example.com']]);
  });
});

describe('processor', () => {
  it('never has more messages in flight than maxInFlight', async () => {
    h = makeHarness('', { maxInFlight: 3 });
    h.emailer.delayMs = 5;
    h.processor.start();
    for (let i = 0; i < 20; i++) h.publish(failedEvent(`m${i}`));
    await h.acked(20);
    expect(h.emailer.sent).toHaveLength(20);
    expect(h.emailer.maxActive).toBe(3);
  });

  it('works on several messages at once', async () => {
    h = makeHarness('', { maxInFlight: 8 });
    h.emailer.delayMs = 5;
    h.processor.start();
    for (let i = 0; i < 8; i++) h.publish(failedEvent(`p${i}`));
    await h.acked(8);
    expect(h.emailer.maxActive).toBe(8);
  });

  it('cancels a send that runs past the delivery timeout and retries it, emailing once', async () => {
    h = makeHarness('', { deliveryTimeoutMs: 400 });
    h.emailer.script.push('hang');
    h.processor.start();
    h.publish(failedEvent('slow'));
    await h.acked(1);
    expect(h.seen.retry_scheduled).toEqual([
      expect.objectContaining({ eventId: 'slow', error: expect.stringContaining('aborted') }),
    ]);
    expect(h.emailer.sent).toHaveLength(1);
    expect(h.emailer.active).toBe(0);
  });

  it('on stop, cancels deliveries still running after the grace period and records what is left', async () => {
    h = makeHarness();
    h.emailer.fallback = 'hang';
    h.processor.start();
    h.publish(failedEvent('s1'));
    await new Promise<void>((resolve) => h.processor.events.on('message_received', () => resolve()));
    await h.processor.stop();

    // The hung send was aborted (not left running to send later), the message went back to
    // the queue, and closing the in-memory source recorded it instead of dropping it.
    expect(h.emailer.active).toBe(0);
    expect(h.emailer.sent).toHaveLength(0);
    expect(h.source.deadLettered).toEqual([expect.objectContaining({ kind: 'shutdown' })]);
    expect(h.queue.size).toBe(0);
  });

  it('leaves no timer behind once stopped, so `herald run` exits as soon as it has drained', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    h = makeHarness();
    h.processor.start();
    h.publish(failedEvent('t1'));
    await h.acked(1);
    await h.processor.stop();
    expect(timers()).toBe(before);
  });
});
