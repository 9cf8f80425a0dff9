/**
 * Starting and stopping the emulators Herald is tested and measured against: moto_server and
 * the Pub/Sub emulator, each on a free loopback port. The Pub/Sub emulator is started through
 * its own launcher, which execs Java, so stopping the launcher's pid really stops the JVM.
 * Used by the integration tests' global set-up and by the benchmarks.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';

const PUBSUB_LAUNCHER = `${process.env.CLOUDSDK_ROOT ?? '/usr/lib/google-cloud-sdk'}/platform/pubsub-emulator/bin/cloud-pubsub-emulator`;

/** An emulator this process started, and how to reach it. */
export interface StartedEmulator {
  /** `http://127.0.0.1:PORT` for moto, `127.0.0.1:PORT` (PUBSUB_EMULATOR_HOST) for Pub/Sub. */
  address: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

export async function startMoto(): Promise<StartedEmulator> {
  const port = await freePort();
  const address = `http://127.0.0.1:${port}`;
  const child = await launch('moto_server', ['-H', '127.0.0.1', '-p', String(port)], `${address}/moto-api/`);
  return { address, process: child, stop: () => stop(child) };
}

export async function startPubSubEmulator(): Promise<StartedEmulator> {
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  const child = await launch(PUBSUB_LAUNCHER, ['--host=127.0.0.1', `--port=${port}`], `http://${address}/`);
  return { address, process: child, stop: () => stop(child) };
}

/** Starts a server and resolves once `readyUrl` answers; rejects if it exits or never does. */
async function launch(command: string, args: string[], readyUrl: string): Promise<ChildProcess> {
  const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  const failed = new Promise<never>((_, reject) => {
    child.on('error', (err) => reject(new Error(`cannot start ${command} (is it installed?): ${err.message}`)));
    child.on('exit', (code) => reject(new Error(`${command} exited with ${code}: ${stderr}`)));
  });
  try {
    await Promise.race([waitForHttp(readyUrl, 60_000), failed]);
  } catch (err) {
    await stop(child);
    throw err;
  }
  return child;
}

/** SIGTERM, then SIGKILL after 5 s: only ever the process this module started. */
async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

export function freePort(): Promise<number> {
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

/** Whether an AWS endpoint is LocalStack (it answers its health route) rather than moto. */
export async function isLocalStack(endpoint: string): Promise<boolean> {
  try {
    return (await fetch(`${endpoint}/_localstack/health`)).ok;
  } catch {
    return false;
  }
}
