/** One email, fully rendered, ready for a provider. */
export interface EmailMessage {
  from: string;
  to: string[];
  subject: string;
  html: string;
  text: string;
  /**
   * Stable for one (event, destination): the same key means the same email. Providers that
   * can use it for de-duplication do (outbox file name, Message-ID).
   */
  idempotencyKey: string;
}

/** What a provider reports for an accepted email. */
export interface SendResult {
  /** The provider's id for it (SES MessageId, SMTP Message-ID, outbox Message-ID). */
  messageId: string;
  /** Where it can be seen, when that means something (the outbox's .eml path). */
  location?: string;
}

/** Per-call options for {@link Emailer.send}. */
export interface SendOptions {
  /** Aborts the send; the emailer must stop the underlying request, not just stop waiting. */
  signal?: AbortSignal;
}

/**
 * Delivers email through one provider. Implementations classify their own failures: they
 * throw `DeliveryError` with `retryable` set, and nothing else on a failed send.
 */
export interface Emailer {
  /** Provider name for logs and metrics: `outbox`, `ses`, `sendgrid`, `smtp`. */
  readonly name: string;
  send(message: EmailMessage, options?: SendOptions): Promise<SendResult>;
  /** Releases connections and handles. */
  close(): Promise<void>;
}
