import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ExecutionEvent, sampleEvent } from '@herald/core';
import { silentLogger } from '@herald/core/runtime';
import { createLedger, createProcessor, type Processor, type StoreLedger } from '@herald/processor';
import { createPublisher } from '@herald/publisher';
import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from './helpers/aws.js';
import { FakeSendGrid } from './helpers/fake-sendgrid.js';
import { createGcpStack, deadLetters, type GcpStack, publishRaw } from './helpers/gcp.js';
import { listenOnLoopback } from './helpers/loopback.js';
import { TestSmtpServer } from './helpers/smtp.js';

const running: Processor[] = [];
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
  await Promise.all(cleanups.splice(0).map((c) => c()));
});

function failed(name: string, recipients = [`${name}@example.com`], message = 'boom'): ExecutionEvent {
  return sampleEvent({
    id: randomUUID(),
    execution: { project: 'flytesnacks', domain: 'development', name },
    error: { message },
    notifications: [{ phases: ['FAILED'], email: { recipients } }],
  });
}

async function sendGridStack(): Promise<{ stack: GcpStack; sendgrid: FakeSendGrid }> {
  const key = `SG.${randomUUID()}`;
  const sendgrid = new FakeSendGrid(key);
  const baseUrl = await sendgrid.start();
  cleanups.push(() => sendgrid.stop());
  const stack = await createGcpStack('{ serviceName: sendgrid, apiKeyEnvVar: TEST_SENDGRID_KEY }', {
    TEST_SENDGRID_KEY: key,
    HERALD_SENDGRID_BASE_URL: baseUrl,
  });
  process.env.TEST_SENDGRID_KEY = key;
  return { stack, sendgrid };
}

async function run(stack: GcpStack): Promise<Processor> {
  const processor = createProcessor(stack.config, { logger: silentLogger });
  running.push(processor);
  await processor.start();
  return processor;
}

async function publish(stack: GcpStack, events: ExecutionEvent[]): Promise<void> {
  const publisher = createPublisher(stack.config);
  await publisher.publish(events);
  await publisher.close();
}

describe('Pub/Sub → processor → SendGrid', () => {
  it('sends the expected JSON with the API key', async () => {
    const { stack, sendgrid } = await sendGridStack();
    await run(stack);
    await publish(stack, [failed('sg-1', ['a@example.com', 'b@example.com'], '<script>')]);

    await eventually(async () => expect(sendgrid.accepted).toHaveLength(1));
    const [{ mail, authorization }] = sendgrid.accepted as [(typeof sendgrid.accepted)[0]];
    expect(authorization).toMatch(/^Bearer SG\./);
    expect(mail.personalizations).toEqual([{ to: [{ email: 'a@example.com' }, { email: 'b@example.com' }] }]);
    expect(mail.from).toEqual({ email: stack.sender });
    expect(mail.subject).toBe('sg-1 failed');
    expect(mail.content).toEqual([
      { type: 'text/plain', value: 'Execution sg-1 failed. The execution failed with error: [<script>].' },
      {
        type: 'text/html',
        value: '<p>Execution <b>sg-1</b> failed. The execution failed with error: [&lt;script&gt;].</p>',
      },
    ]);
  });

  it('waits out a 429 and delivers exactly once', async () => {
    const { stack, sendgrid } = await sendGridStack();
    sendgrid.script.push({
      status: 429,
      headers: { 'retry-after': '1' },
      body: { errors: [{ field: null, message: 'too many requests' }] },
    });
    const processor = await run(stack);
    const retries: number[] = [];
    processor.events.on('retry_scheduled', (e) => retries.push(e.delayMs));
    await publish(stack, [failed('sg-429')]);

    await eventually(async () => expect(sendgrid.accepted).toHaveLength(1), 30_000);
    expect(retries[0]).toBeGreaterThanOrEqual(1000);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    expect(sendgrid.accepted).toHaveLength(1);
    expect(sendgrid.requests).toHaveLength(2);
  });

  it('dead-letters a permanent 4xx with SendGrid’s reason', async () => {
    const { stack, sendgrid } = await sendGridStack();
    sendgrid.script.push({
      status: 400,
      body: { errors: [{ field: 'from.email', message: 'does not contain a valid address' }] },
    });
    const processor = await run(stack);
    const dead: string[] = [];
    processor.events.on('dead_lettered', (e) => dead.push(e.reason));
    await publish(stack, [failed('sg-400')]);
    await eventually(async () =>
      expect(dead).toEqual(['sendgrid: HTTP 400: from.email: does not contain a valid address']),
    );
    const letters = await deadLetters(stack);
    expect(letters.map((m) => m.attributes['herald.kind'])).toEqual(['permanent-failure']);
  });

  it('dead-letters an undecodable message with its reason and keeps going', async () => {
    const { stack, sendgrid } = await sendGridStack();
    await run(stack);
    await publishRaw(stack, 'this is not an event {');
    await publish(stack, [failed('sg-after-bad')]);
    await eventually(async () => expect(sendgrid.accepted.map((a) => a.mail.subject)).toEqual(['sg-after-bad failed']));
    const letters = await deadLetters(stack);
    expect(letters).toHaveLength(1);
    expect(letters[0]?.data.toString()).toBe('this is not an event {');
    expect(letters[0]?.attributes['herald.kind']).toBe('undecodable');
    expect(letters[0]?.attributes['herald.reason']).toMatch(/^body: not JSON/);
  });
});

describe('Pub/Sub → processor → SMTP', () => {
  async function smtpStack(port: number): Promise<GcpStack> {
    return createGcpStack(`{ serviceName: smtp, smtpServer: 127.0.0.1, smtpPort: "${port}", smtpSkipTLSVerify: true }`);
  }

  it('delivers one well-formed email per event over STARTTLS, values escaped in HTML', async () => {
    const smtp = new TestSmtpServer();
    const port = await smtp.start();
    cleanups.push(() => smtp.stop());
    const stack = await smtpStack(port);
    await run(stack);
    await publish(stack, [failed('smtp-1', ['a@example.com', 'b@example.com'], '<img src=x onerror=alert(1)>')]);

    await eventually(async () => expect(smtp.received).toHaveLength(1));
    const [{ parsed, raw, envelopeTo, secure }] = smtp.received as [(typeof smtp.received)[0]];
    expect(secure).toBe(true);
    expect(envelopeTo).toEqual(['a@example.com', 'b@example.com']);
    expect(parsed.from?.address).toBe(stack.sender);
    expect(parsed.subject).toBe('smtp-1 failed');
    expect(parsed.messageId).toMatch(/^<.+@.+>$/);
    expect(parsed.date).toBeTruthy();
    expect(raw).toMatch(/Content-Type: multipart\/alternative/);
    expect(parsed.html?.trim()).toBe(
      '<p>Execution <b>smtp-1</b> failed. The execution failed with error: [&lt;img src&#x3D;x onerror&#x3D;alert(1)&gt;].</p>',
    );
    expect(parsed.text?.trim()).toBe(
      'Execution smtp-1 failed. The execution failed with error: [<img src=x onerror=alert(1)>].',
    );
  });

  it('dead-letters the addresses a server refuses, without emailing the others twice', async () => {
    const smtp = new TestSmtpServer();
    smtp.refuse.add('ghost@example.com');
    const port = await smtp.start();
    cleanups.push(() => smtp.stop());
    const stack = await smtpStack(port);
    const processor = await run(stack);
    const dead: string[] = [];
    processor.events.on('dead_lettered', (e) => dead.push(e.reason));
    await publish(stack, [failed('smtp-partial', ['real@example.com', 'ghost@example.com'])]);

    await eventually(async () => expect(dead).toHaveLength(1));
    expect(dead[0]).toMatch(/^smtp: refused 1 of 2 recipients: ghost@example.com: 550/);
    expect(smtp.received.map((m) => m.envelopeTo)).toEqual([['real@example.com']]);
  });

  it('retries while the SMTP server is down and delivers once it is back', async () => {
    const smtp = new TestSmtpServer();
    const port = await smtp.start();
    await smtp.stop();
    const stack = await smtpStack(port);
    const processor = await run(stack);
    let retries = 0;
    processor.events.on('retry_scheduled', () => retries++);
    await publish(stack, [failed('smtp-down')]);
    await eventually(async () => expect(retries).toBeGreaterThan(0), 20_000);

    const back = new TestSmtpServer();
    await back.start(port);
    cleanups.push(() => back.stop());
    await eventually(
      async () => expect(back.received.map((m) => m.parsed.subject)).toEqual(['smtp-down failed']),
      30_000,
    );
  });
});

describe('Pub/Sub → processor with a delivery store', () => {
  it("waits out the lease of a claim a replica that died left behind, then delivers: the subscription's dead-letter policy does not take the message meanwhile", async () => {
    const smtp = new TestSmtpServer();
    const port = await smtp.start();
    cleanups.push(() => smtp.stop());
    const calls: string[] = [];
    const webhook = await listenOnLoopback((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        calls.push(String((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { id?: unknown }).id));
        res.writeHead(204).end();
      });
    });
    cleanups.push(() => webhook.stop());
    const dir = await mkdtemp(join(tmpdir(), 'herald-gcp-store-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    // A short delivery timeout keeps the claim's lease (timeout + 30 s) short; the retry policy
    // redelivers a nacked message within 2 s, so the subscription's 9 deliveries would be
    // used up well before the lease ends.
    const stack = await createGcpStack(
      `{ serviceName: smtp, smtpServer: 127.0.0.1, smtpPort: "${port}", smtpSkipTLSVerify: true }`,
      {},
      `  store: { url: "sqlite:${join(dir, 'deliveries.db')}" }
  channels:
    hook: { type: webhook, url: "${webhook.url}/hook" }
`,
      { deliveryTimeoutMs: 2000 },
    );
    expect(stack.config.gcpTransport.maxDeliveryAttempts).toBe(9);
    const event = sampleEvent({
      id: randomUUID(),
      execution: { project: 'flytesnacks', domain: 'development', name: 'claimed' },
      notifications: [{ phases: ['FAILED'], webhook: { channel: 'hook' } }],
    });
    // The replica that died mid-send: same config, so the same lease; it claimed the webhook
    // delivery and never settled it.
    const died = createLedger(stack.config, silentLogger) as StoreLedger;
    await died.start();
    expect(await died.begin({ eventId: event.id, destination: 'channel:hook', label: 'webhook hook' })).toEqual({
      outcome: 'claimed',
    });
    await died.close();

    const processor = await run(stack);
    const held: number[] = [];
    processor.events.on('claim_held_elsewhere', () => held.push(Date.now()));
    const dead: string[] = [];
    processor.events.on('dead_lettered', (e) => dead.push(e.reason));
    await publish(stack, [event]);

    await eventually(async () => expect(calls).toEqual([event.id]), 90_000, 500);
    expect(held.length).toBeGreaterThan(0);
    expect(dead).toEqual([]);
    expect(await deadLetters(stack)).toEqual([]);
    expect(calls).toEqual([event.id]);
  });
});
