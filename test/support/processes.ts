/**
 * Starting and stopping the emulators Herald is tested and measured against: moto_server and
 * the Pub/Sub emulator, each on a free loopback port, and a throwaway PostgreSQL cluster for the
 * delivery store. The Pub/Sub emulator is started through its own launcher, which execs Java,
 * so stopping the launcher's pid really stops the JVM. Used by the integration tests' global
 * set-up and by the benchmarks.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chmod, chown, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';

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

/** A PostgreSQL cluster this process started. */
export interface StartedPostgres {
  /** `postgres://postgres@127.0.0.1:PORT/postgres`: trust authentication, loopback only. */
  url: string;
  /**
   * Creates an empty database of that name (lower-case letters, digits and `_`) on the cluster
   * and resolves to its URL: a fresh store each time, on one cluster.
   */
  createDatabase(name: string): Promise<string>;
  stop(): Promise<void>;
}

/**
 * A throwaway PostgreSQL cluster (PostgreSQL's own `initdb` and `pg_ctl`, on the PATH) in a
 * temporary directory, listening on 127.0.0.1 and a free port only, its socket in that
 * directory. `initdb` and `postgres` refuse to run as root, so when this process is root they
 * run as the `postgres` user, who then owns the directory. `stop()` stops the server
 * (`pg_ctl stop -m fast`) and removes the directory.
 */
export async function startPostgres(): Promise<StartedPostgres> {
  const dir = await mkdtemp(join(tmpdir(), 'herald-pg-'));
  const data = join(dir, 'data');
  const asRoot = process.getuid?.() === 0;
  const run = (command: string, args: string[]) =>
    runQuietly(asRoot ? 'runuser' : command, asRoot ? ['-u', 'postgres', '--', command, ...args] : args);
  let started = false;
  const stopCluster = async () => {
    if (started) await run('pg_ctl', ['stop', '-D', data, '-m', 'fast', '-w']).catch(() => {});
    started = false;
    await rm(dir, { recursive: true, force: true });
  };
  try {
    if (asRoot) {
      const ids = await runQuietly('id', ['-u', 'postgres']).then(async (uid) => ({
        uid: Number(uid.trim()),
        gid: Number((await runQuietly('id', ['-g', 'postgres'])).trim()),
      }));
      await chown(dir, ids.uid, ids.gid);
      await chmod(dir, 0o700);
    }
    await run('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
    const port = await freePort();
    const options = [
      `-p ${port}`,
      '-c listen_addresses=127.0.0.1',
      `-c unix_socket_directories=${dir}`,
      // A test database: durability is not what is tested, speed on two cores is.
      '-c fsync=off',
      '-c synchronous_commit=off',
      '-c full_page_writes=off',
      '-c max_connections=200',
    ].join(' ');
    await run('pg_ctl', ['start', '-D', data, '-w', '-t', '60', '-l', join(dir, 'server.log'), '-o', options]);
    started = true;
    const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
    return { url, createDatabase: (name) => createDatabase(url, name), stop: stopCluster };
  } catch (err) {
    await stopCluster();
    throw new Error(`cannot start PostgreSQL (are initdb and pg_ctl on the PATH?): ${(err as Error).message}`);
  }
}

async function createDatabase(adminUrl: string, name: string): Promise<string> {
  if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`not a database name this creates: '${name}'`);
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    await client.query(`create database ${name}`);
  } finally {
    await client.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Runs a command to completion; rejects with its output when it fails. */
async function runQuietly(command: string, args: string[]): Promise<string> {
  try {
    const { stdout } = await promisify(execFile)(command, args, { timeout: 120_000 });
    return stdout;
  } catch (err) {
    const { stdout = '', stderr = '' } = err as { stdout?: string; stderr?: string };
    throw new Error(`${command} ${args.join(' ')}: ${(err as Error).message}\n${stdout}${stderr}`.slice(0, 4000));
  }
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
