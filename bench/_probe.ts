import { type Message, PubSub } from '@google-cloud/pubsub';
import { startPubSubEmulator } from '../test/support/processes.js';

process.env.METADATA_SERVER_DETECTION = 'none';
const em = await startPubSubEmulator();
process.env.PUBSUB_EMULATOR_HOST = em.address;
try {
  const client = new PubSub({ projectId: 'probe-project' });
  const [topic] = await client.createTopic('probe-topic');
  const variants: [string, object][] = [
    ['flow 64, default ack batching', { flowControl: { maxMessages: 64, allowExcessMessages: false } }],
    [
      'flow 64, acks every 10 ms',
      { flowControl: { maxMessages: 64, allowExcessMessages: false }, batching: { maxMilliseconds: 10 } },
    ],
    [
      'flow 128, acks every 10 ms',
      { flowControl: { maxMessages: 128, allowExcessMessages: false }, batching: { maxMilliseconds: 10 } },
    ],
    ['flow 256, default', { flowControl: { maxMessages: 256, allowExcessMessages: false } }],
    ['default', {}],
  ];
  const subs = [];
  for (const [i] of variants.entries()) subs.push((await topic.createSubscription(`probe-sub-${i}`))[0]);
  const n = 3000;
  const pub = topic;
  await Promise.all(Array.from({ length: n }, (_, i) => pub.publishMessage({ data: Buffer.from(`m${i}`) })));
  for (const [i, [name, opts]] of variants.entries()) {
    const sub = client.subscription(subs[i]!.name, opts);
    const seen = new Set<string>();
    const t = performance.now();
    await new Promise<void>((resolve) =>
      sub.on('message', (m: Message) => {
        seen.add(m.id);
        m.ack();
        if (seen.size >= n) resolve();
      }),
    );
    console.log(name, Math.round(n / ((performance.now() - t) / 1000)), '/s');
    await sub.close();
  }
  await client.close();
} finally {
  await em.stop();
}
