import type { SQSClient } from '@aws-sdk/client-sqs';
import type { Logger } from '@herald/core/runtime';
import { loadSqs } from './sqs-sdk.js';

interface Held {
  id: string;
  receiptHandle: string;
  /** When SQS will make it visible again unless extended (ms since epoch). */
  visibleAtMs: number;
}

/**
 * Keeps received SQS messages invisible while they are still being delivered: every third of
 * the visibility timeout, the messages whose invisibility ends within half of it are extended
 * by a full timeout, ten per `ChangeMessageVisibilityBatch`. A slow SMTP server therefore never
 * causes a second copy of a message to be handed out mid-delivery.
 */
export class VisibilityKeeper {
  private readonly held = new Map<string, Held>();
  /** The extension round under way, if any. */
  private extending: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly timeoutMs: number;

  constructor(
    private readonly client: SQSClient,
    private readonly queueUrl: string,
    private readonly visibilityTimeoutSeconds: number,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.timeoutMs = visibilityTimeoutSeconds * 1000;
    this.timer = setInterval(() => void this.extendDue(), Math.max(1000, this.timeoutMs / 3));
    this.timer.unref();
  }

  /** Messages currently held. */
  get size(): number {
    return this.held.size;
  }

  track(id: string, receiptHandle: string): void {
    this.held.set(receiptHandle, { id, receiptHandle, visibleAtMs: this.now() + this.timeoutMs });
  }

  untrack(receiptHandle: string): void {
    this.held.delete(receiptHandle);
  }

  /** Receipt handles still held, for handing them back at shutdown. */
  receiptHandles(): string[] {
    return [...this.held.keys()];
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /**
   * Resolves when no extension round is under way. A caller that is about to set a message's
   * visibility itself (retry later, hand back) waits for this, so an extension computed
   * before it untracked the message cannot land after its own change and undo it.
   */
  async quiesce(): Promise<void> {
    await this.extending;
  }

  /** Extends every held message whose invisibility ends within half a timeout. */
  extendDue(): Promise<void> {
    this.extending ??= this.extendRound().finally(() => {
      this.extending = undefined;
    });
    return this.extending;
  }

  private async extendRound(): Promise<void> {
    const due = [...this.held.values()].filter((h) => h.visibleAtMs - this.now() < this.timeoutMs / 2);
    if (due.length === 0) return;
    // The SDK the client came from: imported once, here only to build the command.
    const { ChangeMessageVisibilityBatchCommand } = await loadSqs();
    for (let i = 0; i < due.length; i += 10) {
      // Settled since the round began: leave them alone.
      const group = due.slice(i, i + 10).filter((h) => this.held.has(h.receiptHandle));
      if (group.length === 0) continue;
      try {
        const out = await this.client.send(
          new ChangeMessageVisibilityBatchCommand({
            QueueUrl: this.queueUrl,
            Entries: group.map((h, n) => ({
              Id: String(n),
              ReceiptHandle: h.receiptHandle,
              VisibilityTimeout: this.visibilityTimeoutSeconds,
            })),
          }),
        );
        const failed = new Set((out.Failed ?? []).map((f) => f.Id));
        group.forEach((h, n) => {
          if (!failed.has(String(n))) h.visibleAtMs = this.now() + this.timeoutMs;
        });
        for (const f of out.Failed ?? []) {
          this.logger.warn(
            { messageId: group[Number(f.Id)]?.id, code: f.Code, error: f.Message },
            'could not extend visibility',
          );
        }
      } catch (err) {
        this.logger.warn({ err, count: group.length }, 'could not extend visibility; will try again');
      }
    }
  }
}
