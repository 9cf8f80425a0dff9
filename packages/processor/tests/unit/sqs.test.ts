import type { SQSClient } from '@aws-sdk/client-sqs';
import { silentLogger } from '@herald/core/runtime';
import { DeleteBatcher, VisibilityKeeper } from '@herald/processor';
import { describe, expect, it } from 'vitest';

/** An SQS client whose `send` records each command's input and answers from `respond`. */
function stubClient(respond: (name: string, input: Record<string, unknown>) => unknown = () => ({})) {
  const calls: { name: string; input: Record<string, unknown> }[] = [];
  const client = {
    send: async (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
      // The command's class tells the stub which API was called; production code never looks.
      const name = command.constructor.name;
      calls.push({ name, input: command.input });
      return respond(name, command.input);
    },
  } as unknown as SQSClient;
  return { client, calls };
}

describe('DeleteBatcher', () => {
  it('deletes up to ten messages per DeleteMessageBatch call', async () => {
    const { client, calls } = stubClient();
    const batcher = new DeleteBatcher(client, 'https://queue', 1);
    await Promise.all(Array.from({ length: 23 }, (_, i) => batcher.delete(`handle-${i}`)));
    expect(calls.map((c) => (c.input.Entries as unknown[]).length)).toEqual([10, 10, 3]);
    expect(calls.every((c) => c.name === 'DeleteMessageBatchCommand')).toBe(true);
  });

  it('fails only the entries SQS failed', async () => {
    const { client } = stubClient(() => ({
      Failed: [{ Id: '1', Code: 'ReceiptHandleIsInvalid', Message: 'expired' }],
    }));
    const batcher = new DeleteBatcher(client, 'https://queue', 1);
    const results = await Promise.allSettled([batcher.delete('a'), batcher.delete('b'), batcher.delete('c')]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  });

  it('sends what is waiting when flushed', async () => {
    const { client, calls } = stubClient();
    const batcher = new DeleteBatcher(client, 'https://queue', 60_000);
    const pending = batcher.delete('a');
    await batcher.flush();
    await pending;
    expect(calls).toHaveLength(1);
  });
});

describe('VisibilityKeeper', () => {
  it('extends only the messages whose invisibility is about to end, by a full timeout', async () => {
    let now = 0;
    const { client, calls } = stubClient();
    const keeper = new VisibilityKeeper(client, 'https://queue', 30, silentLogger, () => now);
    keeper.track('old', 'h-old');
    now = 10_000;
    keeper.track('new', 'h-new');
    now = 20_000; // 'old' becomes visible in 10 s, 'new' in 20 s
    await keeper.extendDue();
    keeper.stop();
    expect(calls).toHaveLength(1);
    expect(calls[0]?.input.Entries).toEqual([{ Id: '0', ReceiptHandle: 'h-old', VisibilityTimeout: 30 }]);
  });

  it('stops extending a message once it is settled', async () => {
    let now = 0;
    const { client, calls } = stubClient();
    const keeper = new VisibilityKeeper(client, 'https://queue', 30, silentLogger, () => now);
    keeper.track('m', 'h');
    keeper.untrack('h');
    now = 29_000;
    await keeper.extendDue();
    keeper.stop();
    expect(calls).toHaveLength(0);
    expect(keeper.size).toBe(0);
  });
});
