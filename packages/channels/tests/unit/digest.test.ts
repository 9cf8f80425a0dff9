import { createHmac } from 'node:crypto';
import { type ChannelDigest, JiraChannel, PagerDutyChannel, SlackChannel, WebhookChannel } from '@herald/channels';
import { type ExecutionEvent, type Phase, sampleEvent } from '@herald/core';
import { secretReader } from '@herald/core/runtime';
import {
  buildDigestContext,
  DEFAULT_DIGEST_SUBJECT,
  DEFAULT_DIGEST_TEXT,
  TemplateRenderer,
} from '@herald/core/templates';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { json, only, stubFetch, text } from './fetch-stub.js';

const renderer = new TemplateRenderer();
const SLACK_URL = 'https://hooks.slack.com/services/T000/B000/XXXXSECRETXXXX';
const ROUTING_KEY = 'R0UT1NGKEY0000000000000000000000';
const SIGNING_SECRET = 'whsec_0123456789';
const HOOK_URL = 'https://audit.example.com/herald';
const INCIDENT_KEY = '0123456789abcdef0123456789abcdef';

/** Events of project storm, one execution each (`s0`, `s1`, …), in the phases given. */
function stormOf(...phases: Phase[]): ExecutionEvent[] {
  return phases.map((phase, i) =>
    sampleEvent({ id: `storm-${i}`, phase, execution: { project: 'storm', domain: 'production', name: `s${i}` } }),
  );
}

/** A digest as the processor hands it to a channel, with Herald's templates unless given. */
function digestOf(
  events: ExecutionEvent[],
  options: { group?: Record<string, string>; subject?: string; text?: string } = {},
): ChannelDigest {
  return {
    incidentKey: INCIDENT_KEY,
    kind: 'digest',
    context: buildDigestContext({
      rule: 'storm',
      group: options.group ?? { project: 'storm' },
      windowMs: 30_000,
      events,
      openedAt: new Date('2026-11-21T10:00:00Z'),
      closedAt: new Date('2026-11-21T10:00:30Z'),
      sentFirst: undefined,
    }),
    subject: renderer.compilePlain(options.subject ?? DEFAULT_DIGEST_SUBJECT, 'digest.subject'),
    text: renderer.compilePlain(options.text ?? DEFAULT_DIGEST_TEXT, 'digest.body'),
    events,
  };
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('a Slack digest', () => {
  const slack = () => new SlackChannel('oncall', { type: 'slack', url: SLACK_URL }, renderer, secretReader({}));

  it('is one message: the subject in bold, then one line per event', async () => {
    const sent = stubFetch(text(200, 'ok'));
    const channel = slack();
    await channel.send(channel.prepareDigest(digestOf(stormOf('FAILED', 'FAILED', 'TIMED_OUT'))));

    const request = only(sent);
    expect(request.url).toBe(SLACK_URL);
    expect((request.json as { text: string }).text).toBe(
      [
        '*[Herald] 3 notifications: 2 FAILED, 1 TIMED_OUT (project=storm)*',
        'Rule storm, a 30s window:',
        '• storm/production/s0 FAILED (core.example.wf): division by zero',
        '• storm/production/s1 FAILED (core.example.wf): division by zero',
        '• storm/production/s2 TIMED_OUT (core.example.wf): division by zero',
      ].join('\n'),
    );
  });

  it("escapes &, < and > in event values (and the group's), but keeps its own bold subject", () => {
    const [hostile] = stormOf('FAILED');
    const event = { ...(hostile as ExecutionEvent), error: { message: 'a < b && c > d <!channel>' } };
    const request = slack().prepareDigest(digestOf([event], { group: { workflow: '<wf>' } }));
    const message = (JSON.parse(request.body) as { text: string }).text;
    expect(message).toBe(
      '*[Herald] 1 notification: 1 FAILED (workflow=&lt;wf&gt;)*\n' +
        'Rule storm, a 30s window:\n' +
        '• storm/production/s0 FAILED (core.example.wf): a &lt; b &amp;&amp; c &gt; d &lt;!channel&gt;',
    );
    expect(message).not.toMatch(/<!channel>/);
  });

  it("renders the rule's own templates", () => {
    const request = slack().prepareDigest(
      digestOf(stormOf('FAILED', 'FAILED'), {
        subject: '{{ count }} storms',
        text: '{{#each listed}}{{ name }} {{/each}}',
      }),
    );
    expect(JSON.parse(request.body)).toEqual({ text: '*2 storms*\ns0 s1' });
  });
});

describe('a PagerDuty digest', () => {
  const pagerduty = () =>
    new PagerDutyChannel(
      'pager',
      { type: 'pagerduty', routingKeyEnvVar: 'PD_KEY' },
      renderer,
      secretReader({ PD_KEY: ROUTING_KEY }),
    );
  const DEDUP_KEY = `herald/digest/${INCIDENT_KEY}`;

  it("triggers one alert under the group's key while any of its events is a trigger phase", async () => {
    const sent = stubFetch(json(202, { status: 'success', dedup_key: DEDUP_KEY }));
    const channel = pagerduty();
    const request = channel.prepareDigest(digestOf(stormOf('FAILED', 'SUCCEEDED', 'TIMED_OUT', 'FAILED')));

    const result = await channel.send(request ?? expect.fail('nothing to send'));

    expect(only(sent).json).toEqual({
      routing_key: ROUTING_KEY,
      event_action: 'trigger',
      dedup_key: DEDUP_KEY,
      payload: {
        summary: '[Herald] 4 notifications: 2 FAILED, 1 SUCCEEDED, 1 TIMED_OUT (project=storm)',
        source: 'storm/production',
        severity: 'error',
        timestamp: '2026-11-21T10:00:30.000Z',
        custom_details: {
          kind: 'digest',
          count: 4,
          phases: { FAILED: 2, SUCCEEDED: 1, TIMED_OUT: 1 },
          rule: 'storm',
          group: { project: 'storm' },
          executions: [
            'storm/production/s0 FAILED',
            'storm/production/s1 SUCCEEDED',
            'storm/production/s2 TIMED_OUT',
            'storm/production/s3 FAILED',
          ],
          more: 0,
        },
      },
    });
    expect(result).toEqual({ id: DEDUP_KEY });
    // The routing key is a secret: never in what `herald render` shows.
    expect(JSON.stringify(request?.preview)).not.toContain(ROUTING_KEY);
  });

  it('lists at most the first 50 executions of a large storm and counts the rest', () => {
    const events = stormOf(...Array.from({ length: 60 }, () => 'FAILED' as const));
    const body = JSON.parse(pagerduty().prepareDigest(digestOf(events))?.body ?? '{}');
    expect(body.payload.custom_details.count).toBe(60);
    expect(body.payload.custom_details.executions).toHaveLength(50);
    expect(body.payload.custom_details.more).toBe(10);
  });

  it('resolves the same alert when every event in it is a resolve phase', () => {
    const request = pagerduty().prepareDigest(digestOf(stormOf('SUCCEEDED', 'SUCCEEDED')));
    expect(JSON.parse(request?.body ?? '{}')).toEqual({
      routing_key: ROUTING_KEY,
      event_action: 'resolve',
      dedup_key: DEDUP_KEY,
    });
  });

  it('sends nothing for a digest of phases it neither triggers nor resolves', () => {
    expect(pagerduty().prepareDigest(digestOf(stormOf('RUNNING', 'ABORTED')))).toBeUndefined();
  });

  it('follows the configured trigger and resolve phases', () => {
    const channel = new PagerDutyChannel(
      'pager',
      { type: 'pagerduty', routingKeyEnvVar: 'PD_KEY', triggerPhases: ['ABORTED'], resolvePhases: ['RUNNING'] },
      renderer,
      secretReader({ PD_KEY: ROUTING_KEY }),
    );
    expect(JSON.parse(channel.prepareDigest(digestOf(stormOf('FAILED', 'RUNNING')))?.body ?? '{}')).toMatchObject({
      event_action: 'resolve',
    });
    expect(JSON.parse(channel.prepareDigest(digestOf(stormOf('RUNNING', 'ABORTED')))?.body ?? '{}')).toMatchObject({
      event_action: 'trigger',
    });
    expect(channel.prepareDigest(digestOf(stormOf('FAILED')))).toBeUndefined();
  });

  it("alerts the event that opened a digest under the group's key, so the digest joins its incident", () => {
    const [opener] = stormOf('FAILED');
    const channel = pagerduty();
    const alone = JSON.parse(channel.prepare(opener as ExecutionEvent)?.body ?? '{}');
    const first = JSON.parse(channel.prepare(opener as ExecutionEvent, { incidentKey: INCIDENT_KEY })?.body ?? '{}');
    expect(alone.dedup_key).toBe('herald/storm/production/s0');
    expect(first.dedup_key).toBe(DEDUP_KEY);
    expect(first.event_action).toBe('trigger');
  });
});

describe('a webhook digest', () => {
  const webhook = (config: Record<string, unknown> = {}) =>
    new WebhookChannel(
      'audit',
      // A body template written for one event: a digest does not use it.
      { type: 'webhook', url: HOOK_URL, body: { execution: '{{ name }}' }, ...config },
      renderer,
      secretReader({ HOOK_SIGNING: SIGNING_SECRET }),
    );

  it('is JSON of kind digest, with the counts and every event whole', async () => {
    const sent = stubFetch(text(200, ''));
    const events = stormOf('FAILED', 'TIMED_OUT');
    const channel = webhook();
    await channel.send(channel.prepareDigest(digestOf(events)));

    const request = only(sent);
    expect(request.method).toBe('POST');
    expect(request.headers).toEqual({ 'content-type': 'application/json' });
    expect(request.json).toEqual({
      kind: 'digest',
      rule: 'storm',
      group: { project: 'storm' },
      subject: '[Herald] 2 notifications: 1 FAILED, 1 TIMED_OUT (project=storm)',
      text:
        'Rule storm, a 30s window:\n' +
        '• storm/production/s0 FAILED (core.example.wf): division by zero\n' +
        '• storm/production/s1 TIMED_OUT (core.example.wf): division by zero\n',
      count: 2,
      phases: { FAILED: 1, TIMED_OUT: 1 },
      openedAt: '2026-11-21T10:00:00.000Z',
      closedAt: '2026-11-21T10:00:30.000Z',
      events: JSON.parse(JSON.stringify(events)),
    });
  });

  it('is signed with the HMAC of its exact body when a signing secret is configured', async () => {
    const sent = stubFetch(text(200, ''));
    const channel = webhook({ signingSecretEnvVar: 'HOOK_SIGNING' });
    const request = channel.prepareDigest(digestOf(stormOf('FAILED')));
    await channel.send(request);

    const received = only(sent);
    const expected = `sha256=${createHmac('sha256', SIGNING_SECRET).update(received.body).digest('hex')}`;
    expect(received.headers['x-herald-signature-256']).toBe(expected);
    expect(request.preview.headers['X-Herald-Signature-256']).toBe('sha256=***');
    // A different body would not match: the signature covers this digest, not some other.
    const other = channel.prepareDigest(digestOf(stormOf('FAILED', 'FAILED')));
    expect(other.headers['X-Herald-Signature-256']).not.toBe(expected);
  });

  it('is not signed without a signing secret', () => {
    const request = webhook().prepareDigest(digestOf(stormOf('FAILED')));
    expect(Object.keys(request.headers)).toEqual(['content-type']);
  });
});

describe('a Jira digest', () => {
  const jira = () =>
    new JiraChannel(
      'tickets',
      {
        type: 'jira',
        baseUrl: 'https://acme.atlassian.net',
        project: 'OPS',
        emailEnvVar: 'JIRA_EMAIL',
        apiTokenEnvVar: 'JIRA_TOKEN',
      },
      renderer,
      secretReader({ JIRA_EMAIL: 'bot@example.com', JIRA_TOKEN: 'token' }),
    );

  it('is one issue: the subject as its summary, the list as its description', () => {
    const request = jira().prepareDigest(digestOf(stormOf('FAILED', 'FAILED')));
    const { fields } = JSON.parse(request.body);
    expect(fields.summary).toBe('[Herald] 2 notifications: 2 FAILED (project=storm)');
    expect(fields.description).toBe(
      'Rule storm, a 30s window:\n' +
        '• storm/production/s0 FAILED (core.example.wf): division by zero\n' +
        '• storm/production/s1 FAILED (core.example.wf): division by zero\n',
    );
    expect(fields.project).toEqual({ key: 'OPS' });
  });

  it('keeps the summary to one line of at most 255 characters, as Jira requires', () => {
    const request = jira().prepareDigest(
      digestOf(stormOf('FAILED'), { subject: `line one\r\nline two\n{{ rule }} ${'x'.repeat(400)}` }),
    );
    const { summary } = JSON.parse(request.body).fields;
    expect(summary).not.toMatch(/[\r\n]/);
    expect(summary.length).toBe(255);
    expect(summary.startsWith('line one line two storm xxx')).toBe(true);
  });
});
