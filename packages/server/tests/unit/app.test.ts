import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sampleEvent } from '@herald/core';
import { parseConfig } from '@herald/core/config';
import { silentLogger } from '@herald/core/runtime';
import { HeraldApp } from '@herald/server';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

let dir: string;
let app: HeraldApp | undefined;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'herald-app-'));
});
afterEach(async () => {
  await app?.stop();
  app = undefined;
  await rm(dir, { recursive: true, force: true });
});

function sandbox(): HeraldApp {
  const config = parseConfig(
    `notifications: {type: sandbox}
herald:
  outbox: {directory: outbox}
  http: {listen: "127.0.0.1:0"}
`,
    { env: {}, baseDir: dir },
  );
  return new HeraldApp(config, { logger: silentLogger });
}

describe('HeraldApp, as a program embedding Herald uses it', () => {
  it('starts the processor and its HTTP server, delivers what it publishes, and stops both', async () => {
    app = sandbox();
    await app.start();
    const address = app.address as string;
    expect((await fetch(`${address}/readyz`)).status).toBe(200);

    const delivered = new Promise<void>((resolve) => app?.processor.events.on('delivered', () => resolve()));
    const [result] = await app.publish([
      sampleEvent({
        id: 'embedded-1',
        notifications: [{ phases: ['FAILED'], email: { recipients: ['a@example.com'] } }],
      }),
    ]);
    expect(result?.eventId).toBe('embedded-1');
    await delivered;
    expect((await readdir(join(dir, 'outbox'))).filter((f) => f.endsWith('.eml'))).toHaveLength(1);

    await app.stop();
    expect(app.ready).toBe(false);
    await expect(fetch(`${address}/healthz`)).rejects.toThrow();
  });

  it('cannot be started twice, nor after it stopped', async () => {
    app = sandbox();
    await app.start();
    await expect(app.start()).rejects.toThrow(/that is running/);
    await app.stop();
    await expect(app.start()).rejects.toThrow(/that is stopped/);
  });
});
