import { GlobError } from '@herald/core';
import { compileGlob, parseConfig } from '@herald/core/config';
import { describe, expect, it } from 'vitest';
import { problemsOf } from '../helpers/problems.js';

const matches = (pattern: string, name: string) => compileGlob(pattern).test(name);
const wf = 'core.flyte_basics.hello_world.my_wf';

describe('compileGlob, as before picomatch', () => {
  it('lets * match any run of characters, dots included', () => {
    expect(matches('train-*', 'train-resnet')).toBe(true);
    expect(matches('train-*', 'train-')).toBe(true);
    expect(matches('core.*', wf)).toBe(true);
    expect(matches('*.my_wf', wf)).toBe(true);
    expect(matches('core.*.my_wf', wf)).toBe(true);
    expect(matches('*', wf)).toBe(true);
    expect(matches('train-*', 'pretrain-resnet')).toBe(false);
  });

  it('lets ? match exactly one character, a dot too', () => {
    expect(matches('?rain', 'train')).toBe(true);
    expect(matches('core?ml', 'core.ml')).toBe(true);
    expect(matches('?rain', 'rain')).toBe(false);
    expect(matches('?rain', 'strain')).toBe(false);
  });

  it('matches whole names, literally elsewhere: a dot is a dot, a plus a plus', () => {
    expect(matches('core.ml', 'core.ml')).toBe(true);
    expect(matches('core.ml', 'corexml')).toBe(false);
    expect(matches('core.ml', 'core.ml.train')).toBe(false);
    expect(matches('a+b@example.com', 'a+b@example.com')).toBe(true);
    expect(matches('*@example.com', 'oncall@example.com')).toBe(true);
    expect(matches('Core.*', 'core.ml')).toBe(false);
  });
});

describe('compileGlob, what picomatch adds', () => {
  it('reads ** as * does: any run of characters; either alone matches every name, the empty one too', () => {
    expect(matches('core.**', wf)).toBe(true);
    expect(matches('**.my_wf', wf)).toBe(true);
    expect(matches('**', '')).toBe(true);
    // An event that names no workflow is matched as the empty name: `workflow: "*"` still hears of it.
    expect(matches('*', '')).toBe(true);
    expect(matches('core.*', 'core.')).toBe(true);
  });

  it('keeps parentheses literal: extglobs such as @(a|b) are not Herald syntax', () => {
    expect(matches('proj(1)', 'proj(1)')).toBe(true);
    expect(matches('@(a|b)', 'a')).toBe(false);
    expect(matches('@(a|b)', '@(a|b)')).toBe(true);
  });

  it('matches either alternative of {a,b}', () => {
    expect(matches('core.ml.{train,eval}', 'core.ml.eval')).toBe(true);
    expect(matches('core.ml.{train,eval}', 'core.ml.serve')).toBe(false);
    expect(matches('*.{train,eval}_wf', 'core.ml.train_wf')).toBe(true);
  });

  it('matches one character of a class, a range, or not of a negated class', () => {
    expect(matches('shard-[0-9]', 'shard-7')).toBe(true);
    expect(matches('shard-[0-9]', 'shard-x')).toBe(false);
    expect(matches('[tl]rain', 'lrain')).toBe(true);
    expect(matches('[^t]rain', 'train')).toBe(false);
    expect(matches('[^t]rain', 'brain')).toBe(true);
  });

  it('negates the whole pattern with a leading !', () => {
    expect(matches('!core.ml.*', 'core.etl.load')).toBe(true);
    expect(matches('!core.ml.*', 'core.ml.train')).toBe(false);
  });

  it('matches a special character escaped with a backslash literally', () => {
    expect(matches('nightly\\*', 'nightly*')).toBe(true);
    expect(matches('nightly\\*', 'nightly-eu')).toBe(false);
  });

  it('refuses an unbalanced bracket, brace or parenthesis, naming the pattern', () => {
    for (const pattern of ['core.[ml', 'core.{ml,etl', 'core.ml]']) {
      expect(() => compileGlob(pattern)).toThrow(GlobError);
    }
    expect(() => compileGlob('core.[ml')).toThrow(
      expect.objectContaining({
        pattern: 'core.[ml',
        message: expect.stringMatching(/^not a valid glob: Missing closing/),
      }),
    );
  });
});

describe('a rule whose workflow glob does not compile', () => {
  it('is a config problem at its key, with the pattern shown', () => {
    const problems = problemsOf(`
notifications: {type: local}
herald:
  rules:
    - name: ml
      match: { workflow: "core.{ml,etl" }
      email: [ml@example.com]
`);
    expect(problems).toEqual([
      `herald.rules[0].match.workflow: not a valid glob: Missing closing: "}" - use "\\\\}" to match literal characters, got 'core.{ml,etl'`,
    ]);
  });

  it('compiles once at load: the resolved rule holds the compiled pattern', () => {
    const config = parseConfig(
      'notifications: {type: local}\nherald:\n  rules: [{name: ml, match: {workflow: "core.{ml,etl}.**"}, email: [a@example.com]}]\n',
      { env: {} },
    );
    expect(config.rules[0]?.workflow?.test('core.etl.load.nightly')).toBe(true);
    expect(config.rules[0]?.workflow?.test('core.web.serve')).toBe(false);
  });
});
