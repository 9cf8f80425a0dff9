type MimeFuncs = typeof import('nodemailer/lib/mime-funcs');

let loading: Promise<MimeFuncs> | undefined;

/** nodemailer's MIME helpers, imported the first time a subject needs encoding. */
function loadMimeFuncs(): Promise<MimeFuncs> {
  loading ??= import('nodemailer/lib/mime-funcs');
  return loading;
}

// `=?charset?encoding?text?=`: what a mail client decodes, wherever it appears in a subject.
const ENCODED_WORD = /=\?[^?\s]*\?[bq]\?[^?\s]*\?=/i;

/**
 * The subject as nodemailer is to write it. nodemailer encodes only non-ASCII text, so plain
 * text that happens to look like an RFC 2047 encoded word (`=?utf-8?Q?x=0D=0ABcc:…?=`, from an
 * event value) would reach the reader decoded — with the line break Herald removed from the
 * subject. Such a subject is encoded whole (RFC 2047 §5 asks for that), so the reader sees the
 * text Herald rendered; any other subject is passed through unchanged.
 */
export async function mimeSubject(subject: string): Promise<string> {
  if (!ENCODED_WORD.test(subject)) return subject;
  const { encodeWord } = await loadMimeFuncs();
  return encodeWord(subject, 'Q', 52);
}
