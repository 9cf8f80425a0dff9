/**
 * Collects calls made in the same tick (up to `max`) and runs them as one batch, so a message
 * with three destinations, or a receive of ten messages, costs one statement rather than one
 * each. At most `concurrency` batches are in flight; calls made meanwhile wait and go in the
 * next batch (group commit), so under load batches grow instead of statements queueing up.
 */
export class TickBatcher<I, O> {
  private queue: { item: I; resolve: (value: O) => void; reject: (err: unknown) => void }[] = [];
  private scheduled = false;
  private inFlight = 0;
  private idle: (() => void)[] = [];

  constructor(
    /** Runs one batch; returns one result per item, in order. */
    private readonly run: (items: I[]) => Promise<O[]>,
    private readonly max: number,
    private readonly concurrency: number,
    /**
     * How long the first call of a batch waits for others: `microtask`, only for the code
     * running now (a receive's messages ask for their claims in one go); 0, the end of this
     * turn of the event loop; more, for writes nobody waits on, to gather them into fewer,
     * larger batches.
     */
    private readonly delayMs: number | 'microtask' = 0,
  ) {}

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.queue.length >= this.max && this.inFlight < this.concurrency) this.flush();
      else this.schedule();
    });
  }

  /** Resolves once nothing is queued or in flight. */
  drained(): Promise<void> {
    if (this.queue.length === 0 && this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    const due = () => {
      this.scheduled = false;
      if (this.inFlight < this.concurrency) this.flush();
    };
    if (this.delayMs === 'microtask') queueMicrotask(due);
    else if (this.delayMs > 0) setTimeout(due, this.delayMs);
    else setImmediate(due);
  }

  private flush(): void {
    const batch = this.queue.splice(0, this.max);
    if (batch.length === 0) return;
    this.inFlight++;
    this.run(batch.map((entry) => entry.item))
      .then(
        (results) => {
          for (const [index, entry] of batch.entries()) entry.resolve(results[index] as O);
        },
        (err: unknown) => {
          for (const entry of batch) entry.reject(err);
        },
      )
      .finally(() => {
        this.inFlight--;
        if (this.queue.length > 0) this.flush();
        else if (this.inFlight === 0) for (const resolve of this.idle.splice(0)) resolve();
      });
  }
}
