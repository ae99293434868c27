import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import fc from 'fast-check';
import { RateLimiterRes } from 'rate-limiter-flexible';
import { createMemoryStore } from '../../src/platform/memory-store.js';
import { createRedisStore } from '../../src/platform/redis-store.js';
import {
  MAX_KEY_LENGTH,
  MAX_MEMBER_LENGTH,
  MAX_TTL_MS,
  MAX_VALUE_LENGTH,
  type StateStore,
  type StoreLogger,
  type TtlOption,
} from '../../src/platform/store.js';
import { openRedisStores, type StoreHandles, redisKeys } from '../helpers/stores.js';
import { testTarget } from '../helpers/target.js';

const target = testTarget();

interface Opened extends StoreHandles {
  /** Lets `ms` pass for this store: its injected clock in memory, real time for Redis. */
  readonly pass: (ms: number) => Promise<void>;
}

interface Subject {
  readonly name: string;
  /** A TTL the suite can wait out by polling. */
  readonly shortTtlMs: number;
  open(): Promise<Opened>;
}

const LONG: TtlOption = { ttlMs: 60_000 };
const POLL_STEP_MS = 20;
const POLL_STEPS = 250;

/** Polls `check`, letting time pass between attempts, and fails after a bounded number of them. */
async function eventually(pass: (ms: number) => Promise<void>, what: string, check: () => Promise<boolean>): Promise<void> {
  for (let step = 0; step < POLL_STEPS; step += 1) {
    if (await check()) return;
    await pass(POLL_STEP_MS);
  }
  assert.fail(`${what}: still not true after ${POLL_STEPS} polls`);
}

function hasCode(code: string): (err: unknown) => boolean {
  return (err) => err instanceof Error && (err as Error & { code?: unknown }).code === code;
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => assert.fail('expected a rejection'),
    (err: unknown) => err,
  );
}

/** Every behaviour a StateStore promises, run against each implementation. */
function storeContract(subject: Subject): void {
  describe(`StateStore contract: ${subject.name}`, () => {
    let opened: Opened;
    let store: StateStore;
    beforeEach(async () => {
      opened = await subject.open();
      store = opened.store;
    });
    afterEach(() => opened.close());

    it('returns what was set, and null for a key never written', async () => {
      await store.set('greeting', 'hello', LONG);
      assert.equal(await store.get('greeting'), 'hello');
      assert.equal(await store.get('never-written'), null);
    });

    it('replaces a value and its TTL on set', async () => {
      await store.set('k', 'first', LONG);
      await store.set('k', 'second', { ttlMs: 10_000 });
      assert.equal(await store.get('k'), 'second');
      const ttl = await store.ttlMs('k');
      assert.ok(ttl !== null && ttl > 0 && ttl <= 10_000, `ttl ${String(ttl)}`);
    });

    it('round-trips any well-formed key and value, byte for byte', async () => {
      await fc.assert(
        fc.asyncProperty(fc.string({ unit: 'binary', minLength: 1, maxLength: 100 }), fc.string({ unit: 'binary', maxLength: 300 }), async (key, value) => {
          await store.set(key, value, LONG);
          assert.equal(await store.get(key), value);
        }),
        { numRuns: 60 },
      );
    });

    it('forgets a value once its TTL has passed', async () => {
      await store.set('short', 'v', { ttlMs: subject.shortTtlMs });
      await eventually(opened.pass, 'value expired', async () => (await store.get('short')) === null);
      assert.equal(await store.ttlMs('short'), null);
      assert.equal(await store.take('short'), null);
      assert.equal(await store.setIfAbsent('short', 'again', LONG), true);
    });

    it('reports the TTL left, and null for a missing key', async () => {
      await store.set('k', 'v', LONG);
      const ttl = await store.ttlMs('k');
      assert.ok(ttl !== null && ttl > 0 && ttl <= LONG.ttlMs, `ttl ${String(ttl)}`);
      assert.equal(await store.ttlMs('missing'), null);
    });

    it('writes with setIfAbsent only when the key holds nothing', async () => {
      assert.equal(await store.setIfAbsent('lock', 'owner-1', LONG), true);
      assert.equal(await store.setIfAbsent('lock', 'owner-2', LONG), false);
      assert.equal(await store.get('lock'), 'owner-1');
    });

    it('lets exactly one of concurrent setIfAbsent calls win', async () => {
      const handles = [store, await opened.another(), await opened.another()];
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => handles[i % handles.length]!.setIfAbsent('lock', `owner-${i}`, LONG)));
      assert.equal(results.filter(Boolean).length, 1);
    });

    it('takes a value once: take returns it and deletes the key', async () => {
      await store.set('token', 't0k3n', LONG);
      assert.equal(await store.take('token'), 't0k3n');
      assert.equal(await store.take('token'), null);
      assert.equal(await store.get('token'), null);
      assert.equal(await store.take('never-written'), null);
    });

    it('hands a single-use token to exactly one of 20 concurrent takers', async () => {
      const handles = [store, await opened.another(), await opened.another()];
      await store.set('reset-token', 'secret', LONG);
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => handles[i % handles.length]!.take('reset-token')));
      assert.deepEqual(
        results.filter((r) => r !== null),
        ['secret'],
      );
    });

    it('deletes a key and says whether it existed', async () => {
      await store.set('k', 'v', LONG);
      assert.equal(await store.delete('k'), true);
      assert.equal(await store.delete('k'), false);
      assert.equal(await store.get('k'), null);
    });

    it('counts from 1 and loses no increment among 100 concurrent ones', async () => {
      assert.equal(await store.increment('solo', LONG), 1);
      assert.equal(await store.increment('solo', LONG), 2);
      const handles = [store, await opened.another(), await opened.another()];
      const results = await Promise.all(Array.from({ length: 100 }, (_, i) => handles[i % handles.length]!.increment('hits', LONG)));
      assert.deepEqual(
        results.toSorted((a, b) => a - b),
        Array.from({ length: 100 }, (_, i) => i + 1),
      );
      assert.equal(await store.get('hits'), '100');
    });

    it('reads several keys in one call, null for the missing ones, in the order asked', async () => {
      await store.set('a', '1', LONG);
      await store.set('c', '3', LONG);
      assert.deepEqual(await store.getMany(['a', 'b', 'c']), ['1', null, '3']);
      await assert.rejects(store.getMany([]), TypeError);
    });

    it('adds amounts to several counters in one call, starting missing ones with the TTL and leaving it alone after', async () => {
      await store.incrementMany([{ key: 'x', by: 1 }], { ttlMs: 10_000 });
      const states = await store.incrementMany([{ key: 'x', by: 4 }, { key: 'y', by: 2 }], LONG);
      assert.deepEqual(states.map((state) => state.count), [5, 2]);
      assert.ok(states[0]!.ttlMs > 0 && states[0]!.ttlMs <= 10_000, 'the first window is kept');
      assert.ok(states[1]!.ttlMs > 10_000 && states[1]!.ttlMs <= 60_000, 'a new counter gets the TTL given');
      const handles = [store, await opened.another(), await opened.another()];
      await Promise.all(Array.from({ length: 30 }, (_, i) => handles[i % handles.length]!.incrementMany([{ key: 'many', by: 2 }], LONG)));
      assert.equal(await store.get('many'), '60', 'no addition is lost among concurrent ones');
      await assert.rejects(store.incrementMany([{ key: 'x', by: 0 }], LONG), TypeError);
    });

    it('sets a counter TTL when the counter is created and never extends it', async () => {
      await store.increment('window', { ttlMs: 10_000 });
      await store.increment('window', LONG);
      await store.increment('window', LONG);
      const ttl = await store.ttlMs('window');
      assert.ok(ttl !== null && ttl > 0 && ttl <= 10_000, `ttl ${String(ttl)}`);
    });

    it('restarts a counter after its first TTL even while it keeps being hit', async () => {
      let count = await store.increment('burst', { ttlMs: subject.shortTtlMs });
      assert.equal(count, 1);
      // Were later increments extending the TTL, this counter would never restart.
      await eventually(opened.pass, 'counter restarted', async () => {
        count = await store.increment('burst', LONG);
        return count === 1;
      });
    });

    it('increments an integer value written by set and keeps its TTL', async () => {
      await store.set('n', '41', { ttlMs: 10_000 });
      assert.equal(await store.increment('n', LONG), 42);
      const ttl = await store.ttlMs('n');
      assert.ok(ttl !== null && ttl <= 10_000, `ttl ${String(ttl)}`);
    });

    it('rejects incrementing a value that is not an integer, and leaves it alone', async () => {
      await store.set('word', 'abc', LONG);
      await assert.rejects(store.increment('word', LONG), hasCode('STORE_ERR_WRONG_TYPE'));
      assert.equal(await store.get('word'), 'abc');
    });

    it('gives an existing key a new TTL with expire, and reports a missing one', async () => {
      await store.set('k', 'v', LONG);
      assert.equal(await store.expire('k', { ttlMs: 5_000 }), true);
      const ttl = await store.ttlMs('k');
      assert.ok(ttl !== null && ttl > 0 && ttl <= 5_000, `ttl ${String(ttl)}`);
      assert.equal(await store.expire('missing', LONG), false);
      assert.equal(await store.get('missing'), null);
    });

    it('keeps set members once each, removes them, and drops a set with its last member', async () => {
      assert.deepEqual(await store.setMembers('sessions:alice'), []);
      await store.setAdd('sessions:alice', 's1', LONG);
      await store.setAdd('sessions:alice', 's2', LONG);
      await store.setAdd('sessions:alice', 's1', LONG);
      assert.deepEqual((await store.setMembers('sessions:alice')).toSorted(), ['s1', 's2']);
      await store.setRemove('sessions:alice', 's1');
      await store.setRemove('sessions:alice', 'not-a-member');
      await store.setRemove('sessions:nobody', 's1');
      assert.deepEqual(await store.setMembers('sessions:alice'), ['s2']);
      await store.setRemove('sessions:alice', 's2');
      assert.deepEqual(await store.setMembers('sessions:alice'), []);
      assert.equal(await store.ttlMs('sessions:alice'), null);
    });

    it("resets a set's TTL to the one given on each add, longer or shorter", async () => {
      await store.setAdd('index', 'a', { ttlMs: 10_000 });
      await store.setAdd('index', 'b', LONG);
      const longer = await store.ttlMs('index');
      assert.ok(longer !== null && longer > 10_000, `ttl ${String(longer)}`);
      await store.setAdd('index', 'a', { ttlMs: 5_000 });
      const shorter = await store.ttlMs('index');
      assert.ok(shorter !== null && shorter <= 5_000, `ttl ${String(shorter)}`);
    });

    it('expires a set as a whole', async () => {
      await store.setAdd('index', 'a', { ttlMs: subject.shortTtlMs });
      await store.setAdd('index', 'b', { ttlMs: subject.shortTtlMs });
      await eventually(opened.pass, 'set expired', async () => (await store.setMembers('index')).length === 0);
      assert.equal(await store.ttlMs('index'), null);
    });

    it('refuses value operations on a set and set operations on a value, changing nothing', async () => {
      await store.setAdd('a-set', 'm', LONG);
      await store.set('a-value', 'v', { ttlMs: 10_000 });
      const wrongType = hasCode('STORE_ERR_WRONG_TYPE');
      await assert.rejects(store.get('a-set'), wrongType);
      await assert.rejects(store.take('a-set'), wrongType);
      await assert.rejects(store.increment('a-set', LONG), wrongType);
      await assert.rejects(store.setAdd('a-value', 'm', LONG), wrongType);
      await assert.rejects(store.setRemove('a-value', 'm'), wrongType);
      await assert.rejects(store.setMembers('a-value'), wrongType);
      assert.equal(await store.setIfAbsent('a-set', 'v', LONG), false);
      assert.deepEqual(await store.setMembers('a-set'), ['m']);
      assert.equal(await store.get('a-value'), 'v');
      const ttl = await store.ttlMs('a-value');
      assert.ok(ttl !== null && ttl <= 10_000, `the failed setAdd must not touch the TTL (ttl ${String(ttl)})`);
      // set replaces whatever a key held; delete removes either kind.
      await store.set('a-set', 'now a value', LONG);
      assert.equal(await store.get('a-set'), 'now a value');
      assert.equal(await store.delete('a-value'), true);
    });

    it('rejects bad keys, TTLs, values and members with a TypeError, writing nothing', async () => {
      const badKeys = ['', 'k'.repeat(MAX_KEY_LENGTH + 1), 42, null, undefined, 'lone\uD800surrogate'] as unknown as string[];
      const badTtls = [{ ttlMs: 0 }, { ttlMs: -1 }, { ttlMs: 1.5 }, { ttlMs: Number.NaN }, { ttlMs: Infinity }, { ttlMs: MAX_TTL_MS + 1 }, { ttlMs: '1000' }, {}, null, undefined] as unknown as TtlOption[];
      const badValues = [42, null, 'v'.repeat(MAX_VALUE_LENGTH + 1), 'lone\uDC00surrogate'] as unknown as string[];
      const badMembers = ['', 'm'.repeat(MAX_MEMBER_LENGTH + 1), 42, '\uD800'] as unknown as string[];
      const calls: (() => Promise<unknown>)[] = [];
      for (const key of badKeys) {
        calls.push(
          () => store.get(key),
          () => store.set(key, 'v', LONG),
          () => store.setIfAbsent(key, 'v', LONG),
          () => store.take(key),
          () => store.delete(key),
          () => store.increment(key, LONG),
          () => store.expire(key, LONG),
          () => store.ttlMs(key),
          () => store.setAdd(key, 'm', LONG),
          () => store.setRemove(key, 'm'),
          () => store.setMembers(key),
        );
      }
      for (const options of badTtls) {
        calls.push(
          () => store.set('k', 'v', options),
          () => store.setIfAbsent('k', 'v', options),
          () => store.increment('k', options),
          () => store.expire('k', options),
          () => store.setAdd('k', 'm', options),
        );
      }
      for (const value of badValues) calls.push(() => store.set('k', value, LONG), () => store.setIfAbsent('k', value, LONG));
      for (const member of badMembers) calls.push(() => store.setAdd('k', member, LONG), () => store.setRemove('k', member));
      for (const call of calls) await assert.rejects(call(), TypeError);
      assert.equal(await store.ttlMs('k'), null);
      // The bounds themselves are accepted.
      await store.set('k'.repeat(MAX_KEY_LENGTH), 'v'.repeat(MAX_VALUE_LENGTH), { ttlMs: MAX_TTL_MS });
      assert.equal(await store.get('k'.repeat(MAX_KEY_LENGTH)), 'v'.repeat(MAX_VALUE_LENGTH));
    });

    it('builds a rate limiter that allows its points, then rejects with the wait', async () => {
      const limiter = store.createRateLimiter({ keyPrefix: 'login', points: 3, durationSeconds: 60 });
      const consumer = randomUUID();
      for (let i = 0; i < 3; i += 1) await limiter.consume(consumer);
      const refused = await rejection(limiter.consume(consumer));
      assert.ok(refused instanceof RateLimiterRes, `expected a RateLimiterRes, got ${String(refused)}`);
      assert.equal(refused.remainingPoints, 0);
      assert.ok(refused.msBeforeNext > 0 && refused.msBeforeNext <= 60_000, `msBeforeNext ${refused.msBeforeNext}`);
      // Another consumer and another limiter have their own counts.
      await limiter.consume(randomUUID());
      await store.createRateLimiter({ keyPrefix: 'signup', points: 1, durationSeconds: 60 }).consume(consumer);
    });

    it('blocks a rate-limited key for the block duration', async () => {
      const limiter = store.createRateLimiter({ keyPrefix: 'reset', points: 1, durationSeconds: 60, blockDurationSeconds: 600 });
      const consumer = randomUUID();
      await limiter.consume(consumer);
      const refused = await rejection(limiter.consume(consumer));
      assert.ok(refused instanceof RateLimiterRes);
      assert.ok(refused.msBeforeNext > 60_000 && refused.msBeforeNext <= 600_000, `msBeforeNext ${refused.msBeforeNext}`);
    });

    it('rejects a bad rate limiter spec with a TypeError', () => {
      const good = { keyPrefix: 'login', points: 3, durationSeconds: 60 };
      for (const bad of [
        { ...good, keyPrefix: '' },
        { ...good, points: 0 },
        { ...good, points: 1.5 },
        { ...good, durationSeconds: 0 },
        { ...good, durationSeconds: MAX_TTL_MS },
        { ...good, blockDurationSeconds: -1 },
      ]) {
        assert.throws(() => store.createRateLimiter(bad), TypeError, JSON.stringify(bad));
      }
    });

    it('answers ping, closes idempotently, and is unavailable once closed', async () => {
      await store.ping();
      await store.close();
      await store.close();
      const unavailable = hasCode('STORE_ERR_UNAVAILABLE');
      await assert.rejects(store.ping(), unavailable);
      await assert.rejects(store.get('k'), unavailable);
      await assert.rejects(store.set('k', 'v', LONG), unavailable);
      await assert.rejects(store.increment('k', LONG), unavailable);
    });
  });
}

function memorySubject(): Subject {
  return {
    name: 'memory',
    shortTtlMs: 1_000,
    open() {
      let now = 1_700_000_000_000;
      const store = createMemoryStore({ now: () => now });
      return Promise.resolve({
        store,
        another: () => Promise.resolve(store),
        pass: (ms: number) => {
          now += ms;
          return Promise.resolve();
        },
        close: () => store.close(),
      });
    },
  };
}

function redisSubject(): Subject {
  return {
    name: 'redis',
    shortTtlMs: 100,
    async open() {
      return { ...(await openRedisStores('store')), pass: (ms: number) => delay(ms) };
    },
  };
}

storeContract(memorySubject());
if (target.kind === 'real') storeContract(redisSubject());

describe('memory store', () => {
  function recordingLogger(): StoreLogger & { warnings: { obj: object; msg: string }[] } {
    const warnings: { obj: object; msg: string }[] = [];
    return { warnings, warn: (obj, msg) => warnings.push({ obj, msg }), error() {}, info() {} };
  }

  it('keeps a value until the very millisecond its TTL ends', async () => {
    let now = 0;
    const store = createMemoryStore({ now: () => now });
    await store.set('k', 'v', { ttlMs: 1_000 });
    now = 999;
    assert.equal(await store.get('k'), 'v');
    assert.equal(await store.ttlMs('k'), 1);
    now = 1_000;
    assert.equal(await store.get('k'), null);
    await store.close();
  });

  it('never holds more than maxEntries, evicting the entry closest to expiry and warning', async () => {
    const logger = recordingLogger();
    const maxEntries = 50;
    const store = createMemoryStore({ maxEntries, now: () => 0, logger });
    // Distinct expiries in an order unrelated to insertion order (997 is prime).
    const expiry = (i: number): number => 1_000 + ((i * 7919) % 997);
    let live = new Set<number>();
    for (let i = 0; i < maxEntries + 30; i += 1) {
      const closest = [...live].reduce<number | undefined>((best, k) => (best === undefined || expiry(k) < expiry(best) ? k : best), undefined);
      await store.set(`k${i}`, 'v', { ttlMs: expiry(i) });
      if (live.size === maxEntries && closest !== undefined) live.delete(closest);
      live.add(i);
      const present = new Set<number>();
      for (let k = 0; k <= i; k += 1) if ((await store.get(`k${k}`)) !== null) present.add(k);
      assert.deepEqual(present, live, `after writing k${i}`);
      live = present;
    }
    assert.equal(logger.warnings.length, 1, 'warnings are rate-limited');
    assert.deepEqual(logger.warnings[0]?.obj, { evicted: 1, evictedTotal: 1, maxEntries });
    await store.close();
  });

  it('evicts only evictable keys, and refuses a write when nothing evictable is left', async () => {
    const logger = recordingLogger();
    const store = createMemoryStore({ maxEntries: 4, now: () => 0, logger, evictable: (key) => key.startsWith('cheap:') });
    await store.set('block', '1', { ttlMs: 1_000 });
    await store.set('cheap:1', '1', { ttlMs: 5_000 });
    await store.set('cheap:2', '1', { ttlMs: 6_000 });
    await store.set('counter', '3', { ttlMs: 2_000 });
    // Full: a flood of cheap keys replaces cheap keys, never the shorter-lived protected ones.
    for (let i = 3; i < 100; i += 1) await store.set(`cheap:${String(i)}`, '1', { ttlMs: 5_000 + i });
    assert.equal(await store.get('block'), '1');
    assert.equal(await store.get('counter'), '3');
    assert.equal(await store.get('cheap:1'), null);
    assert.equal(await store.get('cheap:99'), '1');
    await store.set('session', 's', { ttlMs: 3_000 });
    await store.set('session-2', 's', { ttlMs: 3_000 });
    assert.equal(await store.get('cheap:99'), null, 'protected writes evict cheap keys');
    await assert.rejects(store.set('session-3', 's', { ttlMs: 3_000 }), hasCode('STORE_ERR_FULL'));
    await assert.rejects(store.set('cheap:100', '1', { ttlMs: 3_000 }), hasCode('STORE_ERR_FULL'));
    assert.deepEqual(await Promise.all(['block', 'counter', 'session', 'session-2'].map((k) => store.get(k))), ['1', '3', 's', 's']);
    assert.equal(await store.increment('counter', { ttlMs: 2_000 }), 4, 'existing keys still update in place');
    await store.close();
  });

  it('still evicts by expiry after thousands of TTL refreshes', async () => {
    const store = createMemoryStore({ maxEntries: 3, now: () => 0 });
    await store.set('a', 'v', { ttlMs: 1_000 });
    await store.set('b', 'v', { ttlMs: 2_000 });
    await store.set('c', 'v', { ttlMs: 3_000 });
    for (let i = 0; i < 3_000; i += 1) await store.expire('a', { ttlMs: 4_000 + (i % 500) });
    await store.set('d', 'v', LONG);
    await store.set('e', 'v', LONG);
    assert.deepEqual(await Promise.all(['a', 'b', 'c', 'd', 'e'].map((k) => store.get(k))), ['v', null, null, 'v', 'v']);
    await store.set('f', 'v', LONG);
    assert.equal(await store.get('a'), null);
    await store.close();
  });

  it('counts set members toward the cap', async () => {
    const store = createMemoryStore({ maxEntries: 10, now: () => 0 });
    for (let i = 0; i < 5; i += 1) await store.set(`v${i}`, 'x', { ttlMs: 1_000 + i });
    for (let i = 0; i < 7; i += 1) await store.setAdd('index', `m${i}`, LONG);
    assert.equal((await store.setMembers('index')).length, 7);
    assert.deepEqual(await Promise.all([0, 1, 2, 3, 4].map((i) => store.get(`v${i}`))), [null, null, 'x', 'x', 'x']);
    await store.close();
  });

  it('refuses a set that alone would pass the cap, without evicting anything for it', async () => {
    const store = createMemoryStore({ maxEntries: 3, now: () => 0 });
    for (const member of ['a', 'b', 'c']) await store.setAdd('big', member, LONG);
    await assert.rejects(store.setAdd('big', 'd', LONG), hasCode('STORE_ERR_FULL'));
    assert.deepEqual((await store.setMembers('big')).toSorted(), ['a', 'b', 'c']);
    await store.close();
  });

  it('reclaims expired entries before evicting live ones', async () => {
    let now = 0;
    const logger = recordingLogger();
    const store = createMemoryStore({ maxEntries: 3, now: () => now, logger });
    await store.set('old-1', 'v', { ttlMs: 100 });
    await store.set('old-2', 'v', { ttlMs: 100 });
    await store.set('live', 'v', LONG);
    now = 100;
    await store.set('new-1', 'v', LONG);
    await store.set('new-2', 'v', LONG);
    assert.deepEqual(await Promise.all(['live', 'new-1', 'new-2'].map((k) => store.get(k))), ['v', 'v', 'v']);
    assert.equal(logger.warnings.length, 0);
    await store.close();
  });

  it('warns about evictions at most once a minute, with the count since the last warning', async () => {
    let now = 0;
    const logger = recordingLogger();
    const store = createMemoryStore({ maxEntries: 1, now: () => now, logger });
    for (let i = 0; i < 5; i += 1) await store.set(`k${i}`, 'v', { ttlMs: MAX_TTL_MS });
    now = 60_000;
    await store.set('k5', 'v', { ttlMs: MAX_TTL_MS });
    assert.deepEqual(
      logger.warnings.map((w) => w.obj),
      [
        { evicted: 1, evictedTotal: 1, maxEntries: 1 },
        { evicted: 4, evictedTotal: 5, maxEntries: 1 },
      ],
    );
    await store.close();
  });

  it('stays within the cap under any sequence of writes', async () => {
    const maxEntries = 8;
    const op = fc.oneof(
      fc.record({ kind: fc.constant('set' as const), key: fc.nat(9), ttl: fc.integer({ min: 1, max: 5_000 }) }),
      fc.record({ kind: fc.constant('increment' as const), key: fc.nat(9), ttl: fc.integer({ min: 1, max: 5_000 }) }),
      fc.record({ kind: fc.constant('setAdd' as const), key: fc.nat(3), member: fc.nat(9), ttl: fc.integer({ min: 1, max: 5_000 }) }),
      fc.record({ kind: fc.constant('delete' as const), key: fc.nat(9) }),
      fc.record({ kind: fc.constant('pass' as const), ms: fc.nat(2_000) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { maxLength: 60 }), async (ops) => {
        let now = 0;
        const store = createMemoryStore({ maxEntries, now: () => now });
        const units = async (): Promise<number> => {
          const values = await Promise.all(Array.from({ length: 10 }, (_, i) => store.get(`v${i}`)));
          const sets = await Promise.all(Array.from({ length: 4 }, (_, i) => store.setMembers(`s${i}`)));
          return values.filter((v) => v !== null).length + sets.reduce((sum, members) => sum + members.length, 0);
        };
        for (const o of ops) {
          if (o.kind === 'set') await store.set(`v${o.key}`, '7', { ttlMs: o.ttl });
          else if (o.kind === 'increment') await store.increment(`v${o.key}`, { ttlMs: o.ttl });
          else if (o.kind === 'setAdd') await store.setAdd(`s${o.key}`, `m${o.member}`, { ttlMs: o.ttl });
          else if (o.kind === 'delete') await store.delete(`v${o.key}`);
          else now += o.ms;
          assert.ok((await units()) <= maxEntries);
          if (o.kind === 'set') assert.equal(await store.get(`v${o.key}`), '7', 'a write never evicts itself');
        }
        await store.close();
      }),
      { numRuns: 200 },
    );
  });

  it('rejects bad options and TTLs above its own maxTtlMs', async () => {
    assert.throws(() => createMemoryStore({ maxEntries: 0 }), TypeError);
    assert.throws(() => createMemoryStore({ maxEntries: 1.5 }), TypeError);
    assert.throws(() => createMemoryStore({ maxTtlMs: -1 }), TypeError);
    const store = createMemoryStore({ maxTtlMs: 1_000 });
    await assert.rejects(store.set('k', 'v', { ttlMs: 1_001 }), TypeError);
    await store.set('k', 'v', { ttlMs: 1_000 });
    await store.close();
  });
});

describe('createRedisStore', () => {
  it('refuses a URL that is not redis:// or rediss://, and an empty key prefix', async () => {
    await assert.rejects(createRedisStore({ url: 'http://127.0.0.1:6379', keyPrefix: 'p:' }), TypeError);
    await assert.rejects(createRedisStore({ url: 'not a url hunter2', keyPrefix: 'p:' }), (err: unknown) => err instanceof TypeError && !err.message.includes('hunter2'));
    await assert.rejects(createRedisStore({ url: 'redis://127.0.0.1:6379', keyPrefix: '' }), TypeError);
  });

  it('fails to start against an unreachable Redis with the password redacted', async () => {
    // A port that was just free: nothing listens there.
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const address = server.address();
    assert.ok(address !== null && typeof address === 'object');
    await new Promise((resolve) => server.close(resolve));
    const err = await rejection(createRedisStore({ url: `redis://rampart:hunter2@127.0.0.1:${address.port}/0`, keyPrefix: 'p:', connectTimeoutMs: 1_000 }));
    assert.ok(hasCode('STORE_ERR_CONNECT')(err), String(err));
    const { message, cause } = err as Error;
    assert.ok(!message.includes('hunter2'), message);
    assert.ok(message.includes(`127.0.0.1:${address.port}`), message);
    assert.ok(cause instanceof Error && cause.message.includes('ECONNREFUSED'), String(cause));
  });
});

if (target.kind === 'real') {
  describe('redis store keys', () => {
    it("keeps every key it writes, rate limiters' included, under its prefix", async () => {
      const stores = await openRedisStores('prefix');
      const { store, keyPrefix } = stores;
      try {
        const marker = randomUUID();
        await store.set(`v:${marker}`, 'x', LONG);
        await store.increment(`c:${marker}`, LONG);
        await store.setAdd(`s:${marker}`, 'm', LONG);
        const limiter = store.createRateLimiter({ keyPrefix: 'login', points: 1, durationSeconds: 60, blockDurationSeconds: 60 });
        await limiter.consume(marker);
        await rejection(limiter.consume(marker));
        await limiter.get(marker);
        const found = await redisKeys(`*${marker}*`);
        assert.deepEqual(found.toSorted(), [`${keyPrefix}c:${marker}`, `${keyPrefix}login:${marker}`, `${keyPrefix}s:${marker}`, `${keyPrefix}v:${marker}`]);
      } finally {
        await stores.close();
      }
    });
  });
}
