import { randomUUID } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Message, PubSub, v1 } from '@google-cloud/pubsub';
import { gcpInfraUp } from '@herald/cli';
import { parseConfig, type ResolvedConfig } from '@herald/core/config';

/** A unique Pub/Sub set-up for one test: topic, subscription, dead-letter topic. */
export interface GcpStack {
  id: string;
  projectId: string;
  config: ResolvedConfig;
  configFile: string;
  sender: string;
}

/**
 * Creates a fresh Pub/Sub stack on the emulator with `herald infra up`'s own code. `emailer` is
 * the YAML of `notifications.emailer.emailServerConfig`; `herald` more keys of the `herald:`
 * block (indented by two spaces) and `processor` keys laid over `herald.processor`'s below.
 */
export async function createGcpStack(
  emailServerConfig: string,
  env: Record<string, string> = {},
  herald = '',
  processor: Record<string, number> = {},
): Promise<GcpStack> {
  const id = `herald-${randomUUID().slice(0, 8)}`;
  const projectId = `project-${id}`;
  const sender = `${id}@example.com`;
  const yaml = `
notifications:
  type: gcp
  gcp: { projectId: ${projectId} }
  publisher: { topicName: ${id} }
  processor: { queueName: ${id}-sub }
  emailer:
    sender: ${sender}
    subject: "{{ name }} {{ phase }}"
    body: "<p>Execution <b>{{ name }}</b> {{ phase }}.{{ error }}</p>"
    emailServerConfig: ${emailServerConfig}
herald:
  processor: ${JSON.stringify({ retryBaseDelayMs: 500, retryMaxDelayMs: 2000, shutdownGraceMs: 5000, maxInFlight: 16, deliveryTimeoutMs: 10000, ...processor })}
  gcp: { minimumBackoffSeconds: 1, maximumBackoffSeconds: 2 }
${herald}`;
  const config = parseConfig(yaml, { env: { ...process.env, ...env } });
  await gcpInfraUp(config, () => {});
  const dir = await mkdtemp(join(tmpdir(), 'herald-gcp-'));
  const configFile = join(dir, 'herald.yaml');
  await writeFile(configFile, yaml);
  return { id, projectId, config, configFile, sender };
}

/** Publishes raw bytes straight to the stack's topic (as a broken producer would). */
export async function publishRaw(stack: GcpStack, data: string): Promise<void> {
  const pubsub = new PubSub({ projectId: stack.projectId });
  await pubsub.topic(stack.config.publisher.topicName).publishMessage({ data: Buffer.from(data) });
  await pubsub.close();
}

/** Pulls what has reached the dead-letter topic (through the subscription infra up made for it). */
export async function deadLetters(stack: GcpStack, timeoutMs = 5_000): Promise<Message[]> {
  const pubsub = new PubSub({ projectId: stack.projectId });
  const subscription = pubsub.subscription(`${stack.config.gcpTransport.deadLetterTopicName}-sub`);
  const got: Message[] = [];
  subscription.on('message', (m: Message) => {
    got.push(m);
    m.ack();
  });
  await new Promise((resolve) => setTimeout(resolve, timeoutMs));
  await subscription.close();
  await pubsub.close();
  return got;
}

/** A message as read from a subscription, with its attributes. */
export interface PulledMessage {
  body: string;
  attributes: Record<string, string>;
}

/**
 * Reads a stack's subscriptions while `herald run` processes consume them, with synchronous
 * pulls on the emulator: what a dead-letter subscription holds now, and whether the main
 * subscription has settled.
 *
 * Pub/Sub has no count of a subscription's backlog (the emulator has no monitoring), and a
 * pull from the subscription itself would take messages from the processors. So a probe
 * subscription on the same topic, created before anything is published, keeps a copy of every
 * message; to look at the backlog, the main subscription is snapshotted (its unacked messages:
 * waiting, nacked and waiting out their backoff, or leased by a processor) and the probe is
 * seeked to that snapshot, which leaves the probe holding exactly those messages.
 */
export class PubSubWatch {
  private readonly pubsub: PubSub;
  private readonly subscriber: InstanceType<typeof v1.SubscriberClient>;
  private readonly probeName: string;
  private snapshots = 0;

  private constructor(private readonly stack: GcpStack) {
    this.pubsub = new PubSub({ projectId: stack.projectId });
    // The PubSub client found the emulator (PUBSUB_EMULATOR_HOST): the same address, in plain text.
    const { servicePath, port, sslCreds } = this.pubsub.options;
    this.subscriber = new v1.SubscriberClient({ servicePath, port: Number(port), sslCreds });
    this.probeName = `${stack.config.processor.queueName}-probe`;
  }

  /** Creates the probe subscription: call it before anything is published. */
  static async create(stack: GcpStack): Promise<PubSubWatch> {
    const watch = new PubSubWatch(stack);
    await watch.pubsub.topic(stack.config.publisher.topicName).createSubscription(watch.probeName);
    return watch;
  }

  /** Takes what the dead-letter topic's subscription (made by infra up) holds now: pulled and acked. */
  takeDeadLetters(): Promise<PulledMessage[]> {
    return this.take(`${this.stack.config.gcpTransport.deadLetterTopicName}-sub`);
  }

  /** Whether the main subscription holds no unacked message, waiting or in flight. */
  async backlogIsEmpty(): Promise<boolean> {
    const subscription = this.pubsub.subscription(this.stack.config.processor.queueName);
    const snapshot = `${this.probeName}-${++this.snapshots}`;
    await subscription.createSnapshot(snapshot);
    try {
      await this.pubsub.subscription(this.probeName).seek(snapshot);
      return (await this.pull(this.probeName, 1)).length === 0;
    } finally {
      await this.pubsub.snapshot(snapshot).delete();
    }
  }

  async close(): Promise<void> {
    await this.subscriber.close();
    await this.pubsub.close();
  }

  private async take(name: string): Promise<PulledMessage[]> {
    const out: PulledMessage[] = [];
    for (;;) {
      const received = await this.pull(name, 100);
      if (received.length === 0) return out;
      out.push(
        ...received.map((r) => ({
          body: Buffer.from(r.message?.data ?? '').toString('utf8'),
          attributes: { ...(r.message?.attributes ?? {}) },
        })),
      );
      await this.subscriber.acknowledge({
        subscription: this.path(name),
        ackIds: received.map((r) => r.ackId ?? ''),
      });
    }
  }

  /** One pull that returns at once with what the subscription has (the emulator honours `returnImmediately`). */
  private async pull(name: string, maxMessages: number) {
    const [response] = await this.subscriber.pull(
      { subscription: this.path(name), maxMessages, returnImmediately: true },
      { timeout: 10_000 },
    );
    return response.receivedMessages ?? [];
  }

  private path(name: string): string {
    return `projects/${this.stack.projectId}/subscriptions/${name}`;
  }
}
