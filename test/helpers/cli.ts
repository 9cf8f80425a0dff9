import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The repository root; tests run the CLI from here, as a user would. */
export const root = fileURLToPath(new URL('../..', import.meta.url));
const bin = fileURLToPath(new URL('../../packages/cli/bin/herald.js', import.meta.url));

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built `herald` binary to completion. */
export function herald(
  args: string[],
  options: { input?: string; cwd?: string; env?: Record<string, string> } = {},
): Promise<CliResult> {
  const child = start(args, options.cwd, options.env);
  if (options.input !== undefined) child.stdin?.end(options.input);
  else child.stdin?.end();
  return finished(child);
}

/** Starts the built `herald` binary and returns the process, for signal tests. */
export function start(
  args: string[],
  cwd = root,
  env: Record<string, string> = {},
): ChildProcess & { output: { stdout: string; stderr: string } } {
  const child = spawn(process.execPath, [bin, ...args], {
    cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  });
  const output = { stdout: '', stderr: '' };
  child.stdout?.on('data', (chunk) => {
    output.stdout += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    output.stderr += chunk;
  });
  return Object.assign(child, { output });
}

/** Resolves when the process exits. */
export function finished(child: ReturnType<typeof start>): Promise<CliResult> {
  return new Promise((resolve) => {
    child.on('close', (status) => resolve({ status, ...child.output }));
  });
}

/** Resolves when the process has written a line containing `text` to stderr (its log). */
export function waitForLog(child: ReturnType<typeof start>, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const check = () => {
      if (child.output.stderr.includes(text)) resolve();
    };
    child.stderr?.on('data', check);
    child.on('close', () => reject(new Error(`exited before logging '${text}':\n${child.output.stderr}`)));
    check();
  });
}
