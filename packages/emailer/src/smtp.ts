import { DeliveryError } from '@herald/core';
import type { createTransport } from 'nodemailer';
import type { Emailer, EmailMessage, SendOptions, SendResult } from './emailer.js';
import { mimeSubject } from './mime-subject.js';

type NodemailerModule = typeof import('nodemailer');
type Transport = ReturnType<typeof createTransport>;

let loading: Promise<NodemailerModule> | undefined;

/** nodemailer, imported when the first email is sent over SMTP. */
function loadNodemailer(): Promise<NodemailerModule> {
  loading ??= import('nodemailer');
  return loading;
}

/** Options for {@link SmtpEmailer}: FlyteAdmin's emailServerConfig, resolved. */
export interface SmtpEmailerOptions {
  host: string;
  /** 465 means TLS from the start; any other port upgrades with STARTTLS when the server offers it. */
  port: number;
  /** FlyteAdmin's smtpSkipTLSVerify: accept any certificate. */
  skipTlsVerify: boolean;
  username?: string | undefined;
  password?: string | undefined;
  /** Socket and greeting timeouts; keep it below the delivery timeout. @defaultValue 25 000 */
  timeoutMs?: number;
  /** Pooled connections kept open. @defaultValue 5 */
  maxConnections?: number;
}

/**
 * Sends through an SMTP server with nodemailer: pooled connections, STARTTLS when offered, a
 * proper MIME message (Date, Message-ID, multipart/alternative). nodemailer encodes every header
 * value, and the subject is already one line (and encoded when it looks encoded, see
 * {@link mimeSubject}), so no event value can inject a header or a line break.
 */
export class SmtpEmailer implements Emailer {
  readonly name = 'smtp';
  /** Built (loading nodemailer) on the first send; nothing connects before that either way. */
  private transport: Transport | undefined;
  private closed = false;

  constructor(private readonly options: SmtpEmailerOptions) {}

  /** The pooled transport, built on first use; one built after close is closed at once. */
  private async pool(): Promise<Transport> {
    if (this.transport) return this.transport;
    const { createTransport } = await loadNodemailer();
    const { options } = this;
    const timeoutMs = options.timeoutMs ?? 25_000;
    this.transport ??= createTransport({
      host: options.host,
      port: options.port,
      secure: options.port === 465,
      pool: true,
      maxConnections: options.maxConnections ?? 5,
      auth: options.username ? { user: options.username, pass: options.password ?? '' } : undefined,
      tls: { rejectUnauthorized: !options.skipTlsVerify },
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
    });
    if (this.closed) this.transport.close();
    return this.transport;
  }

  async send(message: EmailMessage, options: SendOptions = {}): Promise<SendResult> {
    // nodemailer cannot abort a transaction half-way; an already-aborted send is not started,
    // and the transport's own socket timeouts (below the delivery timeout) bound the rest.
    if (options.signal?.aborted) {
      throw new DeliveryError('smtp', 'aborted (delivery timeout or shutdown)', { retryable: true });
    }
    const transport = await this.pool();
    try {
      const info = await transport.sendMail({
        from: message.from,
        to: message.to,
        subject: await mimeSubject(message.subject),
        text: message.text,
        html: message.html,
        headers: { 'X-Herald-Idempotency-Key': message.idempotencyKey },
      });
      const rejected = (info.rejected ?? []).map(String);
      if (rejected.length > 0) {
        // The server took the message for the others: retrying would email them twice, so the
        // refused addresses are reported (and dead-lettered with this reason) instead.
        const reasons = (info as { rejectedErrors?: { recipient?: string; response?: string }[] }).rejectedErrors ?? [];
        const detail = reasons.map((r) => `${r.recipient}: ${r.response}`).join('; ') || rejected.join(', ');
        throw new DeliveryError('smtp', `refused ${rejected.length} of ${message.to.length} recipients: ${detail}`, {
          retryable: false,
        });
      }
      return { messageId: String(info.messageId ?? '') };
    } catch (err) {
      throw classify(err);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.transport?.close();
  }
}

/**
 * The one place SMTP failures are classified: a 4xx reply (greylisting, mailbox busy, rate
 * limit) and any connection failure are retried; a 5xx reply (no such user, rejected, auth
 * refused) is permanent.
 */
export function classify(err: unknown): DeliveryError {
  if (err instanceof DeliveryError) return err;
  const responseCode = (err as { responseCode?: number }).responseCode;
  const code = (err as { code?: string }).code;
  const reason = `${responseCode ? `${responseCode} ` : code ? `${code}: ` : ''}${(err as Error).message}`;
  if (typeof responseCode === 'number') {
    return new DeliveryError('smtp', reason, { retryable: responseCode < 500, cause: err });
  }
  // No SMTP reply at all: connection refused or reset, timeout, TLS handshake. The email is fine.
  return new DeliveryError('smtp', reason, { retryable: true, cause: err });
}
