import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const heapGrowth = fileURLToPath(new URL('../../src/heap-growth.ts', import.meta.url));

/**
 * Runs a script in a node process of its own (V8's flags are per process), with
 * `holdYoungGenerationWhileStarting` and `youngMb()` (the young generation's size) in scope,
 * and returns what it printed.
 */
async function run(script: string, nodeArgs: string[] = []): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'herald-heap-'));
  try {
    const file = join(dir, 'child.mts');
    writeFileSync(
      file,
      `import { getHeapSpaceStatistics } from 'node:v8';
import { holdYoungGenerationWhileStarting } from ${JSON.stringify(heapGrowth)};
const youngMb = () => (getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_size ?? 0) / 2 ** 20;
// Long-lived objects allocated in bursts, as starting up allocates them.
const kept: unknown[] = [];
const burst = () => { for (let i = 0; i < 300_000; i++) kept.push({ i, name: 'n' + i }); };
${script}
`,
    );
    // Without the NODE_OPTIONS of whoever runs the tests: heap flags there would change the answers.
    const { NODE_OPTIONS: _, ...env } = process.env;
    const { stdout } = await promisify(execFile)(process.execPath, [...nodeArgs, '--import', 'tsx', file], {
      timeout: 30_000,
      env,
    });
    return stdout.trim();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('holding the young generation while starting', () => {
  it('keeps it at its size through a burst of long-lived allocations, and lets it grow once released', async () => {
    const [before, held, released] = (
      await run(`const before = youngMb();
const startedUp = holdYoungGenerationWhileStarting();
burst();
const held = youngMb();
startedUp();
burst(); burst();
console.log(before, held, youngMb());`)
    )
      .split(' ')
      .map(Number);
    expect(held).toBe(before);
    expect(released).toBeGreaterThan(held as number);
  }, 60_000);

  it('grows as V8 would without the hold', async () => {
    const [before, after] = (await run('const before = youngMb(); burst(); console.log(before, youngMb());'))
      .split(' ')
      .map(Number);
    expect(after).toBeGreaterThan(before as number);
  }, 60_000);

  it("leaves the young generation alone when whoever started node sized it, in either of V8's spellings", async () => {
    for (const flag of ['--max-semi-space-size=16', '--max_semi_space_size=16']) {
      const [before, after] = (
        await run(
          'const before = youngMb(); holdYoungGenerationWhileStarting(); burst(); console.log(before, youngMb());',
          [flag],
        )
      )
        .split(' ')
        .map(Number);
      expect(after, flag).toBeGreaterThan(before as number);
    }
  }, 60_000);
});
