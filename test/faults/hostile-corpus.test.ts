import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AwsStack, createStack, type QueuedMessage, sendRaw } from '../helpers/aws.js';
import type { CliResult } from '../helpers/cli.js';
import { TestSmtpServer } from '../helpers/smtp.js';
import {
  CORPUS_BODY,
  CORPUS_SUBJECT,
  type CorpusEntry,
  hostileCorpus,
  type PendingFix,
  TEMPLATE_TAGS,
} from './corpus.js';
import { account, type Tally } from './figures.js';
import { DeadLetters, record, Scenario, settle, settled, smtpServerConfig } from './harness.js';

/** Headers nodemailer writes for an email Herald sends; any other header came from a value. */
const HERALD_HEADERS = new Set([
  'content-type',
  'from',
  'to',
  'subject',
  'message-id',
  'date',
  'mime-version',
  'content-transfer-encoding',
  'x-herald-idempotency-key',
]);

type Received = TestSmtpServer['received'][number];

describe('a hostile corpus written straight to the queue', () => {
  const scenario = new Scenario();
  const smtp = new TestSmtpServer();
  const corpus = hostileCorpus();
  /** Queue message id → the entry it carried, and back. */
  const sent = new Map<string, CorpusEntry>();
  const messageIdOf = new Map<CorpusEntry, string>();
  const byRecipient = new Map(corpus.filter((e) => e.recipient).map((e) => [e.recipient as string, e]));
  let stack: AwsStack;
  let output: CliResult;
  let deadLetters: QueuedMessage[];
  let tally: Tally;

  /** The entry a dead letter is for: by the source message id Herald records, else (an SQS redrive) by body. */
  const entryOf = (record: QueuedMessage) => {
    const source = record.attributes['herald.sourceMessageId'];
    return source ? sent.get(source) : corpus.find((e) => e.body === record.body);
  };
  const deadLettersOf = (entry: CorpusEntry) => deadLetters.filter((d) => entryOf(d) === entry);
  const receptionsOf = (entry: CorpusEntry) =>
    entry.recipient ? smtp.received.filter((m) => m.envelopeTo.includes(entry.recipient as string)) : [];
  const expected = (expect: CorpusEntry['expect'], needs?: PendingFix) =>
    corpus.filter((e) => e.expect === expect && e.needs === needs);
  /** Labels of the entries for which `problem` says something. */
  const failing = (entries: CorpusEntry[], problem: (entry: CorpusEntry) => string | undefined) =>
    entries.flatMap((entry) => {
      const found = problem(entry);
      return found ? [`${entry.label}: ${found}`] : [];
    });

  beforeAll(async () => {
    const port = await smtp.start();
    scenario.defer(() => smtp.stop());
    stack = await createStack({
      emailServerConfig: smtpServerConfig(port),
      subject: CORPUS_SUBJECT,
      body: CORPUS_BODY,
      maxInFlight: 16,
    });
    for (let i = 0; i < corpus.length; i += 8) {
      const group = corpus.slice(i, i + 8);
      const ids = await Promise.all(group.map((entry) => sendRaw(stack, entry.body)));
      ids.forEach((id, n) => {
        sent.set(id, group[n] as CorpusEntry);
        messageIdOf.set(group[n] as CorpusEntry, id);
      });
    }

    const run = await scenario.run(stack);
    const reader = new DeadLetters(stack);
    // Counted by queue message id: a malformed message has no event id. An email to an
    // address no entry named counts as unexpected.
    const keyOf = (entry: CorpusEntry | undefined, fallback: string) => (entry && messageIdOf.get(entry)) ?? fallback;
    const count = () =>
      account(
        [...sent.keys()],
        smtp.received.flatMap((m) => m.envelopeTo.map((to) => keyOf(byRecipient.get(to), `to ${to}`))),
        reader.records.map((d) => keyOf(entryOf(d), 'an unknown dead letter')),
      );
    await settle(
      stack,
      async () => {
        await reader.collect();
        return count();
      },
      { timeoutMs: 150_000 },
    );
    const durationMs = scenario.elapsedMs();
    await scenario.terminate(run);
    output = await run.exited;
    deadLetters = await reader.collect();
    tally = count();
    const valid = corpus.filter((e) => e.expect === 'deliver').length;
    await record({
      scenario: '4 hostile corpus',
      ...tally,
      durationMs,
      notes: `SMTP; ${valid} valid events with hostile values, ${corpus.length - valid} to refuse`,
    });
  }, 240_000);

  afterAll(() => scenario.stop());

  it('settles every message: none lost, the queue empty, nobody else emailed', async () => {
    expect(tally.lostKeys.map((id) => sent.get(id)?.label)).toEqual([]);
    expect(await settled(stack)).toBe(true);
    const strangers = smtp.received.flatMap((m) => m.envelopeTo).filter((to) => !byRecipient.has(to));
    expect(strangers, 'emails to addresses no valid event named').toEqual([]);
  });

  it('dead-letters every malformed message with its reason, and emails nobody for it', () => {
    expect(failing(expected('dead-letter'), notRefused)).toEqual([]);
  });

  it('delivers every valid event exactly once, however hostile its values', () => {
    const problems = failing(expected('deliver'), (entry) => {
      const receptions = receptionsOf(entry).length;
      if (receptions !== 1) return `received ${receptions} times`;
      if (deadLettersOf(entry).length > 0)
        return `dead-lettered: ${deadLettersOf(entry)[0]?.attributes['herald.reason']}`;
      return undefined;
    });
    expect(problems).toEqual([]);
  });

  it('lets no value add, fold or split a header', () => {
    const problems = smtp.received.flatMap((m) => headerProblems(m).map((p) => `${label(m)}: ${p}`));
    expect(problems).toEqual([]);
  });

  it("shows every subject on one line, as the recipient's mail client decodes it", () => {
    // A value that looks like an RFC 2047 encoded word is decoded by the reader's client.
    const problems = smtp.received
      .filter((m) => /[\r\n]/.test(m.parsed.subject ?? ''))
      .map((m) => `${label(m)}: ${JSON.stringify(m.parsed.subject?.slice(0, 100))}`);
    expect(problems).toEqual([]);
  });

  it('escapes every value in the HTML body', () => {
    const problems = smtp.received.flatMap((m) => htmlProblems(m.parsed.html ?? '').map((p) => `${label(m)}: ${p}`));
    expect(problems).toEqual([]);
  });

  it('writes nothing but its own JSON log lines, none claiming a delivery that did not happen', () => {
    expect(output.status).toBe(0);
    expect(output.stdout, 'herald run writes nothing on stdout').toBe('');
    const lines = output.stderr.split('\n').filter((line) => line !== '');
    const foreign = lines.filter((line) => !isHeraldLogLine(line));
    expect(foreign.map((line) => line.slice(0, 200))).toEqual([]);
    const claimed = lines
      .map((line) => JSON.parse(line) as { msg: string; to?: string[] })
      .filter((line) => line.msg === 'email delivered')
      .flatMap((line) => line.to ?? ['(no recipient)'])
      .sort();
    expect(claimed).toEqual(smtp.received.flatMap((m) => m.envelopeTo).sort());
  });

  // The expectations below were written before Herald met them (see corpus.ts, PendingFix).

  it('refuses an event template that calls {{log}}', () => {
    expect(failing(expected('dead-letter', 'no-log-helper'), notRefused)).toEqual([]);
  });

  it('refuses a url that is not http(s), and no href in any email is anything else', () => {
    const problems = failing(expected('dead-letter', 'url-scheme'), notRefused);
    const hrefs = smtp.received.flatMap((m) =>
      [...(m.parsed.html ?? '').matchAll(/href="([^"]*)"/g)]
        .map((match) => decodeEntities(match[1] ?? ''))
        .filter((href) => !/^https?:\/\//.test(href))
        .map((href) => `${label(m)}: href ${JSON.stringify(href)}`),
    );
    expect([...problems, ...hrefs]).toEqual([]);
  });

  it('fails an event template that runs past its time budget instead of sending it', () => {
    expect(failing(expected('dead-letter', 'template-budget'), notRefused)).toEqual([]);
  });

  /** Why an entry Herald must refuse was not: emailed anyway, not dead-lettered, or without a reason. */
  function notRefused(entry: CorpusEntry): string | undefined {
    const receptions = receptionsOf(entry).length;
    if (receptions > 0) return `emailed ${receptions} times`;
    const records = deadLettersOf(entry);
    if (records.length === 0) return 'not dead-lettered';
    if (records.some((r) => !r.attributes['herald.reason'] || !r.attributes['herald.kind'])) return 'no reason given';
    return undefined;
  }

  function label(message: Received): string {
    const entry = message.envelopeTo.map((to) => byRecipient.get(to)).find(Boolean);
    return entry?.label ?? `email to ${message.envelopeTo.join(', ')}`;
  }
});

/** What is wrong with a received email's header block: extra headers, repeated ones, recipients nobody asked for. */
function headerProblems(message: Received): string[] {
  const problems: string[] = [];
  const headerBlock = message.raw.slice(0, message.raw.search(/\r?\n\r?\n/));
  const names = headerBlock
    .split(/\r?\n/)
    .filter((line) => !/^[ \t]/.test(line))
    .map((line) =>
      (/^([^:\s]+):/.exec(line)?.[1] ?? `(not a header: ${JSON.stringify(line.slice(0, 60))})`).toLowerCase(),
    );
  for (const name of names) if (!HERALD_HEADERS.has(name)) problems.push(`header ${name}`);
  for (const name of ['from', 'to', 'subject']) {
    const count = names.filter((n) => n === name).length;
    if (count !== 1) problems.push(`${count} ${name} headers`);
  }
  const { parsed } = message;
  const to = (parsed.to ?? []).map((a) => a.address);
  if (to.join() !== message.envelopeTo.join())
    problems.push(`To ${to.join()} is not the envelope ${message.envelopeTo.join()}`);
  if (message.envelopeTo.length !== 1) problems.push(`${message.envelopeTo.length} recipients`);
  if ((parsed.cc ?? []).length + (parsed.bcc ?? []).length > 0) problems.push('Cc or Bcc');
  if (parsed.attachments.length > 0) problems.push(`${parsed.attachments.length} attachments`);
  return problems;
}

/** Markup in an HTML body that the configured template did not write. */
function htmlProblems(html: string): string[] {
  const problems: string[] = [];
  for (const match of html.matchAll(/<\s*(\/?)\s*([^\s>/]*)([^>]*)>/g)) {
    const [tag, , name = '', rest = ''] = match;
    const attributes = rest.trim();
    if (!TEMPLATE_TAGS.has(name.toLowerCase())) problems.push(`tag ${tag.slice(0, 60)}`);
    else if (attributes !== '' && !(name === 'a' && /^href="[^"<>]*"$/.test(attributes))) {
      problems.push(`attributes ${tag.slice(0, 80)}`);
    }
  }
  return problems;
}

/** The HTML entities Handlebars writes, decoded. */
function decodeEntities(text: string): string {
  return text
    .replace(/&#x([0-9a-f]+);/gi, (_, hex: string) => String.fromCodePoint(Number.parseInt(hex, 16)))
    .replace(/&#(\d+);/g, (_, dec: string) => String.fromCodePoint(Number(dec)))
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** A line of Herald's logger (pino, JSON): level (by name), time and message, nothing else at the top. */
function isHeraldLogLine(line: string): boolean {
  try {
    const value = JSON.parse(line) as { level?: unknown; time?: unknown; msg?: unknown };
    return typeof value.level === 'string' && typeof value.time === 'string' && typeof value.msg === 'string';
  } catch {
    return false;
  }
}
