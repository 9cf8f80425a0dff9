import { type ExecutionEvent, sampleEvent } from '@herald/core';
import {
  type DeliveryLedger,
  type LedgerClaim,
  type LedgerEntry,
  type LedgerKey,
  MemoryLedger,
  type ProcessorEventMap,
} from '@herald/processor';
import type { DigestJoin, FoldResult } from '@herald/store';
import { afterEach, describe, expect, it } from 'vitest';
import { type Harness, makeHarness } from '../helpers/harness.js';

/**
 * An in-memory delivery ledger that holds digests, faithful to `DeliveryStore.fold`'s contract:
 * a claimed delivery joins its group's open digest (or opens one); a joined one is settled
 * `folded`; the one that opens a digest with immediateFirst keeps its claim (`first`) and is
 * recorded when it is sent; asked again for the same delivery it answers what it did then.
 */
class FoldingLedger implements DeliveryLedger {
  readonly status = new Map<string, 'claimed' | 'delivered' | 'folded' | 'dead-lettered' | 'released'>();
  readonly digests = new Map<string, { groupKey: string; max: number; events: string[]; opener?: string }>();
  readonly folds: { key: string; join: DigestJoin }[] = [];
  readonly failures: { key: string; error: string }[] = [];
  private readonly answered = new Map<string, FoldResult>();
  /** Fold throws while this is above zero (the store down), counting down. */
  foldFailures = 0;

  async begin(entry: LedgerEntry): Promise<LedgerClaim> {
    const status = this.status.get(keyOf(entry));
    if (status === 'delivered' || status === 'folded' || status === 'dead-lettered') return { outcome: 'settled' };
    if (status === 'claimed') return { outcome: 'busy' };
    this.status.set(keyOf(entry), 'claimed');
    return { outcome: 'claimed' };
  }

  async fold(entry: LedgerEntry, join: DigestJoin): Promise<FoldResult> {
    const key = keyOf(entry);
    if (this.status.get(key) !== 'claimed') throw new Error(`fold of ${key}, which is not claimed`);
    this.folds.push({ key, join });
    if (this.foldFailures > 0) {
      this.foldFailures--;
      throw new Error('connection refused');
    }
    const earlier = this.answered.get(key);
    if (earlier) return earlier;
    let open = [...this.digests.entries()].find(
      ([, d]) => d.groupKey === join.groupKey && d.events.length + (d.opener ? 1 : 0) < d.max,
    );
    let result: FoldResult;
    if (!open) {
      const id = `dg-${this.digests.size + 1}`;
      open = [id, { groupKey: join.groupKey, max: join.max, events: [] }];
      this.digests.set(...open);
      if (join.immediateFirst) {
        open[1].opener = join.event;
        result = { digestId: id, role: 'first' };
        this.answered.set(key, result);
        return result;
      }
    }
    open[1].events.push(join.event);
    this.status.set(key, 'folded');
    result = { digestId: open[0], role: 'held' };
    this.answered.set(key, result);
    return result;
  }

  async delivered(key: LedgerKey): Promise<void> {
    this.settle(key, 'delivered');
  }

  async failed(key: LedgerKey, error: string): Promise<void> {
    this.failures.push({ key: keyOf(key), error });
    if (this.status.get(keyOf(key)) === 'claimed') this.status.set(keyOf(key), 'released');
  }

  async deadLettered(key: LedgerKey): Promise<void> {
    this.settle(key, 'dead-lettered');
  }

  async undecodable(): Promise<void> {}

  async keep(): Promise<void> {}

  private settle(key: LedgerKey, status: 'delivered' | 'dead-lettered'): void {
    const current = this.status.get(keyOf(key));
    if (current !== 'claimed') throw new Error(`${status} ${keyOf(key)}, which is ${current ?? 'not claimed'}`);
    this.status.set(keyOf(key), status);
  }
}

function keyOf({ eventId, destination }: LedgerKey): string {
  return `${eventId}/${destination}`;
}

/** A rule emailing the team about every failure of project storm, folded into digests. */
const STORM_RULE = (digest: string) => `  rules:
    - name: storm
      match: { project: storm }
      email: [team@example.com]
      subject: "storm {{ name }}"
      digest: ${digest}
`;

/** A failure of project storm, with no notifications of its own unless given. */
function failure(id: string, notifications: ExecutionEvent['notifications'] = []): ExecutionEvent {
  return sampleEvent({ id, execution: { project: 'storm', domain: 'production', name: id }, notifications });
}

let current: Harness | undefined;
afterEach(async () => {
  await current?.processor.stop();
  current = undefined;
});

function harness(herald: string, ledger: DeliveryLedger, options: { maxAttempts?: number } = {}) {
  const made = makeHarness(herald, { ledger, ...options });
  current = made;
  const folded: ProcessorEventMap['delivery_folded'][] = [];
  made.processor.events.on('delivery_folded', (payload) => folded.push(payload));
  made.processor.start();
  return { h: made, folded };
}

describe('a destination that folds into digests', () => {
  it('is folded instead of sent, logged folded, and its message acked', async () => {
    const ledger = new FoldingLedger();
    const { h, folded } = harness(STORM_RULE('{ window: 1m, max: 100 }'), ledger);
    h.publish(failure('s1'));
    h.publish(failure('s2'));
    await h.acked(2);

    expect(h.emailer.attempts).toEqual([]);
    expect(h.seen.delivered).toEqual([]);
    expect(h.seen.retry_scheduled).toEqual([]);
    expect(folded).toEqual([
      expect.objectContaining({
        messageId: expect.any(String),
        eventId: 's1',
        label: 'email to team@example.com',
        digestId: 'dg-1',
      }),
      expect.objectContaining({ eventId: 's2', digestId: 'dg-1' }),
    ]);
    expect(folded[0]?.destination).toMatch(/^email:/);
    // One digest holds both events, as the store would.
    expect(ledger.digests.get('dg-1')?.events.map((e) => (JSON.parse(e) as ExecutionEvent).id)).toEqual(['s1', 's2']);
    expect([...ledger.status.values()]).toEqual(['folded', 'folded']);
    expect(ledger.folds[0]?.join).toMatchObject({ rule: 'storm', windowMs: 60_000, max: 100, immediateFirst: false });
  });

  it('is folded once: a redelivered message finds it settled and sends nothing', async () => {
    const ledger = new FoldingLedger();
    const { h, folded } = harness(STORM_RULE('{ window: 1m }'), ledger);
    h.publish(failure('again'));
    await h.acked(1);
    h.publish(failure('again'));
    await h.acked(2);

    expect(folded).toHaveLength(1);
    expect(ledger.folds).toHaveLength(1);
    expect(h.seen.duplicate_skipped).toEqual([expect.objectContaining({ eventId: 'again' })]);
    expect(h.emailer.attempts).toEqual([]);
  });

  it('folds only the destinations that ask for it: the others of the same event are sent', async () => {
    const ledger = new FoldingLedger();
    const { h, folded } = harness(STORM_RULE('{ window: 1m }'), ledger);
    h.publish(failure('mixed', [{ phases: ['FAILED'], email: { recipients: ['owner@example.com'] } }]));
    await h.acked(1);

    expect(h.emailer.sent.map((m) => m.to)).toEqual([['owner@example.com']]);
    expect(folded.map((f) => f.label)).toEqual(['email to team@example.com']);
  });

  it('with immediateFirst, sends the event that opens the digest at once, once, and folds the rest', async () => {
    const ledger = new FoldingLedger();
    const { h, folded } = harness(STORM_RULE('{ window: 1m, immediateFirst: true }'), ledger);
    h.publish(failure('opener'));
    await h.acked(1);
    h.publish(failure('follower'));
    h.publish(failure('opener'));
    await h.acked(3);

    expect(h.emailer.sent.map((m) => m.subject)).toEqual(['storm opener']);
    expect(h.seen.delivered).toEqual([expect.objectContaining({ eventId: 'opener' })]);
    expect(folded).toEqual([expect.objectContaining({ eventId: 'follower', digestId: 'dg-1' })]);
    expect(ledger.digests.size).toBe(1);
    expect(ledger.status.get(`opener/${folded[0]?.destination}`)).toBe('delivered');
    expect(h.seen.duplicate_skipped).toEqual([expect.objectContaining({ eventId: 'opener' })]);
  });

  it('with immediateFirst, retries a failed send of the opener and sends it once, in the same digest', async () => {
    const ledger = new FoldingLedger();
    const { h, folded } = harness(STORM_RULE('{ window: 1m, immediateFirst: true }'), ledger);
    h.emailer.script.push('transient');
    h.publish(failure('opener'));
    await h.acked(1);

    expect(h.emailer.attempts).toHaveLength(2);
    expect(h.emailer.sent).toHaveLength(1);
    expect(folded).toEqual([]);
    // The retry asked the ledger again and was told the same: it opened dg-1, send it.
    expect(ledger.folds).toHaveLength(2);
    expect(ledger.digests.size).toBe(1);
  });

  it('when the ledger cannot fold, releases the claim and retries later, sending nothing meanwhile', async () => {
    const ledger = new FoldingLedger();
    ledger.foldFailures = 1;
    const { h, folded } = harness(STORM_RULE('{ window: 1m }'), ledger);
    const retried = new Promise<void>((resolve) => h.processor.events.on('retry_scheduled', () => resolve()));
    h.publish(failure('down'));
    await retried;

    expect(h.emailer.attempts).toEqual([]);
    expect(ledger.failures).toEqual([
      { key: expect.stringMatching(/^down\/email:/), error: 'delivery log unavailable: connection refused' },
    ]);
    expect(h.seen.retry_scheduled).toEqual([
      expect.objectContaining({ eventId: 'down', attempt: 1, error: 'delivery log unavailable: connection refused' }),
    ]);

    // It comes back, the ledger answers, and the delivery is folded, still never sent.
    await h.acked(1);
    expect(h.emailer.attempts).toEqual([]);
    expect(folded).toEqual([expect.objectContaining({ eventId: 'down', digestId: 'dg-1' })]);
    expect([...ledger.status.values()]).toEqual(['folded']);
  });

  it('when the ledger cannot fold on the final attempt, keeps the claim until it is dead-lettered', async () => {
    const ledger = new FoldingLedger();
    ledger.foldFailures = 1;
    const { h, folded } = harness(STORM_RULE('{ window: 1m }'), ledger, { maxAttempts: 1 });
    h.publish(failure('last'));
    await h.acked(1);

    expect(h.emailer.attempts).toEqual([]);
    expect(folded).toEqual([]);
    expect(h.source.deadLettered).toEqual([
      expect.objectContaining({
        kind: 'attempts-exhausted',
        eventId: 'last',
        reason: 'gave up after 1 attempts: delivery log unavailable: connection refused',
      }),
    ]);
    // Never released in between, so no other copy could fold it while this one gave up on it.
    expect(ledger.failures).toEqual([]);
    expect([...ledger.status.values()]).toEqual(['dead-lettered']);
    expect(h.seen.source_error).toEqual([]);
  });

  it('is sent at once by a ledger that holds no digests rather than dropped', async () => {
    const { h, folded } = harness(STORM_RULE('{ window: 1m }'), new MemoryLedger(100));
    h.publish(failure('memory'));
    await h.acked(1);
    expect(h.emailer.sent.map((m) => m.subject)).toEqual(['storm memory']);
    expect(folded).toEqual([]);
  });
});
