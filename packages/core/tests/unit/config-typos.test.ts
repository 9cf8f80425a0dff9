import { parseConfig } from '@herald/core/config';
import { describe, expect, it } from 'vitest';
import { closestKey } from '../../src/config/typo-hints.js';
import { problemsOf } from '../helpers/problems.js';

describe('an unknown key', () => {
  it('one level down names the key it most likely misspells', () => {
    expect(problemsOf('notifications: {typ: sandbox}')).toEqual([
      "notifications.typ: unknown key (did you mean 'type'?)",
    ]);
    expect(problemsOf('herald: {procesor: {maxInFlight: 4}}')).toEqual([
      "herald.procesor: unknown key (did you mean 'processor'?)",
    ]);
  });

  it('two levels down names the key of that section, letters swapped or case changed', () => {
    expect(problemsOf('herald: {processor: {maxInFligth: 4}}')).toEqual([
      "herald.processor.maxInFligth: unknown key (did you mean 'maxInFlight'?)",
    ]);
    expect(problemsOf('herald: {aws: {VisibilityTimeoutSecs: 30}}')).toEqual([
      "herald.aws.VisibilityTimeoutSecs: unknown key (did you mean 'visibilityTimeoutSeconds'?)",
    ]);
  });

  it("three levels down, in FlyteAdmin's block", () => {
    expect(problemsOf('notifications: {type: local, emailer: {emailServerConfig: {smtpSkipTlsVerify: true}}}')).toEqual(
      ["notifications.emailer.emailServerConfig.smtpSkipTlsVerify: unknown key (did you mean 'smtpSkipTLSVerify'?)"],
    );
  });

  it('inside a list item: a rule, its match and its rate limit', () => {
    const problems = problemsOf(`
notifications: {type: local}
herald:
  rules:
    - name: first
      email: [a@example.com]
    - name: second
      emial: [a@example.com]
      match: { onlyPhase: [FAILED] }
      rateLimit: { max: 3, perr: 1h }
`);
    expect(problems).toEqual([
      "herald.rules[1].match.onlyPhase: unknown key (did you mean 'onlyPhases'?)",
      'herald.rules[1].rateLimit.per: is required (expected a string)',
      "herald.rules[1].rateLimit.perr: unknown key (did you mean 'per'?)",
      "herald.rules[1].emial: unknown key (did you mean 'email'?)",
    ]);
  });

  it("inside a channel, among the keys of the channel's own type", () => {
    const problems = problemsOf(`
notifications: {type: local}
herald:
  channels:
    alerts: { type: slack, webhookUrlEnvvar: SLACK_URL }
    hook: { type: webhook, url: "http://127.0.0.1:1/hook", timeoutMS: 500 }
    other: { type: slack, url: "http://127.0.0.1:1/slack", urlFile: /run/secrets/url }
`);
    expect(problems).toEqual([
      "herald.channels.alerts.webhookUrlEnvvar: unknown key (did you mean 'webhookUrlEnvVar'?)",
      "herald.channels.hook.timeoutMS: unknown key (did you mean 'timeoutMs'?)",
      // urlFile is a webhook's key, not a Slack channel's: nothing of Slack's is near.
      'herald.channels.other.urlFile: unknown key',
      // What the misspelt key was to give is missing, too.
      'herald.channels.alerts.url: expected url, webhookUrlEnvVar or webhookUrlFile',
    ]);
  });

  it('far from every known key is only unknown', () => {
    expect(problemsOf('herald: {processor: {colour: blue}}')).toEqual(['herald.processor.colour: unknown key']);
  });
});

describe('an unknown top-level key', () => {
  it("near 'herald' or 'notifications' is an error: it would drop a whole section", () => {
    expect(problemsOf('herlad: {processor: {maxInFlight: 4}}')).toEqual([
      "herlad: unknown key (did you mean 'herald'?)",
    ]);
    expect(problemsOf('notificatons: {type: aws}\nHerald: {}')).toEqual([
      "notificatons: unknown key (did you mean 'notifications'?)",
      "Herald: unknown key (did you mean 'herald'?)",
    ]);
  });

  it("is otherwise accepted and ignored, like FlyteAdmin's other settings", () => {
    const config = parseConfig(
      'server: {httpPort: 8088}\nexternalEvents: {enable: false}\nnotifications: {type: local}',
      {
        env: {},
      },
    );
    expect(config.type).toBe('local');
    expect(config.warnings).toEqual([]);
  });
});

describe('closestKey', () => {
  it('allows one edit in a short key and more in a long one', () => {
    expect(closestKey('ur', ['url'])).toBe('url');
    expect(closestKey('ttl', ['url'])).toBeUndefined();
    expect(closestKey('maxConcurent', ['maxConcurrency'])).toBe('maxConcurrency');
    expect(closestKey('maxAttemps', ['maxInFlight', 'maxAttempts'])).toBe('maxAttempts');
  });

  it('takes the nearest, and the first of equals', () => {
    expect(closestKey('urlFil', ['url', 'urlFile'])).toBe('urlFile');
    expect(closestKey('bod', ['body', 'bcd'])).toBe('body');
  });
});
