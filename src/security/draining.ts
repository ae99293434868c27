import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { RAMPART_ERR_SHUTTING_DOWN } from './errors.js';
import { sendProblem } from './problem-details.js';

/**
 * Refuses new work while the instance drains: from `preClose` (before the server stops
 * accepting) every new request gets 503 with `Connection: close` and `Retry-After`, so a load
 * balancer moves the client to another instance while requests in flight finish.
 */
export const drainingPlugin = fp(
  (app: FastifyInstance, _options, done) => {
    let closing = false;
    app.addHook('preClose', (next) => {
      closing = true;
      next();
    });
    app.addHook('onRequest', (_request, reply, next) => {
      if (!closing) {
        next();
        return;
      }
      reply.header('connection', 'close');
      reply.header('retry-after', '5');
      void sendProblem(reply, { status: RAMPART_ERR_SHUTTING_DOWN.statusCode, code: RAMPART_ERR_SHUTTING_DOWN.code, title: RAMPART_ERR_SHUTTING_DOWN.message });
    });
    done();
  },
  { name: 'rampart-draining', dependencies: ['rampart-problem-details'] },
);
