import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { getHeapStatistics } from 'node:v8';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { z } from 'zod';
import type { Database } from '../platform/database.js';
import type { StateStore } from '../platform/store.js';
import { AUTH_ERR_INVALID_TOKEN, RAMPART_ERR_INTERNAL, RAMPART_ERR_NOT_FOUND } from './errors.js';
import type { PasswordHasher } from './password-hashing.js';
import { PROBLEM_CONTENT_TYPE, problemType, sendProblem } from './problem-details.js';
import type { SecurityEventName, Severity } from './security-events.js';
import type { SessionChange } from './sessions.js';

/** The route label of a request no route matched: one series, however many paths are probed. */
export const NOT_FOUND_ROUTE = 'not_found';

/**
 * One labelled series of a hot-path histogram: plain numbers a request bumps (prom-client's
 * own `observe` validates and hashes the labels on every call, which cost more than a
 * microsecond per answer); the registry reads them when scraped.
 */
interface HotSeries {
  readonly labels: Readonly<Record<string, string>>;
  readonly buckets: Float64Array;
  sum: number;
  count: number;
}

/**
 * A histogram (with its count doubling as the request counter) for the request path, in
 * Prometheus's own exposition shape (`_bucket{le}`, `_sum`, `_count`), registered with the
 * instance's registry like any prom-client metric.
 */
class HotHistogram {
  private readonly series: HotSeries[] = [];
  constructor(registry: Registry, readonly name: string, readonly help: string, private readonly bounds: readonly number[]) {
    registry.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  create(labels: Readonly<Record<string, string>>): HotSeries {
    const series: HotSeries = { labels, buckets: new Float64Array(this.bounds.length), sum: 0, count: 0 };
    this.series.push(series);
    return series;
  }
  observe(series: HotSeries, value: number): void {
    const { bounds } = this;
    for (let i = 0; i < bounds.length; i++) {
      if (value <= (bounds[i] as number)) {
        series.buckets[i] = (series.buckets[i] as number) + 1;
        break;
      }
    }
    series.sum += value;
    series.count += 1;
  }
  get(): { name: string; help: string; type: string; aggregator: string; values: { metricName: string; labels: Record<string, string | number>; value: number }[] } {
    const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
    for (const series of this.series) {
      let cumulative = 0;
      this.bounds.forEach((bound, i) => {
        cumulative += series.buckets[i] as number;
        values.push({ metricName: `${this.name}_bucket`, labels: { ...series.labels, le: bound }, value: cumulative });
      });
      values.push({ metricName: `${this.name}_bucket`, labels: { ...series.labels, le: '+Inf' }, value: series.count });
      values.push({ metricName: `${this.name}_sum`, labels: { ...series.labels }, value: series.sum });
      values.push({ metricName: `${this.name}_count`, labels: { ...series.labels }, value: series.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

const HTTP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const ROUND_TRIP_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5];
const HASH_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const STORE_OPERATIONS = ['get', 'getMany', 'set', 'setIfAbsent', 'take', 'delete', 'increment', 'incrementMany', 'expire', 'ttlMs', 'setAdd', 'setRemove', 'setMembers', 'ping'] as const;
type HashOperation = 'hash' | 'verify' | 'verifyDummy';
const LOGIN_OUTCOMES: Partial<Record<SecurityEventName, string>> = { authn_login_success: 'success', authn_login_fail: 'failure', authn_login_lock: 'locked' };

interface RouteSeries {
  readonly duration: HotSeries;
  readonly status: string;
  /** Answers since the last scrape, added to the counter when it is read. */
  requests: number;
}

/**
 * One instance's Prometheus registry and the instruments the kernel feeds. Every instance has
 * its own registry (prom-client's global one would mix the series of several instances in one
 * process, as tests and benchmarks build them). Labels only ever take values from closed sets
 * (route templates, methods, status codes, event names, problem codes), never from a request.
 */
export interface RampartMetrics {
  readonly registry: Registry;
  /** The exposition format's content type. */
  readonly contentType: string;
  /** The text a scraper reads. */
  render(): Promise<string>;
  /** Counts one finished request under its route template. */
  observeRequest(method: string, route: string, status: number, seconds: number): void;
  /** Counts a problem answer (429, 503, …) by its stable code. */
  observeProblem(status: number, code: string): void;
  /** A request refused by load shedding, by the gauge that was over. */
  observeShed(pressure: string): void;
  observeSecurityEvent(event: SecurityEventName, severity: Severity): void;
  observeSessions(change: SessionChange, count: number): void;
  /** The same store, timing every operation (errors counted). */
  instrumentStore(store: StateStore): StateStore;
  /** The same hasher, timing every hash and verification, queue wait included. */
  instrumentPasswords(passwords: PasswordHasher): PasswordHasher;
  /** Times every query of the database until the returned function is called. */
  observeDatabase(database: Database): () => void;
  /** Reads the event-loop gauges (load shedding's) at scrape time. */
  readEventLoop(read: () => { readonly eventLoopDelay: number; readonly eventLoopUtilized: number }): void;
}

export function createMetrics(): RampartMetrics {
  const registry = new Registry();
  const registers = [registry];
  // The request path's two series are plain numbers bumped per answer, read at scrape time.
  const series = new Map<string, RouteSeries>();
  const durations = new Map<string, HotSeries>();
  const httpDuration = new HotHistogram(registry, 'rampart_http_request_duration_seconds', 'Time from receiving a request to sending its answer, by method and route template.', HTTP_BUCKETS);
  new Counter({
    name: 'rampart_http_requests_total',
    help: 'HTTP requests answered, by method, route template and status code.',
    labelNames: ['method', 'route', 'status_code'] as const,
    registers,
    collect() {
      for (const entry of series.values()) {
        if (entry.requests === 0) continue;
        this.inc({ method: entry.duration.labels.method ?? '', route: entry.duration.labels.route ?? '', status_code: entry.status }, entry.requests);
        entry.requests = 0;
      }
    },
  });
  const problems = new Counter({ name: 'rampart_problems_total', help: 'Problem (error) answers by status and stable code.', labelNames: ['status_code', 'code'] as const, registers });
  const refusals = new Counter({ name: 'rampart_rate_limit_refusals_total', help: 'Requests refused with 429 by a rate limit or the brute-force throttle, by problem code.', labelNames: ['code'] as const, registers });
  const shed = new Counter({ name: 'rampart_shed_requests_total', help: 'Requests refused with 503 by load shedding, by the gauge that was over.', labelNames: ['pressure'] as const, registers });
  const events = new Counter({ name: 'rampart_security_events_total', help: 'Security events recorded, by event and severity.', labelNames: ['event', 'severity'] as const, registers });
  const logins = new Counter({ name: 'rampart_logins_total', help: 'Password checks by outcome: success, failure, locked (the first refusal of a block).', labelNames: ['outcome'] as const, registers });
  const sessions = new Counter({ name: 'rampart_sessions_total', help: 'Sessions created, rotated and revoked on this instance.', labelNames: ['change'] as const, registers });
  const storeDuration = new HotHistogram(registry, 'rampart_store_operation_duration_seconds', 'Shared-store round trips by operation.', ROUND_TRIP_BUCKETS);
  const storeErrors = new Counter({ name: 'rampart_store_errors_total', help: 'Shared-store operations that failed, by operation.', labelNames: ['operation'] as const, registers });
  const dbDuration = new Histogram({ name: 'rampart_database_query_duration_seconds', help: 'Database query round trips.', buckets: ROUND_TRIP_BUCKETS, registers });
  const dbErrors = new Counter({ name: 'rampart_database_errors_total', help: 'Database queries that failed.', registers });
  const hashDuration = new Histogram({ name: 'rampart_password_hash_duration_seconds', help: 'Password hashes and verifications, queue wait included, by operation.', labelNames: ['operation'] as const, buckets: HASH_BUCKETS, registers });
  let hashers: PasswordHasher[] = [];
  new Gauge({
    name: 'rampart_password_hash_queue_depth',
    help: 'Password hash operations running plus waiting.',
    registers,
    collect() {
      this.set(hashers.reduce((sum, hasher) => sum + hasher.pending, 0));
    },
  });
  let eventLoop: (() => { readonly eventLoopDelay: number; readonly eventLoopUtilized: number }) | null = null;
  new Gauge({
    name: 'rampart_event_loop_delay_seconds',
    help: 'Event-loop delay as load shedding last sampled it.',
    registers,
    collect() {
      if (eventLoop !== null) this.set(eventLoop().eventLoopDelay / 1000);
    },
  });
  new Gauge({
    name: 'rampart_event_loop_utilization_ratio',
    help: 'Share of time the event loop was busy, as load shedding last sampled it.',
    registers,
    collect() {
      if (eventLoop !== null) this.set(eventLoop().eventLoopUtilized);
    },
  });
  new Gauge({
    name: 'rampart_heap_used_bytes',
    help: 'V8 heap in use.',
    registers,
    collect() {
      this.set(getHeapStatistics().used_heap_size);
    },
  });
  new Gauge({
    name: 'rampart_heap_limit_bytes',
    help: 'V8 heap size limit (load shedding refuses work near it).',
    registers,
    collect() {
      this.set(getHeapStatistics().heap_size_limit);
    },
  });
  new Gauge({
    name: 'rampart_process_resident_memory_bytes',
    help: 'Resident set size of the process.',
    registers,
    collect() {
      this.set(process.memoryUsage.rss());
    },
  });
  new Counter({
    name: 'rampart_process_cpu_seconds_total',
    help: 'CPU time (user and system) the process has used.',
    registers,
    collect() {
      const { user, system } = process.cpuUsage();
      this.reset();
      this.inc((user + system) / 1e6);
    },
  });

  // The hot path: one map lookup for a known (method, route, status), no label hashing.
  const storeSeries = new Map(STORE_OPERATIONS.map((op) => [op, { duration: storeDuration.create({ operation: op }), errors: storeErrors.labels(op) }]));
  const dbSeconds = (ms: number) => ms / 1000;

  return {
    registry,
    contentType: registry.contentType,
    render: () => registry.metrics(),
    observeRequest(method, route, status, seconds) {
      const key = `${method} ${status} ${route}`;
      let entry = series.get(key);
      if (entry === undefined) {
        const routeKey = `${method} ${route}`;
        let duration = durations.get(routeKey);
        if (duration === undefined) {
          duration = httpDuration.create({ method, route });
          durations.set(routeKey, duration);
        }
        entry = { duration, status: String(status), requests: 0 };
        series.set(key, entry);
      }
      entry.requests += 1;
      httpDuration.observe(entry.duration, seconds);
    },
    observeProblem(status, code) {
      problems.labels(String(status), code).inc();
      if (status === 429) refusals.labels(code).inc();
    },
    observeShed(pressure) {
      shed.labels(pressure).inc();
    },
    observeSecurityEvent(event, severity) {
      events.labels(event, severity).inc();
      const outcome = LOGIN_OUTCOMES[event];
      if (outcome !== undefined) logins.labels(outcome).inc();
    },
    observeSessions(change, count) {
      sessions.labels(change).inc(count);
    },
    instrumentStore(store) {
      // Every member of the store, bound to it (its implementations keep private state); the
      // operations are timed, the rest (kind, createRateLimiter, close, a twin's own helpers) pass through.
      const source = store as unknown as Record<string, unknown>;
      const timed: Record<string, unknown> = {};
      for (let proto: object | null = store; proto !== null && proto !== Object.prototype; proto = Object.getPrototypeOf(proto) as object | null) {
        for (const name of Object.getOwnPropertyNames(proto)) {
          if (name === 'constructor' || name in timed) continue;
          const value = source[name];
          timed[name] = typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(store) : value;
        }
      }
      for (const [operation, instruments] of storeSeries) {
        const inner = timed[operation];
        if (typeof inner !== 'function') continue;
        const run = inner as (...args: unknown[]) => Promise<unknown>;
        timed[operation] = (...args: unknown[]) => {
          const start = performance.now();
          return run(...args).then((value) => {
            storeDuration.observe(instruments.duration, (performance.now() - start) / 1000);
            return value;
          }, (err: unknown) => {
            storeDuration.observe(instruments.duration, (performance.now() - start) / 1000);
            instruments.errors.inc();
            throw err;
          });
        };
      }
      // Not frozen: tests wrap the store in a Proxy, whose traps must be free to answer.
      return timed as unknown as StateStore;
    },
    instrumentPasswords(passwords) {
      hashers = [...hashers, passwords];
      const timed = <A extends unknown[], R>(operation: HashOperation, run: (...args: A) => Promise<R>) => {
        const histogram = hashDuration.labels(operation);
        return async (...args: A): Promise<R> => {
          const end = histogram.startTimer();
          try {
            return await run(...args);
          } finally {
            end();
          }
        };
      };
      return Object.freeze({
        hash: timed('hash', (password: string) => passwords.hash(password)),
        verify: timed('verify', (storedHash: string, password: string) => passwords.verify(storedHash, password)),
        verifyDummy: timed('verifyDummy', (password: string) => passwords.verifyDummy(password)),
        needsRehash: (storedHash: string) => passwords.needsRehash(storedHash),
        get pending() {
          return passwords.pending;
        },
      });
    },
    observeDatabase(database) {
      return database.observeQueries((ms, failed) => {
        dbDuration.observe(dbSeconds(ms));
        if (failed) dbErrors.inc();
      });
    },
    readEventLoop(read) {
      eventLoop = read;
    },
  };
}

declare module 'fastify' {
  interface FastifyInstance {
    /** This instance's Prometheus registry and instruments. */
    metrics: RampartMetrics;
  }
  interface FastifyReply {
    /** The stable code of the problem this reply sends, for metrics (set by sendProblem). */
    rampartProblemCode: string | null;
  }
}

/**
 * Decorates `metrics` and counts every answer under its route template (`not_found` when no
 * route matched), with its latency and, for a problem, its code. Registered before any route.
 */
export const metricsPlugin = fp<{ readonly metrics: RampartMetrics }>(
  (app: FastifyInstance, { metrics }, done) => {
    app.decorate('metrics', metrics);
    app.decorateReply('rampartProblemCode', null);
    app.addHook('onResponse', (request, reply, next) => {
      const route = request.is404 ? NOT_FOUND_ROUTE : request.routeOptions.url ?? NOT_FOUND_ROUTE;
      metrics.observeRequest(request.method, route, reply.statusCode, reply.elapsedTime / 1000);
      if (reply.rampartProblemCode !== null) metrics.observeProblem(reply.statusCode, reply.rampartProblemCode);
      next();
    });
    done();
  },
  { name: 'rampart-metrics' },
);

/** SHA-256 of both sides, so the comparison runs on equal lengths and in constant time. */
function tokenChecker(token: string): (header: string | undefined) => boolean {
  const expected = createHash('sha256').update(token).digest();
  return (header) => {
    const match = header === undefined ? null : /^Bearer +([\x21-\x7e]{1,1024})$/i.exec(header);
    const presented = createHash('sha256').update(match?.[1] ?? '').digest();
    return timingSafeEqual(presented, expected) && match !== null;
  };
}

export interface MetricsRouteOptions {
  /** The bearer token a scraper must send; at least 32 random bytes (the configuration checks it). */
  readonly token: string;
}

/**
 * `GET /metrics` on the main port, for a scraper that sends `Authorization: Bearer <token>`.
 * Registered only when a token is configured: without one the route does not exist (404).
 * The kernel's own authentication does not read the header here (`authenticate: false`): the
 * metrics token is not a user's credential. A wrong or missing token is a 401 problem and an
 * `authn_token_invalid` event; the global rate limit applies as everywhere.
 */
export const metricsRoutePlugin = fp<MetricsRouteOptions>(
  (app: FastifyInstance, { token }, done) => {
    if (typeof token !== 'string' || token.length < 32) throw new TypeError('metrics: the token must be a string of at least 32 characters');
    const valid = tokenChecker(token);
    const refused = new AUTH_ERR_INVALID_TOKEN();
    app.get('/metrics', {
      config: { access: 'public', authenticate: false },
      schema: { querystring: z.strictObject({}), response: { 200: z.string() } },
    }, async (request: FastifyRequest, reply: FastifyReply) => {
      if (!valid(request.headers.authorization)) {
        request.server.securityEvents.recordFor(request, 'authn_token_invalid', { details: { reason: 'metrics_token', kind: 'metrics' } });
        reply.header('www-authenticate', 'Bearer realm="metrics"');
        return sendProblem(reply, { status: refused.statusCode, code: refused.code, title: refused.message });
      }
      reply.header('cache-control', 'no-store');
      reply.type(app.metrics.contentType);
      return app.metrics.render();
    });
    done();
  },
  { name: 'rampart-metrics-route', dependencies: ['rampart-metrics', 'rampart-security-events'] },
);

export interface MetricsServerOptions {
  readonly metrics: RampartMetrics;
  /** When set, the listener requires it too (`Authorization: Bearer <token>`). */
  readonly token: string | null;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly maxHeaderBytes: number;
  /** Told of each refused token, for the security event. */
  readonly onRefused?: (request: IncomingMessage) => void;
}

function problem(response: ServerResponse, status: number, code: string, title: string, headers: Record<string, string> = {}): void {
  const body = JSON.stringify({ type: problemType(code), title, status, code });
  response.writeHead(status, { 'content-type': PROBLEM_CONTENT_TYPE, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'content-length': Buffer.byteLength(body), ...headers });
  response.end(body);
}

/**
 * The separate metrics listener (`RAMPART_METRICS_PORT`): a plain HTTP server that answers
 * `GET /metrics` and nothing else, meant for a loopback or private address the scraper
 * reaches. It reads no body and keeps the main port's header limits and timeouts.
 */
export function createMetricsServer(options: MetricsServerOptions): Server {
  const valid = options.token === null ? null : tokenChecker(options.token);
  const server = createServer({ maxHeaderSize: options.maxHeaderBytes, headersTimeout: options.headersTimeoutMs, requestTimeout: options.requestTimeoutMs }, (request, response) => {
    // A body is never read: drop it rather than buffer it.
    request.resume();
    const path = (request.url ?? '').split('?', 1)[0];
    if (path !== '/metrics') {
      problem(response, 404, RAMPART_ERR_NOT_FOUND.code, RAMPART_ERR_NOT_FOUND.message);
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      problem(response, 404, RAMPART_ERR_NOT_FOUND.code, RAMPART_ERR_NOT_FOUND.message);
      return;
    }
    if (valid !== null && !valid(request.headers.authorization)) {
      options.onRefused?.(request);
      problem(response, 401, AUTH_ERR_INVALID_TOKEN.code, new AUTH_ERR_INVALID_TOKEN().message, { 'www-authenticate': 'Bearer realm="metrics"' });
      return;
    }
    options.metrics.render().then((text) => {
      response.writeHead(200, { 'content-type': options.metrics.contentType, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
      response.end(request.method === 'HEAD' ? undefined : text);
    }, () => {
      problem(response, RAMPART_ERR_INTERNAL.statusCode, RAMPART_ERR_INTERNAL.code, RAMPART_ERR_INTERNAL.message);
    });
  });
  return server;
}
