import { afterEach, describe, expect, it } from 'vitest';
import { createStack, eventually } from '../helpers/aws.js';
import {
  DeadLetters,
  eventIdOf,
  eventTally,
  type LoggedDelivery,
  numberedEvents,
  params,
  postgresDatabase,
  publishEvents,
  readDeliveryLog,
  record,
  Scenario,
  settle,
  slowSmtp,
} from './harness.js';

/**
 * One attempt is bounded by the delivery timeout and a claim's lease is that plus 30 s
 * (`createLedger`): 5 s here, so the dead replica's claims expire 35 s after they were taken.
 */
const DELIVERY_TIMEOUT_MS = 5000;

describe('a replica on a PostgreSQL store killed with SIGKILL mid-backlog', () => {
  let scenario = new Scenario();
  afterEach(async () => {
    await scenario.stop();
    scenario = new Scenario();
  });

  it('loses nothing, never resends what the store recorded as delivered, duplicates only what was on the wire', async () => {
    const storeUrl = await postgresDatabase(scenario);
    // 100 ms before each message is accepted: sends last long enough for a kill to find some under way.
    const smtp = await slowSmtp(scenario, 100);
    const stack = await createStack({
      emailServerConfig: smtp.emailServerConfig,
      maxInFlight: 16,
      processor: { deliveryTimeoutMs: DELIVERY_TIMEOUT_MS },
      herald: `  store: { url: "${storeUrl}" }\n`,
    });
    const events = numberedEvents(params.events, 'crash');
    await publishEvents(stack, events);

    const victim = await scenario.run(stack);
    await scenario.run(stack);
    const target = Math.floor(events.length / 3);
    await eventually(
      async () => expect(smtp.distinctReceived(), `events received before the kill`).toBeGreaterThanOrEqual(target),
      90_000,
    );
    // Kill while the victim holds claims (sends under way), when it does within a few seconds:
    // those are the sends this scenario is about.
    const pid = String(victim.child.pid);
    const ownedByVictim = (row: LoggedDelivery) => (row.leaseOwner ?? '').split(':').at(-2) === pid;
    for (const until = Date.now() + 5000; Date.now() < until; ) {
      if ((await readDeliveryLog(storeUrl)).some((row) => row.status === 'pending' && ownedByVictim(row))) break;
    }
    await scenario.kill(victim);
    const killedAt = smtp.distinctReceived();

    // What the store says at the kill: settled deliveries, and the claims the dead replica held
    // (sends it had started and not recorded: the only ones that may have reached the server
    // and be sent again once their lease expires). Its owner id is `host:pid:random`.
    const atKill = await readDeliveryLog(storeUrl);
    const deliveredAtKill = new Set(atKill.filter((row) => row.status === 'delivered').map((row) => row.eventId));
    const inFlightAtKill = new Set(
      atKill.filter((row) => row.status === 'pending' && ownedByVictim(row)).map((row) => row.eventId),
    );

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
    const received = await smtp.receivedIds();
    const receptions = new Map<string, number>();
    for (const id of received) receptions.set(id, (receptions.get(id) ?? 0) + 1);
    const duplicatedIds = [...receptions].filter(([, n]) => n > 1).map(([id]) => id);
    await record({
      scenario: '6 SIGKILL a replica, PostgreSQL store',
      ...tally,
      durationMs: scenario.elapsedMs(),
      notes:
        `SMTP 100 ms; 2 replicas, one killed at ${killedAt} events received and restarted; ` +
        `${deliveredAtKill.size} delivered and ${inFlightAtKill.size} in flight (claimed, not settled) in the store at the kill; lease ${(DELIVERY_TIMEOUT_MS + 30_000) / 1000} s`,
    });

    expect(killedAt, 'the kill landed mid-backlog').toBeLessThan(events.length);
    expect(tally.lostKeys, 'events neither emailed nor dead-lettered').toEqual([]);
    expect(tally.unexpected, 'emails to addresses nobody published').toEqual([]);
    expect(deadLetters.records, 'dead letters').toEqual([]);
    expect(inTime, 'the queue emptied after the restart').toBe(true);
    // Nothing the store had recorded as delivered went out again.
    expect([...deliveredAtKill].filter((id) => (receptions.get(id) ?? 0) !== 1)).toEqual([]);
    // A duplicate is a send that was on the wire at the kill: claimed by the dead replica, not settled.
    expect(
      duplicatedIds.filter((id) => !inFlightAtKill.has(id)),
      'duplicates not in flight at the kill',
    ).toEqual([]);
    expect(tally.duplicated).toBeLessThanOrEqual(inFlightAtKill.size);
    // And the log ends with every delivery settled as delivered.
    const log = await readDeliveryLog(storeUrl);
    expect(log.filter((row) => row.status !== 'delivered').map((row) => eventIdOf(row.eventId))).toEqual([]);
    expect(log).toHaveLength(events.length);
  });
});
