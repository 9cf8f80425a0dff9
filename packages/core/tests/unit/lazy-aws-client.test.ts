import { LazyAwsClient } from '@herald/core/runtime';
import { describe, expect, it } from 'vitest';

class FakeClient {
  destroyed = 0;
  destroy(): void {
    this.destroyed++;
  }
}

/** A stand-in SDK module: what a client is built from; counts its imports and clients. */
function sdkLoader() {
  const counts = { loads: 0, built: [] as FakeClient[] };
  const sdk = {
    Client: class extends FakeClient {
      constructor() {
        super();
        counts.built.push(this);
      }
    },
  };
  const load = async () => {
    counts.loads++;
    return sdk;
  };
  return { counts, load };
}

describe('LazyAwsClient', () => {
  it('builds the client on first use, once, and destroys it on close', async () => {
    const { counts, load } = sdkLoader();
    const lazy = new LazyAwsClient(load, (sdk) => new sdk.Client());
    expect(counts.built).toHaveLength(0);
    const first = await lazy.get();
    const second = await lazy.get();
    expect(second.client).toBe(first.client);
    expect(counts.built).toHaveLength(1);
    expect(counts.loads).toBe(2); // the caller's loader keeps its import's promise
    lazy.close();
    expect(counts.built[0]?.destroyed).toBe(1);
  });

  it('destroys at once a client built after close (a start still under way)', async () => {
    const { counts, load } = sdkLoader();
    const lazy = new LazyAwsClient(load, (sdk) => new sdk.Client());
    lazy.close();
    await lazy.get();
    expect(counts.built[0]?.destroyed).toBe(1);
  });

  it('uses a given client rather than building one', async () => {
    const { counts, load } = sdkLoader();
    const given = new FakeClient();
    const lazy = new LazyAwsClient(load, (sdk) => new sdk.Client(), given);
    expect((await lazy.get()).client).toBe(given);
    expect(counts.built).toHaveLength(0);
    lazy.close();
    expect(given.destroyed).toBe(1);
  });
});
