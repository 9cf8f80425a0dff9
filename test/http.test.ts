import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import PostalMime from 'postal-mime';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { finished, herald, root, start, waitForLog } from './helpers/cli.js';
import { freePort } from './support/processes.js';

// `herald run` with its HTTP server: events POSTed to it go through the whole sandbox pipeline.

const TOKEN = 'ingest-token-5d1e0c7b';
const example = async (name: string) =>
  JSON.parse(await readFile(join(root, 'examples/events', name), 'utf8')) as Record<string, unknown>;

let dir: string;
const children: ReturnType<typeof start>[] = [];
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'herald-http-'));
});
afterEach(async () => {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await finished(child);
    }
  }
  await rm(dir, { recursive: true, force: true });
});

async function config(port: number, http = ''): Promise<string> {
  const file = join(dir, 'herald.yaml');
  await writeFile(
    file,
    [
      'notifications: {type: sandbox}',
      'herald:',
      '  outbox: {directory: outbox}',
      '  http:',
      `    listen: "127.0.0.1:${port}"`,
      `    ingest: {enabled: true, tokenEnvVar: HERALD_TEST_INGEST_TOKEN, maxBodyBytes: 4096}`,
      http,
    ].join('\n'),
  );
  return file;
}

/** Starts `herald run` and resolves once its HTTP server listens. */
async function run(port: number): Promise<{ child: ReturnType<typeof start>; url: string }> {
  const child = start(['run', '--config', await config(port)], root, { HERALD_TEST_INGEST_TOKEN: TOKEN });
  children.push(child);
  await waitForLog(child, 'http server listening');
  return { child, url: `http://127.0.0.1:${port}` };
}

function post(url: string, body: string, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}/v1/events`, {
    method: 'POST',
    body,
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${TOKEN}`, ...headers },
  });
}

/** The value of one sample in Prometheus text, e.g. `herald_deliveries_total{provider="outbox"}`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function emlFiles(): Promise<string[]> {
  try {
    return (await readdir(join(dir, 'outbox'))).filter((f) => f.endsWith('.eml')).sort();
  } catch {
    return [];
  }
}

async function eventually<T>(probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (done(value) || Date.now() > deadline) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('herald run with herald.http', () => {
  it('delivers POSTed events, counts them, refuses bad requests, and stops at once on SIGTERM', async () => {
    const port = await freePort();
    const { child, url } = await run(port);
    expect(child.output.stderr).toContain(`"address":"http://127.0.0.1:${port}"`);

    const health = await fetch(`${url}/healthz`);
    expect([health.status, await health.text()]).toEqual([200, 'ok\n']);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);

    // One JSON event, then JSON lines: the failure emails three people (one .eml), the success one.
    const failed = await example('failed.json');
    const one = await post(url, JSON.stringify(failed));
    expect(one.status).toBe(202);
    expect(await one.json()).toEqual({ published: [{ eventId: failed.id, messageId: expect.any(String) }] });
    const { id: _, ...succeeded } = await example('succeeded.json');
    const lines = await post(url, `${JSON.stringify(succeeded)}\n${JSON.stringify(await example('running.json'))}\n`, {
      'Content-Type': 'application/x-ndjson',
    });
    expect(lines.status).toBe(202);
    const { published } = (await lines.json()) as { published: { eventId: string }[] };
    expect(published).toHaveLength(2);
    expect(published[0]?.eventId).toMatch(/^[0-9a-f-]{36}$/);

    const files = await eventually(emlFiles, (f) => f.length === 2);
    expect(files).toHaveLength(2);
    const subjects = await Promise.all(
      files.map(async (f) => (await PostalMime.parse(await readFile(join(dir, 'outbox', f)))).subject),
    );
    expect(subjects.sort()).toEqual([
      'Notice: Execution "f8a1b2c3" has failed in "development".',
      '✅ daily_training.wf finished in 1h 17m 30s',
    ]);

    // Refused: no token, a bad event in a batch (nothing of it published), a body over the limit.
    const unauthorized = await post(url, JSON.stringify(failed), { Authorization: 'Bearer nope' });
    expect(unauthorized.status).toBe(401);
    const bad = await post(url, `${JSON.stringify(failed)}\n{"phase":"FAILED"}\n`);
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ line: 2, error: expect.stringContaining('execution: is required') });
    const tooLarge = await post(url, JSON.stringify(Array.from({ length: 8 }, () => failed)));
    expect(tooLarge.status).toBe(413);

    const metrics = await eventually(
      async () => (await fetch(`${url}/metrics`)).text(),
      (text) => sample(text, 'herald_messages_settled_total{outcome="acked"}') === 3,
    );
    expect(sample(metrics, 'herald_events_ingested_total')).toBe(3);
    expect(sample(metrics, 'herald_messages_received_total')).toBe(3);
    expect(sample(metrics, 'herald_deliveries_total{provider="outbox"}')).toBe(2);
    expect(sample(metrics, 'herald_delivery_duration_seconds_count{provider="outbox"}')).toBe(2);
    expect(sample(metrics, 'herald_messages_settled_total{outcome="acked"}')).toBe(3);
    expect(sample(metrics, 'herald_dead_lettered_total{kind="undecodable"}')).toBe(0);
    expect(sample(metrics, 'herald_ingest_rejected_total{reason="unauthorized"}')).toBe(1);
    expect(sample(metrics, 'herald_ingest_rejected_total{reason="invalid"}')).toBe(1);
    expect(sample(metrics, 'herald_ingest_rejected_total{reason="too_large"}')).toBe(1);
    expect(sample(metrics, 'herald_in_flight')).toBe(0);
    // The sandbox keeps its delivery log in SQLite (outbox/herald.db): its round trips are counted.
    expect(sample(metrics, 'herald_store_round_trips_total')).toBeGreaterThan(0);
    // Node's process metrics under their standard names, as stock dashboards query them.
    expect(metrics).toMatch(/^process_cpu_seconds_total \d/m);
    expect(metrics).toMatch(/^process_resident_memory_bytes \d+/m);
    expect(metrics).toMatch(/^nodejs_heap_size_used_bytes \d+/m);
    expect(metrics).toMatch(/^nodejs_eventloop_lag_seconds \d/m);
    expect(metrics).not.toMatch(/^herald_(process|nodejs)_/m);

    // fetch keeps its connection to the server open; SIGTERM must not wait for it (the server
    // would wait 10 s for a connection still busy).
    child.kill('SIGTERM');
    const result = await Promise.race([
      finished(child),
      new Promise<undefined>((resolve) => setTimeout(resolve, 10_000, undefined)),
    ]);
    if (!result) throw new Error('herald run waited for an idle keep-alive connection before stopping');
    expect(result.status).toBe(0);
    const stopped = result.stderr.indexOf('http server stopped');
    expect(stopped).toBeGreaterThan(0);
    expect(stopped).toBeLessThan(result.stderr.indexOf('herald processor stopped'));
    expect(result.stderr).not.toContain(TOKEN);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });

  it('exits 2 naming the key when the token variable is not set', async () => {
    const result = await herald(['run', '--config', await config(await freePort())], {
      env: { HERALD_TEST_INGEST_TOKEN: '' },
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(
      'herald.http.ingest.tokenEnvVar: environment variable HERALD_TEST_INGEST_TOKEN is not set',
    );
  });

  it('shows in herald validate what will be served; the token is needed, unless secrets are skipped', async () => {
    const file = await config(9090);
    const env = { HERALD_TEST_INGEST_TOKEN: '' };
    const skipped = await herald(['validate', '--config', file, '--skip-secrets'], { env });
    expect(skipped.status).toBe(0);
    expect(skipped.stdout).toContain(
      'http: 127.0.0.1:9090 /healthz /readyz /metrics /v1/events (bearer token from HERALD_TEST_INGEST_TOKEN)',
    );
    // What `herald run` would refuse at start, validate refuses too.
    const checked = await herald(['validate', '--config', file], { env });
    expect(checked.status).toBe(2);
    expect(checked.stderr).toContain('herald.http.ingest.tokenEnvVar');
    expect(checked.stderr).toContain('HERALD_TEST_INGEST_TOKEN');
  });

  it('exits 2 naming the key of a listen address that is not one', async () => {
    const file = join(dir, 'bad.yaml');
    await writeFile(file, 'notifications: {type: sandbox}\nherald:\n  http: {listen: "localhost"}\n');
    const result = await herald(['validate', '--config', file]);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain("herald.http.listen: expected host:port, e.g. 127.0.0.1:9090, got 'localhost'");
  });

  it('exits 1 when the address is taken, after stopping the processor', async () => {
    const port = await freePort();
    await run(port);
    const result = await herald(['run', '--config', await config(port)], {
      env: { HERALD_TEST_INGEST_TOKEN: TOKEN },
    });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain(`herald: cannot listen on 127.0.0.1:${port}: EADDRINUSE`);
  });

  it('keeps answering /healthz and delivering while an event template runs past its budget', async () => {
    const port = await freePort();
    const file = await config(port);
    await writeFile(file, (await readFile(file, 'utf8')).replace('maxBodyBytes: 4096', 'maxBodyBytes: 1048576'));
    const child = start(['run', '--config', file], root, { HERALD_TEST_INGEST_TOKEN: TOKEN });
    children.push(child);
    await waitForLog(child, 'http server listening');
    const url = `http://127.0.0.1:${port}`;

    const failed = await example('failed.json');
    const labels = Object.fromEntries(Array.from({ length: 2500 }, (_, i) => [`l${i}`, '']));
    // Within every limit an event template has, but millions of iterations: only the time budget stops it.
    const slow = {
      ...failed,
      id: 'slow-template',
      labels,
      notifications: [
        {
          phases: ['FAILED'],
          email: {
            recipients: ['slow@example.com'],
            body: '{{#each @root.labels}}{{#each @root.labels}}{{@key}}{{/each}}{{/each}}',
          },
        },
      ],
    };
    const good = Array.from({ length: 50 }, (_, i) => ({
      ...failed,
      id: `good-${i}`,
      execution: { ...(failed.execution as object), name: `good-${i}` },
    }));
    const answered = post(url, [slow, ...good].map((e) => JSON.stringify(e)).join('\n'), {
      'Content-Type': 'application/x-ndjson',
    });
    expect((await answered).status).toBe(202);

    const deadLetterFile = join(dir, 'outbox', 'dead-letter.jsonl');
    const healthChecks: number[] = [];
    for (;;) {
      // A blocked event loop would not answer within a second.
      const health = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(1_000) });
      healthChecks.push(health.status);
      const deadLetters = await readFile(deadLetterFile, 'utf8').catch(() => '');
      if (deadLetters.includes('slow-template')) {
        expect(JSON.parse(deadLetters.trim().split('\n')[0] as string).reason).toMatch(/budget/);
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(healthChecks.every((status) => status === 200)).toBe(true);
    expect(await eventually(emlFiles, (f) => f.length === 50)).toHaveLength(50);
  });
});
