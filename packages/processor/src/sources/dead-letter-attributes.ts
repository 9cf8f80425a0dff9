import { DEAD_LETTER_ATTRIBUTES, type DeadLetterRecord, type ReceivedMessage } from './source.js';

/** What a transport accepts in message attributes. */
export interface AttributeLimits {
  /** Attributes per message (SQS 10, Pub/Sub 100). */
  maxAttributes: number;
  /** Bytes of the reason (UTF-8); the other values are short. */
  maxReasonBytes: number;
  /** Bytes of any one value (Pub/Sub 1024; SQS has only the message's total). */
  maxValueBytes: number;
}

// Characters SQS refuses in a message (XML 1.0's character set): C0 controls other than tab,
// line feed and carriage return, the two non-characters U+FFFE and U+FFFF, and half of a
// surrogate pair (not a character at all). Pub/Sub takes most of them, but a reason is for people:
// the same rule everywhere.
const REFUSED_CHARACTERS =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: these are the characters to replace.
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** A value any transport takes: well-formed, no refused characters, at most `maxBytes` of UTF-8. */
export function safeAttributeValue(value: string, maxBytes: number): string {
  const clean = value.replace(REFUSED_CHARACTERS, '\uFFFD');
  return truncateUtf8(clean, maxBytes);
}

/** At most `maxBytes` of UTF-8, never cutting a character in two. */
export function truncateUtf8(value: string, maxBytes: number): string {
  if (Buffer.byteLength(value) <= maxBytes) return value;
  // Decoding the cut bytes replaces a split character with U+FFFD at the end; drop it.
  return Buffer.from(value)
    .subarray(0, maxBytes)
    .toString('utf8')
    .replace(/\uFFFD$/, '');
}

/**
 * The attributes of a dead-lettered copy: Herald's (reason, kind, event, destination, source
 * message) first, then the original ones (phase, project, domain) while the transport's count
 * allows. Every value is made acceptable to the transport, so recording a dead letter cannot
 * itself be refused for what the message or the reason holds.
 */
export function deadLetterAttributes(
  message: ReceivedMessage,
  record: DeadLetterRecord,
  limits: AttributeLimits,
): Record<string, string> {
  const value = (text: string) => safeAttributeValue(text, limits.maxValueBytes);
  const attributes: Record<string, string> = {
    [DEAD_LETTER_ATTRIBUTES.reason]:
      safeAttributeValue(record.reason, Math.min(limits.maxReasonBytes, limits.maxValueBytes)) || '(no reason given)',
    [DEAD_LETTER_ATTRIBUTES.kind]: record.kind,
    [DEAD_LETTER_ATTRIBUTES.sourceMessageId]: value(message.id) || '(none)',
  };
  if (record.eventId) attributes[DEAD_LETTER_ATTRIBUTES.eventId] = value(record.eventId);
  if (record.destination) attributes[DEAD_LETTER_ATTRIBUTES.destination] = value(record.destination);
  for (const [key, original] of Object.entries(message.attributes)) {
    if (Object.keys(attributes).length >= limits.maxAttributes) break;
    // An empty value is refused by SQS; Herald's own names are never overwritten.
    if (original !== '' && !(key in attributes)) attributes[key] = value(original);
  }
  return attributes;
}
