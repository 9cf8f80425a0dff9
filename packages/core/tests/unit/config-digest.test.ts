import { formatDurationText, parseConfig, parseDuration } from '@herald/core/config';
import { describe, expect, it } from 'vitest';
import { problemsOf } from '../helpers/problems.js';

/** A sandbox config (it has a default store) whose one rule emails and folds into digests. */
const sandboxRule = (digest: string) => `notifications: {type: sandbox}
herald:
  rules:
    - name: storm
      email: [oncall@example.com]
      digest: ${digest}
`;

/** Everything type aws needs, so the only problems are the ones under test. */
const AWS = `notifications:
  type: aws
  aws: {region: us-east-1}
  publisher: {topicName: "arn:aws:sns:us-east-1:123456789012:flyte-notifications"}
  processor: {queueName: flyte-notifications, accountId: "123456789012"}
`;

const NEEDS_STORE = 'digests are held in the delivery log: set herald.store (sqlite:… or postgres://…)';

describe('a rule with a digest', () => {
  it('loads with the defaults filled in', () => {
    const config = parseConfig(sandboxRule('{}'), { env: {} });
    expect(config.rules[0]?.digest).toEqual({
      windowMs: 600_000,
      groupBy: [],
      max: 1000,
      immediateFirst: false,
      subject: undefined,
      body: undefined,
    });
    // A rule without one sends each notification as it comes.
    expect(parseConfig('herald: {rules: [{name: r, email: [a@example.com]}]}', { env: {} }).rules[0]?.digest).toBe(
      undefined,
    );
  });

  it('keeps every setting as written, groupBy each field once', () => {
    const config = parseConfig(
      sandboxRule(
        '{window: 1h30m, groupBy: [project, domain, project], max: 50, immediateFirst: true, subject: "{{ count }} failed", body: "{{ phaseSummary }}"}',
      ),
      { env: {} },
    );
    expect(config.rules[0]?.digest).toEqual({
      windowMs: 5_400_000,
      groupBy: ['project', 'domain'],
      max: 50,
      immediateFirst: true,
      subject: '{{ count }} failed',
      body: '{{ phaseSummary }}',
    });
  });

  it('reads max and immediateFirst written as strings, as values from the environment are', () => {
    const config = parseConfig(sandboxRule('{window: "${WINDOW}", max: "${MAX}", immediateFirst: "${FIRST}"}'), {
      env: { WINDOW: '45s', MAX: '20', FIRST: 'true' },
    });
    expect(config.rules[0]?.digest).toMatchObject({ windowMs: 45_000, max: 20, immediateFirst: true });
  });

  it('takes a window from 1s to 7d', () => {
    expect(parseConfig(sandboxRule('{window: 1s}'), { env: {} }).rules[0]?.digest?.windowMs).toBe(1_000);
    expect(parseConfig(sandboxRule('{window: 7d}'), { env: {} }).rules[0]?.digest?.windowMs).toBe(604_800_000);
  });

  it.each([
    ['0s', 'expected a window from 1s to 7d'],
    ['999ms', 'expected a window from 1s to 7d'],
    ['8d', 'expected a window from 1s to 7d'],
    ['"30"', 'expected a duration such as 30s, 10m, 2h or 1d'],
    ['soon', 'expected a duration such as 30s, 10m, 2h or 1d'],
    ['30', 'expected a string, got 30'],
  ])('refuses the window %s, once, naming its key', (window, message) => {
    expect(problemsOf(sandboxRule(`{window: ${window}}`))).toEqual([`herald.rules[0].digest.window: ${message}`]);
  });

  it('refuses what it does not know, naming the key', () => {
    expect(problemsOf(sandboxRule('{groupBy: [colour], max: 0, every: 5m}'))).toEqual([
      "herald.rules[0].digest.groupBy[0]: expected one of project, domain, workflow, phase, execution, got 'colour'",
      'herald.rules[0].digest.max: expected number >= 1, got 0',
      'herald.rules[0].digest.every: unknown key',
    ]);
  });

  it('refuses a digest template that does not parse when the config loads, not when the digest is sent', () => {
    expect(problemsOf(sandboxRule('{subject: "{{#if count}}unclosed"}'))).toEqual([
      expect.stringMatching(/^herald\.rules\[0\]\.digest\.subject: .*unexpected end of template/),
    ]);
    expect(problemsOf(sandboxRule('{body: "{{> footer}}"}'))).toEqual([
      'herald.rules[0].digest.body: The partial footer could not be found',
    ]);
    expect(
      problemsOf(`${AWS}herald: {store: {url: "sqlite::memory:"}, eventNotifications: {digest: {subject: "{{#each"}}}`),
    ).toEqual([expect.stringMatching(/^herald\.eventNotifications\.digest\.subject: /)]);
  });

  it('renders a valid digest template against a digest, not an event', () => {
    const config = parseConfig(
      sandboxRule(
        '{subject: "{{ count }} of {{ rule }}: {{ phaseSummary }}", body: "{{#each listed}}{{ name }}\\n{{/each}}"}',
      ),
      { env: {} },
    );
    expect(config.rules[0]?.digest?.subject).toBe('{{ count }} of {{ rule }}: {{ phaseSummary }}');
  });
});

describe('a digest needs a store', () => {
  it('is refused on type aws without herald.store, naming the rule', () => {
    expect(
      problemsOf(`${AWS}herald:
  rules:
    - {name: quiet, email: [a@example.com]}
    - {name: storm, email: [a@example.com], digest: {window: 5m}}
`),
    ).toEqual([`herald.rules[1].digest: ${NEEDS_STORE}`]);
    expect(problemsOf(`${AWS}herald: {rules: [{name: storm, email: [a@example.com], digest: {}}]}`)).toEqual([
      `herald.rules[0].digest: ${NEEDS_STORE}`,
    ]);
  });

  it('refuses herald.eventNotifications.digest on type aws without herald.store', () => {
    expect(problemsOf(`${AWS}herald: {eventNotifications: {digest: {window: 5m}}}`)).toEqual([
      `herald.eventNotifications.digest: ${NEEDS_STORE}`,
    ]);
  });

  it('is accepted on type aws with herald.store, in a file or from the environment', () => {
    const withUrl = parseConfig(
      `${AWS}herald: {store: {url: "postgres://herald@db/herald"}, rules: [{name: storm, email: [a@example.com], digest: {}}], eventNotifications: {digest: {window: 1m}}}`,
      { env: {} },
    );
    expect(withUrl.rules[0]?.digest?.windowMs).toBe(600_000);
    expect(withUrl.eventNotifications.digest?.windowMs).toBe(60_000);
    const fromEnv = parseConfig(
      `${AWS}herald: {store: {urlEnvVar: HERALD_STORE_URL}, rules: [{name: storm, email: [a@example.com], digest: {}}]}`,
      { env: {} },
    );
    expect(fromEnv.rules[0]?.digest).toBeDefined();
  });

  it('is accepted by the sandbox, whose delivery log is a SQLite file in its outbox', () => {
    const config = parseConfig(`${sandboxRule('{}')}  eventNotifications: {digest: {groupBy: [workflow]}}\n`, {
      env: {},
    });
    expect(config.store).toMatchObject({ url: expect.stringMatching(/^sqlite:.*herald\.db$/) });
    expect(config.rules[0]?.digest).toBeDefined();
    expect(config.eventNotifications.digest).toMatchObject({ windowMs: 600_000, groupBy: ['workflow'] });
  });

  it('has no digest for the event notifications unless asked', () => {
    expect(parseConfig('notifications: {type: sandbox}', { env: {} }).eventNotifications).toEqual({
      digest: undefined,
    });
  });
});

describe('durations', () => {
  it('reads single units and runs of them', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('10m')).toBe(600_000);
    expect(parseDuration('2h')).toBe(7_200_000);
    expect(parseDuration('7d')).toBe(604_800_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration(' 1d2h3m4s5ms ')).toBe(86_400_000 + 7_200_000 + 180_000 + 4_000 + 5);
  });

  it('refuses a bare number, an unknown unit, a sign, a fraction and words', () => {
    for (const text of ['', '30', '10x', '-5m', '1.5h', '5 m', 'soon', 'm5', '1h30']) {
      expect(parseDuration(text), text).toBeUndefined();
    }
  });

  it('writes the shortest form it reads back', () => {
    expect(formatDurationText(1_800_000)).toBe('30m');
    expect(formatDurationText(5_400_000)).toBe('1h30m');
    expect(formatDurationText(90_061_001)).toBe('1d1h1m1s1ms');
    expect(formatDurationText(250)).toBe('250ms');
    expect(formatDurationText(0)).toBe('0s');
    for (const ms of [1, 999, 1_000, 61_000, 3_599_999, 86_400_000, 604_800_000, 90_061_001, 123_456_789]) {
      expect(parseDuration(formatDurationText(ms)), String(ms)).toBe(ms);
    }
    for (const text of ['1s', '10m', '1h30m', '2d4h', '1m500ms'])
      expect(formatDurationText(parseDuration(text) ?? -1)).toBe(text);
  });
});
