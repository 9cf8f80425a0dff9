import { silentLogger } from '@herald/core/runtime';
import type { Silence } from '@herald/store';
import { afterEach, describe, expect, it } from 'vitest';
import { SilenceWatch } from '../../src/delivery/silences.js';

const hour = 3_600_000;

function silence(id: string, matchers: Silence['matchers'], from = -hour, to = hour): Silence {
  const now = Date.now();
  return {
    id,
    matchers,
    comment: 'test',
    createdBy: 'ops',
    startsAt: new Date(now + from),
    endsAt: new Date(now + to),
  };
}

const failedMl = {
  execution: { project: 'flytesnacks', domain: 'production', name: 'f8a1b2c3' },
  workflow: 'core.ml.train',
  phase: 'FAILED',
  target: { name: 'oncall', to: [] },
};

let watch: SilenceWatch | undefined;
afterEach(async () => {
  await watch?.close();
  watch = undefined;
});

describe('SilenceWatch', () => {
  it('matches when every matcher of a silence in force matches, by glob', async () => {
    const silences = [
      silence('not-yet', [{ field: 'project', pattern: '*' }], hour, 2 * hour),
      silence('over', [{ field: 'project', pattern: '*' }], -2 * hour, -hour),
      silence('ml', [
        { field: 'project', pattern: 'flytesnacks' },
        { field: 'workflow', pattern: 'core.ml.*' },
      ]),
      silence('mail', [{ field: 'destination', pattern: '*@example.com' }]),
    ];
    watch = new SilenceWatch(() => ({ silences: async () => silences }), silentLogger);
    await watch.start();
    expect(watch.match(failedMl)?.id).toBe('ml');
    expect(watch.match({ ...failedMl, workflow: 'core.etl.load' })).toBeUndefined();
    expect(watch.match({ ...failedMl, workflow: undefined })).toBeUndefined();
    expect(watch.match({ ...failedMl, workflow: 'x', target: { to: ['a@x.com', 'b@example.com'] } })?.id).toBe('mail');
    expect(
      watch.match({ ...failedMl, execution: undefined, workflow: undefined, target: { to: ['a@x.com'] } }),
    ).toBeUndefined();
  });

  it('reads the store again, and keeps the last silences known when it cannot', async () => {
    let answer: () => Promise<Silence[]> = async () => [silence('s1', [{ field: 'phase', pattern: 'FAILED' }])];
    watch = new SilenceWatch(() => ({ silences: () => answer() }), silentLogger, 20);
    await watch.start();
    expect(watch.match(failedMl)?.id).toBe('s1');
    answer = async () => {
      throw new Error('store down');
    };
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(watch.match(failedMl)?.id).toBe('s1');
    answer = async () => [];
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(watch.match(failedMl)).toBeUndefined();
  });

  it('ignores a silence whose pattern is not a valid glob, says so once, and honours the others', async () => {
    const warnings: unknown[] = [];
    const logger = { ...silentLogger, warn: (fields: unknown) => void warnings.push(fields) };
    const silences = [
      silence('broken', [{ field: 'workflow', pattern: 'core.[ml' }]),
      silence('ml', [{ field: 'workflow', pattern: 'core.{ml,etl}.*' }]),
    ];
    watch = new SilenceWatch(() => ({ silences: async () => silences }), logger, 20);
    await watch.start();
    expect(watch.match(failedMl)?.id).toBe('ml');
    await new Promise((resolve) => setTimeout(resolve, 60));
    expect(warnings).toEqual([expect.objectContaining({ silenceId: 'broken', pattern: 'core.[ml' })]);
  });
});
