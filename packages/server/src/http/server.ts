import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HeraldError } from '@herald/core';
import { type Logger, settlesWithin } from '@herald/core/runtime';
import { createIngestHandler, type IngestHandler, type IngestOptions } from './ingest.js';
import type { HeraldMetrics } from './metrics.js';
import { send, sendJson, sendText } from './reply.js';

/** What `herald run` serves over HTTP, and where. */
export interface HttpServerOptions {
  host: string;
  /** 0 lets the system choose; {@link HttpServer.start} returns the address it got. */
  port: number;
  logger: Logger;
  /** Whether the processor is running and can reach its queue: `GET /readyz`. */
  ready: () => boolean;
  /** Served at `GET /metrics`; undefined: no such route. */
  metrics?: HeraldMetrics | undefined;
  /** `POST /v1/events`; undefined: no such route. */
  ingest?: Pick<IngestOptions, 'publisher' | 'token' | 'maxBodyBytes' | 'refusalWarnings' | 'tracing'> | undefined;
  /** On stop, how long requests being answered get to finish before their connections close. */
  drainMs?: number;
  /**
   * The longest a client may take to send one request, headers and body: a slower one gets
   * 408 and its connection is closed, so it cannot hold a connection (and up to maxBodyBytes of
   * memory) longer than this.
   * @defaultValue 30000
   */
  requestTimeoutMs?: number;
}

const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
const DEFAULT_DRAIN_MS = 5_000;

/**
 * Node checks incomplete requests against their timeouts only every
 * `connectionsCheckingInterval` (30 s by default), so a 30 s limit really cut slow clients at
 * anywhere up to 60 s. Checking every second (or every quarter of a shorter limit) keeps the
 * limit within a second of what it says; each check only walks the list of open connections.
 */
function checkingIntervalMs(requestTimeoutMs: number): number {
  return Math.max(10, Math.min(1_000, Math.ceil(requestTimeoutMs / 4)));
}

/**
 * The HTTP server of `herald run`: `GET /healthz`, `GET /readyz`, and when configured
 * `GET /metrics` and `POST /v1/events`. {@link stop} stops accepting connections, closes the
 * idle keep-alive ones, lets requests being answered finish (briefly), then closes the rest,
 * so no socket holds the process open.
 */
export class HttpServer {
  private readonly server: Server;
  private readonly ingest: IngestHandler | undefined;
  private listening = false;
  private stopped: Promise<void> | undefined;
  private active = 0;
  private readonly idleWaiters = new Set<() => void>();

  constructor(private readonly options: HttpServerOptions) {
    this.ingest =
      options.ingest &&
      createIngestHandler({
        ...options.ingest,
        logger: options.logger,
        metrics: options.metrics,
        stopping: () => this.stopping,
      });
    const requestTimeout = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    this.server = createServer(
      {
        requestTimeout,
        // Headers are part of the request: a client trickling header lines is cut at the same limit.
        headersTimeout: requestTimeout,
        connectionsCheckingInterval: checkingIntervalMs(requestTimeout),
      },
      (req, res) => this.handle(req, res, false),
    );
    // Answering before `100 Continue` lets a refused request (token, type, declared size) go
    // without its body ever being sent.
    this.server.on('checkContinue', (req, res) => this.handle(req, res, true));
  }

  /** True from the moment {@link stop} is called. */
  get stopping(): boolean {
    return this.stopped !== undefined;
  }

  /**
   * Listens, and resolves with the URL the server is reachable at.
   * @throws HeraldError when it cannot listen (address in use, not an address of this host).
   */
  start(): Promise<string> {
    const { host, port } = this.options;
    return new Promise((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException) => {
        reject(new HeraldError(`cannot listen on ${formatHost(host)}:${port}: ${err.code ?? err.message}`));
      };
      this.server.once('error', onError);
      this.server.listen({ host, port }, () => {
        this.server.off('error', onError);
        this.listening = true;
        const address = this.server.address() as AddressInfo;
        resolve(`http://${formatHost(address.address)}:${address.port}`);
      });
    });
  }

  /** Stops serving; resolves once every connection is closed. Idempotent. */
  stop(): Promise<void> {
    this.stopped ??= this.shutdown();
    return this.stopped;
  }

  private async shutdown(): Promise<void> {
    if (!this.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    await settlesWithin(this.idle(), this.options.drainMs ?? DEFAULT_DRAIN_MS);
    this.server.closeAllConnections();
    await closed;
    this.ingest?.flushWarnings();
  }

  /** Resolves when no request is being answered. */
  private idle(): Promise<void> {
    if (this.active === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.add(resolve));
  }

  private async handle(req: IncomingMessage, res: ServerResponse, expectsContinue: boolean): Promise<void> {
    this.active++;
    res.once('close', () => {
      this.active--;
      if (this.active > 0) return;
      for (const wake of this.idleWaiters) wake();
      this.idleWaiters.clear();
    });
    // A connection kept alive would outlive the server.
    if (this.stopping) res.setHeader('Connection', 'close');
    const path = (req.url ?? '/').split('?', 1)[0] as string;
    try {
      await this.route(path, req, res, expectsContinue);
    } catch (err) {
      this.options.logger.error({ err, method: req.method, path }, 'http request failed');
      if (res.headersSent) res.destroy();
      else sendJson(res, 500, { error: 'internal error' });
    }
  }

  private async route(
    path: string,
    req: IncomingMessage,
    res: ServerResponse,
    expectsContinue: boolean,
  ): Promise<void> {
    const { metrics, ready } = this.options;
    switch (path) {
      case '/healthz':
        if (!allow(req, res, ['GET', 'HEAD'])) return;
        if (this.stopping) sendText(res, 503, 'stopping');
        else sendText(res, 200, 'ok');
        return;
      case '/readyz':
        if (!allow(req, res, ['GET', 'HEAD'])) return;
        if (ready() && !this.stopping) sendText(res, 200, 'ready');
        else sendText(res, 503, 'not ready');
        return;
      case '/metrics':
        if (!metrics) break;
        if (!allow(req, res, ['GET', 'HEAD'])) return;
        send(res, 200, metrics.registry.contentType, await metrics.registry.metrics());
        return;
      case '/v1/events':
        if (!this.ingest) break;
        if (!allow(req, res, ['POST'])) return;
        await this.ingest(req, res, expectsContinue);
        return;
    }
    sendJson(res, 404, { error: 'not found' });
  }
}

/** Answers 405 with `Allow` unless the request's method is one of `methods`. */
function allow(req: IncomingMessage, res: ServerResponse, methods: string[]): boolean {
  if (methods.includes(req.method ?? '')) return true;
  sendJson(
    res,
    405,
    { error: `method ${req.method} not allowed; use ${methods.join(' or ')}` },
    {
      Allow: methods.join(', '),
    },
  );
  return false;
}

function formatHost(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
