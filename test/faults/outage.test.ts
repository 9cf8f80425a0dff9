import { afterEach, describe, expect, inject, it } from 'vitest';
import { createStack, emailsFrom, eventually } from '../helpers/aws.js';
import { FlakyProxy } from '../helpers/flaky-proxy.js';
import {
  DeadLetters,
  eventIdOf,
  eventTally,
  numberedEvents,
  params,
  publishEvents,
  record,
  Scenario,
  settle,
} from './harness.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('email provider outage with recovery', () => {
  let scenario = new Scenario();
  afterEach(async () => {
    await scenario.stop();
    scenario = new Scenario();
  });

  it('delivers or dead-letters every event through the outage: none lost, none twice', async () => {
    // SES (moto) behind a proxy: 100 ms per call while up, so the outage starts mid-drain;
    // while down, the first half of the window answers 503, the second drops connections.
    const proxy = new FlakyProxy(inject('awsEndpoint'), 0);
    proxy.delayMs = 100;
    const ses = await proxy.start();
    scenario.defer(() => proxy.stop());
    // Short retries and five attempts: an event that meets the outage early runs out of
    // attempts inside it (its last attempt races any copy still sending), later ones recover.
    const stack = await createStack({
      maxInFlight: 8,
      maxAttempts: 5,
      processor: { retryBaseDelayMs: 1000, retryMaxDelayMs: 3000, deliveryTimeoutMs: 10_000 },
    });
    const events = numberedEvents(params.events, 'outage');
    await publishEvents(stack, events);
    const received = async () => (await emailsFrom(stack)).flatMap((m) => m.to.map(eventIdOf));

    const run = await scenario.run(stack, { AWS_ENDPOINT_URL_SESV2: ses, AWS_ENDPOINT_URL_SES: ses });
    await eventually(
      async () => expect((await received()).length, 'emails before the outage').toBeGreaterThanOrEqual(20),
      60_000,
      500,
    );
    const beforeOutage = new Set(await received()).size;
    const windowMs = params.outageSeconds * 1000;
    proxy.down = true;
    await sleep(windowMs / 2);
    proxy.mode = 'reset';
    await sleep(windowMs / 2);
    proxy.down = false;
    proxy.mode = '503';

    const deadLetters = new DeadLetters(stack);
    const { tally, inTime } = await settle(
      stack,
      eventTally(
        events.map((e) => e.id),
        received,
        deadLetters,
      ),
      { timeoutMs: 120_000, intervalMs: 1000 },
    );
    await record({
      scenario: '2 provider outage, recovery',
      ...tally,
      durationMs: scenario.elapsedMs(),
      notes: `SES; down ${params.outageSeconds} s after ${beforeOutage} sent (503, then resets), ${proxy.failed} calls failed; maxAttempts 5`,
    });

    expect(tally.lostKeys, 'events neither emailed nor dead-lettered').toEqual([]);
    expect(tally.duplicated, 'emails sent twice').toBe(0);
    expect(tally.deliveredAndDeadLettered, 'events both emailed and dead-lettered').toEqual([]);
    expect(tally.delivered + tally.deadLettered).toBe(events.length);
    expect(inTime, 'the queue emptied after the outage').toBe(true);

    // Hundreds of retries, but the log has a few lines per 10 s window and a count of the rest.
    const log = run.child.output.stderr.split('\n').filter((line) => line.startsWith('{'));
    const retryLines = log.filter((line) => JSON.parse(line).msg === 'delivery failed; retry scheduled');
    const windows = Math.ceil(scenario.elapsedMs() / 10_000) + 1;
    expect(proxy.failed).toBeGreaterThan(5 * windows);
    expect(retryLines.length).toBeLessThanOrEqual(5 * windows);
    expect(log.some((line) => /delivery failed; retry scheduled: \d+ more in the last/.test(line))).toBe(true);
  });
});
