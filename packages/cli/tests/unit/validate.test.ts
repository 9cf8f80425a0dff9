import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { main } from '../../src/main.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'herald-validate-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Runs `herald` in this process, with what it writes collected. */
async function herald(args: string[]): Promise<{ status: number; stdout: string; stderr: string }> {
  const out = { stdout: '', stderr: '' };
  const stdout = new PassThrough().on('data', (chunk) => {
    out.stdout += chunk;
  });
  const stderr = new PassThrough().on('data', (chunk) => {
    out.stderr += chunk;
  });
  const status = await main(args, { stdout, stderr });
  return { status, ...out };
}

describe('herald validate', () => {
  it('exits 2 naming the key a misspelt one deep in a list item most likely means', async () => {
    const file = join(dir, 'herald.yaml');
    await writeFile(
      file,
      `notifications: {type: sandbox}
herald:
  outbox: {directory: outbox}
  rules:
    - name: ml
      match: { project: ml, workflw: "core.ml.*" }
      email: [ml@example.com]
`,
    );
    const result = await herald(['validate', '--config', file, '--skip-secrets']);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("herald.rules[0].match.workflw: unknown key (did you mean 'workflow'?)");
    expect(result.stdout).toBe('');
  });

  it("exits 2 for a top-level key a typo away from 'herald', which would drop the section", async () => {
    const file = join(dir, 'herald.yaml');
    await writeFile(file, 'notifications: {type: sandbox}\nherlad: {outbox: {directory: outbox}}\nserver: {}\n');
    const result = await herald(['validate', '--config', file, '--skip-secrets']);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("herlad: unknown key (did you mean 'herald'?)");
    expect(result.stderr).not.toContain('server');
  });
});
