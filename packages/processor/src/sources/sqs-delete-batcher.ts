import type { SQSClient } from '@aws-sdk/client-sqs';
import { loadSqs } from './sqs-sdk.js';

interface Pending {
  receiptHandle: string;
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * Deletes settled messages ten at a time with `DeleteMessageBatch`. A delete waits at most
 * `lingerMs` for company; each caller learns whether its own entry failed.
 */
export class DeleteBatcher {
  private pending: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private readonly inFlight = new Set<Promise<void>>();

  constructor(
    private readonly client: SQSClient,
    private readonly queueUrl: string,
    private readonly lingerMs = 5,
  ) {}

  delete(receiptHandle: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ receiptHandle, resolve, reject });
      if (this.pending.length >= 10) this.send();
      else this.timer ??= setTimeout(() => this.send(), this.lingerMs);
    });
  }

  /** Sends whatever is waiting and resolves when every delete so far has been answered. */
  async flush(): Promise<void> {
    while (this.pending.length > 0) this.send();
    await Promise.allSettled([...this.inFlight]);
  }

  private send(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const batch = this.pending.splice(0, 10);
    if (batch.length === 0) return;
    if (this.pending.length > 0) this.timer = setTimeout(() => this.send(), this.lingerMs);
    const call = loadSqs()
      .then(({ DeleteMessageBatchCommand }) =>
        this.client.send(
          new DeleteMessageBatchCommand({
            QueueUrl: this.queueUrl,
            Entries: batch.map((p, i) => ({ Id: String(i), ReceiptHandle: p.receiptHandle })),
          }),
        ),
      )
      .then(
        (out) => {
          const failed = new Map((out.Failed ?? []).map((f) => [f.Id, f]));
          batch.forEach((p, i) => {
            const f = failed.get(String(i));
            if (f) p.reject(new Error(`DeleteMessageBatch entry failed: ${f.Code}: ${f.Message}`));
            else p.resolve();
          });
        },
        (err: Error) => {
          for (const p of batch) p.reject(err);
        },
      )
      .finally(() => this.inFlight.delete(call));
    this.inFlight.add(call);
  }
}
