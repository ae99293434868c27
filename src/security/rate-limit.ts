import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { StateStore } from '../platform/store.js';
import { createAttemptLimiter, type AttemptLimiter } from './brute-force.js';
import { clientKey } from './client-ip.js';
import { RAMPART_ERR_RATE_LIMITED } from './errors.js';
import { routeConfig } from './pages.js';
import { sendProblem } from './problem-details.js';
import { defaultBatch, RequestBudget, type BudgetDecision } from './request-budget.js';

export interface GlobalRateLimitOptions {
  readonly store: StateStore;
  /** Requests one client (IPv4 address or IPv6 /64) may make per window. */
  readonly points: number;
  readonly windowSeconds: number;
  /** Requests per client an instance may admit between synchronisations (default 2 % of `points`, 0 below 50). */
  readonly batch?: number;
}

/**
 * A route's own limit, beside the global one: `points` uses per `windowSeconds` for each signed-in
 * user (`per: 'user'`) or client (`per: 'client'`, an IPv4 address or IPv6 /64). Routes that
 * name the same limit share one budget (the API and the pages of one action). With
 * `spend: 'handler'` the handler spends it (`reply.spendRateLimit()`) once its own checks
 * pass, so a refused or invalid request costs nothing; by default it is spent before the
 * handler, after authentication, validation and the CSRF check.
 */
export interface RouteRateLimit {
  /** Names the budget (`content_writes`) in the store and in `excess_rate_limit_exceeded` events. */
  readonly name: string;
  readonly points: number;
  readonly windowSeconds: number;
  readonly per: 'user' | 'client';
  /** The refusal: a 429 in this error's code and words. */
  readonly error: { readonly code: string; readonly message: string };
  readonly spend?: 'before-handler' | 'handler';
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** `false` exempts a route from the global per-IP limit (logged at boot); an object adds the route's own limit. */
    rateLimit?: false | RouteRateLimit;
  }
  interface FastifyReply {
    /**
     * Spends one use of the route's own limit (`config.rateLimit`); false when it is spent up
     * and the 429 (Retry-After, the route's error code, an event) has been sent.
     */
    spendRateLimit(): Promise<boolean>;
  }
}

const LIMIT_NAME = /^[a-z][a-z0-9_]{0,39}$/;

/**
 * Routes' own limits, declared in route config and built when the route registers, like its
 * access rule: no limiter is constructed by hand. Each name is one fixed-window limiter on the
 * shared store (exact across instances: these guard content writes and other costly actions).
 */
export const routeRateLimitsPlugin = fp<{ readonly store: StateStore }>(
  (app: FastifyInstance, { store }, done) => {
    const limiters = new Map<string, { readonly limit: RouteRateLimit; readonly limiter: AttemptLimiter }>();
    const spendBeforeHandler = async (_request: FastifyRequest, reply: FastifyReply): Promise<void> => {
      await reply.spendRateLimit();
    };
    app.addHook('onRoute', (route) => {
      const limit = route.config?.rateLimit;
      if (limit === undefined || limit === false) return;
      const where = `Route ${String(route.method)} ${route.url}`;
      if (!LIMIT_NAME.test(limit.name)) throw new Error(`${where}: rateLimit.name must be lowercase letters, digits and underscores`);
      if (limit.per === 'user' && route.config?.access === 'public') throw new Error(`${where}: a per-user limit needs a route that is not public`);
      const known = limiters.get(limit.name);
      if (known === undefined) {
        limiters.set(limit.name, { limit, limiter: createAttemptLimiter({ store, keyPrefix: `rl:${limit.name}`, points: limit.points, durationSeconds: limit.windowSeconds }) });
      } else if (known.limit.points !== limit.points || known.limit.windowSeconds !== limit.windowSeconds || known.limit.per !== limit.per) {
        throw new Error(`${where}: the limit "${limit.name}" is declared elsewhere with other numbers`);
      }
      // Spent before the handler unless the handler spends it: a hook on this route only, after
      // the global preHandlers (the CSRF check), so no other route pays for it.
      if (limit.spend !== 'handler') {
        const existing = route.preHandler === undefined ? [] : Array.isArray(route.preHandler) ? route.preHandler : [route.preHandler];
        route.preHandler = [...existing, spendBeforeHandler];
      }
    });
    app.decorateReply('spendRateLimit', async function spendRateLimit(this: FastifyReply): Promise<boolean> {
      const { request } = this;
      const limit = request.routeOptions.config.rateLimit;
      const entry = limit === undefined || limit === false ? undefined : limiters.get(limit.name);
      if (limit === undefined || limit === false || entry === undefined) throw new Error(`${request.routeOptions.url ?? 'this route'} declares no rateLimit to spend`);
      // A per-user limit counts a guest (on a route open to guests) by client, never in one shared bucket.
      const { principal } = request;
      const claim = await entry.limiter.consume(limit.per === 'user' && principal !== null ? `user:${principal.id}` : clientKey(request.ip));
      if (claim.allowed) return true;
      request.server.securityEvents.recordFor(request, 'excess_rate_limit_exceeded', { details: { limit: limit.name } });
      this.header('retry-after', String(claim.retryAfterSeconds));
      await sendProblem(this, { status: 429, code: limit.error.code, title: limit.error.message });
      return false;
    });
    done();
  },
  { name: 'rampart-route-rate-limits', dependencies: ['rampart-security-events', 'rampart-problem-details'] },
);

const POLICY = 'global';
/** How often each instance adds its locally admitted requests to the shared counters. */
export const RATE_LIMIT_SYNC_INTERVAL_MS = 100;

/**
 * The global per-client rate limit, one budget across every instance. It is a DoS guard, not a
 * brute-force counter (those stay exact, see brute-force.ts): requests are counted locally and
 * added to the shared counters every {@link RATE_LIMIT_SYNC_INTERVAL_MS} in one round trip, so
 * an admitted request usually costs none. Each instance admits locally at most a batch of 2 %
 * of the budget per client between two answered synchronisations (none for budgets below 50,
 * which are decided by the store on every request), and a client's first request on an
 * instance in each window is decided by the store; so N instances admit at most
 * `points + N × batch − 1` per window, and one instance exactly `points`; see
 * {@link RequestBudget}. On the in-memory store (one process by contract) the budget is never
 * written to the store: the local counts are exact, and a flood of distinct clients cannot
 * fill the store that sessions and login throttles need. Answers 429 problem+json with
 * `Retry-After` and the IETF `RateLimit`/`RateLimit-Policy` headers; the first refusal of a
 * window is a security event.
 */
export const globalRateLimitPlugin = fp<GlobalRateLimitOptions>(
  (app: FastifyInstance, { store, points, windowSeconds, batch }, done) => {
    if (!Number.isInteger(points) || points < 1) throw new TypeError('rate limit points must be a positive integer');
    if (!Number.isInteger(windowSeconds) || windowSeconds < 1) throw new TypeError('rate limit window must be a positive number of seconds');
    const budget = new RequestBudget({
      store: store.kind === 'memory' ? null : store,
      keyPrefix: 'rl:global:',
      points,
      windowSeconds,
      batch: batch ?? defaultBatch(points),
      syncIntervalMs: Math.min(RATE_LIMIT_SYNC_INTERVAL_MS, windowSeconds * 1000),
      onFallback: (err) => {
        app.log.warn({ limiter: 'rl:global', err }, 'store unreachable: the global rate limit is enforced per process (insurance) until it returns');
      },
    });
    app.addHook('onClose', async () => {
      await budget.close();
    });
    const policyHeader = `"${POLICY}";q=${points};w=${windowSeconds}`;
    app.addHook('onRoute', (route) => {
      if (route.config?.rateLimit === false) app.log.warn({ route: `${String(route.method)} ${route.url}` }, 'route exempt from the global rate limit');
    });
    const decide = (request: FastifyRequest, reply: FastifyReply, decision: BudgetDecision): FastifyReply | undefined => {
      if (decision.allowed) {
        reply.header('ratelimit', `"${POLICY}";r=${decision.remaining};t=${Math.ceil(decision.msBeforeNext / 1000)}`);
        return undefined;
      }
      const retryAfter = Math.max(1, Math.ceil(decision.msBeforeNext / 1000));
      // Record the first refusal of each window, not every request of a flood.
      if (decision.firstRefusal) {
        request.server.securityEvents.recordFor(request, 'excess_rate_limit_exceeded', { details: { policy: POLICY, points, window_seconds: windowSeconds } });
      }
      reply.header('retry-after', String(retryAfter));
      reply.header('ratelimit', `"${POLICY}";r=0;t=${retryAfter}`);
      return sendProblem(reply, { status: RAMPART_ERR_RATE_LIMITED.statusCode, code: RAMPART_ERR_RATE_LIMITED.code, title: RAMPART_ERR_RATE_LIMITED.message });
    };
    app.addHook('onRequest', (request, reply, next) => {
      if (routeConfig(request).rateLimit === false) {
        next();
        return;
      }
      reply.header('ratelimit-policy', policyHeader);
      const decision = budget.consume(clientKey(request.ip));
      if (!(decision instanceof Promise)) {
        if (decide(request, reply, decision) === undefined) next();
        return;
      }
      decision.then((settled) => {
        if (decide(request, reply, settled) === undefined) next();
      }, next);
    });
    done();
  },
  { name: 'rampart-global-rate-limit', dependencies: ['rampart-security-events', 'rampart-problem-details'] },
);
