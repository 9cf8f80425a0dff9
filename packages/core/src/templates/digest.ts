import type { ExecutionEvent } from '../contract/event.js';
import { sampleEvent } from '../contract/sample-event.js';
import { buildTemplateContext, formatDuration, type TemplateContext } from './context.js';

/** How many events a digest's default templates list one by one; `more` counts the rest. */
export const DIGEST_LISTED = 50;

/** One digest as the processor hands it to templates: its events and how they were grouped. */
export interface DigestSummary {
  /** The rule whose digest it is (`herald.eventNotifications` for the event's own notifications). */
  rule: string;
  /** The values the group was formed on (`{ project: 'flytesnacks' }`); empty without groupBy. */
  group: Record<string, string>;
  windowMs: number;
  /** The held events, oldest first. */
  events: ExecutionEvent[];
  openedAt: Date;
  /** When the window closed (or the digest filled up). */
  closedAt: Date;
  /** Sent at once when the group opened (immediateFirst), so not among `events`. */
  sentFirst: ExecutionEvent | undefined;
  /**
   * `digest`: notifications folded over a window. `overdue`: the one event of an execution that
   * did not end within a rule's `expect.within` (the window), sent as a "still running" alert.
   */
  kind?: 'digest' | 'overdue' | 'ratelimit' | undefined;
}

/**
 * What a digest's templates can use. Every event is a full event context, so an event's line
 * reads like its own notification would (`{{#each listed}}{{ name }} {{ phaseName }}{{/each}}`).
 */
export interface DigestContext {
  /** True for a digest (of a window, or of what a rate limit held back); false for an overdue alert. */
  digest: boolean;
  overdue: boolean;
  /** The notifications a destination's rate limit held back in one period (`group.rateLimit` says which). */
  rateLimited: boolean;
  rule: string;
  /** Events in this digest. */
  count: number;
  events: TemplateContext[];
  first: TemplateContext | undefined;
  last: TemplateContext | undefined;
  /** The first {@link DIGEST_LISTED} events, and how many are left out of that list. */
  listed: TemplateContext[];
  more: number;
  /** Events per phase: `{ FAILED: 199, TIMED_OUT: 1 }`. */
  phases: Record<string, number>;
  /** The same as one line, most frequent first: `199 FAILED, 1 TIMED_OUT`. */
  phaseSummary: string;
  group: Record<string, string>;
  /** The group as one line: `project=flytesnacks domain=development`, or empty. */
  groupText: string;
  /** The window as a person reads it: `30s`, `10m`. */
  window: string;
  openedAt: string;
  closedAt: string;
  /** The event sent on its own when the group opened (immediateFirst), if any. */
  sentFirst: TemplateContext | undefined;
}

export function buildDigestContext(digest: DigestSummary): DigestContext {
  const events = digest.events.map(buildTemplateContext);
  const phases: Record<string, number> = {};
  for (const event of digest.events) phases[event.phase] = (phases[event.phase] ?? 0) + 1;
  const listed = events.slice(0, DIGEST_LISTED);
  return {
    digest: digest.kind !== 'overdue',
    overdue: digest.kind === 'overdue',
    rateLimited: digest.kind === 'ratelimit',
    rule: digest.rule,
    count: events.length,
    events,
    first: events[0],
    last: events.at(-1),
    listed,
    more: events.length - listed.length,
    phases,
    phaseSummary: Object.entries(phases)
      .sort((a, b) => b[1] - a[1])
      .map(([phase, count]) => `${count} ${phase}`)
      .join(', '),
    group: digest.group,
    groupText: Object.entries(digest.group)
      .map(([field, value]) => `${field}=${value}`)
      .join(' '),
    window: formatDuration(digest.windowMs).replace(/ /g, ''),
    openedAt: digest.openedAt.toISOString(),
    closedAt: digest.closedAt.toISOString(),
    sentFirst: digest.sentFirst && buildTemplateContext(digest.sentFirst),
  };
}

/** A digest of two sample events, for checking digest templates when the config loads. */
export function sampleDigestContext(): DigestContext {
  const failed = sampleEvent();
  const timedOut = { ...failed, id: `${failed.id}-2`, phase: 'TIMED_OUT' as const };
  return buildDigestContext({
    rule: 'sample',
    group: { project: failed.execution.project },
    windowMs: 600_000,
    events: [failed, timedOut],
    openedAt: new Date(Date.parse(failed.time)),
    closedAt: new Date(Date.parse(failed.time) + 600_000),
    sentFirst: undefined,
  });
}

/** The subject (one line) of a digest: every kind of destination uses it. */
export const DEFAULT_DIGEST_SUBJECT =
  '[Herald] {{ count }} {{#if (eq count 1)}}notification{{else}}notifications{{/if}}: {{ phaseSummary }}' +
  '{{#if groupText}} ({{ groupText }}){{/if}}';

/** The body of a digest in plain text, below its subject: chat messages, tickets, webhook payloads. */
export const DEFAULT_DIGEST_TEXT =
  'Rule {{ rule }}, a {{ window }} window:\n' +
  '{{#each listed}}• {{ project }}/{{ domain }}/{{ name }} {{ phaseName }}' +
  '{{#if workflow.name}} ({{ workflow.name }}){{/if}}{{#if errorMessage}}: {{truncate errorMessage 120}}{{/if}}\n' +
  '{{/each}}{{#if more}}… and {{ more }} more\n{{/if}}';

/** The body of a digest email (HTML; its text part is derived). */
export const DEFAULT_DIGEST_HTML =
  '<p>{{ count }} {{#if (eq count 1)}}notification{{else}}notifications{{/if}} from rule {{ rule }} in {{ window }}: ' +
  '{{ phaseSummary }}{{#if groupText}} ({{ groupText }}){{/if}}</p>\n<ul>\n' +
  '{{#each listed}}<li>{{ project }}/{{ domain }}/{{ name }} <strong>{{ phaseName }}</strong>' +
  '{{#if workflow.name}} ({{ workflow.name }}){{/if}}{{#if errorMessage}}: {{truncate errorMessage 200}}{{/if}}' +
  '{{#if url}} <a href="{{ url }}">open</a>{{/if}}</li>\n{{/each}}</ul>\n' +
  '{{#if more}}<p>… and {{ more }} more.</p>\n{{/if}}';

/** The subject of a "still running" alert (a rule's `expect`): the execution is `first`. */
export const DEFAULT_OVERDUE_SUBJECT =
  '[Herald] {{ first.project }}/{{ first.domain }}/{{ first.name }} still {{ first.phaseName }} after {{ window }}';

/** Its text: chat messages, tickets, webhook payloads. */
export const DEFAULT_OVERDUE_TEXT =
  'Execution {{ first.project }}/{{ first.domain }}/{{ first.name }}' +
  '{{#if first.workflow.name}} ({{ first.workflow.name }}){{/if}} has been {{ first.phaseName }} since ' +
  '{{ openedAt }} and has not finished within {{ window }} (rule {{ rule }}).{{#if first.url}}\n{{ first.url }}{{/if}}';

/** Its email body (HTML; the text part is derived). */
export const DEFAULT_OVERDUE_HTML =
  '<p>Execution <strong>{{ first.project }}/{{ first.domain }}/{{ first.name }}</strong>' +
  '{{#if first.workflow.name}} ({{ first.workflow.name }}){{/if}} has been {{ first.phaseName }} since ' +
  '{{ openedAt }} and has not finished within {{ window }} (rule {{ rule }}).</p>' +
  '{{#if first.url}}\n<p><a href="{{ first.url }}">Open the execution</a></p>{{/if}}\n';

/** The subject of what a rate limit held back, sent when its period ends. */
export const DEFAULT_RATELIMIT_SUBJECT =
  '[Herald] and {{ count }} more: {{ phaseSummary }} (held back by the rate limit, {{ group.rateLimit }})';

/** Its text: chat messages, tickets, webhook payloads. */
export const DEFAULT_RATELIMIT_TEXT =
  'Rule {{ rule }} sends at most {{ group.rateLimit }} here; these came after that:\n' +
  '{{#each listed}}• {{ project }}/{{ domain }}/{{ name }} {{ phaseName }}' +
  '{{#if workflow.name}} ({{ workflow.name }}){{/if}}{{#if errorMessage}}: {{truncate errorMessage 120}}{{/if}}\n' +
  '{{/each}}{{#if more}}… and {{ more }} more\n{{/if}}';

/** Its email body (HTML; the text part is derived). */
export const DEFAULT_RATELIMIT_HTML =
  '<p>Rule {{ rule }} sends at most {{ group.rateLimit }} here; these {{ count }} came after that: ' +
  '{{ phaseSummary }}</p>\n<ul>\n' +
  '{{#each listed}}<li>{{ project }}/{{ domain }}/{{ name }} <strong>{{ phaseName }}</strong>' +
  '{{#if workflow.name}} ({{ workflow.name }}){{/if}}{{#if errorMessage}}: {{truncate errorMessage 200}}{{/if}}' +
  '{{#if url}} <a href="{{ url }}">open</a>{{/if}}</li>\n{{/each}}</ul>\n' +
  '{{#if more}}<p>… and {{ more }} more.</p>\n{{/if}}';
