import { DeliveryError } from '@herald/core';
import type { Emailer, EmailMessage, SendOptions, SendResult } from '@herald/emailer';

/** What the next send does: succeed, fail transiently or permanently, or hang until aborted. */
export type Behaviour = 'ok' | 'transient' | 'permanent' | 'hang' | 'throw';

/**
 * A test double that implements the Emailer contract faithfully: it records accepted emails,
 * classifies failures as real providers do (DeliveryError with `retryable`), and honours the
 * abort signal by rejecting, the way fetch and the AWS SDK do.
 */
export class RecordingEmailer implements Emailer {
  readonly name = 'recording';
  readonly sent: EmailMessage[] = [];
  readonly attempts: EmailMessage[] = [];
  /** Consumed one per send; when empty, `fallback` applies. */
  readonly script: Behaviour[] = [];
  fallback: Behaviour = 'ok';
  /** Per-recipient behaviour, checked before the script. */
  readonly byRecipient = new Map<string, Behaviour>();
  active = 0;
  maxActive = 0;
  delayMs = 0;

  async send(message: EmailMessage, options: SendOptions = {}): Promise<SendResult> {
    this.attempts.push(message);
    const behaviour = this.byRecipient.get(message.to[0] ?? '') ?? this.script.shift() ?? this.fallback;
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    try {
      if (behaviour === 'hang') await waitForAbort(options.signal);
      if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
      switch (behaviour) {
        case 'transient':
          throw new DeliveryError('recording', 'throttled', { retryable: true });
        case 'permanent':
          throw new DeliveryError('recording', 'address rejected', { retryable: false });
        case 'throw':
          throw new TypeError('bug in provider');
        default:
          this.sent.push(message);
          return { messageId: `id-${this.sent.length}` };
      }
    } finally {
      this.active--;
    }
  }

  async close(): Promise<void> {}
}

function waitForAbort(signal: AbortSignal | undefined): Promise<never> {
  return new Promise((_, reject) => {
    if (!signal) return;
    const fail = () => reject(new DeliveryError('recording', 'aborted', { retryable: true, cause: signal.reason }));
    if (signal.aborted) fail();
    signal.addEventListener('abort', fail, { once: true });
  });
}
