import { randomUUID } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Message, PubSub } from '@google-cloud/pubsub';
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
