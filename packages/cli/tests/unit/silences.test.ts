import { describe, expect, it } from 'vitest';
import { duration, formatSilences, parseMatcher, silenceToAdd } from '../../src/commands/silences.js';

describe('herald silences add', () => {
  it('reads FIELD=PATTERN matchers and refuses a field it does not know, naming the option', () => {
    expect(parseMatcher('workflow=core.ml.*')).toEqual({ field: 'workflow', pattern: 'core.ml.*' });
    expect(parseMatcher('destination = oncall@x.com')).toEqual({ field: 'destination', pattern: 'oncall@x.com' });
    expect(() => parseMatcher('team=ml')).toThrow(/--match: expected FIELD=PATTERN with FIELD one of project, domain/);
    expect(() => parseMatcher('project=')).toThrow(/got 'project='/);
    expect(() => parseMatcher('flytesnacks')).toThrow(/--match/);
  });

  it('refuses a pattern that is not a valid glob, naming the option and the pattern', () => {
    expect(parseMatcher('workflow=core.{ml,etl}.*')).toEqual({ field: 'workflow', pattern: 'core.{ml,etl}.*' });
    expect(() => parseMatcher('workflow=core.[ml')).toThrow(
      /^--match: workflow pattern 'core\.\[ml' is not a valid glob: Missing closing/,
    );
  });

  it('reads durations and asks for matchers and a reason', () => {
    expect(duration('90s', '--for')).toBe(90_000);
    expect(duration('2h', '--for')).toBe(7_200_000);
    expect(() => duration('0m', '--for')).toThrow(/--for: expected a duration/);
    expect(() => duration('forever', '--for')).toThrow(/got 'forever'/);
    expect(() => silenceToAdd({ match: [], for: '1h', comment: 'x' })).toThrow(/--match: give at least one/);
    expect(() => silenceToAdd({ match: ['project=a'], for: '1h', comment: ' ' })).toThrow(/--comment/);
    const wanted = silenceToAdd({ match: ['project=a'], for: '30m', comment: ' outage ', by: 'me' });
    expect(wanted).toMatchObject({
      matchers: [{ field: 'project', pattern: 'a' }],
      comment: 'outage',
      createdBy: 'me',
    });
    expect(wanted.endsAt.getTime() - wanted.startsAt.getTime()).toBe(1_800_000);
    expect(formatSilences([{ ...wanted, id: 'sil-1' }], wanted.startsAt)).toMatch(
      /^sil-1 {2}until \S+ +project=a {2}\(outage, me\)\n$/,
    );
  });
});
