/**
 * Serves a {@link SimulatedSqs} on loopback over SQS's own wire protocol (AWS JSON 1.0, the
 * `X-Amz-Target: AmazonSQS.<Operation>` requests @aws-sdk/client-sqs sends), plus SESv2's
 * SendEmail (`POST /v2/email/outbound-emails`), each with a fixed latency per call. A
 * Herald process of its own drains the queue and sends its emails through the real AWS SDK
 * while the queue's memory stays in this process.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SimulatedSqs, sleep } from './simulated-sqs.js';

export interface ServedAws {
  sqs: SimulatedSqs;
  /** SESv2 SendEmail calls answered. */
  emailsSent(): number;
  endpoint: string;
  queueUrl(name: string): string;
  close(): Promise<void>;
}

/** `sesLatencyMs`: how long SendEmail takes, when not the queue's `latencyMs`. */
export async function serveSimulatedAws(latencyMs: number, sesLatencyMs = latencyMs): Promise<ServedAws> {
  let sqs: SimulatedSqs | undefined;
  let emails = 0;
  const server = createServer((req, res) => {
    void (async () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const operation = target.startsWith('AmazonSQS.') ? target.slice('AmazonSQS.'.length) : '';
      // A long poll ends early when its caller goes away (Herald aborts its receives on shutdown).
      const gone = new AbortController();
      res.on('close', () => gone.abort());
      try {
        if (req.method === 'POST' && req.url === '/v2/email/outbound-emails') {
          const email = JSON.parse(await body(req)) as { FromEmailAddress?: string; Destination?: unknown };
          if (!email.FromEmailAddress || !email.Destination) throw new Error('SendEmail needs a sender and recipients');
          await sleep(sesLatencyMs);
          emails++;
          res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ MessageId: randomUUID() }));
          return;
        }
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
    emailsSent: () => emails,
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
