/**
 * The delivery store's behaviour, one suite for every backend: `sqlite-store.test.ts` runs it
 * on SQLite files, `test/store-postgres.test.ts` on a throwaway PostgreSQL cluster. Each test
 * gets a fresh, empty database from `newUrl`. Leases are short (50 ms) and tests wait for the
 * condition they need, never for a time.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import {
  type Claim,
  type DeliveryIdentity,
  type DeliveryStatus,
  type DeliveryStore,
  type DigestJoin,
  type ExecutionWatch,
  migrateStore,
  openStore,
} from '@herald/store';
import { afterEach, describe, expect, it } from 'vitest';

export interface StoreFixture {
  /** The URL of a new, empty database. */
  newUrl(): Promise<string>;
}

const LONG = 60_000;
const SHORT = 50;

function delivery(
  eventId: string,
  destination = 'channel:oncall',
  extra: Partial<DeliveryIdentity> = {},
): DeliveryIdentity {
  return {
    eventId,
    destination,
    label: destination.startsWith('email:') ? 'email to a@x.com, b@y.com' : `slack '${destination.slice(8)}'`,
    execution: { project: 'flytesnacks', domain: 'development', name: 'f8a1b2c3' },
    phase: 'FAILED',
    ...extra,
  };
}

/** What a claim answered, without the lease a `busy` one carries. */
async function outcomeOf(claim: Promise<Claim>): Promise<Claim['outcome']> {
  return (await claim).outcome;
}

/** Polls `check` until it returns a value other than undefined (10 s at most). */
async function waitFor<T>(check: () => Promise<T | undefined>, what: string): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export function describeDeliveryStore(backend: string, fixture: StoreFixture): void {
  describe(`delivery store on ${backend}`, () => {
    const opened: DeliveryStore[] = [];
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((store) => store.close()));
    });
    async function open(url: string, owner: string): Promise<DeliveryStore> {
      const store = await openStore({ url, owner });
      opened.push(store);
      return store;
    }
    async function pair(): Promise<[DeliveryStore, DeliveryStore, string]> {
      const url = await fixture.newUrl();
      return [await open(url, 'replica-a'), await open(url, 'replica-b'), url];
    }

    it('answers busy with what is left of the holder’s lease', async () => {
      const [a, b] = await pair();
      const d = delivery('ev-lease');
      expect((await a.claim(d, 2_000)).outcome).toBe('claimed');
      const first = await b.claim(d, LONG);
      expect(first.outcome).toBe('busy');
      const firstLeft = first.outcome === 'busy' ? first.leaseLeftMs : Number.NaN;
      expect(firstLeft).toBeGreaterThan(1_000);
      expect(firstLeft).toBeLessThanOrEqual(2_000);
      await new Promise((resolve) => setTimeout(resolve, 300));
      // The asker's own lease length (LONG) plays no part: the holder's lease is what is left.
      const later = await b.claim(d, LONG);
      const laterLeft = later.outcome === 'busy' ? later.leaseLeftMs : Number.NaN;
      expect(laterLeft).toBeLessThanOrEqual(firstLeft - 250);
      expect(laterLeft).toBeGreaterThan(0);
    });

    it('claims a new delivery once, and answers settled after it is delivered', async () => {
      const [a, b] = await pair();
      const d = delivery('ev-1', 'email:default:ab12cd', { label: 'email to a@x.com, b@y.com' });
      expect((await a.claim(d, LONG)).outcome).toBe('claimed');
      expect((await a.claim(d, LONG)).outcome).toBe('busy'); // its own live lease too: a second copy of the message
      expect((await b.claim(d, LONG)).outcome).toBe('busy');
      const [pending] = await a.list({ eventId: 'ev-1' });
      expect(pending).toMatchObject({ status: 'pending', attempts: 1, leaseOwner: 'replica-a' });
      expect(pending?.leaseUntil?.getTime()).toBeGreaterThan(Date.now());

      await a.delivered('ev-1', d.destination, { providerMessageId: 'ses-0001', subject: 'Execution f8a1b2c3 failed' });
      expect((await b.claim(d, LONG)).outcome).toBe('settled');
      expect((await a.claim(d, LONG)).outcome).toBe('settled');
      const [row] = await b.list({ eventId: 'ev-1' });
      expect(row).toMatchObject({
        eventId: 'ev-1',
        destination: 'email:default:ab12cd',
        label: 'email to a@x.com, b@y.com',
        project: 'flytesnacks',
        domain: 'development',
        name: 'f8a1b2c3',
        phase: 'FAILED',
        status: 'delivered',
        attempts: 1,
        lastError: null,
        providerMessageId: 'ses-0001',
        subject: 'Execution f8a1b2c3 failed',
        leaseOwner: null,
        leaseUntil: null,
      });
      expect(row?.firstAttemptAt).toBeInstanceOf(Date);
      expect(row?.lastAttemptAt.getTime()).toBeGreaterThanOrEqual(row?.firstAttemptAt.getTime() ?? Infinity);
      expect(await a.attempts('ev-1')).toMatchObject([
        { attempt: 1, owner: 'replica-a', outcome: 'delivered', providerMessageId: 'ses-0001', error: null },
      ]);
    });

    it('releases a failed attempt for a retry by any replica, keeping the error', async () => {
      const [a, b] = await pair();
      const d = delivery('ev-2');
      expect((await a.claim(d, LONG)).outcome).toBe('claimed');
      await a.failed('ev-2', d.destination, 'slack answered 503');
      const [retrying] = await a.list({ eventId: 'ev-2' });
      expect(retrying).toMatchObject({
        status: 'retrying',
        lastError: 'slack answered 503',
        leaseOwner: null,
        leaseUntil: null,
      });

      expect((await b.claim(d, LONG)).outcome).toBe('claimed');
      expect((await a.claim(d, LONG)).outcome).toBe('busy');
      await b.delivered('ev-2', d.destination, {});
      const [row] = await a.list({ eventId: 'ev-2' });
      expect(row).toMatchObject({ status: 'delivered', attempts: 2, lastError: 'slack answered 503' });
      expect(await a.attempts('ev-2')).toMatchObject([
        { attempt: 1, owner: 'replica-a', outcome: 'failed', error: 'slack answered 503' },
        { attempt: 2, owner: 'replica-b', outcome: 'delivered', error: null },
      ]);
    });

    it('takes over a delivery whose lease expired, and fences the late sender', async () => {
      const [a, b] = await pair();
      const d = delivery('ev-3');
      expect((await a.claim(d, SHORT)).outcome).toBe('claimed');
      // replica-a "died" mid-send: once its lease has expired, replica-b takes the delivery over.
      await waitFor(
        async () => ((await b.claim(d, LONG)).outcome === 'claimed' ? true : undefined),
        'the lease to expire',
      );
      const [row] = await b.list({ eventId: 'ev-3' });
      expect(row).toMatchObject({ status: 'pending', attempts: 2, leaseOwner: 'replica-b' });

      // replica-a comes back and reports its attempt failed: replica-b's lease stays.
      await a.failed('ev-3', d.destination, 'late failure');
      expect((await a.claim(d, LONG)).outcome).toBe('busy');
      expect((await a.list({ eventId: 'ev-3' }))[0]).toMatchObject({ status: 'pending', leaseOwner: 'replica-b' });

      await b.delivered('ev-3', d.destination, { providerMessageId: 'T123' });
      expect(await a.attempts('ev-3')).toMatchObject([
        { attempt: 1, owner: 'replica-a', outcome: 'failed', error: 'late failure' },
        { attempt: 2, owner: 'replica-b', outcome: 'delivered', providerMessageId: 'T123' },
      ]);
    });

    it('shows an attempt whose sender never came back as abandoned', async () => {
      const [a, b] = await pair();
      const d = delivery('ev-4');
      expect((await a.claim(d, SHORT)).outcome).toBe('claimed');
      await waitFor(
        async () => ((await b.claim(d, LONG)).outcome === 'claimed' ? true : undefined),
        'the lease to expire',
      );
      expect((await b.attempts('ev-4')).map((x) => [x.attempt, x.outcome])).toEqual([
        [1, 'abandoned'],
        [2, 'started'],
      ]);
    });

    it('keeps an attempt abandoned before a redelivery released its lease', async () => {
      const [a, b] = await pair();
      const d = delivery('ev-4r');
      expect((await a.claim(d, SHORT)).outcome).toBe('claimed');
      // Under way: read from the delivery's row until it ends.
      expect(await b.attempts('ev-4r')).toMatchObject([{ attempt: 1, owner: 'replica-a', outcome: 'started' }]);
      await waitFor(async () => ((await b.reopen('ev-4r', {})).length === 1 ? true : undefined), 'the lease to expire');
      expect((await b.claim(d, LONG)).outcome).toBe('claimed');
      await b.delivered(d.eventId, d.destination, { providerMessageId: 'T9' });
      expect(await a.attempts('ev-4r')).toMatchObject([
        { attempt: 1, owner: 'replica-a', outcome: 'abandoned', finishedAt: null },
        { attempt: 2, owner: 'replica-b', outcome: 'delivered', providerMessageId: 'T9' },
      ]);
    });

    it('dead-letters with the reason, and never turns a delivered destination into a dead letter', async () => {
      const [a, b] = await pair();
      const slack = delivery('ev-5', 'channel:oncall');
      const email = delivery('ev-5', 'email:default:ab12cd');
      expect(await Promise.all([outcomeOf(a.claim(slack, LONG)), outcomeOf(a.claim(email, LONG))])).toEqual([
        'claimed',
        'claimed',
      ]);
      await a.deadLettered('ev-5', slack.destination, 'channel_not_found');
      await a.delivered('ev-5', email.destination, {});
      await a.deadLettered('ev-5', email.destination, 'too late');
      expect(await Promise.all([outcomeOf(b.claim(slack, LONG)), outcomeOf(b.claim(email, LONG))])).toEqual([
        'settled',
        'settled',
      ]);
      const rows = await b.list({ eventId: 'ev-5' });
      expect(rows.find((r) => r.destination === slack.destination)).toMatchObject({
        status: 'dead-lettered',
        lastError: 'channel_not_found',
      });
      expect(rows.find((r) => r.destination === email.destination)).toMatchObject({ status: 'delivered' });
    });

    it('applies settlements made in one tick in call order', async () => {
      const [a] = await pair();
      const d = delivery('ev-6');
      expect((await a.claim(d, LONG)).outcome).toBe('claimed');
      await Promise.all([a.failed('ev-6', d.destination, 'first'), a.delivered('ev-6', d.destination, {})]);
      expect((await a.list({ eventId: 'ev-6' }))[0]).toMatchObject({ status: 'delivered', lastError: 'first' });
    });

    it('answers a delivery asked for twice in one batch once', async () => {
      const [a] = await pair();
      const d = delivery('ev-7');
      expect(
        await Promise.all([
          outcomeOf(a.claim(d, LONG)),
          outcomeOf(a.claim(d, LONG)),
          outcomeOf(a.claim(delivery('ev-7', 'channel:b'), LONG)),
        ]),
      ).toEqual(['claimed', 'busy', 'claimed']);
    });

    it('gives exactly one claim to two stores racing for the same deliveries', async () => {
      const [a, b] = await pair();
      const deliveries = Array.from({ length: 200 }, (_, i) => delivery(`race-${i}`));
      // Interleaved: each tick both stores ask for the same ten deliveries.
      const results: [string, string][] = [];
      for (let i = 0; i < deliveries.length; i += 10) {
        const slice = deliveries.slice(i, i + 10);
        const [fromA, fromB] = await Promise.all([
          Promise.all(slice.map((d) => outcomeOf(a.claim(d, LONG)))),
          Promise.all(slice.map((d) => outcomeOf(b.claim(d, LONG)))),
        ]);
        for (const [j] of slice.entries()) results.push([fromA[j] ?? '', fromB[j] ?? '']);
      }
      for (const pairOfOutcomes of results) expect(pairOfOutcomes.sort()).toEqual(['busy', 'claimed']);
    });

    // Two node processes start (tsx, the store's modules): seconds on a loaded two-core machine.
    it('gives exactly one claim to two processes racing for the same deliveries', { timeout: 60_000 }, async () => {
      const url = await fixture.newUrl();
      await migrateStore(url);
      const count = 300;
      const worker = fileURLToPath(new URL('./claim-worker.ts', import.meta.url));
      const barrier = await mkdtemp(join(tmpdir(), 'herald-race-'));
      const run = (owner: string, order: string) =>
        promisify(execFile)(
          process.execPath,
          ['--import', 'tsx', worker, url, owner, barrier, '2', String(count), order],
          { timeout: 60_000 },
        ).then(({ stdout }) => JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, string>);
      try {
        // Opposite orders: the two processes meet somewhere in the middle and contend there.
        const [one, two] = await Promise.all([run('process-1', 'ascending'), run('process-2', 'descending')]);
        for (let i = 0; i < count; i++) {
          expect([one[`e${i}`], two[`e${i}`]].sort(), `e${i}`).toEqual(['busy', 'claimed']);
        }
        expect(Object.values(one)).toContain('claimed');
        expect(Object.values(two)).toContain('claimed');
      } finally {
        await rm(barrier, { recursive: true, force: true });
      }
      const store = await open(url, 'reader');
      const rows = await store.list({ limit: 1000 });
      expect(rows).toHaveLength(count);
      expect(rows.every((r) => r.attempts === 1)).toBe(true);
    });

    it('keeps the message each event arrived in, the first copy, text or bytes, until retention', async () => {
      const [a, b] = await pair();
      const bytes = new Uint8Array([0, 1, 2, 250, 255]);
      await Promise.all([
        a.keepMessage({ eventId: 'm-text', body: '{"id":"m-text"}', attributes: { phase: 'FAILED' } }),
        a.keepMessage({ eventId: 'm-text', body: 'a second copy', attributes: {} }),
        a.keepMessage({ eventId: 'm-bytes', body: bytes, attributes: { key: 'flyteidl.admin.EmailNotification' } }),
      ]);
      await b.keepMessage({ eventId: 'm-text', body: 'another replica', attributes: {} });
      expect(await b.message('m-text')).toEqual({
        eventId: 'm-text',
        body: '{"id":"m-text"}',
        attributes: { phase: 'FAILED' },
      });
      expect(await b.message('m-bytes')).toEqual({
        eventId: 'm-bytes',
        body: bytes,
        attributes: { key: 'flyteidl.admin.EmailNotification' },
      });
      expect(await b.message('never-kept')).toBeUndefined();
      await a.purge(new Date(Date.now() + 60_000));
      expect(await b.message('m-text')).toBeUndefined();
    });

    it('batches claims made together into a few round trips', async () => {
      const [a] = await pair();
      const before = a.roundTrips;
      const outcomes = await Promise.all(
        Array.from({ length: 50 }, (_, i) => outcomeOf(a.claim(delivery(`batch-${i}`), LONG))),
      );
      expect(outcomes.every((o) => o === 'claimed')).toBe(true);
      const batched = a.roundTrips - before;

      const beforeOneByOne = a.roundTrips;
      for (let i = 0; i < 50; i++) expect((await a.claim(delivery(`single-${i}`), LONG)).outcome).toBe('claimed');
      const oneByOne = a.roundTrips - beforeOneByOne;

      expect(batched).toBeGreaterThan(0);
      expect(batched).toBeLessThanOrEqual(4); // PostgreSQL 1; SQLite begin, upsert, attempts, commit
      expect(oneByOne).toBeGreaterThanOrEqual(50);

      // Settlements made together are batched the same way.
      const beforeSettle = a.roundTrips;
      await Promise.all(Array.from({ length: 50 }, (_, i) => a.delivered(`batch-${i}`, 'channel:oncall', {})));
      expect(a.roundTrips - beforeSettle).toBeLessThanOrEqual(4);
      expect(await a.list({ status: 'delivered', limit: 1000 })).toHaveLength(50);
    });

    it('reopens what was not delivered for a redelivery, everything with force', async () => {
      const [a, b] = await pair();
      const ds = ['channel:oncall', 'channel:ops', 'email:default:ab12cd', 'channel:busy'].map((k) =>
        delivery('ev-8', k),
      );
      expect(await Promise.all(ds.map((d) => outcomeOf(a.claim(d, LONG))))).toEqual([
        'claimed',
        'claimed',
        'claimed',
        'claimed',
      ]);
      await a.deadLettered('ev-8', 'channel:oncall', 'channel_not_found');
      await a.failed('ev-8', 'channel:ops', '503');
      await a.delivered('ev-8', 'email:default:ab12cd', {});
      // channel:busy is being sent right now (a live lease): left alone.

      const reopened = await b.reopen('ev-8', {});
      expect(reopened.map((r) => [r.destination, r.status])).toEqual([
        ['channel:oncall', 'retrying'],
        ['channel:ops', 'retrying'],
      ]);
      expect((await b.claim(ds[0] as DeliveryIdentity, LONG)).outcome).toBe('claimed');
      expect((await b.claim(ds[2] as DeliveryIdentity, LONG)).outcome).toBe('settled');
      expect((await b.claim(ds[3] as DeliveryIdentity, LONG)).outcome).toBe('busy');

      // One destination, by its readable label.
      const one = await b.reopen('ev-8', { destination: "slack 'ops'" });
      expect(one.map((r) => r.destination)).toEqual(['channel:ops']);
      expect(await b.reopen('ev-8', { destination: 'email:default:ab12cd' })).toEqual([]);

      const forced = await b.reopen('ev-8', { destination: 'email:default:ab12cd', force: true });
      expect(forced).toMatchObject([{ destination: 'email:default:ab12cd', status: 'retrying', leaseOwner: null }]);
      expect((await a.claim(ds[2] as DeliveryIdentity, LONG)).outcome).toBe('claimed');
      await a.delivered('ev-8', 'email:default:ab12cd', {});
      expect((await a.attempts('ev-8')).filter((x) => x.destination === 'email:default:ab12cd')).toMatchObject([
        { attempt: 1, outcome: 'delivered' },
        { attempt: 2, outcome: 'delivered' },
      ]);
      expect(await a.reopen('no-such-event', { force: true })).toEqual([]);
    });

    it('lists by execution, event, status, destination and time', async () => {
      const [a] = await pair();
      const other = { project: 'ml', domain: 'production', name: 'aa00bb11' };
      await Promise.all([
        outcomeOf(a.claim(delivery('ev-9', 'email:default:ab12cd', { label: 'email to On.Call@x.com' }), LONG)),
        outcomeOf(a.claim(delivery('ev-9', 'channel:oncall'), LONG)),
        outcomeOf(
          a.claim(delivery('ev-10', 'channel:100%_ops', { execution: other, label: "slack '100%_ops'" }), LONG),
        ),
        outcomeOf(a.claim(delivery('ev-11', 'channel:oncall', { execution: { ...other, name: 'f8a1b2c3' } }), LONG)),
      ]);
      await a.deadLettered('ev-9', 'channel:oncall', 'gone');

      expect((await a.list({ execution: 'f8a1b2c3' })).map((r) => r.eventId).sort()).toEqual(['ev-11', 'ev-9', 'ev-9']);
      expect((await a.list({ execution: 'flytesnacks/development/f8a1b2c3' })).map((r) => r.eventId)).toEqual([
        'ev-9',
        'ev-9',
      ]);
      expect((await a.list({ execution: 'ml/production/aa00bb11' })).map((r) => r.eventId)).toEqual(['ev-10']);
      expect(await a.list({ execution: 'nope' })).toEqual([]);
      expect((await a.list({ eventId: 'ev-9' })).map((r) => r.destination).sort()).toEqual([
        'channel:oncall',
        'email:default:ab12cd',
      ]);
      expect((await a.list({ status: 'dead-lettered' })).map((r) => [r.eventId, r.destination])).toEqual([
        ['ev-9', 'channel:oncall'],
      ]);
      // Substring of the label or key, case-insensitive, wildcards taken literally.
      expect((await a.list({ destination: 'on.call@X.COM' })).map((r) => r.eventId)).toEqual(['ev-9']);
      expect((await a.list({ destination: 'ONCALL' })).map((r) => r.eventId).sort()).toEqual(['ev-11', 'ev-9']);
      expect((await a.list({ destination: '%_' })).map((r) => r.eventId)).toEqual(['ev-10']);
      expect(await a.list({ destination: 'o_call' })).toEqual([]);

      const all = await a.list({});
      expect(all).toHaveLength(4);
      const sorted = [...all].sort((x, y) => y.lastAttemptAt.getTime() - x.lastAttemptAt.getTime());
      expect(all.map((r) => r.lastAttemptAt.getTime())).toEqual(sorted.map((r) => r.lastAttemptAt.getTime()));
      expect(await a.list({ limit: 2 })).toHaveLength(2);
      const earliest = Math.min(...all.map((r) => r.lastAttemptAt.getTime()));
      expect(await a.list({ since: new Date(Date.now() + 60_000) })).toEqual([]);
      expect(await a.list({ since: new Date(earliest) })).toHaveLength(4);
      expect(await a.list({ until: new Date(earliest) })).toEqual([]);
      expect(await a.list({ until: new Date(Date.now() + 60_000) })).toHaveLength(4);
    });

    it('keeps silences for every replica: in force until they end or are expired', async () => {
      const [a, b] = await pair();
      const now = Date.now();
      const matchers = [
        { field: 'project' as const, pattern: 'flytesnacks' },
        { field: 'workflow' as const, pattern: 'core.ml.*' },
      ];
      const added = await a.addSilence({
        matchers,
        comment: 'known outage of the feature store',
        createdBy: 'ops@x.com',
        startsAt: new Date(now - 1_000),
        endsAt: new Date(now + 3_600_000),
      });
      expect(added.id).toMatch(/^sil-[0-9a-f]{8}$/);
      await a.addSilence({
        matchers: [{ field: 'phase', pattern: 'RUNNING' }],
        comment: 'later',
        createdBy: 'ops@x.com',
        startsAt: new Date(now + 3_600_000),
        endsAt: new Date(now + 7_200_000),
      });
      const inForce = await b.silences();
      expect(inForce.map((x) => [x.id, x.matchers, x.comment, x.createdBy])).toEqual([
        [added.id, matchers, 'known outage of the feature store', 'ops@x.com'],
      ]);
      expect(await b.silences({ all: true })).toHaveLength(2);

      expect(await b.expireSilence(added.id)).toBe(true);
      expect(await a.expireSilence(added.id)).toBe(false);
      expect(await a.expireSilence('sil-nothere')).toBe(false);
      expect(await a.silences()).toEqual([]);
      const [expired] = (await a.silences({ all: true })).filter((x) => x.id === added.id);
      expect(expired?.endsAt.getTime()).toBeLessThanOrEqual(Date.now() + 1_000);
    });

    it('logs a silenced delivery as settled with the silence, never over a delivered or held one', async () => {
      const [a, b] = await pair();
      const quiet = delivery('ev-s1');
      await a.silenced(quiet, 'sil-1');
      expect((await b.claim(quiet, LONG)).outcome).toBe('settled');
      expect((await b.list({ eventId: 'ev-s1' }))[0]).toMatchObject({
        status: 'silenced',
        silenceId: 'sil-1',
        attempts: 0,
        label: quiet.label,
        name: 'f8a1b2c3',
      });
      expect(await b.list({ status: 'silenced' })).toHaveLength(1);

      // A retry coming back under a silence is marked; a delivered or held one is not.
      const retried = delivery('ev-s2');
      expect((await a.claim(retried, LONG)).outcome).toBe('claimed');
      await a.failed('ev-s2', retried.destination, '503');
      await b.silenced(retried, 'sil-2');
      expect((await a.list({ eventId: 'ev-s2' }))[0]).toMatchObject({ status: 'silenced', silenceId: 'sil-2' });
      const sent = delivery('ev-s3');
      expect((await a.claim(sent, LONG)).outcome).toBe('claimed');
      const held = delivery('ev-s3', 'channel:held');
      expect((await a.claim(held, LONG)).outcome).toBe('claimed');
      await a.delivered('ev-s3', sent.destination, {});
      await b.silenced(sent, 'sil-3');
      await b.silenced(held, 'sil-3');
      const rows = await a.list({ eventId: 'ev-s3' });
      expect(rows.map((r) => [r.destination, r.status, r.silenceId]).sort()).toEqual([
        ['channel:held', 'pending', null],
        ['channel:oncall', 'delivered', null],
      ]);

      // Redelivery reopens it; nothing is replayed otherwise.
      expect((await a.reopen('ev-s1', {})).map((r) => r.status)).toEqual(['retrying']);
      expect((await b.claim(quiet, LONG)).outcome).toBe('claimed');
    });

    /** A digest join for the slack channel `oncall`, grouped by project. */
    function digestJoin(eventId: string, extra: Partial<DigestJoin> = {}): DigestJoin {
      return {
        groupKey: 'storm|channel:oncall|{"project":"flytesnacks"}',
        rule: 'storm',
        target: JSON.stringify({ channel: 'slack', name: 'oncall', key: 'channel:oncall', origins: ['rule storm'] }),
        group: { project: 'flytesnacks' },
        windowMs: LONG,
        max: 1_000,
        immediateFirst: false,
        event: JSON.stringify({ id: eventId, phase: 'FAILED' }),
        ...extra,
      };
    }
    /** Claims a delivery, then folds it, as the pipeline does. */
    async function claimAndFold(store: DeliveryStore, eventId: string, extra: Partial<DigestJoin> = {}) {
      expect((await store.claim(delivery(eventId), LONG)).outcome).toBe('claimed');
      return store.fold(delivery(eventId), digestJoin(eventId, extra));
    }

    it('folds deliveries into one open digest per group, settled as folded, once', async () => {
      const [a, b] = await pair();
      const first = await claimAndFold(a, 'storm-1');
      expect(first.role).toBe('held');
      const second = await claimAndFold(b, 'storm-2');
      expect(second).toEqual({ digestId: first.digestId, role: 'held' });
      const other = await claimAndFold(a, 'storm-3', { groupKey: 'storm|channel:oncall|{"project":"other"}' });
      expect(other.digestId).not.toBe(first.digestId);

      // A redelivered message: settled, and folding it again answers what it did before.
      expect((await b.claim(delivery('storm-2'), LONG)).outcome).toBe('settled');
      expect(await b.fold(delivery('storm-2'), digestJoin('storm-2'))).toEqual(second);
      const [row] = await a.list({ eventId: 'storm-2' });
      expect(row).toMatchObject({ status: 'folded', digestId: first.digestId, leaseOwner: null });
      expect(await a.attempts('storm-2')).toMatchObject([{ attempt: 1, outcome: 'folded' }]);

      const contents = await a.digest(first.digestId);
      expect(contents).toMatchObject({ status: 'open', members: 2, rule: 'storm', label: "slack 'oncall'" });
      expect(contents?.group).toEqual({ project: 'flytesnacks' });
      expect(contents?.events.map((e) => e.eventId)).toEqual(['storm-1', 'storm-2']);
      expect(JSON.parse(contents?.events[0]?.event ?? '{}')).toEqual({ id: 'storm-1', phase: 'FAILED' });
      expect(await a.dueDigests(10)).toEqual([]);
      expect((await a.digests({ status: 'open' })).map((d) => d.id).sort()).toEqual(
        [first.digestId, other.digestId].sort(),
      );
    });

    it('sends the event that opens a digest with immediateFirst, and folds the rest', async () => {
      const [a] = await pair();
      const opener = await claimAndFold(a, 'first-1', { immediateFirst: true });
      expect(opener.role).toBe('first');
      // It keeps its claim: the pipeline sends it now and settles it as delivered.
      expect((await a.list({ eventId: 'first-1' }))[0]).toMatchObject({ status: 'pending', digestId: opener.digestId });
      expect(await a.fold(delivery('first-1'), digestJoin('first-1', { immediateFirst: true }))).toEqual(opener);
      await a.delivered('first-1', 'channel:oncall', { providerMessageId: '200' });
      expect(await claimAndFold(a, 'first-2', { immediateFirst: true })).toEqual({
        digestId: opener.digestId,
        role: 'held',
      });
      const contents = await a.digest(opener.digestId);
      expect(contents).toMatchObject({ members: 1, openerEventId: 'first-1' });
      expect(contents?.events.map((e) => e.eventId)).toEqual(['first-2']);
      expect(JSON.parse(contents?.openerEvent ?? '{}')).toMatchObject({ id: 'first-1' });
    });

    it('makes a digest due when its window ends or it fills up, and opens the next after it closes', async () => {
      const [a, b] = await pair();
      const short = await claimAndFold(a, 'due-1', { windowMs: SHORT, groupKey: 'short' });
      const ids = await waitFor(async () => {
        const due = await b.dueDigests(10);
        return due.length > 0 ? due : undefined;
      }, 'the short window to end');
      expect(ids).toEqual([short.digestId]);

      const full = await claimAndFold(a, 'full-1', { max: 2, groupKey: 'full' });
      expect(await a.dueDigests(10)).toEqual([short.digestId]);
      expect((await claimAndFold(b, 'full-2', { max: 2, groupKey: 'full' })).digestId).toBe(full.digestId);
      expect((await a.dueDigests(10)).sort()).toEqual([short.digestId, full.digestId].sort());
      // The event that filled it closed it: nobody joins it any more, the next event opens the
      // group's next digest, and closing it again changes nothing.
      expect((await a.digest(full.digestId))?.status).toBe('closed');
      const next = await claimAndFold(b, 'full-3', { max: 2, groupKey: 'full' });
      expect(next.digestId).not.toBe(full.digestId);
      await a.closeDigest(full.digestId);
      expect((await a.digest(full.digestId))?.members).toBe(2);
      expect((await a.digest(full.digestId))?.status).toBe('closed');
      // A digest of one is full when it opens.
      const single = await claimAndFold(a, 'one-1', { max: 1, groupKey: 'one' });
      expect((await a.digest(single.digestId))?.status).toBe('closed');
      expect((await claimAndFold(a, 'one-2', { max: 1, groupKey: 'one' })).digestId).not.toBe(single.digestId);

      // A failed send comes back after its delay; a finished digest never does.
      await a.retryDigest(full.digestId, LONG);
      for (const id of (await a.dueDigests(10)).filter((id) => id !== short.digestId)) {
        await a.finishDigest(id, 'sent');
      }
      await a.closeDigest(short.digestId);
      expect(await a.dueDigests(10)).toEqual([short.digestId]);
      await a.finishDigest(short.digestId, 'sent');
      expect(await a.dueDigests(10)).toEqual([]);
      expect((await a.digest(short.digestId))?.status).toBe('sent');
    });

    it('purges digests that are done with their events, send-once keys and rate counters; never an open digest', async () => {
      const [a] = await pair();
      const sent = await claimAndFold(a, 'purge-1', { groupKey: 'sent' });
      const open = await claimAndFold(a, 'purge-2', { groupKey: 'open' });
      await a.closeDigest(sent.digestId);
      await a.finishDigest(sent.digestId, 'sent');
      expect((await a.once(delivery('purge-3'), { key: 'k', value: 'v' })).first).toBe(true);
      expect((await a.takeToken('channel:oncall', 1, LONG)).allowed).toBe(true);
      expect(await a.purge(new Date(Date.now() + 60_000))).toBeGreaterThan(0);
      expect(await a.digest(sent.digestId)).toBeUndefined();
      expect((await a.digest(open.digestId))?.events).toHaveLength(1);
      // The key and the token are gone with them: both are free again.
      expect((await a.once(delivery('purge-4'), { key: 'k', value: 'v' })).first).toBe(true);
      expect((await a.takeToken('channel:oncall', 1, LONG)).allowed).toBe(true);
    });

    it('folds deliveries asked for together in one transaction (SQLite), each at once (PostgreSQL)', async () => {
      const [a] = await pair();
      const ids = Array.from({ length: 40 }, (_, i) => `fold-batch-${i}`);
      await Promise.all(ids.map((id) => a.claim(delivery(id), LONG)));
      const before = a.roundTrips;
      const results = await Promise.all(ids.map((id) => a.fold(delivery(id), digestJoin(id))));
      const trips = a.roundTrips - before;
      expect(new Set(results.map((r) => r.digestId)).size).toBe(1);
      expect(results.every((r) => r.role === 'held')).toBe(true);
      // SQLite: one transaction; PostgreSQL: a join each, one after the other, and an open for the first.
      expect(trips).toBeLessThanOrEqual(backend === 'SQLite' ? 1 : ids.length + 1);
      expect((await a.digest(results[0]?.digestId ?? ''))?.members).toBe(40);
    });

    it('lets exactly one digest open when two replicas fold the same group at once', async () => {
      const [a, b] = await pair();
      const ids = Array.from({ length: 40 }, (_, i) => `race-fold-${i}`);
      const results = await Promise.all(
        ids.map((id, i) => claimAndFold(i % 2 === 0 ? a : b, id, { immediateFirst: true })),
      );
      const digests = new Set(results.map((r) => r.digestId));
      expect(digests.size).toBe(1);
      expect(results.filter((r) => r.role === 'first')).toHaveLength(1);
      const [digestId] = digests;
      const contents = await a.digest(digestId ?? '');
      expect(contents?.members).toBe(39);
      expect(contents?.events).toHaveLength(39);
    });

    it('watches an execution until it ends, whichever of start and end arrives first', async () => {
      const [a, b] = await pair();
      const watch = (groupKey: string, withinMs = LONG): ExecutionWatch => ({
        groupKey,
        rule: 'slow',
        destination: 'channel:oncall',
        label: "slack 'oncall'",
        target: '{}',
        group: { execution: 'flytesnacks/development/f8a1b2c3' },
        withinMs,
        event: JSON.stringify({ id: groupKey, phase: 'RUNNING' }),
      });
      const byGroup = async (groupKey: string) =>
        (await a.digests({ limit: 100 })).filter((d) => d.groupKey === groupKey).map((d) => [d.kind, d.status]);

      // Started twice (a redelivery, another replica): one watch.
      await Promise.all([a.watchExecution(watch('in-time'), false), b.watchExecution(watch('in-time'), false)]);
      expect(await byGroup('in-time')).toEqual([['overdue', 'open']]);
      await b.watchExecution(watch('in-time'), true);
      expect(await byGroup('in-time')).toEqual([['overdue', 'met']]);

      // Ended before its start arrived: the late start opens nothing.
      await a.watchExecution(watch('out-of-order'), true);
      await b.watchExecution(watch('out-of-order'), false);
      expect(await byGroup('out-of-order')).toEqual([['overdue', 'met']]);

      // Not ended in time: due, with the event that started it.
      await a.watchExecution(watch('stuck', SHORT), false);
      const [id] = await waitFor(async () => {
        const due = await b.dueDigests(10);
        return due.length > 0 ? due : undefined;
      }, 'the watch to fall due');
      const due = await a.digest(id ?? '');
      expect(due).toMatchObject({ kind: 'overdue', members: 1, rule: 'slow' });
      expect(JSON.parse(due?.openerEvent ?? '{}')).toEqual({ id: 'stuck', phase: 'RUNNING' });
      // Sent: a late end leaves it as it is.
      await a.closeDigest(id ?? '');
      await a.finishDigest(id ?? '', 'sent');
      await a.watchExecution(watch('stuck', SHORT), true);
      expect(await byGroup('stuck')).toEqual([['overdue', 'sent']]);
    });

    it('lets the first event with a send-once key send it, and suppresses the others in the log', async () => {
      const [a, b] = await pair();
      const key = { key: 'once-flaky-failed', value: 'flaky-failed' };
      const ids = Array.from({ length: 10 }, (_, i) => `once-${i}`);
      for (const id of ids)
        expect((await (id.endsWith('1') ? b : a).claim(delivery(id), LONG)).outcome).toBe('claimed');
      const results = await Promise.all(ids.map((id, i) => (i % 2 === 0 ? a : b).once(delivery(id), key)));
      const first = ids.filter((_, i) => results[i]?.first);
      expect(first).toHaveLength(1);
      const [holder] = first;
      // The holder asks again (a retry of its send): still its own.
      expect(await b.once(delivery(holder ?? ''), key)).toEqual({ first: true });
      for (const [i, result] of results.entries()) {
        if (!result.first) expect(result.sentFor).toBe(holder);
        const [row] = await a.list({ eventId: ids[i] });
        expect(row?.status).toBe(result.first ? 'pending' : 'suppressed');
        if (!result.first) expect(row?.lastError).toContain(`sent once per 'flaky-failed': event ${holder}`);
      }
      // Suppressed is settled: a redelivered copy skips it.
      const other = ids.find((id) => id !== holder) ?? '';
      expect((await a.claim(delivery(other), LONG)).outcome).toBe('settled');
      expect(await a.attempts(other)).toMatchObject([{ outcome: 'suppressed' }]);
    });

    it('gives at most max rate tokens per period to a destination, shared by replicas', async () => {
      const [a, b] = await pair();
      const tokens = await Promise.all(
        Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? a : b).takeToken('channel:oncall', 5, LONG)),
      );
      expect(tokens.filter((t) => t.allowed)).toHaveLength(5);
      for (const token of tokens.filter((t) => !t.allowed)) {
        expect(token.allowed === false && token.periodLeftMs).toBeGreaterThan(0);
        expect(token.allowed === false && token.periodLeftMs).toBeLessThanOrEqual(LONG);
      }
      // Another destination has its own.
      expect((await a.takeToken('channel:other', 5, LONG)).allowed).toBe(true);
      // A short period: the next one gives tokens again.
      expect((await a.takeToken('channel:fast', 1, 200)).allowed).toBe(true);
      const denied = await a.takeToken('channel:fast', 1, 200);
      expect(denied.allowed).toBe(false);
      await new Promise((resolve) => setTimeout(resolve, denied.allowed ? 0 : denied.periodLeftMs + 20));
      expect((await b.takeToken('channel:fast', 1, 200)).allowed).toBe(true);
    });

    it('logs undecodable messages, lists them newest first, and purges them', async () => {
      const [a, b] = await pair();
      const before = Date.now();
      await a.undecodable({ messageId: 'sqs-msg-1', reason: 'not JSON', source: 'sqs' });
      await new Promise((resolve) => setTimeout(resolve, 5));
      await a.undecodable({ messageId: 'sqs-msg-2', reason: 'unknown version 9', source: 'sqs' });
      const listed = await b.undecodableMessages({});
      expect(listed.map((r) => [r.messageId, r.reason, r.source])).toEqual([
        ['sqs-msg-2', 'unknown version 9', 'sqs'],
        ['sqs-msg-1', 'not JSON', 'sqs'],
      ]);
      expect(listed[1]?.receivedAt.getTime()).toBeGreaterThanOrEqual(before - 1_000);
      expect(await b.undecodableMessages({ limit: 1 })).toHaveLength(1);
      expect(await b.undecodableMessages({ since: new Date(Date.now() + 60_000) })).toEqual([]);
      expect(await b.undecodableMessages({ until: new Date(before - 60_000) })).toEqual([]);
      expect(await a.purge(new Date(Date.now() + 60_000))).toBe(2);
      expect(await b.undecodableMessages({})).toEqual([]);
    });

    it('lists each status, routine ones by time and the others by their own index', async () => {
      const [a, b] = await pair();
      const claimed = (id: string) => outcomeOf(a.claim(delivery(id), LONG));
      await Promise.all(['st-pending', 'st-delivered', 'st-retrying', 'st-dead'].map(claimed));
      await a.delivered('st-delivered', 'channel:oncall', {});
      await a.failed('st-retrying', 'channel:oncall', 'slack answered 503');
      await a.deadLettered('st-dead', 'channel:oncall', 'gone');
      await a.silenced(delivery('st-silenced'), 'sil-1');
      const ids = async (status: DeliveryStatus) => (await b.list({ status })).map((r) => r.eventId);
      expect(await ids('pending')).toEqual(['st-pending']);
      expect(await ids('delivered')).toEqual(['st-delivered']);
      expect(await ids('retrying')).toEqual(['st-retrying']);
      expect(await ids('dead-lettered')).toEqual(['st-dead']);
      expect(await ids('silenced')).toEqual(['st-silenced']);
      // A delivery leaves the partial index when it is delivered at last.
      expect((await b.claim(delivery('st-retrying'), LONG)).outcome).toBe('claimed');
      await b.delivered('st-retrying', 'channel:oncall', {});
      expect((await ids('delivered')).sort()).toEqual(['st-delivered', 'st-retrying']);
      expect(await ids('retrying')).toEqual([]);
    });

    it('purges by the last write, not the last attempt: a row settled after the cutoff stays', async () => {
      const [a] = await pair();
      const d = delivery('settled-late');
      expect((await a.claim(d, LONG)).outcome).toBe('claimed');
      const [claimedRow] = await a.list({ eventId: 'settled-late' });
      const cutoff = await waitFor(
        async () => (claimedRow && Date.now() > claimedRow.lastAttemptAt.getTime() + 5 ? new Date() : undefined),
        'time to pass the attempt',
      );
      await waitFor(async () => (Date.now() > cutoff.getTime() + 5 ? true : undefined), 'time to pass the cutoff');
      await a.deadLettered(d.eventId, d.destination, 'gone');
      expect(await a.purge(cutoff)).toBe(0);
      expect(await a.list({ eventId: 'settled-late' })).toHaveLength(1);
    });

    it('purges what is older than the cutoff, attempts with it, in batches', async () => {
      const [a, b] = await pair();
      const count = 1_234;
      for (let i = 0; i < count; i += 100) {
        const slice = Array.from({ length: Math.min(100, count - i) }, (_, j) => delivery(`old-${i + j}`));
        await Promise.all(slice.map((d) => outcomeOf(a.claim(d, LONG))));
        await Promise.all(slice.map((d) => a.delivered(d.eventId, d.destination, {})));
      }
      await a.undecodable({ messageId: 'm-1', reason: 'not JSON', source: 'pubsub' });
      expect(await a.purge(new Date(Date.now() - 60_000))).toBe(0);

      const cutoff = await waitFor(async () => {
        const [newest] = await a.list({ limit: 1 });
        const now = Date.now();
        return newest && now > newest.lastAttemptAt.getTime() + 5 ? new Date(now) : undefined;
      }, 'time to pass');
      await waitFor(async () => (Date.now() > cutoff.getTime() + 5 ? true : undefined), 'time to pass the cutoff');
      expect((await b.claim(delivery('fresh'), LONG)).outcome).toBe('claimed');

      // A claim made while purging gets through between batches.
      const [purged, claimed] = await Promise.all([
        a.purge(cutoff),
        outcomeOf(b.claim(delivery('during-purge'), LONG)),
      ]);
      expect(purged).toBe(count + 1);
      expect(claimed).toBe('claimed');
      expect((await a.list({ limit: 10_000 })).map((r) => r.eventId).sort()).toEqual(['during-purge', 'fresh']);
      expect(await a.attempts('old-1')).toEqual([]);
      // Purged means forgotten: the same delivery can be claimed anew.
      expect((await a.claim(delivery('old-1'), LONG)).outcome).toBe('claimed');
    });

    it('migrates once: applying migrations again changes nothing', async () => {
      const url = await fixture.newUrl();
      expect(await migrateStore(url)).toEqual([
        '0001-delivery-log',
        '0002-messages',
        '0003-silences',
        '0004-storm-control',
        '0005-lean-delivery-indexes',
      ]);
      expect(await migrateStore(url)).toEqual([]);
      const [a, b] = await Promise.all([open(url, 'replica-a'), open(url, 'replica-b')]);
      expect((await a.claim(delivery('ev-12'), LONG)).outcome).toBe('claimed');
      expect((await b.claim(delivery('ev-12'), LONG)).outcome).toBe('busy');
      expect(await migrateStore(url)).toEqual([]);
    });

    it('counts round trips from zero and refuses work once closed', async () => {
      const url = await fixture.newUrl();
      const store = await openStore({ url });
      expect(store.roundTrips).toBe(0);
      (await store.claim(delivery('ev-13'), LONG)).outcome;
      expect(store.roundTrips).toBeGreaterThan(0);
      await store.close();
      await store.close();
      expect(() => store.claim(delivery('ev-13'), LONG)).toThrow(/closed/);
    });
  });
}
