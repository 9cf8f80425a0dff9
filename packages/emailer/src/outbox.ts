import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DeliveryError } from '@herald/core';
import { isAbortError } from '@herald/core/runtime';
import type { Emailer, EmailMessage, SendOptions, SendResult } from './emailer.js';
import { mimeSubject } from './mime-subject.js';

type MailComposerModule = typeof import('nodemailer/lib/mail-composer');

let loading: Promise<MailComposerModule> | undefined;

/** nodemailer's message composer, imported when the first email is written. */
function loadMailComposer(): Promise<MailComposerModule> {
  loading ??= import('nodemailer/lib/mail-composer');
  return loading;
}

/** Options for {@link OutboxEmailer}. */
export interface OutboxEmailerOptions {
  /** Directory the .eml files go to; created when missing. */
  directory: string;
  /** Clock for the Date header; tests pin it. @defaultValue `() => new Date()` */
  now?: () => Date;
}

/**
 * Writes each email as an RFC 5322 `.eml` file (multipart/alternative, HTML + text) that any
 * mail client opens. The file name and Message-ID are derived from the idempotency key, so a
 * redelivered event rewrites its file instead of adding a second one. Files appear atomically
 * (written aside, then renamed), so a reader never sees half an email.
 */
export class OutboxEmailer implements Emailer {
  readonly name = 'outbox';
  private readonly directory: string;
  private readonly now: () => Date;
  private ready: Promise<unknown> | undefined;

  constructor(options: OutboxEmailerOptions) {
    this.directory = options.directory;
    this.now = options.now ?? (() => new Date());
  }

  async send(message: EmailMessage, options: SendOptions = {}): Promise<SendResult> {
    const digest = createHash('sha256').update(message.idempotencyKey).digest('hex');
    const messageId = `<${digest.slice(0, 32)}@${domainOf(message.from)}>`;
    const file = join(this.directory, `${slug(message.subject)}-${digest.slice(0, 16)}.eml`);
    try {
      this.ready ??= mkdir(this.directory, { recursive: true });
      await this.ready;
      const { default: MailComposer } = await loadMailComposer();
      const raw = await new MailComposer({
        from: message.from,
        to: message.to,
        subject: await mimeSubject(message.subject),
        text: message.text,
        html: message.html,
        messageId,
        date: this.now(),
        headers: { 'X-Herald-Idempotency-Key': message.idempotencyKey },
      })
        .compile()
        .build();
      options.signal?.throwIfAborted();
      const temporary = join(this.directory, `.${digest.slice(0, 16)}.${randomBytes(4).toString('hex')}.tmp`);
      await writeFile(temporary, raw, { signal: options.signal });
      try {
        options.signal?.throwIfAborted();
        await rename(temporary, file);
      } catch (err) {
        await rm(temporary, { force: true });
        throw err;
      }
    } catch (err) {
      throw classify(err);
    }
    return { messageId, location: file };
  }

  async close(): Promise<void> {}
}

/**
 * Outbox failures are the local disk's (full, read-only, permissions): all worth retrying
 * once an operator fixes them, and none is the email's fault.
 */
function classify(err: unknown): DeliveryError {
  if (err instanceof DeliveryError) return err;
  const code = (err as NodeJS.ErrnoException).code;
  const reason = isAbortError(err) ? 'aborted (delivery timeout)' : (err as Error).message;
  return new DeliveryError('outbox', code ? `${code}: ${reason}` : reason, { retryable: true, cause: err });
}

function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  const domain = at >= 0 ? address.slice(at + 1).replace(/[>\s].*$/, '') : '';
  return domain || 'herald.invalid';
}

/** A readable, file-system-safe fragment of the subject. */
function slug(subject: string): string {
  const s = subject
    .normalize('NFKD')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 48)
    .replace(/-+$/, '');
  return s || 'email';
}
