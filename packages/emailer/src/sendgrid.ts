import { DeliveryError } from '@herald/core';
import { isAbortError, parseRetryAfterMs } from '@herald/core/runtime';
import type { Emailer, EmailMessage, SendOptions, SendResult } from './emailer.js';

/** Options for {@link SendGridEmailer}. */
export interface SendGridEmailerOptions {
  apiKey: string;
  /** `https://api.sendgrid.com`, `https://api.eu.sendgrid.com`, or a local server in tests. */
  baseUrl: string;
  /** The fetch to use (tests may wrap it); Node's global fetch by default. */
  fetch?: typeof fetch;
}

/**
 * Sends through SendGrid's v3 Mail Send API (`POST /v3/mail/send`), with an HTML and a text
 * part and every recipient in one personalization, as FlyteAdmin sends them.
 *
 * It speaks HTTP itself rather than through `@sendgrid/mail`: the request is one JSON POST, and
 * owning it lets a delivery timeout abort the request (AbortSignal) and lets every status code
 * be classified here. Unlike FlyteAdmin, a non-2xx answer is a failure, logged with its body.
 */
export class SendGridEmailer implements Emailer {
  readonly name = 'sendgrid';
  private readonly fetch: typeof fetch;
  private readonly url: string;

  constructor(private readonly options: SendGridEmailerOptions) {
    this.fetch = options.fetch ?? fetch;
    this.url = `${options.baseUrl.replace(/\/+$/, '')}/v3/mail/send`;
  }

  async send(message: EmailMessage, options: SendOptions = {}): Promise<SendResult> {
    let response: Response;
    try {
      response = await this.fetch(this.url, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.options.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          personalizations: [{ to: message.to.map((email) => ({ email })) }],
          from: { email: message.from },
          subject: message.subject,
          // SendGrid requires text/plain before text/html.
          content: [
            { type: 'text/plain', value: message.text },
            { type: 'text/html', value: message.html },
          ],
          custom_args: { herald_idempotency_key: message.idempotencyKey },
        }),
        signal: options.signal,
      });
    } catch (err) {
      const reason = isAbortError(err)
        ? 'aborted (delivery timeout or shutdown)'
        : `request failed: ${describeCause(err)}`;
      throw new DeliveryError('sendgrid', reason, { retryable: true, cause: err });
    }
    if (response.ok) {
      await response.body?.cancel();
      return { messageId: response.headers.get('x-message-id') ?? '' };
    }
    throw classify(response.status, await response.text().catch(() => ''), response.headers);
  }

  async close(): Promise<void> {}
}

/**
 * The one place SendGrid answers are classified: 429 waits for Retry-After (or the rate-limit
 * reset), 5xx is retried, any other 4xx is permanent. The body (SendGrid's `errors` list)
 * becomes the reason.
 */
export function classify(status: number, body: string, headers: Headers, now = Date.now()): DeliveryError {
  const reason = `HTTP ${status}: ${summarize(body)}`;
  if (status === 429) {
    return new DeliveryError('sendgrid', reason, { retryable: true, retryAfterMs: retryAfterMs(headers, now) });
  }
  return new DeliveryError('sendgrid', reason, { retryable: status >= 500 });
}

function retryAfterMs(headers: Headers, now: number): number | undefined {
  const retryAfter = parseRetryAfterMs(headers.get('retry-after'), now);
  if (retryAfter !== undefined) return retryAfter;
  // Without a usable Retry-After, SendGrid's rate-limit reset (epoch seconds) says when to come back.
  const reset = Number(headers.get('x-ratelimit-reset'));
  return Number.isFinite(reset) && reset > 0 ? Math.max(0, reset * 1000 - now) : undefined;
}

function summarize(body: string): string {
  try {
    const parsed = JSON.parse(body) as { errors?: { message?: string; field?: string | null }[] };
    if (Array.isArray(parsed.errors) && parsed.errors.length > 0) {
      return parsed.errors.map((e) => (e.field ? `${e.field}: ${e.message}` : String(e.message))).join('; ');
    }
  } catch {
    // not JSON: show it as it is
  }
  return body.slice(0, 500) || '(empty body)';
}

function describeCause(err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } }).cause;
  return cause?.code ?? cause?.message ?? (err as Error).message;
}
