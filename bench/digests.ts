/**
 * Digests under a storm: 10,000 FAILED events of project `bench`, none with notifications of
 * its own, preloaded in the simulated SQS (5 ms per call) and drained by a real `herald run`
 * process (the built CLI, SQS and SES simulated over their wire protocols, as in backlog.ts),
 * with one rule emailing oncall@example.com for each, three ways:
 *
 * - `no rule`: no digest, so every event is emailed (SES answers each);
 * - `digest rule`: the same rule with `digest: { window: 10m, groupBy: [project] }`, so every
 *   event is claimed and folded into the group's open digest in the store;
 * - `digest immediateFirst`: the same with `immediateFirst: true`: the first event is emailed
 *   at once, the rest folded.
 *
 * Each with SQLite (a fresh file each run) and PostgreSQL (a fresh database each run on one
 * throwaway cluster, fsync off), over two rounds, the second in the reverse order of the first,
 * so drift in the machine's speed falls on all alike. A drain is timed from Herald's start until
 * the queue is empty and every event was emailed (no rule) or `herald_deliveries_folded_total`
 * and the emails say every event was folded or sent; the 10-minute window is not waited for.
 * Store round trips are read from `herald_store_round_trips_total` then.
 *
 * A digest does go out during the drain when it fills up (`max`, 1,000 by default: the rule
 * sets none), and the group's next event opens the next digest (with immediateFirst, that event
 * is emailed at once too). Checked in every run, failing the benchmark otherwise: with no rule
 * every event is emailed once (Herald's `email delivered` lines and the SES calls); with a
 * digest no event is emailed on its own (with immediateFirst, only each digest's opener), every
 * other one is folded once (the metric), and every SES call is one of those or a digest sent;
 * the delivery log (`herald deliveries list`) holds one row per event at its `email:`
 * destination, folded (or delivered), each digest sent holds the events folded into it, and
 * every digest opened but the last has been sent.
 *
 * Usage: tsx bench/digests.ts [--quick] [--events N]   (writes bench/results/digests.json)
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { encodeEvent, sampleEvent } from '@herald/core';
import { CONFIG_DEFAULTS } from '@herald/core/config';
import { freePort, type StartedPostgres, startPostgres } from '../test/support/processes.js';
import {
  HERALD,
  type HeraldPlace,
  type HeraldProcess,
  killLeftovers,
  measureDrain,
  metricOf,
  startHerald,
  stop,
} from './herald-process.js';
import { serveSimulatedAws } from './simulated-aws-server.js';

const quick = process.argv.includes('--quick');
const eventsArg = process.argv.indexOf('--events');
const EVENTS = eventsArg > 0 ? Number(process.argv[eventsArg + 1]) : quick ? 2_000 : 10_000;
const SQS_LATENCY_MS = 5;
const TIMEOUT_MS = 300_000;
const ROUNDS = 2;
/** Events one digest holds before it is sent at once: Herald's default, as the rule sets none. */
const DIGEST_MAX = CONFIG_DEFAULTS.digest.max;
/** The queue empty, the last deliveries are recorded at once; this long without them fails the run. */
const STALLED_MS = 15_000;

const STORES = ['SQLite', 'PostgreSQL'] as const;
type StoreName = (typeof STORES)[number];
const RULE = {
  name: 'storm',
  match: { project: 'bench', onlyPhases: ['FAILED'] },
  email: ['oncall@example.com'],
};
const VARIANTS = [
  { variant: 'no rule', rule: RULE },
  { variant: 'digest rule', rule: { ...RULE, digest: { window: '10m', groupBy: ['project'] } } },
  {
    variant: 'digest immediateFirst',
    rule: { ...RULE, digest: { window: '10m', groupBy: ['project'], immediateFirst: true } },
  },
] as const;
type Variant = (typeof VARIANTS)[number];
type Run = Awaited<ReturnType<typeof drain>>;

const served = await serveSimulatedAws(SQS_LATENCY_MS);
const work = mkdtempSync(join(tmpdir(), 'herald-digests-'));
const place: HeraldPlace = { work, endpoint: served.endpoint };
let postgres: StartedPostgres | undefined;
try {
  postgres = await startPostgres();
  const order = STORES.flatMap((store) => VARIANTS.map((variant) => ({ store, variant })));
  const runs: Run[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const [index, { store, variant }] of (round % 2 === 0 ? order : [...order].reverse()).entries()) {
      const run = await drain(store, variant, round, index, postgres);
      runs.push(run);
      if (run.problems.length > 0) {
        process.exitCode = 1;
        for (const problem of run.problems)
          console.error(`${store}, ${variant.variant}, round ${round + 1}: ${problem}`);
      }
    }
  }
  const totals = STORES.flatMap((store) => VARIANTS.map((v) => totalsOf(store, v.variant, runs)));
  console.log(
    `digests: ${EVENTS} FAILED events preloaded in a simulated SQS (${SQS_LATENCY_MS} ms per call), drained by \`herald run\` (SQS → SES) with a store, ${ROUNDS} rounds alternated (totals)`,
  );
  console.log(
    '| store | rule | events | events/s | × no rule | CPU ms/1000 | CPU × no rule | store round trips/event | per-event emails | folded | digests sent (events each) |',
  );
  console.log('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|');
  for (const t of totals) {
    console.log(
      `| ${t.store} | ${t.variant} | ${t.events} | ${t.eventsPerSecond.toFixed(0)} | ${t.throughputRatio.toFixed(2)} | ${t.cpuMsPer1000.toFixed(0)} | ${t.cpuRatio.toFixed(2)} | ${t.tripsPerEvent.toFixed(2)} | ${t.eventEmails} | ${t.folded} | ${t.digestSizes.length}${t.digestSizes.length > 0 ? ` (${t.digestSizes.join(', ')})` : ''} |`,
    );
  }
  console.log('\neach run, in order');
  console.log('| round | store | rule | drain s | events/s | CPU ms/1000 | peak RSS MB | store round trips/event |');
  console.log('|---:|---|---|---:|---:|---:|---:|---:|');
  for (const r of runs) {
    console.log(
      `| ${r.round + 1} | ${r.store} | ${r.variant} | ${r.seconds.toFixed(1)} | ${r.eventsPerSecond.toFixed(0)} | ${r.cpuMsPer1000.toFixed(0)} | ${r.peakRssMb.toFixed(0)} | ${(r.storeRoundTrips / r.events).toFixed(2)} |`,
    );
  }
  for (const store of STORES) {
    const mine = totals.filter((t) => t.store === store);
    const ratios = mine
      .filter((t) => t.variant !== 'no rule')
      .map((t) => `${t.variant} ${t.throughputRatio.toFixed(2)}`);
    const trips = mine.map((t) => `${t.variant} ${t.tripsPerEvent.toFixed(2)}`);
    console.log(
      `\n${store}: throughput × no rule (target ≥ 0.8): ${ratios.join(', ')}; store round trips per event: ${trips.join(', ')}`,
    );
  }
  // A digest holds at most max events: the one that fills it closes it.
  const overfull = runs.flatMap((r) => r.digestsSent.map((d) => d.count)).filter((count) => count > DIGEST_MAX);
  if (overfull.length > 0) {
    throw new Error(`${overfull.length} digest(s) held more than max (${DIGEST_MAX}) events: ${overfull.join(', ')}`);
  }
  mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
  writeFileSync(
    new URL('./results/digests.json', import.meta.url),
    `${JSON.stringify({ benchmark: 'digests', node: process.version, sqsLatencyMs: SQS_LATENCY_MS, events: EVENTS, quick, rounds: ROUNDS, digestMax: DIGEST_MAX, rules: Object.fromEntries(VARIANTS.map((v) => [v.variant, v.rule])), totals, runs, time: new Date().toISOString() }, null, 2)}\n`,
  );
} finally {
  await killLeftovers();
  await served.close();
  await postgres?.stop();
  rmSync(work, { recursive: true, force: true });
}

/** One drain of a fresh backlog by a fresh Herald process on a fresh store, checked. */
async function drain(store: StoreName, { variant, rule }: Variant, round: number, index: number, pg: StartedPostgres) {
  const name = `digests${round}-${index}`;
  const queueUrl = served.queueUrl(name);
  for (let i = 0; i < EVENTS; i++) {
    const event = sampleEvent({
      id: `storm-${i}`,
      execution: { project: 'bench', domain: 'development', name: `run-${i}` },
      notifications: [],
    });
    served.sqs.enqueue(queueUrl, encodeEvent(event));
  }
  const storeUrl =
    store === 'SQLite'
      ? `sqlite:${join(work, `${name}.db`)}`
      : await pg.createDatabase(`herald_${name.replace('-', '_')}_${process.pid}`);
  const emailsBefore = served.emailsSent();
  const herald = startHerald(place, name, [], { storeUrl, httpPort: await freePort(), rules: [rule] });
  const digest = 'digest' in rule ? rule.digest : undefined;
  const immediateFirst = digest !== undefined && 'immediateFirst' in digest;
  let folded = 0;
  let emptySince: number | undefined;
  const measured = await measureDrain(
    herald,
    async () => {
      if (served.sqs.size(queueUrl) > 0) return false;
      // A message is deleted only once its deliveries are recorded: the rest follows at once.
      emptySince ??= Date.now();
      if (Date.now() - emptySince > STALLED_MS) throw new Error(`the queue is empty but ${progress()}`);
      if (!digest) return herald.deliveries.size >= EVENTS;
      folded = metricOf(await scrape(herald), 'herald_deliveries_folded_total') ?? 0;
      return folded + herald.deliveries.size >= EVENTS;
    },
    () => `${served.sqs.size(queueUrl)} messages left, ${progress()}`,
    TIMEOUT_MS,
  );
  function progress(): string {
    return `${herald.deliveries.size} of ${EVENTS} events emailed and ${folded} folded`;
  }
  // Read after the CPU: the scrape costs Herald a little. Every message is deleted by now, and a
  // message is deleted only once its deliveries are recorded, so every store write is counted.
  const metrics = await scrape(herald);
  await stop(herald);
  const storeRoundTrips = metricOf(metrics, 'herald_store_round_trips_total');
  if (storeRoundTrips === undefined)
    throw new Error(`herald_store_round_trips_total not served with store ${storeUrl}`);
  const seen = {
    eventEmails: [...herald.deliveries.values()].reduce((a, b) => a + b, 0),
    folded: metricOf(metrics, 'herald_deliveries_folded_total') ?? 0,
    digestsSent: herald.digestsSent,
    sesCalls: served.emailsSent() - emailsBefore,
  };
  const kind = digest ? (immediateFirst ? 'immediateFirst' : 'digest') : 'none';
  const problems = check(kind, seen, await deliveryLog(herald), herald);
  const run = {
    store,
    variant,
    round,
    events: EVENTS,
    seconds: measured.seconds,
    eventsPerSecond: EVENTS / measured.seconds,
    cpuMsPer1000: (measured.cpuMs / EVENTS) * 1000,
    peakRssMb: measured.peakRssKb / 1024,
    storeRoundTrips,
    ...seen,
    problems,
  };
  console.error(
    `round ${round + 1}, ${store}, ${variant}: ${run.eventsPerSecond.toFixed(0)} events/s, ${(storeRoundTrips / EVENTS).toFixed(2)} store round trips/event, ${seen.eventEmails} emailed, ${seen.folded} folded, ${seen.digestsSent.length} digests sent${problems.length > 0 ? `, ${problems.length} problems` : ''}`,
  );
  return run;
}

async function scrape(herald: HeraldProcess): Promise<string> {
  return (await fetch(herald.metricsUrl as string)).text();
}

interface LoggedDelivery {
  eventId: string;
  destination: string;
  status: string;
  digestId: string | null;
}

/** Every row of the run's delivery log, read with `herald deliveries list` once Herald has stopped. */
async function deliveryLog(herald: HeraldProcess): Promise<LoggedDelivery[]> {
  const args = [HERALD, 'deliveries', 'list', '--config', herald.configFile, '--limit', String(2 * EVENTS + 100)];
  const { stdout } = await promisify(execFile)(process.execPath, [...args, '--json'], {
    env: { ...process.env, NODE_OPTIONS: '' },
    maxBuffer: 1024 * 1024 * 1024,
  });
  return JSON.parse(stdout) as LoggedDelivery[];
}

/**
 * What is wrong with a run: nothing when every event went where it should, once. With a digest,
 * events fold into the group's open digest until it fills up (`max`) and is sent; the next event
 * opens the group's next digest, and with immediateFirst that event is emailed at once.
 */
function check(
  kind: 'none' | 'digest' | 'immediateFirst',
  seen: { eventEmails: number; folded: number; digestsSent: HeraldProcess['digestsSent']; sesCalls: number },
  log: readonly LoggedDelivery[],
  herald: HeraldProcess,
): string[] {
  const problems: string[] = [];
  const expect = (what: string, actual: number, wanted: number) => {
    if (actual !== wanted) problems.push(`${what}: ${actual}, expected ${wanted}`);
  };
  const emailed = herald.deliveries.size;
  // Emails: one per event with no digest, none with one (an opener each with immediateFirst),
  // and one per digest sent.
  if (kind === 'none') expect('events emailed (email delivered lines)', emailed, EVENTS);
  if (kind === 'digest') expect('events emailed (email delivered lines)', emailed, 0);
  if (kind === 'immediateFirst' && emailed < 1) problems.push('no event emailed at once with immediateFirst');
  expect('events emailed twice', seen.eventEmails - emailed, 0);
  expect('SES calls less the digests sent', seen.sesCalls - seen.digestsSent.length, emailed);
  expect('herald_deliveries_folded_total', seen.folded, kind === 'none' ? 0 : EVENTS - emailed);
  const digestRows = log.filter((r) => r.eventId.startsWith('digest:'));
  expect('digests logged', digestRows.length, seen.digestsSent.length);
  expect('digests logged delivered', digestRows.filter((r) => r.status === 'delivered').length, digestRows.length);
  // The delivery log: one row per event, at the rule's email destination.
  const eventRows = log.filter((r) => !r.eventId.startsWith('digest:'));
  const perEvent = new Map<string, number>();
  for (const row of eventRows) perEvent.set(row.eventId, (perEvent.get(row.eventId) ?? 0) + 1);
  expect('events in the delivery log', perEvent.size, EVENTS);
  expect('events logged twice', eventRows.length - perEvent.size, 0);
  for (let i = 0; i < EVENTS && problems.length < 20; i++) {
    if (!perEvent.has(`storm-${i}`)) problems.push(`storm-${i} is not in the delivery log`);
  }
  expect(
    'rows at other destinations than email:',
    eventRows.filter((r) => !r.destination.startsWith('email:')).length,
    0,
  );
  const folded = eventRows.filter((r) => r.status === 'folded');
  const delivered = eventRows.filter((r) => r.status === 'delivered');
  expect('rows folded', folded.length, seen.folded);
  expect('rows delivered', delivered.length, emailed);
  for (const row of delivered)
    if (!herald.deliveries.has(row.eventId)) problems.push(`${row.eventId} logged delivered, not emailed`);
  if (kind === 'none') return problems;
  // Each digest: its members folded under its id, what it said it held when sent; one opener
  // each with immediateFirst; every one sent but the last, which may still be open.
  const members = new Map<string, number>();
  for (const row of folded) {
    if (row.digestId) members.set(row.digestId, (members.get(row.digestId) ?? 0) + 1);
    else problems.push(`${row.eventId} folded into no digest`);
  }
  for (const sent of seen.digestsSent)
    expect(`events of digest ${sent.digestId}, sent with ${sent.count}`, members.get(sent.digestId) ?? 0, sent.count);
  const openers = delivered.map((r) => r.digestId);
  if (kind === 'immediateFirst') {
    if (openers.some((id) => !id)) problems.push('an event emailed at once (immediateFirst) opened no digest');
    expect('digests opened by an event emailed at once', new Set(openers).size, openers.length);
    for (const id of members.keys()) if (!openers.includes(id)) problems.push(`digest ${id} has no opener`);
  }
  const opened = new Set([...members.keys(), ...openers]).size;
  const unsent = opened - new Set(seen.digestsSent.map((d) => d.digestId)).size;
  if (unsent !== 0 && unsent !== 1)
    problems.push(`${opened} digests opened, ${seen.digestsSent.length} sent: more than the last one unsent`);
  return problems;
}

/** One store's and rule's rounds together, next to the same store's `no rule`. */
function totalsOf(store: StoreName, variant: Variant['variant'], runs: readonly Run[]) {
  const sum = (of: string, pick: (r: Run) => number) =>
    runs.filter((r) => r.store === store && r.variant === of).reduce((a, r) => a + pick(r), 0);
  const eventsPerSecond = (of: string) => sum(of, (r) => r.events) / sum(of, (r) => r.seconds);
  const cpuMsPer1000 = (of: string) =>
    (sum(of, (r) => (r.cpuMsPer1000 * r.events) / 1000) / sum(of, (r) => r.events)) * 1000;
  const events = sum(variant, (r) => r.events);
  const mine = runs.filter((r) => r.store === store && r.variant === variant);
  return {
    store,
    variant,
    events,
    seconds: sum(variant, (r) => r.seconds),
    eventsPerSecond: eventsPerSecond(variant),
    throughputRatio: eventsPerSecond(variant) / eventsPerSecond('no rule'),
    cpuMsPer1000: cpuMsPer1000(variant),
    cpuRatio: cpuMsPer1000(variant) / cpuMsPer1000('no rule'),
    tripsPerEvent: sum(variant, (r) => r.storeRoundTrips) / events,
    peakRssMb: Math.max(...mine.map((r) => r.peakRssMb)),
    eventEmails: sum(variant, (r) => r.eventEmails),
    folded: sum(variant, (r) => r.folded),
    digestSizes: mine.flatMap((r) => r.digestsSent.map((d) => d.count)),
    problems: sum(variant, (r) => r.problems.length),
  };
}
