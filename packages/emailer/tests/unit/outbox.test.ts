import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeliveryError } from '@herald/core';
import { type EmailMessage, OutboxEmailer } from '@herald/emailer';
import PostalMime from 'postal-mime';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'herald-outbox-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const message = (overrides: Partial<EmailMessage> = {}): EmailMessage => ({
  from: 'flyte-notifications@example.com',
  to: ['oncall@example.com', 'ml@example.com'],
  subject: 'Notice: Execution "wf" has failed in "development".',
  html: '<p>division by zero in &lt;script&gt;</p>',
  text: 'division by zero in <script>',
  idempotencyKey: 'event-1/email:default:abc',
  ...overrides,
});

describe('OutboxEmailer', () => {
  it('writes an RFC 5322 message that a mail parser reads back whole', async () => {
    const emailer = new OutboxEmailer({ directory: join(dir, 'nested'), now: () => new Date('2026-11-21T10:00:00Z') });
    const result = await emailer.send(message());

    const raw = await readFile(result.location as string);
    const parsed = await PostalMime.parse(raw);
    expect(parsed.from?.address).toBe('flyte-notifications@example.com');
    expect(parsed.to?.map((a) => a.address)).toEqual(['oncall@example.com', 'ml@example.com']);
    expect(parsed.subject).toBe('Notice: Execution "wf" has failed in "development".');
    expect(parsed.html?.trim()).toBe('<p>division by zero in &lt;script&gt;</p>');
    expect(parsed.text?.trim()).toBe('division by zero in <script>');
    expect(parsed.messageId).toBe(result.messageId);
    expect(parsed.date).toBe('2026-11-21T10:00:00.000Z');
    expect(raw.toString()).toMatch(/Content-Type: multipart\/alternative/);
  });

  it('writes a subject that looks like an RFC 2047 encoded word so that it reads as written', async () => {
    const emailer = new OutboxEmailer({ directory: dir });
    for (const subject of [
      'x =?utf-8?Q?x=0D=0ABcc:_attacker@evil.test?= failed',
      `=?utf-8?B?eA0KWC1JbmplY3RlZDogMQ==?= ${'long '.repeat(40)}`,
    ]) {
      const result = await emailer.send(message({ subject, idempotencyKey: subject }));
      const parsed = await PostalMime.parse(await readFile(result.location as string));
      expect(parsed.subject).toBe(subject);
    }
  });

  it('rewrites the same file when the same email is sent again', async () => {
    const emailer = new OutboxEmailer({ directory: dir });
    const first = await emailer.send(message());
    const second = await emailer.send(message());
    expect(second).toEqual(first);
    expect((await readdir(dir)).filter((f) => f.endsWith('.eml'))).toHaveLength(1);
  });

  it('writes different emails to different files', async () => {
    const emailer = new OutboxEmailer({ directory: dir });
    await emailer.send(message());
    await emailer.send(message({ idempotencyKey: 'event-2/email:default:abc' }));
    expect(await readdir(dir)).toHaveLength(2);
  });

  it('reports an unwritable directory as a retryable delivery error', async () => {
    const blocker = join(dir, 'a-file');
    await writeFile(blocker, 'not a directory');
    const emailer = new OutboxEmailer({ directory: join(blocker, 'outbox') });
    const err = await emailer.send(message()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DeliveryError);
    expect((err as DeliveryError).retryable).toBe(true);
  });

  it('leaves no file behind when the send is aborted', async () => {
    const emailer = new OutboxEmailer({ directory: dir });
    const controller = new AbortController();
    controller.abort();
    await expect(emailer.send(message(), { signal: controller.signal })).rejects.toBeInstanceOf(DeliveryError);
    expect(await readdir(dir)).toEqual([]);
  });
});
