import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { RateLimiterRes } from 'rate-limiter-flexible';
import type { StateStore } from '../platform/store.js';
import { clientKey } from './client-ip.js';
import { sendProblem } from './problem-details.js';

export interface GlobalRateLimitOptions {
  readonly store: StateStore;
  /** Requests one client (IPv4 address or IPv6 /64) may make per window. */
  readonly points: number;
  readonly windowSeconds: number;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** `false` exempts a route from the global per-IP limit; the exemption is logged at boot. */
    rateLimit?: false;
  }
}

const POLICY = 'global';

/**
 * The global per-client rate limit, counted in the shared store so that every instance
 * enforces one budget. Answers 429 problem+json with `Retry-After` and the IETF
 * `RateLimit`/`RateLimit-Policy` headers; the first refusal of a window is a security event.
 */
export const globalRateLimitPlugin = fp<GlobalRateLimitOptions>(
  (app: FastifyInstance, { store, points, windowSeconds }, done) => {
    if (!Number.isInteger(points) || points < 1) throw new TypeError('rate limit points must be a positive integer');
    if (!Number.isInteger(windowSeconds) || windowSeconds < 1) throw new TypeError('rate limit window must be a positive number of seconds');
    const limiter = store.createRateLimiter({ keyPrefix: 'rl:global', points, durationSeconds: windowSeconds });
    const policyHeader = `"${POLICY}";q=${points};w=${windowSeconds}`;
    app.addHook('onRoute', (route) => {
      if (route.config?.rateLimit === false) app.log.warn({ route: `${String(route.method)} ${route.url}` }, 'route exempt from the global rate limit');
    });
    app.addHook('onRequest', async (request, reply) => {
      if (request.routeOptions.config.rateLimit === false) return;
      reply.header('ratelimit-policy', policyHeader);
      try {
        const result = await limiter.consume(clientKey(request.ip));
        reply.header('ratelimit', `"${POLICY}";r=${result.remainingPoints};t=${Math.ceil(result.msBeforeNext / 1000)}`);
      } catch (rejection) {
        if (!(rejection instanceof RateLimiterRes)) throw rejection;
        const retryAfter = Math.max(1, Math.ceil(rejection.msBeforeNext / 1000));
        // Record the first refusal of each window, not every request of a flood.
        if (rejection.consumedPoints === points + 1) {
          request.server.securityEvents.recordFor(request, 'excess_rate_limit_exceeded', { details: { policy: POLICY, points, window_seconds: windowSeconds } });
        }
        reply.header('retry-after', String(retryAfter));
        reply.header('ratelimit', `"${POLICY}";r=0;t=${retryAfter}`);
        return sendProblem(reply, { status: 429, code: 'RAMPART_ERR_RATE_LIMITED', title: 'Too many requests: slow down and retry after the time in Retry-After.' });
      }
      return undefined;
    });
    done();
  },
  { name: 'rampart-global-rate-limit', dependencies: ['rampart-security-events', 'rampart-problem-details'] },
);
