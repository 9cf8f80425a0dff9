import type { SESClient } from '@aws-sdk/client-ses';
import type { SESv2Client } from '@aws-sdk/client-sesv2';
import { DeliveryError } from '@herald/core';
import { acceptAbortSignals, CACHED_AWS_HANDLERS, isAbortError, sendAbortable } from '@herald/core/runtime';
import type { Emailer, EmailMessage, SendOptions, SendResult } from './emailer.js';

type SesV2Module = typeof import('@aws-sdk/client-sesv2');
type SesV1Module = typeof import('@aws-sdk/client-ses');

let loadingV2: Promise<SesV2Module> | undefined;
let loadingV1: Promise<SesV1Module> | undefined;

/** The SESv2 client library, imported on the first send that uses it. */
function loadSesV2(): Promise<SesV2Module> {
  loadingV2 ??= import('@aws-sdk/client-sesv2');
  return loadingV2;
}

/** The classic SES client library, imported only once the classic API is used. */
function loadSesV1(): Promise<SesV1Module> {
  loadingV1 ??= import('@aws-sdk/client-ses');
  return loadingV1;
}

/** Options for {@link SesEmailer}. */
export interface SesEmailerOptions {
  region: string;
  /** Endpoint override (LocalStack, moto); undefined leaves it to the SDK and AWS_ENDPOINT_URL_SES. */
  endpoint?: string | undefined;
  /**
   * `v2` uses SESv2 SendEmail, `v1` the classic API, `auto` starts with v2 and switches to v1
   * for good when the endpoint does not implement v2 (LocalStack community).
   * @defaultValue 'auto'
   */
  api?: 'auto' | 'v2' | 'v1';
  /**
   * Clients to use instead of building them (tests). Otherwise each is built, and its client
   * library imported, on the first send through that API.
   */
  v2Client?: SESv2Client;
  v1Client?: SESClient;
}

// Error codes (the SDK's `name`) that mean "slow down": retry later, the email is fine.
const THROTTLING = new Set([
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'MaxSendingRateExceeded',
  'LimitExceededException',
  'SendingPausedException',
  'AccountSendingPausedException',
  'ConfigurationSetSendingPausedException',
]);

/**
 * Sends through Amazon SES: SESv2 `SendEmail` with an HTML and a text part, from the configured
 * sender to every recipient in To, as FlyteAdmin sends them.
 */
export class SesEmailer implements Emailer {
  readonly name = 'ses';
  private v2: SESv2Client | undefined;
  private v1: SESClient | undefined;
  private readonly clientConfig: { region: string; endpoint: string | undefined; cacheMiddleware: true };
  private api: 'auto' | 'v2' | 'v1';

  constructor(options: SesEmailerOptions) {
    this.clientConfig = { region: options.region, endpoint: options.endpoint, ...CACHED_AWS_HANDLERS };
    this.v2 = options.v2Client && acceptAbortSignals(options.v2Client);
    this.v1 = options.v1Client && acceptAbortSignals(options.v1Client);
    this.api = options.api ?? 'auto';
  }

  async send(message: EmailMessage, options: SendOptions = {}): Promise<SendResult> {
    if (this.api !== 'v1') {
      const { SESv2Client, SendEmailCommand } = await loadSesV2();
      this.v2 ??= acceptAbortSignals(new SESv2Client(this.clientConfig));
      const v2 = this.v2;
      try {
        const input = {
          FromEmailAddress: message.from,
          Destination: { ToAddresses: message.to },
          Content: {
            Simple: {
              Subject: { Data: message.subject, Charset: 'UTF-8' },
              Body: { Html: { Data: message.html, Charset: 'UTF-8' }, Text: { Data: message.text, Charset: 'UTF-8' } },
            },
          },
        };
        const out = await sendAbortable(options.signal, input, (tagged) => v2.send(new SendEmailCommand(tagged)));
        this.api = 'v2';
        return { messageId: out.MessageId ?? '' };
      } catch (err) {
        if (!(this.api === 'auto' && isApiMissing(err))) throw classify(err);
        this.api = 'v1';
      }
    }
    const { SESClient, SendEmailCommand: SendEmailV1Command } = await loadSesV1();
    this.v1 ??= acceptAbortSignals(new SESClient(this.clientConfig));
    const v1 = this.v1;
    try {
      const input = {
        Source: message.from,
        Destination: { ToAddresses: message.to },
        Message: {
          Subject: { Data: message.subject, Charset: 'UTF-8' },
          Body: { Html: { Data: message.html, Charset: 'UTF-8' }, Text: { Data: message.text, Charset: 'UTF-8' } },
        },
      };
      const out = await sendAbortable(options.signal, input, (tagged) => v1.send(new SendEmailV1Command(tagged)));
      return { messageId: out.MessageId ?? '' };
    } catch (err) {
      throw classify(err);
    }
  }

  async close(): Promise<void> {
    this.v2?.destroy();
    this.v1?.destroy();
  }
}

/**
 * True when the endpoint does not implement the API at all — LocalStack's community edition
 * answers SESv2 with 501 — as opposed to failing one call.
 */
export function isApiMissing(err: unknown): boolean {
  const status = httpStatus(err);
  return status === 501 || status === 404 || (err as Error).name === 'UnknownOperationException';
}

function httpStatus(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
}

/**
 * The one place SES failures are classified. Throttling, server faults, timeouts and network
 * errors are retried; a rejected message, an unverified sender or a bad address is not.
 */
export function classify(err: unknown): DeliveryError {
  const name = (err as Error).name;
  const status = httpStatus(err);
  const detail = `${name}: ${(err as Error).message}`;
  if (THROTTLING.has(name) || status === 429) {
    return new DeliveryError('ses', detail, { retryable: true, cause: err });
  }
  if (isAbortError(err)) {
    return new DeliveryError('ses', 'aborted (delivery timeout or shutdown)', { retryable: true, cause: err });
  }
  if (status === undefined) {
    // No HTTP answer at all: connection refused or reset, DNS, TLS. The email is fine.
    return new DeliveryError('ses', detail, { retryable: true, cause: err });
  }
  const fault = (err as { $fault?: string }).$fault;
  return new DeliveryError('ses', detail, { retryable: fault === 'server' || status >= 500, cause: err });
}
