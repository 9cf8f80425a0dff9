import { createServer, type RequestListener, type Server } from 'node:http';

/** An HTTP server listening on a free loopback port, for test doubles of remote services. */
export interface LoopbackServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  /** The server itself, for tests that act on its connections. */
  server: Server;
  /** Closes every connection and the server. */
  stop(): Promise<void>;
}

export async function listenOnLoopback(handler: RequestListener): Promise<LoopbackServer> {
  const server: Server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no loopback address');
  return {
    url: `http://127.0.0.1:${address.port}`,
    server,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
