import { PagerDutyChannel } from '@herald/channels';
import { type ExecutionEvent, sampleEvent } from '@herald/core';
import { compileConfigTemplates, parseConfig, type ResolvedConfig } from '@herald/core/config';
import { secretReader } from '@herald/core/runtime';
import { DEFAULT_DIGEST_HTML, DEFAULT_DIGEST_TEXT } from '@herald/core/templates';
import { type CodeRule, type Destination, type RoutableChannel, routeEvent, when } from '@herald/processor';
import { describe, expect, it } from 'vitest';
import {
  type DeliveryParts,
  type DigestToSend,
  deliveryFor,
  digestTemplateSources,
  eventDeliveries,
} from '../../src/delivery/deliveries.js';
import { RecordingEmailer } from '../helpers/recording-emailer.js';

/** A config of type local (no store needed for digests), with `herald` as its herald block. */
const load = (herald: string): ResolvedConfig =>
  parseConfig(
    `notifications: {emailer: {sender: "herald@example.com"}}
herald:
  channels:
    oncall: { type: slack, url: "https://hooks.slack.example/T/B/X" }
    pager: { type: pagerduty, routingKeyEnvVar: PD_KEY }
    audit: { type: webhook, url: "https://audit.example/hook" }
${herald}`,
    { env: {} },
  );

const channelTypes = new Map<string, RoutableChannel>([
  ['oncall', { type: 'slack' }],
  ['pager', { type: 'pagerduty', alsoHears: (phase) => phase === 'SUCCEEDED' }],
  ['audit', { type: 'webhook' }],
]);

/** A FAILED event of project storm, with no notifications of its own unless given. */
function storm(overrides: Partial<ExecutionEvent> = {}): ExecutionEvent {
  return sampleEvent({
    execution: { project: 'storm', domain: 'production', name: 'e1' },
    notifications: [],
    ...overrides,
  });
}

const byKey = (destinations: Destination[], key: string) => {
  const found = destinations.find((d) => d.key === key);
  if (!found) throw new Error(`no destination ${key} among ${destinations.map((d) => d.key).join(', ')}`);
  return found;
};
const foldOf = (destination: Destination) => ('fold' in destination ? destination.fold : undefined);

describe('which destinations fold into digests', () => {
  const config = load(`  rules:
    - name: storm-slow
      match: { project: storm }
      notify: [oncall, audit]
      digest: { window: 5m, groupBy: [project], max: 20 }
    - name: storm-fast
      match: { project: storm }
      notify: [oncall, pager]
      digest: { window: 30s, immediateFirst: true }
    - name: audit-now
      match: { domain: audit-now }
      notify: [audit]
`);

  it("folds a destination every origin of which asks for a digest, with the first one's settings", () => {
    const destinations = routeEvent(storm(), config, channelTypes);
    expect(foldOf(byKey(destinations, 'channel:oncall'))).toEqual({
      rule: 'storm-slow',
      digest: {
        windowMs: 300_000,
        groupBy: ['project'],
        max: 20,
        immediateFirst: false,
        subject: undefined,
        body: undefined,
      },
    });
    expect(byKey(destinations, 'channel:oncall').origins).toEqual(['rule storm-slow', 'rule storm-fast']);
    expect(foldOf(byKey(destinations, 'channel:pager'))).toMatchObject({
      rule: 'storm-fast',
      digest: { windowMs: 30_000, immediateFirst: true },
    });
    expect(foldOf(byKey(destinations, 'channel:audit'))).toMatchObject({ rule: 'storm-slow' });
  });

  it('sends a destination at once when any origin that reached it asks for no digest', () => {
    const destinations = routeEvent(
      storm({ execution: { project: 'storm', domain: 'audit-now', name: 'e1' } }),
      config,
      channelTypes,
    );
    const audit = byKey(destinations, 'channel:audit');
    expect(audit.origins).toEqual(['rule storm-slow', 'rule audit-now']);
    expect(foldOf(audit)).toBeUndefined();
    // The others still fold: the rule that wants it now delays nothing else either.
    expect(foldOf(byKey(destinations, 'channel:oncall'))).toBeDefined();
  });

  it("sends at once a channel an event's own notification names, without herald.eventNotifications.digest", () => {
    const destinations = routeEvent(
      storm({ notifications: [{ phases: ['FAILED'], slack: { channel: 'oncall' } }] }),
      config,
      channelTypes,
    );
    expect(byKey(destinations, 'channel:oncall').origins).toEqual([
      'event notifications[0].slack',
      'rule storm-slow',
      'rule storm-fast',
    ]);
    expect(foldOf(byKey(destinations, 'channel:oncall'))).toBeUndefined();
  });

  it('folds the resolve PagerDuty hears beyond the rule that names it, like its trigger', () => {
    const destinations = routeEvent(
      storm({ phase: 'SUCCEEDED' }),
      load(`  rules:
    - name: failures
      match: { onlyPhases: [FAILED] }
      notify: [pager, oncall]
      digest: { window: 1m }
`),
      channelTypes,
    );
    expect(destinations.map((d) => d.key)).toEqual(['channel:pager']);
    expect(foldOf(byKey(destinations, 'channel:pager'))).toMatchObject({
      rule: 'failures',
      digest: { windowMs: 60_000 },
    });
  });

  it('folds a rule email only when everyone in it came by a digest', () => {
    const withDigest = load(`  emailer: { defaultRecipients: [ops@example.com] }
  rules:
    - name: storm-mail
      match: { project: storm }
      email: [team@example.com]
      digest: { window: 2m }
`);
    const [email] = routeEvent(storm(), withDigest, channelTypes);
    // The default recipients and the rule share the default templates: one email, two origins.
    expect(email).toMatchObject({ channel: 'email', to: ['ops@example.com', 'team@example.com'] });
    expect(email?.origins).toEqual(['herald.emailer.defaultRecipients', 'rule storm-mail']);
    expect(foldOf(email as Destination)).toBeUndefined();

    const alone = routeEvent(
      storm(),
      load(`  rules:
    - name: storm-mail
      match: { project: storm }
      email: [team@example.com]
      subject: "storm {{ name }}"
      digest: { window: 2m }
`),
      channelTypes,
    );
    expect(alone).toHaveLength(1);
    expect(foldOf(alone[0] as Destination)).toMatchObject({ rule: 'storm-mail', digest: { windowMs: 120_000 } });
  });

  it("folds the event's own notifications and the default recipients by herald.eventNotifications.digest", () => {
    const events = load(`  emailer: { defaultRecipients: [ops@example.com] }
  eventNotifications:
    digest: { window: 15m, groupBy: [workflow] }
  rules:
    - name: storm-slack
      match: { project: storm }
      notify: [oncall]
      digest: { window: 1m }
`);
    const destinations = routeEvent(
      storm({
        notifications: [
          { phases: ['FAILED'], email: { recipients: ['owner@example.com'] } },
          { phases: ['FAILED'], slack: { channel: 'oncall' } },
          { phases: ['FAILED'], webhook: { channel: 'audit' } },
        ],
      }),
      events,
      channelTypes,
    );
    const policy = { rule: 'herald.eventNotifications', digest: events.eventNotifications.digest };
    expect(policy.digest).toMatchObject({ windowMs: 900_000, groupBy: ['workflow'] });
    const [email] = destinations;
    expect(email).toMatchObject({ channel: 'email', to: ['ops@example.com', 'owner@example.com'] });
    expect(foldOf(email as Destination)).toEqual(policy);
    expect(foldOf(byKey(destinations, 'channel:audit'))).toEqual(policy);
    // Reached by the event first, then by a rule with its own digest: the first one's applies.
    expect(foldOf(byKey(destinations, 'channel:oncall'))).toEqual(policy);
  });

  it('never folds a code rule', () => {
    const everything = load(`  eventNotifications:
    digest: { window: 1m }
  rules:
    - name: storm
      match: { project: storm }
      notify: [oncall]
      digest: { window: 1m }
`);
    const destinations = routeEvent(storm(), everything, channelTypes, [{ name: 'ticket' }]);
    const code = byKey(destinations, 'code:ticket');
    expect(code).toEqual({ channel: 'code', name: 'ticket', key: 'code:ticket', origins: ['code rule'] });
    expect(foldOf(byKey(destinations, 'channel:oncall'))).toBeDefined();
  });
});

describe('the digest an event joins', () => {
  const config = load(`  rules:
    - name: by-project
      notify: [oncall, audit]
      digest: { window: 45s, groupBy: [project, workflow], max: 7, immediateFirst: true }
    - name: everything
      match: { domain: everything }
      notify: [pager]
      digest: {}
`);
  const pager = new PagerDutyChannel(
    'pager',
    { type: 'pagerduty', routingKeyEnvVar: 'PD_KEY' },
    compileConfigTemplates(config).renderer,
    secretReader({ PD_KEY: 'R0UT1NGKEY' }),
  );
  const parts: DeliveryParts = {
    config,
    templates: compileConfigTemplates(config),
    emailer: undefined,
    channels: new Map([['pager', pager]]),
    codeRules: [],
  };
  const folds = (event: ExecutionEvent, codeRules: readonly CodeRule[] = []) => {
    const bound = eventDeliveries(event, routeEvent(event, config, channelTypes, codeRules), { ...parts, codeRules });
    return new Map(bound.map((b) => [b.key, b.fold]));
  };
  const groupKey = (event: ExecutionEvent, key = 'channel:oncall') => folds(event).get(key)?.join.groupKey;
  const inProject = (project: string, name: string, workflow = 'wf.train') =>
    storm({
      execution: { project, domain: 'production', name },
      workflow: { project, domain: 'production', name: workflow, version: 'v1' },
    });

  it('is the same for events equal in the groupBy fields, whatever else differs', () => {
    const a = inProject('storm', 'e1');
    const b = { ...inProject('storm', 'e2'), id: 'other', phase: 'TIMED_OUT' as const, labels: { team: 'web' } };
    expect(groupKey(a)).toBe(groupKey(b));
  });

  it('differs for different groupBy values, destinations and rules', () => {
    const keys = [
      groupKey(inProject('storm', 'e1')),
      groupKey(inProject('calm', 'e1')),
      groupKey(inProject('storm', 'e1', 'wf.other')),
      groupKey(inProject('storm', 'e1'), 'channel:audit'),
      groupKey(storm({ execution: { project: 'storm', domain: 'everything', name: 'e1' } }), 'channel:pager'),
    ];
    expect(new Set(keys).size).toBe(keys.length);
    // Values are not joined into one string: moving a character from one to the other is another group.
    const shifted = (project: string, workflow: string) =>
      groupKey(
        storm({ execution: { project, domain: 'd', name: 'e' }, workflow: { project, domain: 'd', name: workflow } }),
      );
    expect(shifted('a|b', 'c')).not.toBe(shifted('a', 'b|c'));
    expect(shifted('a","b', 'c')).not.toBe(shifted('a', 'b","c'));
  });

  it('has a key of 32 hex characters, with no NUL whatever the values hold, the same every time', () => {
    const hostile = inProject('p\u0000q', 'e1', 'w\u0000\u0001|');
    const key = groupKey(hostile);
    expect(key).toMatch(/^[0-9a-f]{32}$/);
    expect(groupKey(structuredClone(hostile))).toBe(key);
    expect(folds(hostile).get('channel:oncall')?.join.group).toEqual({
      project: 'p\u0000q',
      workflow: 'w\u0000\u0001|',
    });
    // Open digests are found by this key: a release that computed it otherwise would split the
    // groups open across a rolling upgrade (and PagerDuty's incident for the storm with them).
    expect(groupKey(inProject('storm', 'e1'))).toBe('88c387bdfb46efa95807f817ce36db13');
  });

  it('carries the window, max, immediateFirst, the group, the destination and the event as JSON', () => {
    const event = inProject('storm', 'e1');
    const fold = folds(event).get('channel:oncall');
    expect(fold?.rule).toBe('by-project');
    expect(fold?.join).toEqual({
      groupKey: expect.stringMatching(/^[0-9a-f]{32}$/),
      rule: 'by-project',
      target: expect.any(String),
      group: { project: 'storm', workflow: 'wf.train' },
      windowMs: 45_000,
      max: 7,
      immediateFirst: true,
      event: JSON.stringify(event),
    });
    expect(JSON.parse(fold?.join.event ?? '')).toEqual(event);
    // What the digest is sent from: the destination as routing made it.
    expect(JSON.parse(fold?.join.target ?? '')).toMatchObject({
      channel: 'slack',
      name: 'oncall',
      key: 'channel:oncall',
    });
  });

  it('groups by an empty workflow when the event has none, and by the phase and execution when asked', () => {
    const phased = load(`  rules:
    - name: r
      notify: [oncall]
      digest: { groupBy: [phase, execution, domain, workflow] }
`);
    const event = storm({ workflow: undefined });
    const [bound] = eventDeliveries(event, routeEvent(event, phased, channelTypes), { ...parts, config: phased });
    expect(bound?.fold?.join.group).toEqual({ phase: 'FAILED', execution: 'e1', domain: 'production', workflow: '' });
    expect(bound?.fold?.join.windowMs).toBe(600_000);
    expect(bound?.fold?.join.max).toBe(1000);
    expect(bound?.fold?.join.immediateFirst).toBe(false);
  });

  it('is none for a destination that does not fold, nor for a code rule', () => {
    const rule = when(
      () => true,
      async () => {},
      'ticket',
    );
    const bound = folds(storm({ notifications: [{ phases: ['FAILED'], email: { recipients: ['a@example.com'] } }] }), [
      rule,
    ]);
    expect([...bound.keys()]).toEqual([
      expect.stringMatching(/^email:default:/),
      'channel:oncall',
      'channel:audit',
      'code:ticket',
    ]);
    expect([...bound.values()].map((fold) => fold?.rule)).toEqual([undefined, 'by-project', 'by-project', undefined]);
  });

  it("alerts PagerDuty for the opener under the group's key, so the digest joins its incident", async () => {
    const event = storm({ execution: { project: 'storm', domain: 'everything', name: 'e1' } });
    const bound = eventDeliveries(event, routeEvent(event, config, channelTypes), parts).find(
      (b) => b.key === 'channel:pager',
    );
    const prepared = await bound?.prepare({});
    const body = prepared?.describe();
    expect(body).toMatchObject({
      channel: 'pagerduty',
      body: { event_action: 'trigger', dedup_key: `herald/digest/${bound?.fold?.join.groupKey}` },
    });
  });
});

describe('a digest email', () => {
  const config = load(`  rules:
    - name: own-templates
      match: { domain: own }
      email: [team@example.com]
      digest:
        subject: "{{ count }} runs of {{ rule }} {{#if groupText}}[{{ groupText }}]{{/if}}"
        body: "<ul>{{#each listed}}<li>{{ name }} {{ phaseName }}: {{ errorMessage }}</li>{{/each}}</ul>"
    - name: herald-templates
      match: { domain: herald }
      email: [team@example.com]
      digest: { window: 30s, groupBy: [project] }
`);
  const emailer = new RecordingEmailer();
  const parts: DeliveryParts = {
    config,
    templates: compileConfigTemplates(config),
    emailer,
    channels: new Map(),
    codeRules: [],
  };
  const events = (domain: string) =>
    ['FAILED', 'TIMED_OUT', 'FAILED'].map((phase, i) =>
      storm({
        id: `id-${i}`,
        phase: phase as ExecutionEvent['phase'],
        execution: { project: 'storm', domain, name: `e${i}` },
        error: { message: i === 0 ? 'x < y & z' : 'division by zero' },
      }),
    );

  async function send(rule: string, domain: string) {
    const [first] = events(domain);
    const [destination] = routeEvent(first as ExecutionEvent, config, channelTypes);
    const digest: DigestToSend = {
      id: 'dg-1',
      incidentKey: 'k',
      rule,
      group: rule === 'herald-templates' ? { project: 'storm' } : {},
      windowMs: 30_000,
      events: events(domain),
      openedAt: new Date('2026-11-21T10:00:00Z'),
      closedAt: new Date('2026-11-21T10:00:30Z'),
      sentFirst: undefined,
      templates: digestTemplateSources(config, rule),
    };
    const delivery = deliveryFor(destination as Destination, parts);
    const prepared = await delivery.prepareDigest(digest);
    const receipt = await prepared?.send({ signal: new AbortController().signal });
    return { destination: destination as Destination, receipt, email: emailer.sent.at(-1) };
  }

  it("renders the rule's own digest subject and body", async () => {
    const { destination, receipt, email } = await send('own-templates', 'own');
    expect(email).toMatchObject({
      from: 'herald@example.com',
      to: ['team@example.com'],
      subject: '3 runs of own-templates',
      html: '<ul><li>e0 FAILED: x &lt; y &amp; z</li><li>e1 TIMED_OUT: division by zero</li><li>e2 FAILED: division by zero</li></ul>',
      idempotencyKey: `digest:dg-1/${destination.key}`,
    });
    expect(email?.text).toContain('e1 TIMED_OUT: division by zero');
    expect(receipt).toMatchObject({ channel: 'email', provider: 'recording', subject: '3 runs of own-templates' });
  });

  it("renders Herald's digest templates for a rule that gives none", async () => {
    const { email } = await send('herald-templates', 'herald');
    expect(email?.subject).toBe('[Herald] 3 notifications: 2 FAILED, 1 TIMED_OUT (project=storm)');
    expect(email?.html).toMatch(
      /^<p>3 notifications from rule herald-templates in 30s: 2 FAILED, 1 TIMED_OUT \(project(=|&#x3D;)storm\)<\/p>/,
    );
    expect(email?.html).toContain('<li>storm/herald/e0 <strong>FAILED</strong> (core.example.wf): x &lt; y &amp; z');
    expect(email?.text).toContain(
      '3 notifications from rule herald-templates in 30s: 2 FAILED, 1 TIMED_OUT (project=storm)',
    );
    expect(email?.text).toContain('x < y & z');
  });

  it('takes its templates from the rule whose digest it is, else herald.eventNotifications', () => {
    expect(digestTemplateSources(config, 'own-templates')).toEqual({
      subject: '{{ count }} runs of {{ rule }} {{#if groupText}}[{{ groupText }}]{{/if}}',
      text: '<ul>{{#each listed}}<li>{{ name }} {{ phaseName }}: {{ errorMessage }}</li>{{/each}}</ul>',
      html: '<ul>{{#each listed}}<li>{{ name }} {{ phaseName }}: {{ errorMessage }}</li>{{/each}}</ul>',
      name: 'herald.rules[0].digest',
    });
    expect(digestTemplateSources(config, 'herald-templates')).toMatchObject({
      subject: expect.stringContaining('notifications'),
      text: DEFAULT_DIGEST_TEXT,
      html: DEFAULT_DIGEST_HTML,
      name: 'herald.rules[1].digest',
    });
    expect(digestTemplateSources(config, 'herald.eventNotifications')).toMatchObject({
      text: DEFAULT_DIGEST_TEXT,
      name: 'herald.eventNotifications.digest',
    });
  });
});
