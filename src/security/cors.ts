import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

export interface CorsOptions {
  /** Exact origins (scheme, host, port) allowed to call cross-origin; `*` allows any origin without credentials. */
  readonly origins: readonly string[];
  /** Send `Access-Control-Allow-Credentials` to the exact origins listed. Never combined with `*`. */
  readonly credentials: boolean;
}

const ALLOW_METHODS = 'GET, HEAD, POST, PUT, PATCH, DELETE';
const ALLOW_HEADERS = 'Authorization, Content-Type, X-CSRF-Token';
const PREFLIGHT_MAX_AGE = '600';

/**
 * CORS, off unless origins are configured. Only exact origins are matched (no suffixes, no
 * patterns, no reflection of whatever arrives), and a request from any other origin gets no
 * `Access-Control-Allow-*` header at all, preflight included.
 */
export const corsPlugin = fp<CorsOptions>(
  (app: FastifyInstance, { origins, credentials }, done) => {
    if (origins.includes('*') && credentials) throw new TypeError('CORS: `*` cannot be combined with credentials');
    const anyOrigin = origins.includes('*');
    const exact = new Set(origins.filter((origin) => origin !== '*'));
    if (origins.length === 0) {
      done();
      return;
    }
    app.addHook('onRequest', (request, reply, next) => {
      // Answers differ by Origin, so caches must key on it.
      reply.header('vary', 'Origin');
      const origin = request.headers.origin;
      const listed = typeof origin === 'string' && exact.has(origin);
      if (typeof origin !== 'string' || (!listed && !anyOrigin)) {
        next();
        return;
      }
      reply.header('access-control-allow-origin', listed ? origin : '*');
      if (credentials && listed) reply.header('access-control-allow-credentials', 'true');
      if (request.method === 'OPTIONS' && typeof request.headers['access-control-request-method'] === 'string') {
        reply.header('access-control-allow-methods', ALLOW_METHODS);
        reply.header('access-control-allow-headers', ALLOW_HEADERS);
        reply.header('access-control-max-age', PREFLIGHT_MAX_AGE);
        void reply.code(204).send();
        return;
      }
      next();
    });
    done();
  },
  { name: 'rampart-cors' },
);
