import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sampleEvent } from '@herald/core';
import { describe, expect, it } from 'vitest';
import { createStack, emailsFrom, eventually, sendRaw } from './helpers/aws.js';
import { type CliResult, finished, herald, start, waitForLog } from './helpers/cli.js';
import { FlakyProxy } from './helpers/flaky-proxy.js';
import { freePort } from './support/processes.js';

async function eventsFile(names: string[]): Promise<string> {
  const file = join(tmpdir(), `herald-events-${randomUUID()}.jsonl`);
  const lines = names.map((name) =>
    JSON.stringify(
      sampleEvent({
        id: randomUUID(),
        execution: { project: 'p', domain: 'd', name },
        notifications: [{ phases: ['FAILED'], email: { recipients: [`${name}@example.com`] } }],
      }),
    ),
  );
  await writeFile(file, `${lines.join('\n')}\n`);
  return file;
}

/**
 * Runs `herald run` against a slow SES (300 ms per call), so the processor is surely in the
 * middle of its work, and sends it `signal` right after its first delivery.
 */
async function interruptMidBatch(configFile: string, signal: NodeJS.Signals): Promise<CliResult> {
  const slow = new FlakyProxy(process.env.AWS_ENDPOINT_URL as string, 0);
  slow.delayMs = 300;
  const endpoint = await slow.start();
  const run = start(['run', '--config', configFile], undefined, { AWS_ENDPOINT_URL_SESV2: endpoint });
  try {
    await waitForLog(run, 'email delivered');
    run.kill(signal);
    return await finished(run);
  } finally {
    await slow.stop();
  }
}

describe('herald on AWS, as an operator runs it', () => {
  it('infra up, run, publish: the email arrives and a malformed message ends in the DLQ', async () => {
    const stack = await createStack();
    const up = await herald(['infra', 'up', '--config', stack.configFile]);
    expect(up.status).toBe(0);
    expect(up.stdout).toMatch(/sqs queue\s+herald-\w+-dlq\s+found/);
    expect(up.stdout).toMatch(/subscription\s+.*found/);

    const run = start(['run', '--config', stack.configFile]);
    try {
      await waitForLog(run, 'herald processor started');
      await sendRaw(stack, 'this is not an event {');
      const published = await herald([
        'publish',
        '--config',
        stack.configFile,
        '--event',
        await eventsFile(['cli-1', 'cli-2']),
      ]);
      expect(published.status).toBe(0);
      expect(published.stdout.trim().split('\n')).toHaveLength(2);
      await eventually(async () =>
        expect((await emailsFrom(stack)).map((m) => m.subject).sort()).toEqual(['cli-1 failed', 'cli-2 failed']),
      );
      await waitForLog(run, '"kind":"undecodable"');
    } finally {
      run.kill('SIGTERM');
    }
    expect((await finished(run)).status).toBe(0);
  });

  it('loses nothing when the processor is killed mid-batch and restarted', async () => {
    // Two in flight against a slow SES: when the first email is out, most are still waiting.
    const stack = await createStack({ maxInFlight: 2 });
    const names = Array.from({ length: 30 }, (_, i) => `kill-${i}`);
    await herald(['publish', '--config', stack.configFile, '--event', await eventsFile(names)]);

    await interruptMidBatch(stack.configFile, 'SIGKILL');
    const deliveredBeforeKill = new Set((await emailsFrom(stack)).map((m) => m.subject)).size;
    expect(deliveredBeforeKill).toBeLessThan(10);

    const second = start(['run', '--config', stack.configFile]);
    try {
      await eventually(async () => {
        const subjects = new Set((await emailsFrom(stack)).map((m) => m.subject));
        expect(subjects.size).toBe(30);
      }, 120_000);
    } finally {
      second.kill('SIGTERM');
      await finished(second);
    }
  });

  it('on SIGTERM finishes or hands back what it holds, exits 0, and a restart delivers the rest', async () => {
    const stack = await createStack({ maxInFlight: 2 });
    const names = Array.from({ length: 20 }, (_, i) => `term-${i}`);
    await herald(['publish', '--config', stack.configFile, '--event', await eventsFile(names)]);

    const result = await interruptMidBatch(stack.configFile, 'SIGTERM');
    expect(result.status).toBe(0);
    expect(result.stderr).toContain('herald processor stopped');
    expect(new Set((await emailsFrom(stack)).map((m) => m.subject)).size).toBeLessThan(10);

    const second = start(['run', '--config', stack.configFile]);
    try {
      await eventually(async () => {
        const sent = await emailsFrom(stack);
        expect(new Set(sent.map((m) => m.subject)).size).toBe(20);
        // A graceful stop settles what it finished: nothing is sent twice.
        expect(sent).toHaveLength(20);
      }, 120_000);
    } finally {
      second.kill('SIGTERM');
      await finished(second);
    }
  });

  it('says not ready while SQS cannot be reached, and ready again once it can', async () => {
    const stack = await createStack();
    const port = await freePort();
    const sqs = new FlakyProxy(process.env.AWS_ENDPOINT_URL as string, 0);
    sqs.mode = 'reset';
    const endpoint = await sqs.start();
    const configFile = join(tmpdir(), `herald-ready-${randomUUID()}.yaml`);
    const yaml = (await readFile(stack.configFile, 'utf8'))
      .replace('herald:\n', `herald:\n  http: { listen: "127.0.0.1:${port}" }\n`)
      .replace('aws: { waitTimeSeconds', `aws: { endpoint: "${endpoint}", waitTimeSeconds`);
    await writeFile(configFile, yaml);
    const run = start(['run', '--config', configFile]);
    const readyz = async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).status;
    try {
      await waitForLog(run, 'http server listening');
      expect(await readyz()).toBe(200);
      sqs.failures = Number.POSITIVE_INFINITY;
      await eventually(async () => expect(await readyz()).toBe(503), 90_000);
      sqs.failures = 0;
      await eventually(async () => expect(await readyz()).toBe(200), 90_000);
    } finally {
      run.kill('SIGTERM');
      await finished(run);
      await sqs.stop();
    }
  });
});
