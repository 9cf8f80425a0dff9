import { encodeWord } from 'nodemailer/lib/mime-funcs';

// `=?charset?encoding?text?=`: what a mail client decodes, wherever it appears in a subject.
const ENCODED_WORD = /=\?[^?\s]*\?[bq]\?[^?\s]*\?=/i;

/**
 * The subject as nodemailer is to write it. nodemailer encodes only non-ASCII text, so plain
 * text that happens to look like an RFC 2047 encoded word (`=?utf-8?Q?x=0D=0ABcc:…?=`, from an
 * event value) would reach the reader decoded — with the line break Herald removed from the
 * subject. Such a subject is encoded whole (RFC 2047 §5 asks for that), so the reader sees the
 * text Herald rendered; any other subject is passed through unchanged.
 */
export function mimeSubject(subject: string): string {
  return ENCODED_WORD.test(subject) ? encodeWord(subject, 'Q', 52) : subject;
}
