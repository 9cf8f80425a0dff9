import type { PubSub } from '@google-cloud/pubsub';

type PubSubModule = typeof import('@google-cloud/pubsub');

let loading: Promise<PubSubModule> | undefined;

/**
 * The Pub/Sub client library, imported on first use: it costs ~40 MB of memory and start-up
 * time that AWS and sandbox users need not pay.
 */
export function loadPubSub(): Promise<PubSubModule> {
  loading ??= import('@google-cloud/pubsub');
  return loading;
}

/**
 * One Pub/Sub client, given or built (loading the library) on first use, and closed once. A
 * close that comes while the library is still loading closes the client as soon as it exists,
 * as if it had been built up front. The client honours PUBSUB_EMULATOR_HOST.
 */
export class LazyPubSubClient {
  private client: PubSub | undefined;
  private closed = false;

  constructor(
    private readonly projectId: string,
    given?: PubSub,
  ) {
    this.client = given;
  }

  /** The client, building it on first use. */
  async get(): Promise<PubSub> {
    if (this.client) return this.client;
    const { PubSub } = await loadPubSub();
    this.client ??= new PubSub({ projectId: this.projectId });
    if (this.closed) await this.client.close().catch(() => {});
    return this.client;
  }

  /** Closes the client if one was built; never throws (there is nothing left to do with it). */
  async close(): Promise<void> {
    this.closed = true;
    await this.client?.close().catch(() => {});
  }
}
