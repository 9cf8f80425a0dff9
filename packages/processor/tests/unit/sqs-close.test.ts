import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SQSClient } from '@aws-sdk/client-sqs';
import { silentLogger } from '@herald/core/runtime';
import { SqsSource } from '@herald/processor';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

/**
 * Stopping with a long poll that never ends: the SQS source cuts the receive request itself
 * once close has waited longer than a long poll lasts. Checked with the real SDK (its JSON
 * protocol) against an HTTP server on loopback that answers GetQueueUrl and holds every
 * ReceiveMessage, as a hung endpoint would.
 */

let server: Server;
let endpoint: string;
/** Held receives: each resolves `closed` when the client's side of the request is gone. */
let receives: { response: ServerResponse; closed: Promise<void> }[];
let arrived: (() => void)[];

beforeEach(async () => {
  // The SDK's notice that later versions need Node 22, as the herald bin turns it off.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  receives = [];
  arrived = [];
  server = createServer(async (request, response) => {
    // Only the operation matters here: read the body to its end, unparsed.
    await new Promise((resolve) => request.resume().once('end', resolve));
    const target = String(request.headers['x-amz-target'] ?? '');
    if (target.endsWith('.ReceiveMessage')) {
      const closed = new Promise<void>((resolve) => response.once('close', () => resolve()));
      receives.push({ response, closed });
      for (const wake of arrived.splice(0)) wake();
      return;
    }
    const answer = target.endsWith('.GetQueueUrl') ? { QueueUrl: `${endpoint}/1/orders` } : {};
    response.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' });
    response.end(JSON.stringify(answer));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterEach(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('SqsSource.close with a long poll that never ends', () => {
  it('cuts the receive request once a long poll has had its time, and closes', async () => {
    // A client given by the caller, as an embedding program would: its destroy is made to do
    // nothing here, so the only thing that can cut the held request is the source's own signal.
    const client = new SQSClient({
      region: 'us-east-1',
      endpoint,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      cacheMiddleware: true,
    });
    const destroy = client.destroy.bind(client);
    let destroyed = false;
    client.destroy = () => {
      destroyed = true;
    };
    const source = new SqsSource({
      queueName: 'orders',
      accountId: '1',
      deadLetterQueueName: 'orders-dlq',
      region: 'us-east-1',
      visibilityTimeoutSeconds: 30,
      // close waits this long plus five seconds before it cuts a receive.
      waitTimeSeconds: 0,
      receiveConcurrency: 1,
      logger: silentLogger,
      client,
    });
    try {
      const caller = new AbortController();
      const receiving = source.receive(10, caller.signal);
      while (receives.length === 0) await new Promise<void>((resolve) => arrived.push(resolve));
      // The processor stops waiting; the request goes on (what it brings would be handed back).
      caller.abort();
      await expect(receiving).resolves.toEqual([]);

      const started = performance.now();
      await source.close();
      const held = receives[0] as (typeof receives)[number];
      const cut = await Promise.race([
        held.closed.then(() => true),
        new Promise<false>((resolve) => setTimeout(() => resolve(false), 2_000)),
      ]);
      expect(cut).toBe(true);
      expect(destroyed).toBe(true);
      // It waited for the long poll first (0 s + 5 s), rather than cutting at once.
      expect(performance.now() - started).toBeGreaterThanOrEqual(4_900);
    } finally {
      destroy();
    }
  }, 20_000);
});
