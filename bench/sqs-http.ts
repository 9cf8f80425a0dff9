/**
 * Serves a {@link SimulatedSqs} on loopback over SQS's own wire protocol (AWS JSON 1.0, the
 * `X-Amz-Target: AmazonSQS.<Operation>` requests @aws-sdk/client-sqs sends), so a Herald process
 * of its own can drain it through the real SDK while the queue's memory stays in this process.
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SimulatedSqs } from './simulated-sqs.js';

export interface ServedSqs {
  sqs: SimulatedSqs;
  endpoint: string;
  queueUrl(name: string): string;
  close(): Promise<void>;
}

export async function serveSimulatedSqs(latencyMs: number): Promise<ServedSqs> {
  let sqs: SimulatedSqs | undefined;
  const server = createServer((req, res) => {
    void (async () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const operation = target.startsWith('AmazonSQS.') ? target.slice('AmazonSQS.'.length) : '';
      // A long poll ends early when its caller goes away (Herald aborts its receives on shutdown).
      const gone = new AbortController();
      res.on('close', () => gone.abort());
      try {
        if (!sqs || !operation)
          throw Object.assign(new Error(`not an SQS request: '${target}'`), { code: 'InvalidAction' });
        const input = JSON.parse((await body(req)) || '{}') as Record<string, unknown>;
        const output = (await sqs.send(
          { constructor: { name: `${operation}Command` }, input },
          { abortSignal: gone.signal },
        )) as Record<string, unknown>;
        if (operation === 'ReceiveMessage') {
          // The SDK checks every body against its MD5, as it would against SQS.
          for (const message of (output.Messages ?? []) as { Body: string; MD5OfBody?: string }[]) {
            message.MD5OfBody = createHash('md5').update(message.Body).digest('hex');
          }
        }
        res.writeHead(200, { 'content-type': 'application/x-amz-json-1.0' }).end(JSON.stringify(output));
      } catch (err) {
        const code = (err as { code?: string }).code ?? 'InvalidAction';
        res
          .writeHead(400, { 'content-type': 'application/x-amz-json-1.0' })
          .end(JSON.stringify({ __type: `com.amazonaws.sqs#${code}`, message: (err as Error).message }));
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const base = `${endpoint}/000000000000`;
  sqs = new SimulatedSqs(latencyMs, base);
  return {
    sqs,
    endpoint,
    queueUrl: (name) => `${base}/${name}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function body(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
