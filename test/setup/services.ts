/**
 * Global set-up of the integration tests: makes sure an AWS emulator is listening and tells the
 * tests where. `HERALD_TEST_AWS_ENDPOINT` points the suite at one that is already running
 * (LocalStack, or moto started by hand); otherwise moto_server is started here on a free
 * loopback port and stopped afterwards. A missing emulator fails the run: it is never a skip.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    awsEndpoint: string;
    /** `moto` or `localstack`: how sent emails are read back. */
    awsEmulator: 'moto' | 'localstack';
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const given = process.env.HERALD_TEST_AWS_ENDPOINT;
  let moto: ChildProcess | undefined;
  let endpoint: string;
  if (given) {
    endpoint = given.replace(/\/$/, '');
  } else {
    const port = await freePort();
    endpoint = `http://127.0.0.1:${port}`;
    moto = spawn('moto_server', ['-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    moto.stderr?.on('data', (chunk) => {
      stderr += chunk;
    });
    const failed = new Promise<never>((_, reject) => {
      moto?.on('error', (err) => reject(new Error(`cannot start moto_server (is it installed?): ${err.message}`)));
      moto?.on('exit', (code) => reject(new Error(`moto_server exited with ${code}: ${stderr.slice(-2000)}`)));
    });
    await Promise.race([waitForHttp(`${endpoint}/moto-api/`, 30_000), failed]);
  }
  const emulator = (await isLocalStack(endpoint)) ? 'localstack' : 'moto';
  project.provide('awsEndpoint', endpoint);
  project.provide('awsEmulator', emulator);
  return async () => {
    if (moto?.pid && moto.exitCode === null) {
      const exited = new Promise((resolve) => moto?.once('exit', resolve));
      moto.kill('SIGTERM');
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
      if (moto.exitCode === null) moto.kill('SIGKILL');
    }
  };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

async function waitForHttp(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const response = await fetch(url);
      if (response.status < 500) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not answer within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function isLocalStack(endpoint: string): Promise<boolean> {
  try {
    return (await fetch(`${endpoint}/_localstack/health`)).ok;
  } catch {
    return false;
  }
}
