// The baseline for Herald's CPU per event in bench/backlog.ts: the least a program can do to turn
// queued events into emails with the same AWS SDK calls Herald makes. Long-poll receives of ten
// from SQS (four at a time, as Herald's receiveConcurrency), the body parsed to find the
// recipients, one SESv2 SendEmail per event with a subject, HTML and text of the size of
// Herald's default email (at most 64 in flight, as Herald's maxInFlight), and one
// DeleteMessageBatch per batch received once its emails are sent. No routing, templates,
// retries, ledger or logging. Plain JavaScript run by node, so no transpiler sits in its CPU.
// With --cached-handlers its clients are built with the SDK's cacheMiddleware, as Herald's are,
// so each command's middleware stack is built once rather than on every send.
//   node bench/raw-sdk-drain.mjs ENDPOINT QUEUE_URL [--cached-handlers]   (prints "started" on stderr when ready)
import { SESv2Client, SendEmailCommand } from '@aws-sdk/client-sesv2';
import { DeleteMessageBatchCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';

const [endpoint, queueUrl, ...flags] = process.argv.slice(2);
const RECEIVERS = 4;
const MAX_IN_FLIGHT = 64;
const clientConfig = {
  region: 'us-east-1',
  endpoint,
  maxAttempts: 5,
  retryMode: 'standard',
  cacheMiddleware: flags.includes('--cached-handlers'),
};
const sqs = new SQSClient(clientConfig);
const ses = new SESv2Client(clientConfig);

// Like Herald, a receiver asks for more only while a whole batch fits in the free slots.
let inFlight = 0;
const waiters = [];
function freed() {
  for (const wake of waiters.splice(0)) wake();
}
async function roomForBatch() {
  while (inFlight > MAX_IN_FLIGHT - 10) await new Promise((resolve) => waiters.push(resolve));
}

async function deliver(message) {
  const event = JSON.parse(message.Body);
  const recipients = event.notifications.flatMap((n) => n.email?.recipients ?? []);
  // What Herald's default subject and body come to, written out by hand rather than rendered.
  const { name, domain } = event.execution;
  const sentence = `Execution "${name}" has ${event.phase} in "${domain}".`;
  const link = event.url ? ` View details at <a href="${event.url}">${event.url}</a>.` : '';
  const error = event.error?.message ?? '';
  await ses.send(
    new SendEmailCommand({
      FromEmailAddress: 'herald@example.com',
      Destination: { ToAddresses: recipients },
      Content: {
        Simple: {
          Subject: { Data: `Notice: ${sentence}`, Charset: 'UTF-8' },
          Body: {
            Html: { Data: `${sentence}${link}${error}`, Charset: 'UTF-8' },
            Text: { Data: `${sentence}${event.url ? ` View details at ${event.url}.` : ''}${error}`, Charset: 'UTF-8' },
          },
        },
      },
    }),
  );
}

let stopping = false;
process.once('SIGTERM', () => {
  stopping = true;
});

async function sendAndDelete(messages) {
  inFlight += messages.length;
  const sent = await Promise.all(
    messages.map(async (message) => {
      try {
        await deliver(message);
        return message;
      } finally {
        inFlight--;
        freed();
      }
    }),
  );
  await sqs.send(
    new DeleteMessageBatchCommand({
      QueueUrl: queueUrl,
      Entries: sent.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
    }),
  );
}

const pending = new Set();
async function receiveLoop() {
  while (!stopping) {
    await roomForBatch();
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    if (Messages.length === 0) continue;
    const work = sendAndDelete(Messages);
    pending.add(work);
    void work.finally(() => pending.delete(work));
  }
}

process.stderr.write('started\n');
await Promise.all(Array.from({ length: RECEIVERS }, receiveLoop));
await Promise.all(pending);
sqs.destroy();
ses.destroy();
