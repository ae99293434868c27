import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { RateLimiterRes } from 'rate-limiter-flexible';
import { createRedisStore } from '../../src/platform/redis-store.js';
import type { StateStore, StoreLogger } from '../../src/platform/store.js';
import { testTarget, uniquePrefix } from '../helpers/target.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

const target = testTarget();

/** Longest any single call may take before the test calls it a hang. */
const HANG_MS = 5_000;
const RECOVERY_POLLS = 300;

type Settled<T> = { status: 'resolved'; value: T } | { status: 'rejected'; reason: unknown } | { status: 'hung' };

/** Settles `promise` or reports that it hung; the bound is a safety net, not an assertion on time. */
async function settleWithin<T>(promise: Promise<T>): Promise<Settled<T>> {
  const timeout = new AbortController();
  try {
    return await Promise.race([
      promise.then(
        (value): Settled<T> => ({ status: 'resolved', value }),
        (reason: unknown): Settled<T> => ({ status: 'rejected', reason }),
      ),
      delay(HANG_MS, { status: 'hung' } as const, { signal: timeout.signal }),
    ]);
  } finally {
    timeout.abort();
  }
}

function assertUnavailable(outcome: Settled<unknown>): void {
  assert.equal(outcome.status, 'rejected', `expected STORE_ERR_UNAVAILABLE, got ${outcome.status}`);
  const { reason } = outcome as { reason: unknown };
  assert.ok(reason instanceof Error, String(reason));
  assert.equal((reason as Error & { code?: unknown }).code, 'STORE_ERR_UNAVAILABLE');
  assert.ok(reason.cause instanceof Error, 'the Redis error is attached as the cause');
}

interface LogLine {
  readonly level: 'warn' | 'error' | 'info';
  readonly obj: object;
  readonly msg: string;
}

function recordingLogger(lines: LogLine[]): StoreLogger {
  return {
    warn: (obj, msg) => lines.push({ level: 'warn', obj, msg }),
    error: (obj, msg) => lines.push({ level: 'error', obj, msg }),
    info: (obj, msg) => lines.push({ level: 'info', obj, msg }),
  };
}

// Only the real target has a Redis to take away; the embedded run registers nothing here.
if (target.kind === 'real') {
  describe('Redis store during a Redis outage', () => {
    const upstream = new URL(target.redisUrl);
    const lines: LogLine[] = [];
    let proxy: TcpProxy;
    let store: StateStore;

    before(async () => {
      proxy = await startTcpProxy({ targetHost: upstream.hostname, targetPort: Number(upstream.port || 6379) });
      const viaProxy = new URL(target.redisUrl);
      viaProxy.hostname = '127.0.0.1';
      viaProxy.port = String(proxy.port);
      store = await createRedisStore({ url: viaProxy.toString(), keyPrefix: uniquePrefix(target, 'outage'), logger: recordingLogger(lines) });
    });

    after(async () => {
      await store.close();
      await proxy.stop();
    });

    it('fails fast while Redis is gone, keeps limiting through the insurance limiter, and recovers', async () => {
      const spec = { keyPrefix: 'login', points: 3, durationSeconds: 60 };
      const limiter = store.createRateLimiter(spec);
      await store.set('before', 'v', { ttlMs: 60_000 });
      await limiter.consume(randomUUID());
      assert.equal(lines.length, 0, 'nothing is logged while Redis is healthy');

      await proxy.stop();

      assertUnavailable(await settleWithin(store.ping()));
      assertUnavailable(await settleWithin(store.get('before')));
      assertUnavailable(await settleWithin(store.increment('counter', { ttlMs: 60_000 })));

      const attacker = randomUUID();
      for (let i = 0; i < spec.points; i += 1) {
        const allowed = await settleWithin(limiter.consume(attacker));
        assert.equal(allowed.status, 'resolved', `consume ${i + 1} of ${spec.points} is allowed`);
      }
      const refused = await settleWithin(limiter.consume(attacker));
      assert.equal(refused.status, 'rejected');
      const { reason } = refused as { reason: unknown };
      assert.ok(reason instanceof RateLimiterRes, `the insurance limiter refuses with a RateLimiterRes, got ${String(reason)}`);
      assert.ok(reason.msBeforeNext > 0);

      const fallbacks = lines.filter((line) => line.level === 'warn');
      assert.equal(fallbacks.length, 1, 'the switch to the insurance limiter is logged once per outage');
      assert.match(fallbacks[0]!.msg, /insurance/);
      assert.deepEqual((fallbacks[0]!.obj as { limiter?: unknown }).limiter, 'login');
      assert.equal(lines.filter((line) => line.level === 'error').length, 1, 'the outage itself is logged once');
      for (const line of lines) assert.doesNotMatch(JSON.stringify(line.obj), /:[^/@:]+@/, 'no credentials in logs');

      await proxy.start();

      let recovered = false;
      for (let poll = 0; poll < RECOVERY_POLLS && !recovered; poll += 1) {
        recovered = (await settleWithin(store.ping())).status === 'resolved';
        if (!recovered) await delay(50);
      }
      assert.ok(recovered, 'the store reconnects by itself once Redis is back');
      assert.equal(await store.get('before'), 'v', 'data written before the outage is still there');
      assert.equal(await store.increment('counter', { ttlMs: 60_000 }), 1);
      assert.ok(lines.some((line) => line.level === 'info' && /restored/.test(line.msg)), 'the recovery is logged');

      // Back on Redis: a fresh consumer is counted there, not by the insurance limiter.
      const warningsBefore = lines.filter((line) => line.level === 'warn').length;
      const res = await limiter.consume(randomUUID());
      assert.equal(res.remainingPoints, spec.points - 1);
      assert.equal(lines.filter((line) => line.level === 'warn').length, warningsBefore);
    });
  });
}
