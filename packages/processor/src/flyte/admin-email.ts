import { createHash } from 'node:crypto';
import { DecodeError, emailAddressSchema } from '@herald/core';
import { htmlToText } from '@herald/core/templates';
import type { EmailMessage } from '@herald/emailer';
import { flyteidl } from './flyteidl.js';

/** The key FlyteAdmin publishes its emails under: SNS `Subject`, Pub/Sub attribute `key`. */
export const FLYTEADMIN_EMAIL_KEY = 'flyteidl.admin.EmailNotification';

/** An email FlyteAdmin rendered and published, as Herald sends it. */
export interface FlyteAdminEmail {
  /**
   * Derived from the publish and its bytes: a redelivered message is the same email; two
   * publishes are two emails even when their bytes are equal (a template without the
   * execution's name renders two executions alike, and each must be told).
   */
  readonly id: string;
  readonly email: EmailMessage;
}

/**
 * Reads a serialised `flyteidl.admin.EmailMessage` (recipients_email = 1, sender_email = 2,
 * subject_line = 3, body = 4), subject and body already rendered by FlyteAdmin, into the email
 * FlyteAdmin would send: From the sender, To every recipient, the subject on one line, the HTML
 * body verbatim (never through Handlebars: FlyteAdmin leaves an unknown `{{ … }}` as written),
 * and a text part derived from it.
 * @throws DecodeError naming what is wrong: not a protobuf, text not UTF-8, no or bad recipients.
 */
export function decodeFlyteAdminEmail(bytes: Uint8Array, publishId: string): FlyteAdminEmail {
  const { EmailMessage } = flyteidl().flyteidl.admin;
  // A plain Uint8Array: protobufjs then checks every length against the bytes it has, where a
  // Buffer lets a string cut short decode as a shorter string.
  const plain = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let message: InstanceType<typeof EmailMessage>;
  try {
    message = EmailMessage.decode(Buffer.isBuffer(bytes) ? Uint8Array.from(plain) : plain);
  } catch (err) {
    throw new DecodeError([`FlyteAdmin EmailMessage: not a valid protobuf (${(err as Error).message})`]);
  }
  const recipients = message.recipientsEmail ?? [];
  const sender = message.senderEmail ?? '';
  const subject = message.subjectLine ?? '';
  const body = message.body ?? '';
  // protobufjs reads bad UTF-8 as U+FFFD without complaint; an honest U+FFFD survives encoding
  // the message again byte for byte, a bad byte does not.
  if ([...recipients, sender, subject, body].some((text) => text.includes('\uFFFD'))) {
    const again = EmailMessage.encode(message).finish();
    if (Buffer.compare(Buffer.from(again), Buffer.from(plain)) !== 0) {
      throw new DecodeError(['FlyteAdmin EmailMessage: a text field is not valid UTF-8']);
    }
  }
  const problems: string[] = [];
  if (recipients.length === 0) problems.push('recipients_email: is empty, so the email would reach nobody');
  recipients.forEach((address, i) => {
    if (!emailAddressSchema.safeParse(address).success) {
      problems.push(`recipients_email[${i}]: expected an email address, got ${JSON.stringify(address.slice(0, 80))}`);
    }
  });
  if (!emailAddressSchema.safeParse(sender).success) {
    problems.push(`sender_email: expected an email address, got ${JSON.stringify(sender.slice(0, 80))}`);
  }
  if (problems.length > 0) throw new DecodeError(problems.map((p) => `FlyteAdmin EmailMessage ${p}`));

  const digest = createHash('sha256').update(publishId).update('\u0000').update(plain).digest('hex');
  const id = `flyteadmin-email-${digest.slice(0, 32)}`;
  return {
    id,
    email: {
      from: sender,
      to: [...recipients],
      // A header must stay one line: a line break in a subject would start a new header.
      subject: subject.replace(/[\r\n]+/g, ' ').trim(),
      html: body,
      text: htmlToText(body),
      idempotencyKey: `${id}/email`,
    },
  };
}
