import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';

export interface BareFastify {
  readonly app: FastifyInstance;
  readonly origin: string;
  close(): Promise<void>;
}

/**
 * The baseline: Fastify with its defaults and no plugins, hooks, schemas or logger, given
 * only the routes a scenario needs, listening on an ephemeral loopback port.
 */
export async function startBareFastify(routes: (app: FastifyInstance) => void): Promise<BareFastify> {
  const app = Fastify();
  routes(app);
  try {
    await app.listen({ host: '127.0.0.1', port: 0 });
  } catch (err) {
    await app.close();
    throw err;
  }
  const { port } = app.server.address() as AddressInfo;
  return { app, origin: `http://127.0.0.1:${port}`, close: () => app.close() };
}
