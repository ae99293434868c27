import { once } from 'node:events';
import { createConnection, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP relay on 127.0.0.1 in front of a real service, so a test can take the service away
 * from a client (stop: the listener closes and every relayed connection is destroyed) and give
 * it back on the same port (start), without touching the service itself.
 */
export interface TcpProxy {
  readonly port: number;
  /** Listens again on the same port. */
  start(): Promise<void>;
  /** Stops listening and destroys every open connection on both sides. Idempotent. */
  stop(): Promise<void>;
}

export interface TcpProxyOptions {
  readonly targetHost: string;
  readonly targetPort: number;
}

/** Starts a proxy to `targetHost:targetPort` on an ephemeral port of 127.0.0.1. */
export async function startTcpProxy(options: TcpProxyOptions): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;

  const listen = async (): Promise<void> => {
    const next = createServer((client) => {
      const upstream = createConnection({ host: options.targetHost, port: options.targetPort });
      for (const socket of [client, upstream]) {
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
        // Either side failing ends the pair; the error itself is the point of the test.
        socket.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    next.listen({ host: '127.0.0.1', port });
    await once(next, 'listening');
    const address = next.address();
    if (address === null || typeof address === 'string') throw new Error('proxy has no TCP address');
    port = address.port;
    server = next;
  };

  await listen();
  return {
    get port() {
      return port;
    },
    async start() {
      if (server === undefined) await listen();
    },
    async stop() {
      const current = server;
      server = undefined;
      // Stop accepting first so no connection slips in between the two steps.
      const closed =
        current === undefined
          ? Promise.resolve()
          : new Promise<void>((resolve, reject) => {
              current.close((err) => {
                if (err) reject(err);
                else resolve();
              });
            });
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      await closed;
    },
  };
}
