import { afterEach, describe, expect, it } from 'vitest';
import { createStack, eventually } from '../helpers/aws.js';
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

describe('herald run killed with SIGKILL mid-backlog', () => {
  let scenario = new Scenario();
  afterEach(async () => {
    await scenario.stop();
    scenario = new Scenario();
  });

  it('loses no event when killed twice mid-drain and restarted; emails sent twice are counted', async () => {
    // A slow SMTP server (30 ms before each MAIL FROM is accepted), so a kill lands while
    // deliveries are under way and most of the backlog is still waiting.
    const smtp = await slowSmtp(scenario, 30);
    const stack = await createStack({ emailServerConfig: smtp.emailServerConfig, maxInFlight: 16 });
    const events = numberedEvents(params.events, 'kill');
    await publishEvents(stack, events);

    const killedAt: number[] = [];
    for (const share of [1 / 3, 2 / 3]) {
      const run = await scenario.run(stack);
      const target = Math.floor(events.length * share);
      await eventually(
        async () =>
          expect(smtp.distinctReceived(), `events received before the kill at ${target}`).toBeGreaterThanOrEqual(
            target,
          ),
        90_000,
      );
      await scenario.kill(run);
      killedAt.push(smtp.distinctReceived());
    }
    await scenario.run(stack);
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
      scenario: '1 SIGKILL mid-drain, restart',
      ...tally,
      durationMs: scenario.elapsedMs(),
      notes: `SMTP; killed twice, at ${killedAt.join(' and ')} events received; ledger in memory`,
    });

    // The kills landed mid-drain, or the scenario proved nothing.
    expect(killedAt.every((n) => n < events.length)).toBe(true);
    expect(tally.lostKeys, 'events neither emailed nor dead-lettered').toEqual([]);
    expect(tally.unexpected, 'emails to addresses nobody published').toEqual([]);
    expect(inTime, 'the queue emptied after the last restart').toBe(true);
  });
});
