/**
 * An in-process SQS with SQS's semantics, for benchmarks where the queue must not be the
 * bottleneck: one receipt handle per receive (an old handle stops working), a visibility
 * timeout, at most 10 messages per receive, long polling, batch deletes, and a fixed latency
 * on every call. It answers the commands of @aws-sdk/client-sqs by their names, so Herald's
 * SqsSource and sqs-consumer both run on it unchanged.
 */
import { randomUUID } from 'node:crypto';

interface Stored {
  id: string;
  body: string;
  visibleAt: number;
  receiveCount: number;
  receiptHandle: string;
  sentAt: number;
}

type Input = Record<string, unknown>;

export class SimulatedSqs {
  readonly calls = new Map<string, number>();
  private readonly queues = new Map<string, Map<string, Stored>>();
  /** Arrival order per queue, and how far the front has been consumed. */
  private readonly order = new Map<string, { ids: string[]; head: number }>();
  /** Current receipt handle → message id, per queue: an old handle no longer finds its message. */
  private readonly handles = new Map<string, Map<string, string>>();
  private readonly waiters = new Set<() => void>();

  /** `urlBase`: where GetQueueUrl says the queues are (the server's own address when served over HTTP). */
  constructor(
    private readonly latencyMs: number,
    private readonly urlBase = 'https://sqs.local',
  ) {}

  /** Adds a message directly (a preloaded backlog, or a producer); returns its id. */
  enqueue(queueUrl: string, body: string): string {
    const id = randomUUID();
    this.queue(queueUrl).set(id, {
      id,
      body,
      visibleAt: 0,
      receiveCount: 0,
      receiptHandle: '',
      sentAt: performance.now(),
    });
    this.orderOf(queueUrl).ids.push(id);
    for (const wake of [...this.waiters]) wake();
    return id;
  }

  /** Messages not yet deleted. */
  size(queueUrl: string): number {
    return this.queue(queueUrl).size;
  }

  totalCalls(): number {
    return [...this.calls.values()].reduce((a, b) => a + b, 0);
  }

  /** The `SQSClient.send` surface. */
  async send(
    command: { constructor: { name: string }; input: Input },
    options: { abortSignal?: AbortSignal } = {},
  ): Promise<unknown> {
    const name = command.constructor.name.replace(/Command$/, '');
    this.calls.set(name, (this.calls.get(name) ?? 0) + 1);
    await sleep(this.latencyMs);
    const input = command.input;
    const queueUrl = String(input.QueueUrl ?? '');
    switch (name) {
      case 'GetQueueUrl':
        return { QueueUrl: `${this.urlBase}/${String(input.QueueName)}` };
      case 'ReceiveMessage':
        return this.receive(queueUrl, input, options.abortSignal);
      case 'DeleteMessage':
        this.delete(queueUrl, String(input.ReceiptHandle));
        return {};
      case 'DeleteMessageBatch': {
        const entries = input.Entries as { Id: string; ReceiptHandle: string }[];
        const failed = entries.filter((e) => !this.delete(queueUrl, e.ReceiptHandle));
        return {
          Successful: entries.filter((e) => !failed.includes(e)).map((e) => ({ Id: e.Id })),
          Failed: failed.map((e) => ({ Id: e.Id, Code: 'ReceiptHandleIsInvalid', SenderFault: true })),
        };
      }
      case 'ChangeMessageVisibility':
        this.changeVisibility(queueUrl, String(input.ReceiptHandle), Number(input.VisibilityTimeout));
        return {};
      case 'ChangeMessageVisibilityBatch': {
        const entries = input.Entries as { Id: string; ReceiptHandle: string; VisibilityTimeout: number }[];
        for (const e of entries) this.changeVisibility(queueUrl, e.ReceiptHandle, e.VisibilityTimeout);
        return { Successful: entries.map((e) => ({ Id: e.Id })), Failed: [] };
      }
      case 'SendMessage':
        return { MessageId: this.enqueue(queueUrl, String(input.MessageBody)) };
      default:
        throw new Error(`SimulatedSqs does not implement ${name}`);
    }
  }

  destroy(): void {}

  private queue(url: string): Map<string, Stored> {
    let queue = this.queues.get(url);
    if (!queue) {
      queue = new Map();
      this.queues.set(url, queue);
    }
    return queue;
  }

  private async receive(queueUrl: string, input: Input, signal: AbortSignal | undefined) {
    const max = Math.min(10, Number(input.MaxNumberOfMessages ?? 1));
    const visibilityMs = Number(input.VisibilityTimeout ?? 30) * 1000;
    const deadline = performance.now() + Number(input.WaitTimeSeconds ?? 0) * 1000;
    for (;;) {
      const now = performance.now();
      const taken: Stored[] = [];
      const queue = this.queue(queueUrl);
      const order = this.orderOf(queueUrl);
      // Skip what was deleted at the front for good; scan on from there in arrival order.
      while (order.head < order.ids.length && !queue.has(order.ids[order.head] as string)) order.head++;
      for (let i = order.head; i < order.ids.length && taken.length < max; i++) {
        const message = queue.get(order.ids[i] as string);
        if (message && message.visibleAt <= now) taken.push(message);
      }
      if (taken.length > 0 || now >= deadline || signal?.aborted) {
        return {
          Messages: taken.map((m) => {
            m.receiveCount++;
            m.visibleAt = now + visibilityMs;
            this.handlesOf(queueUrl).delete(m.receiptHandle);
            m.receiptHandle = randomUUID();
            this.handlesOf(queueUrl).set(m.receiptHandle, m.id);
            return {
              MessageId: m.id,
              ReceiptHandle: m.receiptHandle,
              Body: m.body,
              Attributes: {
                ApproximateReceiveCount: String(m.receiveCount),
                SentTimestamp: String(Math.round(m.sentAt)),
              },
            };
          }),
        };
      }
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.waiters.delete(wake);
          clearTimeout(timer);
          signal?.removeEventListener('abort', wake);
          resolve();
        };
        const timer = setTimeout(wake, Math.max(1, Math.min(50, deadline - now)));
        this.waiters.add(wake);
        signal?.addEventListener('abort', wake, { once: true });
      });
    }
  }

  private orderOf(queueUrl: string): { ids: string[]; head: number } {
    let order = this.order.get(queueUrl);
    if (!order) {
      order = { ids: [], head: 0 };
      this.order.set(queueUrl, order);
    }
    return order;
  }

  private handlesOf(queueUrl: string): Map<string, string> {
    let handles = this.handles.get(queueUrl);
    if (!handles) {
      handles = new Map();
      this.handles.set(queueUrl, handles);
    }
    return handles;
  }

  private delete(queueUrl: string, receiptHandle: string): boolean {
    const id = this.handlesOf(queueUrl).get(receiptHandle);
    if (id === undefined) return false;
    this.handlesOf(queueUrl).delete(receiptHandle);
    return this.queue(queueUrl).delete(id);
  }

  private changeVisibility(queueUrl: string, receiptHandle: string, seconds: number): void {
    const id = this.handlesOf(queueUrl).get(receiptHandle);
    const message = id === undefined ? undefined : this.queue(queueUrl).get(id);
    if (!message) return;
    message.visibleAt = performance.now() + seconds * 1000;
    if (seconds === 0) for (const wake of [...this.waiters]) wake();
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
