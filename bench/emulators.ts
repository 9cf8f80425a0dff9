/**
 * End to end on real emulators, each next to the emulator's own ceiling measured in the same run
 * with a tight raw-SDK loop on a queue of the same size:
 *
 * - AWS (moto, and LocalStack with --localstack): events published with Herald's SNS publisher
 *   reach SQS through the raw-delivery subscription `herald infra up` makes; Herald's processor
 *   drains them and emails through SES. Ceilings: 4 loops of ReceiveMessage(10) +
 *   DeleteMessageBatch (the queue alone), and the same loops sending each message's email with
 *   SESv2 SendEmail before the delete (the same API work as Herald, without Herald).
 * - Pub/Sub emulator: events published with Herald's Pub/Sub publisher; Herald's processor
 *   drains the subscription into the outbox (.eml files). Ceiling: a streaming pull that acks
 *   every message as it arrives, on a second subscription of the same topic holding the same
 *   messages, with the library's default flow control and with Herald's.
 *
 * Every event must be delivered exactly once; the run fails otherwise.
 *
 * Usage: tsx bench/emulators.ts [--quick] [--localstack]   (writes bench/results/emulators.json)
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SESClient, SendEmailCommand as SendEmailV1Command } from '@aws-sdk/client-ses';
import { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { type Message, PubSub, type SubscriberOptions } from '@google-cloud/pubsub';
import { awsInfraUp, gcpInfraUp } from '@herald/cli';
import { type ExecutionEvent, encodeEvent, sampleEvent } from '@herald/core';
import { parseConfig, type ResolvedConfig } from '@herald/core/config';
import { silentLogger } from '@herald/core/runtime';
import { type Emailer, type EmailMessage, OutboxEmailer, type SendResult } from '@herald/emailer';
import { createProcessor } from '@herald/processor';
import { createPublisher } from '@herald/publisher';
import { freePort, isLocalStack, startMoto, startPubSubEmulator } from '../test/support/processes.js';
import { collectGarbage } from './stats.js';

const quick = process.argv.includes('--quick');
const withLocalStack = process.argv.includes('--localstack');
/** --only aws|pubsub: one lane (for working on it). */
const only = process.argv.includes('--only') ? process.argv[process.argv.indexOf('--only') + 1] : undefined;
// moto answers a ReceiveMessage in ~0.3 s (it is a Python test double, not a fast queue), so
// its backlog is small; the Pub/Sub emulator drains thousands per second.
const AWS_EVENTS = quick ? 40 : 1_000;
const PUBSUB_EVENTS = quick ? 1_000 : 10_000;
const PUBSUB_ROUNDS = quick ? 1 : 3;
const RAW_LOOPS = 4;
const TIMEOUT_MS = 300_000;

interface Row {
  emulator: string;
  what: string;
  events: number;
  seconds: number;
  perSecond: number;
  /** CPU of this process per event (µs), where the drain runs in it: the client library and Herald's pipeline, not the emulator. */
  cpuUsPerEvent?: number | undefined;
}
const rows: Row[] = [];
/** Each measurement is printed as soon as it is taken, so a failure later keeps what was measured. */
function record(row: Row): void {
  rows.push(row);
  const cpu = row.cpuUsPerEvent === undefined ? '' : `, ${row.cpuUsPerEvent.toFixed(0)} µs of CPU each`;
  process.stderr.write(`  ${row.emulator}: ${row.what}: ${row.perSecond.toFixed(0)}/s${cpu}\n`);
}
const ratios: { emulator: string; ratio: string; value: number }[] = [];

process.env.AWS_ACCESS_KEY_ID = 'bench';
process.env.AWS_SECRET_ACCESS_KEY = 'bench';
process.env.AWS_REGION = 'us-east-1';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
process.env.METADATA_SERVER_DETECTION = 'none';

if (only !== 'pubsub') {
  const moto = await startMoto();
  try {
    await awsLane('moto', moto.address);
  } finally {
    await moto.stop();
  }
}
if (withLocalStack && only !== 'pubsub') {
  const localstack = await startLocalStack();
  try {
    await awsLane('LocalStack 4.14.0', localstack.endpoint);
  } finally {
    await localstack.stop();
  }
}
if (only !== 'aws') {
  const pubsub = await startPubSubEmulator();
  try {
    await pubsubLane(pubsub.address);
  } finally {
    await pubsub.stop();
  }
}

console.log(`real emulators, preloaded backlogs${quick ? ' (quick)' : ''}`);
console.log('| emulator | what | events | seconds | per second | CPU µs / event (this process) |');
console.log('|---|---|---:|---:|---:|---:|');
for (const r of rows) {
  console.log(
    `| ${r.emulator} | ${r.what} | ${r.events} | ${r.seconds.toFixed(2)} | ${r.perSecond.toFixed(0)} | ${r.cpuUsPerEvent?.toFixed(0) ?? ''} |`,
  );
}
console.log('');
for (const r of ratios) console.log(`${r.emulator}: ${r.ratio} = ${r.value.toFixed(2)}`);
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(
  new URL('./results/emulators.json', import.meta.url),
  `${JSON.stringify({ benchmark: 'emulators', node: process.version, quick, rows, ratios, time: new Date().toISOString() }, null, 2)}\n`,
);

// ---------------------------------------------------------------------------------------------

async function awsLane(emulator: string, endpoint: string): Promise<void> {
  process.env.AWS_ENDPOINT_URL = endpoint;
  const account = (await isLocalStack(endpoint)) ? '000000000000' : '123456789012';
  const id = `bench-${randomUUID().slice(0, 8)}`;
  const config = parseConfig(
    `notifications:
  type: aws
  aws: { region: us-east-1 }
  publisher: { topicName: "arn:aws:sns:us-east-1:${account}:${id}" }
  processor: { queueName: ${id}, accountId: "${account}" }
  emailer: { sender: ${id}@example.com }
herald:
  aws: { waitTimeSeconds: 1 }
`,
    { env: process.env },
  );
  await awsInfraUp(config, () => {});
  const sqs = new SQSClient({});
  const ses = new SESv2Client({});
  const sesV1 = new SESClient({});
  // LocalStack's community edition has only SES v1 (Herald's emailer falls back to it there).
  const sesApi = (await isLocalStack(endpoint)) ? 'v1' : 'v2';
  try {
    const rawQueue = await createQueue(sqs, `${id}-raw`);
    const bodies = events(AWS_EVENTS).map(encodeEvent);

    await sendAll(sqs, rawQueue, bodies);
    const ceiling = await rawSqsDrain(sqs, rawQueue, AWS_EVENTS);
    record({ emulator, what: 'raw SDK: receive 10 + batch delete', ...ceiling });
    await sendAll(sqs, rawQueue, bodies);
    const sameWork = await rawSqsDrain(sqs, rawQueue, AWS_EVENTS, async (body) => {
      const event = JSON.parse(body) as ExecutionEvent;
      const subject = { Data: event.execution.name };
      const text = { Text: { Data: event.id } };
      if (sesApi === 'v1') {
        await sesV1.send(
          new SendEmailV1Command({
            Source: config.emailer.sender,
            Destination: { ToAddresses: ['oncall@example.com'] },
            Message: { Subject: subject, Body: text },
          }),
        );
        return;
      }
      await ses.send(
        new SendEmailCommand({
          FromEmailAddress: config.emailer.sender,
          Destination: { ToAddresses: ['oncall@example.com'] },
          Content: { Simple: { Subject: subject, Body: text } },
        }),
      );
    });
    record({ emulator, what: `raw SDK: receive 10, SES ${sesApi} SendEmail each, batch delete`, ...sameWork });

    const publish = await publishAll(config, events(AWS_EVENTS));
    record({ emulator, what: 'Herald publisher: SNS PublishBatch', ...publish });
    await waitForQueueDepth(sqs, await queueUrl(sqs, id), AWS_EVENTS);
    const herald = await heraldDrain(config, AWS_EVENTS);
    record({ emulator, what: 'Herald processor: SQS → SES', ...herald });
    ratios.push({ emulator, ratio: 'Herald ÷ raw receive+delete', value: herald.perSecond / ceiling.perSecond });
    ratios.push({
      emulator,
      ratio: 'Herald ÷ raw with the same SES sends',
      value: herald.perSecond / sameWork.perSecond,
    });
  } finally {
    sqs.destroy();
    ses.destroy();
    sesV1.destroy();
  }
}

async function pubsubLane(host: string): Promise<void> {
  process.env.PUBSUB_EMULATOR_HOST = host;
  const id = `bench-${randomUUID().slice(0, 8)}`;
  const projectId = `project-${id}`;
  const outbox = mkdtempSync(join(tmpdir(), 'herald-bench-outbox-'));
  const gcpConfig = (subscription: string) =>
    parseConfig(
      `notifications:
  type: gcp
  gcp: { projectId: ${projectId} }
  publisher: { topicName: ${id} }
  processor: { queueName: ${subscription} }
  emailer: { sender: ${id}@example.com }
herald:
  emailer: { provider: outbox }
  outbox: { directory: ${outbox} }
`,
      { env: process.env },
    );
  const config = gcpConfig(`${id}-sub`);
  const rounds = Array.from({ length: PUBSUB_ROUNDS }, (_, round) => round);
  const withoutEmailIo = rounds.map((round) => gcpConfig(`${id}-sub-no-io-${round}`));
  const client = new PubSub({ projectId });
  const lane = 'Pub/Sub emulator';
  try {
    // Herald's subscriptions (with the policies infra up sets) and plain ones for the ceilings,
    // all on one topic: each holds the same published messages.
    await gcpInfraUp(config, () => {});
    for (const each of withoutEmailIo) await gcpInfraUp(each, () => {});
    const rawDefault = [];
    for (const round of rounds) rawDefault.push((await client.topic(id).createSubscription(`${id}-raw-${round}`))[0]);
    const [rawHerald] = await client.topic(id).createSubscription(`${id}-raw-herald-flow`);

    const publish = await publishAll(config, events(PUBSUB_EVENTS));
    record({ emulator: lane, what: 'Herald publisher: Pub/Sub publish', ...publish });

    // The raw pull and Herald without email I/O take turns; each reports its median round,
    // since one drain of a few seconds moves by ±15 % on this machine.
    const rawRounds = [];
    const heraldRounds = [];
    for (const round of rounds) {
      rawRounds.push(await rawStreamingPull(rawDefault[round]?.name ?? '', PUBSUB_EVENTS, undefined));
      heraldRounds.push(await heraldDrain(withoutEmailIo[round] as ResolvedConfig, PUBSUB_EVENTS, acceptingEmailer()));
    }
    const ofRounds = rounds.length > 1 ? ` (median of ${rounds.length})` : '';
    const ceiling = median(rawRounds);
    const transportOnly = median(heraldRounds);
    record({ emulator: lane, what: `raw SDK: streaming pull + ack (default flow control)${ofRounds}`, ...ceiling });
    record({
      emulator: lane,
      what: `Herald processor: subscription → emailer without I/O${ofRounds}`,
      ...transportOnly,
    });
    // Herald's subscriber settings (pubsub-source.ts, factory.ts): 4 × maxInFlight outstanding, acks sent every 10 ms.
    const outstanding = 4 * config.processing.maxInFlight;
    const sameFlow = await rawStreamingPull(rawHerald.name, PUBSUB_EVENTS, {
      flowControl: { maxMessages: outstanding, allowExcessMessages: false },
      batching: { maxMilliseconds: 10 },
    });
    record({
      emulator: lane,
      what: `raw SDK: streaming pull + ack (${outstanding} outstanding, acks every 10 ms, as Herald)`,
      ...sameFlow,
    });
    const outboxAlone = await outboxCeiling(config, PUBSUB_EVENTS);
    record({ emulator: lane, what: 'outbox emailer alone, 64 at once (no queue)', ...outboxAlone });
    const herald = await heraldDrain(config, PUBSUB_EVENTS);
    record({ emulator: lane, what: 'Herald processor: subscription → outbox', ...herald });
    ratios.push({
      emulator: lane,
      ratio: 'Herald (emailer without I/O) ÷ raw streaming pull',
      value: transportOnly.perSecond / ceiling.perSecond,
    });
    // The throughput ratio holds only while Herald's process has CPU to spare: the raw pull is
    // bound by the emulator, Herald by its own thread on a slower machine. CPU per message shows
    // that margin whatever the machine's speed.
    ratios.push({
      emulator: lane,
      ratio: "Herald's CPU per message (emailer without I/O) ÷ the raw pull's",
      value: (transportOnly.cpuUsPerEvent ?? Number.NaN) / (ceiling.cpuUsPerEvent ?? Number.NaN),
    });
    ratios.push({
      emulator: lane,
      ratio: 'Herald → outbox ÷ the slower of raw pull and outbox alone',
      value: herald.perSecond / Math.min(ceiling.perSecond, outboxAlone.perSecond),
    });
  } finally {
    await client.close();
    rmSync(outbox, { recursive: true, force: true });
  }
}

/**
 * Accepts every email at once without writing or sending anything, so a run with it measures
 * the queue and Herald's pipeline (decode, route, render, settle) and not an email provider.
 */
function acceptingEmailer(): Emailer {
  return {
    name: 'accepting',
    send: async (message: EmailMessage): Promise<SendResult> => ({ messageId: message.idempotencyKey }),
    close: async () => {},
  };
}

/** The outbox emailer by itself: the same emails Herald renders, 64 at once, into a fresh directory. */
async function outboxCeiling(config: ResolvedConfig, n: number) {
  const directory = mkdtempSync(join(config.outbox.directory, 'alone-'));
  const outbox = new OutboxEmailer({ directory });
  const html = `<p>${'Execution flytesnacks/development failed. '.repeat(20)}</p>`;
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: config.processing.maxInFlight }, async () => {
      while (next < n) {
        const i = next++;
        await outbox.send({
          from: config.emailer.sender,
          to: ['oncall@example.com'],
          subject: `Execution run-${i} has FAILED`,
          html,
          text: html.replace(/<[^>]+>/g, ''),
          idempotencyKey: `alone-${i}/email`,
        });
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { events: n, seconds, perSecond: n / seconds };
}

// ---------------------------------------------------------------------------------------------

function events(n: number): ExecutionEvent[] {
  const run = randomUUID().slice(0, 8);
  return Array.from({ length: n }, (_, i) =>
    sampleEvent({
      id: `${run}-${i}`,
      execution: { project: 'flytesnacks', domain: 'development', name: `run-${run}-${i}` },
      notifications: [{ phases: ['FAILED'], email: { recipients: ['oncall@example.com'] } }],
    }),
  );
}

async function publishAll(config: ResolvedConfig, batch: ExecutionEvent[]) {
  const publisher = createPublisher(config);
  const started = performance.now();
  // The way an engine publishes: many small calls, each batched by the publisher.
  for (let i = 0; i < batch.length; i += 100) await publisher.publish(batch.slice(i, i + 100));
  const seconds = (performance.now() - started) / 1000;
  await publisher.close();
  return { events: batch.length, seconds, perSecond: batch.length / seconds };
}

/** Runs Herald's processor on `n` queued events until each is delivered; fails on loss or duplicates. */
async function heraldDrain(config: ResolvedConfig, n: number, emailer?: Emailer) {
  const processor = createProcessor(config, { logger: silentLogger, ...(emailer ? { emailer } : {}) });
  const delivered = new Map<string, number>();
  let deadLettered = 0;
  processor.events.on('delivered', (e) => delivered.set(e.eventId, (delivered.get(e.eventId) ?? 0) + 1));
  processor.events.on('dead_lettered', () => deadLettered++);
  collectGarbage();
  const cpu = process.cpuUsage();
  const started = performance.now();
  await processor.start();
  await until(() => delivered.size >= n || deadLettered > 0, `Herald delivered ${delivered.size} of ${n}`);
  const seconds = (performance.now() - started) / 1000;
  const cpuUsPerEvent = cpuUsOf(cpu, n);
  await processor.stop();
  const duplicates = [...delivered.values()].reduce((sum, count) => sum + count - 1, 0);
  if (deadLettered > 0 || duplicates > 0 || delivered.size !== n) {
    throw new Error(`Herald: ${delivered.size} of ${n} delivered, ${duplicates} twice, ${deadLettered} dead-lettered`);
  }
  return { events: n, seconds, perSecond: n / seconds, cpuUsPerEvent };
}

/** This process's CPU since `since` per event (µs), its garbage collected first so the run pays for all of it. */
function cpuUsOf(since: NodeJS.CpuUsage, n: number): number {
  collectGarbage();
  const used = process.cpuUsage(since);
  return (used.user + used.system) / n;
}

async function createQueue(sqs: SQSClient, name: string): Promise<string> {
  return (await sqs.send(new CreateQueueCommand({ QueueName: name }))).QueueUrl ?? '';
}

async function queueUrl(sqs: SQSClient, name: string): Promise<string> {
  return (await sqs.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl ?? '';
}

async function sendAll(sqs: SQSClient, url: string, bodies: string[]): Promise<void> {
  const batches: string[][] = [];
  for (let i = 0; i < bodies.length; i += 10) batches.push(bodies.slice(i, i + 10));
  await inParallel(batches, 8, (batch) =>
    sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: url,
        Entries: batch.map((body, i) => ({ Id: String(i), MessageBody: body })),
      }),
    ),
  );
  await waitForQueueDepth(sqs, url, bodies.length);
}

async function waitForQueueDepth(sqs: SQSClient, url: string, n: number): Promise<void> {
  await until(async () => {
    const out = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['ApproximateNumberOfMessages'] }),
    );
    return Number(out.Attributes?.ApproximateNumberOfMessages ?? 0) >= n;
  }, `queue ${url} never held ${n} messages`);
}

/** RAW_LOOPS loops of receive 10 (+ `work` per message) + DeleteMessageBatch until `n` are deleted. */
async function rawSqsDrain(sqs: SQSClient, url: string, n: number, work?: (body: string) => Promise<void>) {
  const seen = new Set<string>();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: RAW_LOOPS }, async () => {
      while (seen.size < n) {
        if (performance.now() - started > TIMEOUT_MS) throw new Error(`raw drain: ${seen.size} of ${n}`);
        const out = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: url,
            MaxNumberOfMessages: 10,
            WaitTimeSeconds: 1,
            VisibilityTimeout: 60,
          }),
        );
        const messages = out.Messages ?? [];
        if (messages.length === 0) continue;
        if (work) await Promise.all(messages.map((m) => work(m.Body ?? '')));
        await sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: url,
            Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? '' })),
          }),
        );
        for (const m of messages) seen.add(m.MessageId ?? '');
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { events: n, seconds, perSecond: n / seconds };
}

/** Streaming pull that acks each message on arrival, until `n` distinct messages were acked. */
async function rawStreamingPull(subscriptionName: string, n: number, options: SubscriberOptions | undefined) {
  const client = new PubSub({ projectId: subscriptionName.split('/')[1] });
  const subscription = client.subscription(subscriptionName, options);
  const seen = new Set<string>();
  collectGarbage();
  const cpu = process.cpuUsage();
  const started = performance.now();
  subscription.on('message', (message: Message) => {
    seen.add(message.id);
    message.ack();
  });
  subscription.on('error', () => {});
  try {
    await until(() => seen.size >= n, `raw streaming pull: ${seen.size} of ${n}`);
    const seconds = (performance.now() - started) / 1000;
    return { events: n, seconds, perSecond: n / seconds, cpuUsPerEvent: cpuUsOf(cpu, n) };
  } finally {
    await subscription.close();
    await client.close();
  }
}

/** The measurement with the median rate. */
function median<T extends { perSecond: number }>(runs: T[]): T {
  return [...runs].sort((a, b) => a.perSecond - b.perSecond)[Math.floor(runs.length / 2)] as T;
}

async function until(check: () => boolean | Promise<boolean>, failure: string): Promise<void> {
  const deadline = Date.now() + TIMEOUT_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out: ${failure}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

async function inParallel<T>(items: T[], width: number, run: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await run(items[next++] as T);
    }),
  );
}

/** LocalStack 4.14.0 in host mode, through infra/localstack's scripts (installed and cached on first use). */
async function startLocalStack(): Promise<{ endpoint: string; stop(): Promise<void> }> {
  const scripts = fileURLToPath(new URL('../infra/localstack/', import.meta.url));
  const venv = execFileSync(join(scripts, 'install.sh'), {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim();
  const work = mkdtempSync(join(tmpdir(), 'herald-bench-localstack-'));
  const port = await freePort();
  const pidFile = join(work, 'localstack.pid');
  execFileSync(join(scripts, 'start.sh'), [String(port), venv, pidFile, join(work, 'localstack.log')], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, LS_FS_ROOT: join(work, 'fs') },
  });
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  const alive = () => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    // The pid start.sh wrote is LocalStack's own; it exits in 2–5 s on SIGTERM.
    stop: async () => {
      if (alive()) process.kill(pid, 'SIGTERM');
      for (let i = 0; i < 50 && alive(); i++) await new Promise((resolve) => setTimeout(resolve, 200));
      if (alive()) process.kill(pid, 'SIGKILL');
      rmSync(work, { recursive: true, force: true });
    },
  };
}
