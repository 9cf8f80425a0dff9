import { acceptAbortSignals } from './aws-sends.js';

/**
 * One AWS SDK client, given or built on first use (its SDK imported then: each SDK is a cost
 * the processes that never call that service need not pay), and destroyed once. A client built
 * after close (a start still under way when the process stopped) is destroyed at once, as it
 * would have been had it been built up front. Either way it honours the signals of
 * `abortableBy` and drops its first command (see `acceptAbortSignals`).
 */
export class LazyAwsClient<Sdk, Client extends { destroy(): void }> {
  private client: Client | undefined;
  private closed = false;

  /**
   * @param load imports the SDK (once: the caller's loader keeps the import's promise).
   * @param build makes the client from the SDK.
   * @param given a client to use instead (tests, a program embedding Herald).
   */
  constructor(
    private readonly load: () => Promise<Sdk>,
    private readonly build: (sdk: Sdk) => Client,
    given?: Client,
  ) {
    this.client = given && acceptAbortSignals(given);
  }

  /** The SDK and the client, building the client on first use. */
  async get(): Promise<{ sdk: Sdk; client: Client }> {
    const sdk = await this.load();
    if (!this.client) {
      this.client = acceptAbortSignals(this.build(sdk));
      if (this.closed) this.client.destroy();
    }
    return { sdk, client: this.client };
  }

  /** Destroys the client, if there is one; a client built later is destroyed as it is built. */
  close(): void {
    this.closed = true;
    this.client?.destroy();
  }
}
