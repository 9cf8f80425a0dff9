/**
 * Global set-up of the integration tests: makes sure the AWS and Pub/Sub emulators are
 * listening and tells the tests where. `HERALD_TEST_AWS_ENDPOINT` points the suite at an AWS
 * emulator already running (LocalStack, or moto started by hand), `PUBSUB_EMULATOR_HOST` at a
 * Pub/Sub emulator; otherwise moto_server and the Pub/Sub emulator's own launcher (which execs
 * Java, so stopping it stops the JVM) are started here on free loopback ports and stopped
 * afterwards. A missing emulator fails the run: it is never a skip.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    awsEndpoint: string;
    /** `moto` or `localstack`: how sent emails are read back. */
    awsEmulator: 'moto' | 'localstack';
    /** host:port of the Pub/Sub emulator. */
    pubsubEmulatorHost: string;
  }
}

const PUBSUB_LAUNCHER = `${process.env.CLOUDSDK_ROOT ?? '/usr/lib/google-cloud-sdk'}/platform/pubsub-emulator/bin/cloud-pubsub-emulator`;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started: ChildProcess[] = [];
  const stopAll = async () => {
    await Promise.all(started.map(stop));
  };
  try {
    let endpoint = process.env.HERALD_TEST_AWS_ENDPOINT?.replace(/\/$/, '');
    if (!endpoint) {
      const port = await freePort();
      endpoint = `http://127.0.0.1:${port}`;
      started.push(await launch('moto_server', ['-H', '127.0.0.1', '-p', String(port)], `${endpoint}/moto-api/`));
    }
    let pubsubHost = process.env.PUBSUB_EMULATOR_HOST;
    if (!pubsubHost) {
      const port = await freePort();
      pubsubHost = `127.0.0.1:${port}`;
      started.push(await launch(PUBSUB_LAUNCHER, ['--host=127.0.0.1', `--port=${port}`], `http://${pubsubHost}/`));
    }
    project.provide('awsEndpoint', endpoint);
    project.provide('awsEmulator', (await isLocalStack(endpoint)) ? 'localstack' : 'moto');
    project.provide('pubsubEmulatorHost', pubsubHost);
  } catch (err) {
    await stopAll();
    throw err;
  }
  return stopAll;
}

/** Starts an emulator and resolves once `readyUrl` answers; rejects if it exits or never does. */
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

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 5_000))]);
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
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
