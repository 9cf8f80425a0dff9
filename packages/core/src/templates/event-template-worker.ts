import { createRequire } from 'node:module';
import type { Worker } from 'node:worker_threads';
import { HeraldError, TemplateError } from '../contract/errors.js';
import type { ExecutionEvent } from '../contract/event.js';
import {
  checkEventTemplateLength,
  EVENT_TEMPLATE_LIMITS,
  type EventTemplatePart,
  eventTemplatePartName,
} from './event-template-limits.js';
import type { EmailTemplateSources, RenderedEmail } from './renderer.js';

/** The templates of one email of which some parts were carried on an event. */
export interface EventEmailSources extends EmailTemplateSources {
  /** The parts the event's publisher wrote; they are held to {@link EVENT_TEMPLATE_LIMITS}. */
  fromEvent: readonly EventTemplatePart[];
}

/** Options for {@link EventTemplateWorker}. */
export interface EventTemplateWorkerOptions {
  /** The configured partials (trusted), usable as `{{> name}}` in event templates too. */
  partials: Record<string, string>;
  /** Longest one email's templates may take to compile and render, in the worker. */
  budgetMs: number;
}

/** A request to the worker thread. */
export interface EventTemplateRequest {
  id: number;
  sources: EventEmailSources;
  name: string;
  event: ExecutionEvent;
}

/** What the worker thread posts back. */
export type EventTemplateReply =
  | { kind: 'ready' }
  | { kind: 'rendered'; id: number; email: RenderedEmail }
  | { kind: 'refused'; id: number; template: string; detail: string }
  | { kind: 'failed'; id: number; message: string };

interface Job {
  request: EventTemplateRequest;
  resolve(email: RenderedEmail): void;
  reject(err: unknown): void;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

interface Thread {
  worker: Worker;
  /** The thread has loaded Handlebars and the renderer: a budget can start now. */
  ready: boolean;
}

// Built (dist/*.js), the thread is plain JavaScript beside this file. Running from the
// TypeScript sources (vitest, tsx), Node cannot load .ts in a worker by itself, so a small .mjs
// loads the thread's source through tsx.
const THREAD_URL = new URL(
  import.meta.url.endsWith('.ts') ? './event-template-thread.dev.mjs' : './event-template-thread.js',
  import.meta.url,
);

/**
 * Renders templates carried on events in a worker thread, one email at a time, each within a
 * time budget. Rendering is synchronous, so a template that loops for minutes would otherwise
 * block the processor's event loop (health checks, SQS visibility extensions, every other
 * message). Here it blocks only the worker: when its budget runs out, the worker is terminated
 * (which stops even a tight loop), that email fails with a permanent TemplateError, and the
 * next request gets a fresh worker.
 *
 * - The worker starts with the first request, never before: most deployments never carry
 *   templates on events.
 * - Requests wait in order; the budget counts from when a request reaches a ready worker, so
 *   neither start-up nor waiting behind another request is charged to it.
 * - An idle worker is `unref`'d, so it never keeps a process alive; {@link close} stops it.
 * - The worker's stdout and stderr are not connected to the process's: nothing a template
 *   does can reach the process's output or logs.
 */
export class EventTemplateWorker {
  private thread: Thread | undefined;
  private readonly queue: Job[] = [];
  private running: { job: Job; timer: NodeJS.Timeout } | undefined;
  private nextId = 1;
  private started = 0;

  constructor(private readonly options: EventTemplateWorkerOptions) {}

  /** Worker threads started so far: one, plus one after each that was stopped or failed. */
  get threadsStarted(): number {
    return this.started;
  }

  /**
   * Renders one email.
   * @param name the templates' name in error messages.
   * @param options.signal aborting it withdraws the request while it still waits its turn (a
   * delivery timeout, shutdown); a request already rendering is bounded by the budget instead.
   * @throws TemplateError (rejects) when a template is refused, does not compile or render, or
   * runs over the budget or the worker's memory; HeraldError when the worker cannot start.
   */
  render(
    sources: EventEmailSources,
    name: string,
    event: ExecutionEvent,
    options: { signal?: AbortSignal | undefined } = {},
  ): Promise<RenderedEmail> {
    const { signal } = options;
    if (signal?.aborted) return Promise.reject(signal.reason);
    // Sizes are checked here, before anything is copied to the worker (or one is started).
    try {
      for (const part of sources.fromEvent) checkEventTemplateLength(sources[part], eventTemplatePartName(name, part));
    } catch (err) {
      return Promise.reject(err);
    }
    const { maxEventChars } = EVENT_TEMPLATE_LIMITS;
    const eventChars = JSON.stringify(event).length;
    if (eventChars > maxEventChars) {
      return Promise.reject(
        new TemplateError(
          name,
          `the event is ${eventChars} characters of JSON; templates carried on an event are rendered only for events of at most ${maxEventChars}`,
        ),
      );
    }
    return new Promise<RenderedEmail>((resolve, reject) => {
      const job: Job = {
        request: { id: this.nextId++, sources, name, event },
        resolve,
        reject,
        signal,
        onAbort: () => {
          const index = this.queue.indexOf(job);
          if (index < 0) return;
          this.queue.splice(index, 1);
          reject(signal?.reason);
          this.pump();
        },
      };
      signal?.addEventListener('abort', job.onAbort, { once: true });
      this.queue.push(job);
      this.pump();
    });
  }

  /**
   * Stops the worker. Requests still waiting or rendering are rejected (not TemplateError: they
   * did nothing wrong and may be retried). A later request starts a new worker.
   */
  async close(): Promise<void> {
    const closed = new HeraldError('the event-template worker was closed');
    if (this.running) {
      clearTimeout(this.running.timer);
      this.running.job.reject(closed);
      this.running = undefined;
    }
    for (const job of this.queue.splice(0)) this.settle(job, () => job.reject(closed));
    const thread = this.thread;
    this.thread = undefined;
    if (thread) await thread.worker.terminate();
  }

  /** Sends the next request to the worker, starting one when needed. */
  private pump(): void {
    if (this.running) return;
    const job = this.queue[0];
    if (!job) {
      this.thread?.worker.unref();
      return;
    }
    this.thread ??= this.start();
    // Something is waiting for the worker, so it must keep the process alive until it answers.
    this.thread.worker.ref();
    if (!this.thread.ready) return;
    this.queue.shift();
    job.signal?.removeEventListener('abort', job.onAbort);
    const timer = setTimeout(() => this.overBudget(), this.options.budgetMs);
    this.running = { job, timer };
    this.thread.worker.postMessage(job.request);
  }

  private start(): Thread {
    // Loaded by the first event that carries its own template: most processes (and every
    // command but `herald run`) never start a worker thread.
    const { Worker } = createRequire(import.meta.url)('node:worker_threads') as typeof import('node:worker_threads');
    const worker = new Worker(THREAD_URL, {
      workerData: { partials: this.options.partials },
      resourceLimits: { maxOldGenerationSizeMb: EVENT_TEMPLATE_LIMITS.workerHeapMb },
      // Not piped to the process's own streams, and never read: whatever the thread might
      // write stays in the thread (backpressure), and nothing reaches the process's output.
      // (Reading them, even just to discard, would also keep the process alive.)
      stdout: true,
      stderr: true,
    });
    this.started++;
    const thread: Thread = { worker, ready: false };
    worker.on('message', (reply: EventTemplateReply) => this.onReply(thread, reply));
    worker.on('error', (err) => this.onExit(thread, err));
    worker.on('exit', (code) => this.onExit(thread, new Error(`exited with code ${code}`)));
    return thread;
  }

  private onReply(thread: Thread, reply: EventTemplateReply): void {
    if (thread !== this.thread) return; // a terminated worker's last words
    if (reply.kind === 'ready') {
      thread.ready = true;
      this.pump();
      return;
    }
    const running = this.running;
    if (!running || running.job.request.id !== reply.id) return;
    clearTimeout(running.timer);
    this.running = undefined;
    const { job } = running;
    if (reply.kind === 'rendered') job.resolve(reply.email);
    else if (reply.kind === 'refused') job.reject(new TemplateError(reply.template, reply.detail));
    // Not the template's fault (a bug in the thread): transient, so the delivery is retried.
    else job.reject(new HeraldError(`event-template worker: ${reply.message}`));
    this.pump();
  }

  private overBudget(): void {
    const running = this.running;
    if (!running) return;
    this.running = undefined;
    this.discardThread();
    const { budgetMs } = this.options;
    running.job.reject(
      new TemplateError(
        running.job.request.name,
        `rendering took longer than the ${budgetMs} ms budget for templates carried on events (herald.processor.eventTemplateBudgetMs) and was stopped`,
      ),
    );
    this.pump();
  }

  private onExit(thread: Thread, err: Error): void {
    if (thread !== this.thread) return;
    this.thread = undefined;
    const running = this.running;
    this.running = undefined;
    if (running) {
      clearTimeout(running.timer);
      const { workerHeapMb } = EVENT_TEMPLATE_LIMITS;
      running.job.reject(
        (err as NodeJS.ErrnoException).code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? new TemplateError(
              running.job.request.name,
              `rendering needed more than the ${workerHeapMb} MB of memory templates carried on events may use and was stopped`,
            )
          : new HeraldError(`event-template worker failed: ${err.message}`, { cause: err }),
      );
    } else if (!thread.ready) {
      // It failed before it could take any request: starting another would fail the same way.
      const failed = new HeraldError(`event-template worker did not start: ${err.message}`, { cause: err });
      for (const job of this.queue.splice(0)) this.settle(job, () => job.reject(failed));
    }
    this.pump();
  }

  /** Terminates the current worker without waiting; its exit is then ignored. */
  private discardThread(): void {
    const thread = this.thread;
    this.thread = undefined;
    if (thread) void thread.worker.terminate();
  }

  private settle(job: Job, how: () => void): void {
    job.signal?.removeEventListener('abort', job.onAbort);
    how();
  }
}
