import { type ExecutionEvent, type ExecutionEventInput, HeraldError } from '@herald/core';
import type { ResolvedConfig } from '@herald/core/config';
import { type Logger, type LogThrottle, MemoryQueue, readSecret } from '@herald/core/runtime';
import type { Tracing } from '@herald/core/tracing';
import { createProcessor, type Processor, type ProcessorDependencies } from '@herald/processor';
import { createPublisher, type Publisher, type PublishResult } from '@herald/publisher';
import { createMetrics, type HeraldMetrics } from './http/metrics.js';
import { HttpServer } from './http/server.js';
import { logLifecycle } from './lifecycle-log.js';

/** What an application may be given instead of building it from the config. */
export interface HeraldAppOptions {
  logger: Logger;
  /** Parts of the processor to use instead of those the config describes (code rules, an emailer). */
  processor?: Omit<ProcessorDependencies, 'logger' | 'memoryQueue' | 'tracing'>;
  /**
   * Traces what the application does: each ingest request, each publish, each message
   * processed, continuing the traces messages carry. Undefined: no spans.
   */
  tracing?: Tracing | undefined;
}

type State = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

/**
 * Herald as one running thing: the in-process queue (sandbox), the processor, the publisher,
 * the metrics and the HTTP server (`herald.http`), started in order and stopped in the reverse,
 * the way `herald run` runs them and a program embedding Herald can too.
 *
 * Stopping closes the HTTP server first (nothing new is accepted), then the publisher it used,
 * then drains the processor; each step runs even when one before it failed.
 * @example
 * const app = new HeraldApp(loadConfigFile('herald.yaml'), { logger });
 * await app.start();
 * process.once('SIGTERM', () => void app.stop());
 */
export class HeraldApp {
  /** The in-process queue of `type: sandbox` (and the empty one of `type: local`). */
  readonly queue: MemoryQueue | undefined;
  readonly processor: Processor;
  /** Prometheus metrics, counted from the moment the processor exists; undefined when turned off. */
  readonly metrics: HeraldMetrics | undefined;
  private readonly ingestToken: string | undefined;
  private publisher: Publisher | undefined;
  private server: HttpServer | undefined;
  private state: State = 'new';
  private stopped: Promise<void> | undefined;
  private listeningAt: string | undefined;
  private readonly repeatedWarnings: LogThrottle;

  /**
   * Builds every part; nothing connects or listens until {@link start}.
   * @throws ConfigError or HeraldError for what the config alone makes impossible (a token
   * variable that is not set, a transport this machine cannot build).
   */
  constructor(
    private readonly config: ResolvedConfig,
    private readonly options: HeraldAppOptions,
  ) {
    const { http } = config;
    // Read before anything is built, so a missing token is reported at once, naming the key.
    this.ingestToken =
      http.listen && http.ingest.enabled && http.ingest.tokenEnvVar
        ? readSecret({ envVar: http.ingest.tokenEnvVar }, 'herald.http.ingest.tokenEnvVar')
        : undefined;
    this.queue =
      config.type === 'sandbox' || config.type === 'local' ? new MemoryQueue(config.sandbox.queueCapacity) : undefined;
    this.processor = createProcessor(config, {
      ...options.processor,
      logger: options.logger,
      memoryQueue: this.queue,
      tracing: options.tracing,
    });
    this.metrics = http.metrics ? createMetrics(this.processor) : undefined;
    this.repeatedWarnings = logLifecycle(this.processor.events, options.logger);
  }

  /** Whether the processor runs and reaches its queue: what `/readyz` answers. */
  get ready(): boolean {
    return this.state === 'running' && this.processor.queueReachable;
  }

  /** Where the HTTP server listens (`http://host:port`), once started with `herald.http.listen`. */
  get address(): string | undefined {
    return this.listeningAt;
  }

  /**
   * Connects the processor to its queue and starts receiving, then opens the HTTP server.
   * @throws whatever fails to start (a queue that does not exist, an address in use); the
   * parts already started are stopped first.
   */
  async start(): Promise<void> {
    if (this.state !== 'new') throw new HeraldError(`cannot start a Herald application that is ${this.state}`);
    this.state = 'starting';
    const { config } = this;
    const { logger } = this.options;
    try {
      if (config.type === 'local') {
        logger.warn({}, 'notifications.type is local: notifications are disabled; nothing will be processed');
      }
      await this.processor.start();
      logger.info(
        { type: config.type, emailer: config.emailer.provider, config: config.source },
        'herald processor started',
      );
      this.state = 'running';
      if (config.http.listen) await this.startHttpServer();
    } catch (err) {
      await this.stop();
      throw err;
    }
  }

  /**
   * Publishes events through the configured transport (in the sandbox: into this process's
   * queue), with the publisher the ingest endpoint uses. Events are completed and checked by
   * the publisher, all before any is sent.
   */
  publish(events: readonly (ExecutionEventInput | ExecutionEvent)[]): Promise<PublishResult[]> {
    return this.openPublisher().publish(events);
  }

  /** Stops in order: HTTP server, publisher, processor (which drains). Idempotent. */
  stop(): Promise<void> {
    this.stopped ??= this.shutdown();
    return this.stopped;
  }

  private async shutdown(): Promise<void> {
    this.state = 'stopping';
    const { logger } = this.options;
    try {
      if (this.server) {
        await this.server.stop();
        logger.info({}, 'http server stopped');
      }
    } finally {
      try {
        await this.publisher?.close();
      } finally {
        await this.processor.stop();
        this.repeatedWarnings.flush();
        this.state = 'stopped';
      }
    }
  }

  private openPublisher(): Publisher {
    const { logger, tracing } = this.options;
    this.publisher ??= createPublisher(this.config, { memoryQueue: this.queue, logger, tracing });
    return this.publisher;
  }

  private async startHttpServer(): Promise<void> {
    const { listen, ingest } = this.config.http;
    if (!listen) return;
    const { logger } = this.options;
    const publisher = ingest.enabled ? this.openPublisher() : undefined;
    this.server = new HttpServer({
      host: listen.host,
      port: listen.port,
      logger,
      ready: () => this.ready,
      metrics: this.metrics,
      ingest: publisher && {
        publisher,
        token: this.ingestToken,
        maxBodyBytes: ingest.maxBodyBytes,
        tracing: this.options.tracing,
      },
    });
    const address = await this.server.start();
    this.listeningAt = address;
    logger.info(
      {
        address,
        metrics: this.metrics ? `${address}/metrics` : false,
        ingest: publisher ? `${address}/v1/events` : false,
        authenticated: publisher ? this.ingestToken !== undefined : undefined,
      },
      'http server listening',
    );
  }
}
