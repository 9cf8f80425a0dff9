// Every `herald` command the README and docs/ show, run as written when it needs no cloud: its
// config is one of the repository's files and receives from no cloud queue. Commands written
// for the reader's own config (`herald.yaml`, EVENT_ID) are templates, not run.
import { cp, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { herald, root } from './helpers/cli.js';

interface DocCommand {
  doc: string;
  line: string;
  args: string[];
}

/** `herald …` and `pnpm herald …` lines of a document's shell blocks, continuations joined. */
function heraldCommands(doc: string, text: string): DocCommand[] {
  const commands: DocCommand[] = [];
  for (const block of text.matchAll(/```(?:sh|bash|shell)\n([\s\S]*?)```/g)) {
    const lines = (block[1] as string).replace(/\\\n\s*/g, ' ').split('\n');
    for (const raw of lines) {
      const line = raw.replace(/\s+#.*$/, '').trim();
      const match = /^(?:pnpm )?herald (.*)$/.exec(line);
      if (match) commands.push({ doc, line, args: splitArgs(match[1] as string) });
    }
  }
  return commands;
}

/** Splits a command line as a shell would for these simple cases: spaces, '…' and "…". */
function splitArgs(text: string): string[] {
  return [...text.matchAll(/'([^']*)'|"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? (m[3] as string));
}

function configOf(args: string[]): string | undefined {
  const at = args.findIndex((arg) => arg === '--config' || arg === '-c');
  return at >= 0 ? args[at + 1] : undefined;
}

const docs = ['README.md', ...(await readdir(join(root, 'docs'))).map((name) => `docs/${name}`)];
const all: DocCommand[] = [];
for (const doc of docs) all.push(...heraldCommands(doc, await readFile(join(root, doc), 'utf8')));
// The examples' headers say how to try each one, in comment lines.
for (const name of (await readdir(join(root, 'examples'))).filter((file) => file.endsWith('.yaml'))) {
  const header = (await readFile(join(root, 'examples', name), 'utf8')).match(/^#.*$/gm) ?? [];
  const asShell = header.map((line) => line.replace(/^#\s*/, '')).join('\n');
  all.push(...heraldCommands(`examples/${name}`, `\`\`\`sh\n${asShell}\n\`\`\``));
}

/** Whether a command can run here as written: a config of the repository's, no cloud queue. */
async function runsOffline(command: DocCommand): Promise<boolean> {
  const config = configOf(command.args);
  if (!config) return true;
  const text = await readFile(join(root, config), 'utf8').catch(() => undefined);
  if (text === undefined || command.args.some((arg) => /^[A-Z_]+$|^\[/.test(arg))) return false;
  const cloud = !/^\s*type:\s*(sandbox|local)\b/m.test(text);
  return !cloud || (command.args[0] === 'validate' && command.args.includes('--skip-secrets'));
}

const offline: DocCommand[] = [];
for (const command of all) if (await runsOffline(command)) offline.push(command);

let work: string;

beforeAll(async () => {
  // A copy, so what the commands write (outboxes, sandbox stores) stays out of the checkout.
  work = await mkdtemp(join(tmpdir(), 'herald-docs-'));
  await cp(join(root, 'examples'), join(work, 'examples'), { recursive: true });
  await cp(join(root, 'deploy'), join(work, 'deploy'), { recursive: true });
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('the commands in README.md and docs/', () => {
  it('are found: the sandbox ones from the README, storm control and deployment are among them', () => {
    const docsWithOffline = new Set(offline.map((c) => c.doc));
    expect([...docsWithOffline].sort()).toEqual(
      expect.arrayContaining(['README.md', 'docs/deploy.md', 'docs/storm-control.md', 'examples/channels.yaml']),
    );
    expect(offline.length).toBeGreaterThanOrEqual(6);
  });

  // In document order: a command may read what an earlier one wrote (digests after a run).
  it.each(offline.map((c) => [`${c.doc}: herald ${c.args.join(' ')}`, c] as const))('%s', async (_, command) => {
    const result = await herald(command.args, { cwd: work });
    expect(result.stderr).not.toMatch(/unexpected error/);
    expect(result.status, `${command.line}\n${result.stderr}`).toBe(0);
  });
});
