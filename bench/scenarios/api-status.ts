import { startBareFastify, type BareFastify } from '../bare-fastify.js';
import type { Scenario, ScenarioTargets } from '../harness.js';
import type { LoadTarget } from '../load.js';
import { probe } from '../probe.js';
import { startBenchRampart } from '../rampart.js';

// The global limit stays on, and every request costs its Redis round trip; the budget is
// set far above what one loopback client can send on this hardware (100 000 req/s), so the
// limiter counts every request and never refuses one. Any 429 fails the bench.
const RATE_LIMIT_POINTS = 1_000_000;
const RATE_LIMIT_WINDOW_SECONDS = 10;
const PATH = '/api/status';
// Headers that show the request went through the kernel, not around it.
const STACK_HEADERS = ['ratelimit-policy', 'ratelimit', 'content-security-policy', 'x-content-type-options', 'cache-control'];

/** Checks a target answers 200 with exactly `{status: 'ok', time: <ISO date>}`. */
async function checkStatusShape(target: LoadTarget): Promise<Readonly<Record<string, string | string[] | undefined>>> {
  const res = await probe(target);
  if (res.status !== 200) throw new Error(`${target.label}: GET ${PATH} answered ${res.status}`);
  const body = JSON.parse(res.body) as Record<string, unknown>;
  const keys = Object.keys(body).sort().join(',');
  if (keys !== 'status,time' || body.status !== 'ok' || typeof body.time !== 'string' || Number.isNaN(Date.parse(body.time))) {
    throw new Error(`${target.label}: GET ${PATH} answered an unexpected body: ${res.body.slice(0, 200)}`);
  }
  return res.headers;
}

/**
 * Issue 6's foundation benchmark: the public JSON status route served through the whole
 * Rampart stack (headers, load shedding, the global rate limit on Redis, input hardening,
 * zod validation and serialization, problem+json errors, request logging) against a bare
 * Fastify route returning the same JSON.
 */
export const apiStatusScenario: Scenario = {
  name: 'api-status',
  description: `GET ${PATH}: the whole Rampart stack against bare Fastify serving the same JSON`,
  ratioName: 'rampart/bare',
  targetRatio: 0.75,
  async start(): Promise<ScenarioTargets> {
    const rampart = await startBenchRampart({
      env: { RAMPART_RATE_LIMIT_POINTS: String(RATE_LIMIT_POINTS), RAMPART_RATE_LIMIT_WINDOW_SECONDS: String(RATE_LIMIT_WINDOW_SECONDS) },
    });
    let bare: BareFastify;
    try {
      bare = await startBareFastify((app) => {
        app.get(PATH, () => ({ status: 'ok', time: new Date().toISOString() }));
      });
    } catch (err) {
      await rampart.close();
      throw err;
    }
    const close = async (): Promise<void> => {
      const outcomes = await Promise.allSettled([rampart.close(), bare.close()]);
      const failure = outcomes.find((o) => o.status === 'rejected');
      if (failure !== undefined) throw failure.reason;
    };
    const subject: LoadTarget = { label: 'rampart', origin: rampart.origin, request: { path: PATH } };
    const baseline: LoadTarget = { label: 'bare fastify', origin: bare.origin, request: { path: PATH } };
    let headers: Readonly<Record<string, string | string[] | undefined>>;
    let callsBefore: number;
    try {
      headers = await checkStatusShape(subject);
      await checkStatusShape(baseline);
      // Proof that the request went through the limiter rather than around it.
      if (headers.ratelimit === undefined) throw new Error('rampart: the response carries no RateLimit header, so the global limit did not run');
      callsBefore = await rampart.redis.commandCalls('evalsha');
    } catch (err) {
      await close();
      throw err;
    }
    const store = rampart.app.store.kind;
    const database = rampart.config.database.url === null ? 'embedded PGlite, in memory (this route does not query it)' : 'PostgreSQL from RAMPART_BENCH_DATABASE_URL';
    return {
      subject,
      baseline,
      notes: [
        `rampart: buildRampart with every protection on, NODE_ENV=test, fresh random secrets, ${store} store (prefix ${rampart.redisPrefix}), ${database}`,
        `rampart: global rate limit ON at ${RATE_LIMIT_POINTS.toLocaleString('en-US')} requests per ${RATE_LIMIT_WINDOW_SECONDS} s per client, so it does a Redis round trip per request but never trips (a 429 fails the bench)`,
        `rampart: request logging at level ${rampart.config.logLevel} (one access line per request) to /dev/null`,
        ...STACK_HEADERS.map((name) => `rampart: probe response ${name}: ${String(headers[name])}`),
        'bare fastify: Fastify() with defaults, no plugins, hooks, schemas or logger',
      ],
      async afterRounds(totals) {
        const [calls, counter, keys] = await Promise.all([
          rampart.redis.commandCalls('evalsha'),
          rampart.redis.get('rl:global:127.0.0.1'),
          rampart.redis.countKeys(),
        ]);
        return [
          `redis: ${(calls - callsBefore).toLocaleString('en-US')} EVALSHA calls during the run (server-wide) for ${totals.subjectResponses.toLocaleString('en-US')} rampart responses`,
          `redis: limiter counter for 127.0.0.1 in the current window: ${counter ?? 'none'} of ${RATE_LIMIT_POINTS.toLocaleString('en-US')}; ${keys} key(s) under ${rampart.redisPrefix}, deleted on close`,
        ];
      },
      close,
    };
  },
};
