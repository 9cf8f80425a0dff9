import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gcpInfraUp } from '@herald/cli';
import { sampleEvent } from '@herald/core';
import { parseConfig } from '@herald/core/config';
import { silentLogger } from '@herald/core/runtime';
import type { Emailer, EmailMessage } from '@herald/emailer';
import { createProcessor } from '@herald/processor';
import { createPublisher } from '@herald/publisher';
import { startPubSubEmulator } from '../test/support/processes.js';

process.env.METADATA_SERVER_DETECTION = 'none';
const N = Number(process.env.N ?? 20000);
const emu = await startPubSubEmulator();
process.env.PUBSUB_EMULATOR_HOST = emu.address;
const id = `p-${randomUUID().slice(0, 8)}`;
const outbox = mkdtempSync(join(tmpdir(), 'prof-outbox-'));
const config = parseConfig(
  `notifications:
  type: gcp
  gcp: { projectId: proj-${id} }
  publisher: { topicName: ${id} }
  processor: { queueName: ${id}-sub }
  emailer: { sender: x@example.com }
herald:
  emailer: { provider: outbox }
  outbox: { directory: ${outbox} }
`,
  { env: process.env },
);
await gcpInfraUp(config, () => {});
const pub = createPublisher(config);
const run = randomUUID().slice(0, 8);
const evs = Array.from({ length: N }, (_, i) =>
  sampleEvent({
    id: `${run}-${i}`,
    execution: { project: 'flytesnacks', domain: 'development', name: `run-${run}-${i}` },
    notifications: [{ phases: ['FAILED'], email: { recipients: ['oncall@example.com'] } }],
  }),
);
for (let i = 0; i < evs.length; i += 100) await pub.publish(evs.slice(i, i + 100));
await pub.close();
const emailer: Emailer = {
  name: 'accepting',
  send: async (m: EmailMessage) => ({ messageId: m.idempotencyKey }),
  close: async () => {},
};
const processor = createProcessor(config, { logger: silentLogger, emailer });
let done = 0;
processor.events.on('delivered', () => done++);
const session = new Session();
session.connect();
const profile = process.env.PROFILE === '1';
if (profile) {
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
}
const cpu0 = process.cpuUsage();
const t0 = performance.now();
if (process.env.RAW === '1') {
  const { PubSub } = await import('@google-cloud/pubsub');
  const c = new PubSub({ projectId: `proj-${id}` });
  const sub = c.subscription(`${id}-sub`);
  sub.on('message', (m) => {
    done++;
    m.ack();
  });
} else await processor.start();
while (done < N) {
  await new Promise((r) => setTimeout(r, 5));
  if (performance.now() - t0 > 30000) {
    console.log('stuck at', done);
    break;
  }
}
const secs = (performance.now() - t0) / 1000;
const cpu = process.cpuUsage(cpu0);
if (profile) {
  const { profile: p } = await session.post('Profiler.stop');
  writeFileSync('/tmp/prof/pubsub.cpuprofile', JSON.stringify(p));
}
console.log(
  `${N} in ${secs.toFixed(2)}s = ${(N / secs).toFixed(0)}/s; cpu us/msg ${((cpu.user + cpu.system) / N).toFixed(0)} (user ${(cpu.user / N).toFixed(0)})`,
);
await processor.stop();
await emu.stop();
