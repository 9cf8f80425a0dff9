/**
 * What every fault scenario does the same way: start real `herald run` processes of the built
 * CLI and stop them (and every server a scenario starts) afterwards, publish numbered events,
 * collect dead letters, and decide when a queue is settled. Counting happens at the receiving
 * end: every event goes to its own address, `<event id>@example.com`, so an email received
 * names the event it is for, whatever the templates made of the rest.
 */
import { randomUUID } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ExecutionEvent, sampleEvent } from '@herald/core';
import pg from 'pg';
import { inject } from 'vitest';
import { type AwsStack, type QueuedMessage, queueIsEmpty, takeMessages } from '../helpers/aws.js';
import { type CliResult, finished, herald, start, waitForLog } from '../helpers/cli.js';
import { type GcpStack, PubSubWatch } from '../helpers/gcp.js';
import { listenOnLoopback } from '../helpers/loopback.js';
import { TestSmtpServer } from '../helpers/smtp.js';
import { account, type Figures, recordFigures, type Tally } from './figures.js';

/**
 * Sizes and durations of the faults, bounded so the suite stays within a few minutes in CI;
 * raise them by hand through the environment (e.g. `HERALD_FAULTS_OUTAGE_SECONDS=60`).
 */
export const params = {
  /** Events published in each backlog scenario. */
  events: envNumber('HERALD_FAULTS_EVENTS', 300),
  /**
   * Events published in the replica scenarios, each with three destinations, by transport;
   * `HERALD_FAULTS_REPLICA_EVENTS` sets both. On two cores, 500 take about 30 s on the Pub/Sub
   * emulator and about 100 s on moto's SQS (moto's server is the bottleneck), so SQS runs 200.
   */
  replicaEvents: {
    sqs: envNumber('HERALD_FAULTS_REPLICA_EVENTS', 200),
    pubsub: envNumber('HERALD_FAULTS_REPLICA_EVENTS', 500),
  },
  /** How long the email provider is down in the outage scenario. */
  outageSeconds: envNumber('HERALD_FAULTS_OUTAGE_SECONDS', 12),
  /** How long the path to the queue service is cut. */
  cutSeconds: envNumber('HERALD_FAULTS_CUT_SECONDS', 10),
};

function envNumber(name: string, fallback: number): number {
  const value = process.env[name];
  if (value === undefined || value === '') return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0) throw new Error(`${name}: expected a positive number, got '${value}'`);
  return parsed;
}

/** A running `herald run` and its accumulated output. */
export interface HeraldRun {
  child: ReturnType<typeof start>;
  exited: Promise<CliResult>;
  running(): boolean;
}

/** Everything one scenario starts; {@link stop} ends it all, even after a failure. */
export class Scenario {
  private readonly cleanups: (() => Promise<unknown>)[] = [];
  /** When the first `herald run` started: a scenario's duration is counted from there. */
  private startedAt: number | undefined;

  /** Registers something to stop at the end (last registered, first stopped). */
  defer(cleanup: () => Promise<unknown>): void {
    this.cleanups.push(cleanup);
  }

  /** Starts `herald run` on the stack's config and resolves once it is receiving. */
  async run(stack: { configFile: string }, env: Record<string, string> = {}): Promise<HeraldRun> {
    this.startedAt ??= performance.now();
    const child = start(['run', '--config', stack.configFile], undefined, env);
    const exited = finished(child);
    const run: HeraldRun = { child, exited, running: () => child.exitCode === null && child.signalCode === null };
    this.defer(async () => {
      // Only this scenario's own process, by its handle.
      if (run.running()) child.kill('SIGKILL');
      await exited;
    });
    await waitForLog(child, 'herald processor started');
    return run;
  }

  /** SIGKILL: no drain, no hand-back, nothing flushed. */
  async kill(run: HeraldRun): Promise<void> {
    run.child.kill('SIGKILL');
    await run.exited;
  }

  /** SIGTERM and wait for the drain; resolves to the exit status. */
  async terminate(run: HeraldRun): Promise<number | null> {
    run.child.kill('SIGTERM');
    return (await run.exited).status;
  }

  /** Milliseconds since the first `herald run` started. */
  elapsedMs(): number {
    return this.startedAt === undefined ? 0 : performance.now() - this.startedAt;
  }

  async stop(): Promise<void> {
    for (const cleanup of this.cleanups.splice(0).reverse()) {
      await cleanup().catch(() => {});
    }
  }
}

/** A slow SMTP server a scenario emails through, and what it has received, by event. */
export interface ScenarioSmtp {
  /** `notifications.emailer.emailServerConfig` pointing at it. */
  emailServerConfig: string;
  /** The event id of every email received (an event emailed twice appears twice). */
  receivedIds(): Promise<string[]>;
  /** How many distinct events have been emailed. */
  distinctReceived(): number;
}

/**
 * Starts a real SMTP server that waits `delayMs` before accepting each message, so a fault lands
 * while deliveries are under way; the scenario stops it at the end.
 */
export async function slowSmtp(scenario: Scenario, delayMs: number): Promise<ScenarioSmtp> {
  const smtp = new TestSmtpServer();
  smtp.delayMs = delayMs;
  const port = await smtp.start();
  scenario.defer(() => smtp.stop());
  return {
    emailServerConfig: smtpServerConfig(port),
    receivedIds: async () => smtp.received.flatMap((m) => m.envelopeTo.map(eventIdOf)),
    distinctReceived: () => new Set(smtp.received.flatMap((m) => m.envelopeTo)).size,
  };
}

/** `notifications.emailer.emailServerConfig` for the test SMTP server on `port`. */
export function smtpServerConfig(port: number): string {
  return `{ serviceName: smtp, smtpServer: 127.0.0.1, smtpPort: "${port}", smtpSkipTLSVerify: true }`;
}

/** `count` FAILED events, each notifying its own address `<event id>@example.com`. */
export function numberedEvents(count: number, prefix: string): ExecutionEvent[] {
  return Array.from({ length: count }, (_, i) => {
    const id = randomUUID();
    return sampleEvent({
      id,
      execution: { project: 'faults', domain: 'ci', name: `${prefix}-${i}` },
      notifications: [{ phases: ['FAILED'], email: { recipients: [`${id}@example.com`] } }],
    });
  });
}

/** The event id an address of {@link numberedEvents} stands for. */
export function eventIdOf(address: string): string {
  return address.replace(/@example\.com$/, '');
}

/** Publishes through `herald publish` (SNS → SQS, or to the Pub/Sub topic), as an operator would. */
export async function publishEvents(stack: { configFile: string }, events: readonly ExecutionEvent[]): Promise<void> {
  const file = join(tmpdir(), `herald-faults-${randomUUID()}.jsonl`);
  await writeFile(file, `${events.map((e) => JSON.stringify(e)).join('\n')}\n`);
  const result = await herald(['publish', '--config', stack.configFile, '--event', file]);
  await rm(file, { force: true });
  if (result.status !== 0 || result.stdout.trim().split('\n').length !== events.length) {
    throw new Error(`herald publish failed (${result.status}):\n${result.stderr}`);
  }
}

/**
 * The queue a scenario's `herald run` processes share, whichever transport carries it: what a
 * scenario needs to know about it besides the config.
 */
export interface ScenarioQueue {
  /** `SQS` or `Pub/Sub`, for test names and figures. */
  readonly transport: string;
  /** The config every `herald run` and `herald publish` of the scenario uses. */
  readonly configFile: string;
  /** Takes the dead letters that have arrived since the last call (received and removed). */
  takeDeadLetters(): Promise<QueuedMessage[]>;
  /** Whether the queue holds nothing, waiting or in flight: the processors have settled everything. */
  settled(): Promise<boolean>;
}

/** An SQS stack (SNS topic → SQS queue, dead-letter queue) as a scenario's queue. */
export function sqsQueue(stack: AwsStack): ScenarioQueue {
  return {
    transport: 'SQS',
    configFile: stack.configFile,
    takeDeadLetters: () => takeMessages(stack.sqs, stack.deadLetterUrl),
    settled: () => queueIsEmpty(stack.sqs, stack.queueUrl),
  };
}

/**
 * A Pub/Sub stack (topic, subscription, dead-letter topic and its subscription) as a scenario's
 * queue, watched through a probe subscription ({@link PubSubWatch}): call it before publishing.
 */
export async function pubSubQueue(scenario: Scenario, stack: GcpStack): Promise<ScenarioQueue> {
  const watch = await PubSubWatch.create(stack);
  scenario.defer(() => watch.close());
  return {
    transport: 'Pub/Sub',
    configFile: stack.configFile,
    takeDeadLetters: () => watch.takeDeadLetters(),
    settled: () => watch.backlogIsEmpty(),
  };
}

function queueOf(stack: AwsStack | ScenarioQueue): ScenarioQueue {
  return 'transport' in stack ? stack : sqsQueue(stack);
}

/** The dead-letter queue (or topic) of a stack, read as the processor writes to it. */
export class DeadLetters {
  readonly records: QueuedMessage[] = [];
  private readonly queue: ScenarioQueue;

  constructor(stack: AwsStack | ScenarioQueue) {
    this.queue = queueOf(stack);
  }

  /** Takes what has arrived since the last call and returns everything taken so far. */
  async collect(): Promise<QueuedMessage[]> {
    this.records.push(...(await this.queue.takeDeadLetters()));
    return this.records;
  }

  /** Event ids of the dead letters: Herald's attribute, or the id in the body (a redrive by the queue has no attribute). */
  eventIds(): string[] {
    return this.records.map((r) => r.attributes['herald.eventId'] ?? idInBody(r.body));
  }
}

function idInBody(body: string): string {
  try {
    return String((JSON.parse(body) as { id?: unknown }).id ?? '');
  } catch {
    return '';
  }
}

/** Whether the stack's queue holds nothing, in flight or waiting: the processor has settled everything. */
export function settled(stack: AwsStack | ScenarioQueue): Promise<boolean> {
  return queueOf(stack).settled();
}

/**
 * Counts published event ids against the emails received and the dead letters taken so far
 * (taking what has arrived since the last count).
 */
export function eventTally(
  published: readonly string[],
  received: () => Promise<string[]>,
  deadLetters: DeadLetters,
): () => Promise<Tally> {
  return async () => {
    await deadLetters.collect();
    return account(published, await received(), deadLetters.eventIds());
  };
}

/**
 * Counts until nothing published is lost and the stack's queue is empty — for at most
 * `timeoutMs` — and returns the last count either way, so a scenario records its figures before
 * it asserts anything.
 */
export async function settle(
  stack: AwsStack | ScenarioQueue,
  count: () => Promise<Tally>,
  options: { timeoutMs: number; intervalMs?: number },
): Promise<{ tally: Tally; inTime: boolean }> {
  const deadline = Date.now() + options.timeoutMs;
  for (;;) {
    let tally: Tally | undefined;
    try {
      tally = await count();
      if (tally.lost === 0 && (await settled(stack))) return { tally, inTime: true };
    } catch (err) {
      // An emulator too busy to answer one read (moto's data dump) is asked again.
      if (Date.now() > deadline) throw err;
    }
    if (tally && Date.now() > deadline) return { tally, inTime: false };
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 500));
  }
}

/** Records the figures for the end-of-run table. */
export function record(figures: Figures): Promise<void> {
  return recordFigures(inject('faultsResultsDir'), figures);
}

/**
 * A PostgreSQL database of the scenario's own on the suite's throwaway cluster, dropped at the
 * end (after the processes using it are stopped: register it before starting them).
 * @returns its `postgres://…` URL, for `herald.store.url`.
 */
export async function postgresDatabase(scenario: Scenario): Promise<string> {
  const adminUrl = inject('postgresUrl');
  const name = `herald_faults_${randomUUID().slice(0, 8)}`;
  await withPostgres(adminUrl, (client) => client.query(`create database ${name}`));
  scenario.defer(() =>
    withPostgres(adminUrl, (client) => client.query(`drop database if exists ${name} with (force)`)),
  );
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Runs `work` with one connection to `url`, closed afterwards. */
export async function withPostgres<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** A row of the delivery log, as a scenario reads it straight from the store. */
export interface LoggedDelivery {
  eventId: string;
  destination: string;
  label: string;
  status: string;
  attempts: number;
  leaseOwner: string | null;
}

/** Every row of the delivery log in a PostgreSQL store. */
export function readDeliveryLog(url: string): Promise<LoggedDelivery[]> {
  return withPostgres(url, async (client) => {
    const { rows } = await client.query<{
      event_id: string;
      destination: string;
      label: string;
      status: string;
      attempts: number;
      lease_owner: string | null;
    }>('select event_id, destination, label, status, attempts, lease_owner from deliveries');
    return rows.map((r) => ({
      eventId: r.event_id,
      destination: r.destination,
      label: r.label,
      status: r.status,
      attempts: Number(r.attempts),
      leaseOwner: r.lease_owner,
    }));
  });
}

/** A webhook receiver that fails each event's first calls, and what it answered, by event. */
export interface FlakyWebhook {
  /** `http://127.0.0.1:PORT/hook`, for a `type: webhook` channel (the body is the event). */
  url: string;
  /** Calls per event id, failed ones included. */
  calls: Map<string, number>;
  /** The event id of every call answered with success (an event twice is a duplicate). */
  successIds(): string[];
}

/**
 * A loopback webhook receiver that answers `503 Service Unavailable` to the first `failures`
 * calls for each event (told by the `id` of the JSON body) and `204` afterwards: a destination
 * that fails transiently, per event, wherever the call comes from.
 */
export async function flakyWebhook(scenario: Scenario, failures: number): Promise<FlakyWebhook> {
  const calls = new Map<string, number>();
  const successes: string[] = [];
  const server = await listenOnLoopback((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      let id = '';
      try {
        id = String((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id?: unknown }).id ?? '');
      } catch {
        // Counted under '' below: a body that names no event is a failure of the scenario.
      }
      const n = (calls.get(id) ?? 0) + 1;
      calls.set(id, n);
      if (n <= failures) {
        res.writeHead(503, { 'content-type': 'text/plain' });
        res.end('try again later');
        return;
      }
      successes.push(id);
      res.writeHead(204);
      res.end();
    });
  });
  scenario.defer(() => server.stop());
  return { url: `${server.url}/hook`, calls, successIds: () => [...successes] };
}
