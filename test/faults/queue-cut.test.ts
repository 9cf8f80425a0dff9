import { afterEach, describe, expect, inject, it } from 'vitest';
import { createStack, eventually } from '../helpers/aws.js';
import { FlakyProxy } from '../helpers/flaky-proxy.js';
import {
  DeadLetters,
  eventTally,
  numberedEvents,
  params,
  publishEvents,
  record,
  Scenario,
  settle,
  slowSmtp,
} from './harness.js';

describe('the path to the queue service cut and restored', () => {
  let scenario = new Scenario();
  afterEach(async () => {
    await scenario.stop();
    scenario = new Scenario();
  });

  it('loses no event when SQS is unreachable mid-drain for a while', async () => {
    // A slow SMTP server (100 ms per email): many deliveries are under way when the cut comes,
    // and their deletes fail with it.
    const smtp = await slowSmtp(scenario, 100);
    // Herald's AWS calls go through the proxy (emails go by SMTP, so those are SQS calls only);
    // the test's own reads of the queue go straight to the emulator.
    const proxy = new FlakyProxy(inject('awsEndpoint'), 0);
    const endpoint = await proxy.start();
    scenario.defer(() => proxy.stop());
    const stack = await createStack({ emailServerConfig: smtp.emailServerConfig, maxInFlight: 16, endpoint });
    const events = numberedEvents(params.events, 'cut');
    await publishEvents(stack, events);

    await scenario.run(stack);
    const target = Math.floor(events.length / 4);
    await eventually(
      async () => expect(smtp.distinctReceived(), 'events received before the cut').toBeGreaterThanOrEqual(target),
      90_000,
    );
    const beforeCut = smtp.distinctReceived();
    proxy.cut();
    const forwarded = proxy.forwarded;
    await new Promise((resolve) => setTimeout(resolve, params.cutSeconds * 1000));
    proxy.restore();

    const deadLetters = new DeadLetters(stack);
    const { tally, inTime } = await settle(
      stack,
      eventTally(
        events.map((e) => e.id),
        smtp.receivedIds,
        deadLetters,
      ),
      { timeoutMs: 120_000 },
    );
    await record({
      scenario: '3 queue service cut, restored',
      ...tally,
      durationMs: scenario.elapsedMs(),
      notes: `SMTP; SQS cut ${params.cutSeconds} s after ${beforeCut} emails; ${proxy.refused} connections refused in the cut`,
    });

    // The cut landed mid-drain and on herald's own path to the queue, or it proved nothing.
    expect(beforeCut).toBeLessThan(events.length);
    expect(proxy.forwarded, 'SQS calls through the proxy after the cut').toBeGreaterThan(forwarded);
    expect(tally.lostKeys, 'events neither emailed nor dead-lettered').toEqual([]);
    expect(tally.unexpected, 'emails to addresses nobody published').toEqual([]);
    expect(inTime, 'the queue emptied after the cut').toBe(true);
  });
});
