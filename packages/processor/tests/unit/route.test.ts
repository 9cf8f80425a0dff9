import { DecodeError, decodeEvent, sampleEvent } from '@herald/core';
import { parseConfig } from '@herald/core/config';
import { type RoutableChannel, routeEvent } from '@herald/processor';
import { describe, expect, it } from 'vitest';

describe('routeEvent', () => {
  const emailer = { defaultRecipients: [] as string[], defaultPhases: ['FAILED' as const] };
  const config = { emailer, rules: [] } as unknown as Parameters<typeof routeEvent>[1];

  it('selects only notifications whose phases include the event phase', () => {
    const event = sampleEvent({
      phase: 'SUCCEEDED',
      notifications: [
        { phases: ['FAILED'], email: { recipients: ['f@example.com'] } },
        { phases: ['SUCCEEDED'], email: { recipients: ['s@example.com'] } },
      ],
    });
    expect(routeEvent(event, config).map((d) => (d.channel === 'email' ? d.to : d.key))).toEqual([['s@example.com']]);
  });

  it("marks templates written only by the event's publisher, and not the same text in a rule", () => {
    const withRule = parseConfig(
      `notifications: {type: sandbox}
herald: {rules: [{name: r, email: [rule@e.com], subject: "rule: {{ name }}", body: "<p>{{ name }}</p>"}]}`,
      { env: {} },
    );
    const event = sampleEvent({
      notifications: [
        { phases: ['FAILED'], email: { recipients: ['a@e.com'], subject: 'own: {{ name }}' } },
        {
          phases: ['FAILED'],
          email: { recipients: ['b@e.com'], subject: 'rule: {{ name }}', body: '<p>{{ name }}</p>' },
        },
        { phases: ['FAILED'], email: { recipients: ['c@e.com'] } },
      ],
    });
    const emails = routeEvent(event, withRule).map((d) => (d.channel === 'email' ? [d.to, d.templatesFrom] : []));
    expect(emails).toEqual([
      [['a@e.com'], 'event'],
      [['b@e.com', 'rule@e.com'], 'config'],
      [['c@e.com'], 'config'],
    ]);
  });

  it('gives the same key whatever order the recipients come in', () => {
    const a = routeEvent(
      sampleEvent({ notifications: [{ phases: ['FAILED'], email: { recipients: ['x@e.com', 'y@e.com'] } }] }),
      config,
    );
    const b = routeEvent(
      sampleEvent({ notifications: [{ phases: ['FAILED'], email: { recipients: ['Y@e.com', 'x@e.com'] } }] }),
      config,
    );
    expect(a[0]?.key).toBe(b[0]?.key);
  });

  it('keeps emails with different templates apart', () => {
    const event = sampleEvent({
      notifications: [
        { phases: ['FAILED'], email: { recipients: ['x@e.com'] } },
        { phases: ['FAILED'], email: { recipients: ['x@e.com'], body: '<p>custom</p>' } },
      ],
    });
    expect(routeEvent(event, config)).toHaveLength(2);
  });

  it('adds default recipients only in the default phases', () => {
    const withDefaults = {
      emailer: { ...emailer, defaultRecipients: ['ops@e.com'] },
      rules: [],
    } as unknown as Parameters<typeof routeEvent>[1];
    expect(
      routeEvent(sampleEvent({ notifications: [] }), withDefaults).map((d) => (d.channel === 'email' ? d.to : d.key)),
    ).toEqual([['ops@e.com']]);
    expect(routeEvent(sampleEvent({ phase: 'SUCCEEDED', notifications: [] }), withDefaults)).toEqual([]);
  });
});

describe('routing rules', () => {
  const config = parseConfig(
    `
herald:
  channels:
    oncall: { type: slack, url: "https://hooks.slack.example/T/B/X" }
    pd: { type: pagerduty, routingKeyEnvVar: PD_KEY }
    audit: { type: webhook, url: "https://audit.example/hook" }
  rules:
    - name: failures-in-x
      match: { onlyPhases: [FAILED, TIMED_OUT], project: x }
      notify: [oncall, pd]
    - name: audit-all-but-running
      match: { ignore_states: [RUNNING] }
      notify: [audit]
    - name: ml-training
      match: { workflow: "train-*", labels: { team: ml } }
      email: [ml@example.com]
`,
    { env: {} },
  );
  const types = new Map<string, RoutableChannel>([
    ['oncall', { type: 'slack' }],
    ['pd', { type: 'pagerduty', alsoHears: (phase) => phase === 'SUCCEEDED' }],
    ['audit', { type: 'webhook' }],
  ]);
  const inX = (phase: 'FAILED' | 'SUCCEEDED' | 'RUNNING', extra = {}) =>
    sampleEvent({
      phase,
      execution: { project: 'x', domain: 'd', name: 'e1' },
      notifications: [],
      labels: {},
      ...extra,
    });
  const names = (event: ReturnType<typeof inX>) => routeEvent(event, config, types).map((d) => d.key);

  it('sends a FAILED event of project x to Slack, PagerDuty and the webhook', () => {
    expect(names(inX('FAILED'))).toEqual(['channel:oncall', 'channel:pd', 'channel:audit']);
  });

  it('sends the SUCCEEDED event of the same execution to PagerDuty (to resolve) and the webhook', () => {
    expect(names(inX('SUCCEEDED'))).toEqual(['channel:pd', 'channel:audit']);
  });

  it('sends a RUNNING event nowhere', () => {
    expect(names(inX('RUNNING'))).toEqual([]);
  });

  it('matches project exactly, workflow by glob and labels by value', () => {
    const other = sampleEvent({
      phase: 'FAILED',
      notifications: [],
      labels: { team: 'ml' },
      workflow: { project: 'p', domain: 'd', name: 'train-resnet' },
    });
    expect(routeEvent(other, config, types).map((d) => (d.channel === 'email' ? d.to : d.key))).toEqual([
      ['ml@example.com'],
      'channel:audit',
    ]);
    const wrongTeam = { ...other, labels: { team: 'web' } };
    expect(routeEvent(wrongTeam, config, types).map((d) => d.key)).toEqual(['channel:audit']);
  });

  it('delivers once to a channel that two sources name', () => {
    const event = inX('FAILED', { notifications: [{ phases: ['FAILED'], slack: { channel: 'oncall' } }] });
    const slack = routeEvent(event, config, types).filter((d) => d.key === 'channel:oncall');
    expect(slack).toHaveLength(1);
    expect(slack[0]?.origins).toEqual(['event notifications[0].slack', 'rule failures-in-x']);
  });

  it("emails Flyte's Slack and PagerDuty bridge addresses", () => {
    const event = inX('FAILED', {
      notifications: [{ phases: ['FAILED'], slack: { recipients: ['team@bridge.slack.com'] } }],
    });
    expect(routeEvent(event, config, types).find((d) => d.channel === 'email')).toMatchObject({
      to: ['team@bridge.slack.com'],
    });
  });

  it('rejects a rule naming a channel that does not exist, listing the known ones', () => {
    expect(() =>
      parseConfig(
        'herald: {channels: {a: {type: webhook, url: "https://x.example"}}, rules: [{name: r, notify: [b]}]}',
        { env: {} },
      ),
    ).toThrow("herald.rules[0].notify[0]: no channel named 'b' in herald.channels (known: a)");
  });
});

describe('every notification shape', () => {
  const config = {
    emailer: { defaultRecipients: [] as string[], defaultPhases: [] },
    rules: [],
  } as unknown as Parameters<typeof routeEvent>[1];
  const channels = new Map<string, RoutableChannel>([['oncall', { type: 'slack' }]]);
  const kinds = ['email', 'slack', 'pagerDuty', 'pager_duty', 'webhook'] as const;
  const targets: Record<string, unknown> = {
    'no fields': {},
    'recipients (Herald)': { recipients: ['a@example.com'] },
    'recipients_email (REST)': { recipients_email: ['a@example.com'] },
    'recipientsEmail (protojson)': { recipientsEmail: ['a@example.com'] },
    'an empty list': { recipients: [] },
    'an address that is not one': { recipients: ['not an address'] },
    'a channel': { channel: 'oncall' },
    'a channel not configured': { channel: 'nowhere' },
    'an empty channel name': { channel: '' },
    'recipients and a channel': { recipients: ['a@example.com'], channel: 'oncall' },
    'only a template': { template: '<p>x</p>' },
    'a list where an object belongs': ['a@example.com'],
  };

  it('either routes to a destination or is refused naming the notification: never acked with nothing sent', () => {
    const outcomes: string[] = [];
    for (const kind of kinds) {
      for (const [shape, target] of Object.entries(targets)) {
        const body = JSON.stringify(sampleEvent({ notifications: [{ phases: ['FAILED'], [kind]: target }] as never }));
        let routed = 0;
        let refusal: string | undefined;
        try {
          routed = routeEvent(decodeEvent(body), config, channels).length;
        } catch (err) {
          if (!(err instanceof DecodeError)) throw err;
          refusal = err.message;
        }
        // Exactly one of the two.
        expect(routed > 0 !== (refusal !== undefined), `${kind} with ${shape}`).toBe(true);
        if (refusal !== undefined) expect(refusal, `${kind} with ${shape}`).toMatch(/^notifications\[0\]/);
        outcomes.push(`${kind} with ${shape}: ${routed > 0 ? 'routed' : 'refused'}`);
      }
    }
    // Email takes addresses only; the others take addresses or a channel.
    expect(outcomes.filter((line) => line.endsWith('routed'))).toEqual(
      kinds.flatMap((kind) =>
        [
          'recipients (Herald)',
          'recipients_email (REST)',
          'recipientsEmail (protojson)',
          ...(kind === 'email' ? [] : ['a channel', 'a channel not configured']),
          'recipients and a channel',
        ]
          // Flyte has no webhook notification, so only Herald's spelling applies to it.
          .filter((shape) => kind !== 'webhook' || !/_email|Email/.test(shape))
          .map((shape) => `${kind} with ${shape}: routed`),
      ),
    );
  });
});
