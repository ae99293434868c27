import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { createMemoryStore } from '../../src/platform/memory-store.js';
import type { StateStore } from '../../src/platform/store.js';
import {
  type AttemptLimiter,
  createAttemptLimiter,
  createLoginThrottle,
  type LoginThrottle,
  type LoginThrottleOptions,
  type ThrottleDecision,
} from '../../src/security/brute-force.js';
import { openRedisStores, type StoreHandles } from '../helpers/stores.js';
import { testTarget } from '../helpers/target.js';

const target = testTarget();

interface Opened extends StoreHandles {
  /** The store keys written so far, or `null` when the store cannot list them. */
  keys(): Promise<string[] | null>;
}

interface Subject {
  readonly name: string;
  open(): Promise<Opened>;
}

const POLL_STEP_MS = 50;
const POLL_STEPS = 200;

/** Polls `check` on real time and fails after a bounded number of attempts; never measures elapsed time. */
async function eventually(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let step = 0; step < POLL_STEPS; step += 1) {
    if (await check()) return;
    await delay(POLL_STEP_MS);
  }
  assert.fail(`${what}: still not true after ${POLL_STEPS} polls`);
}

let ipCounter = 0;
/** A fresh IPv4 address per call, so tests never share a client's budget. */
function freshIp(): string {
  ipCounter += 1;
  return `10.${(ipCounter >> 16) & 255}.${(ipCounter >> 8) & 255}.${ipCounter & 255}`;
}

/** A fresh account key, shaped like the blind index the accounts service passes. */
function freshAccount(): string {
  return `index-${randomUUID()}`;
}

function refused(decision: ThrottleDecision): { retryAfterSeconds: number; scope: 'account_ip' | 'ip' } {
  if (decision.allowed) assert.fail(`expected a refusal, got ${JSON.stringify(decision)}`);
  return decision;
}

function limitedFor(result: Awaited<ReturnType<AttemptLimiter['consume']>>): number {
  if (result.allowed) assert.fail('expected the attempt limiter to refuse');
  return result.retryAfterSeconds;
}

async function fail(throttle: LoginThrottle, account: string, ip: string, times: number) {
  const outcomes = [];
  for (let i = 0; i < times; i += 1) outcomes.push(await throttle.recordFailure(account, ip));
  return outcomes;
}

/**
 * The caller's side of the contract, as the accounts service writes it: the throttle is asked
 * first, and the password is looked at only when it allows the attempt.
 */
async function login(throttle: LoginThrottle, account: string, ip: string, passwordIsRight: boolean): Promise<{ outcome: 'refused' | 'success' | 'failure'; passwordChecked: boolean }> {
  const decision = await throttle.check(account, ip);
  if (!decision.allowed) return { outcome: 'refused', passwordChecked: false };
  if (passwordIsRight) {
    await throttle.recordSuccess(account, ip);
    return { outcome: 'success', passwordChecked: true };
  }
  await throttle.recordFailure(account, ip);
  return { outcome: 'failure', passwordChecked: true };
}

function bruteForceSuite(subject: Subject): void {
  describe(`brute-force throttle: ${subject.name}`, () => {
    let opened: Opened;
    let store: StateStore;
    let keyPrefix: string;
    const throttle = (options: Partial<LoginThrottleOptions> = {}): LoginThrottle => createLoginThrottle({ store, keyPrefix, ...options });

    beforeEach(async () => {
      opened = await subject.open();
      store = opened.store;
      // Each test gets its own namespace, so the fixed test IPs never share counters.
      keyPrefix = `bf-test:${randomUUID()}`;
    });
    afterEach(() => opened.close());

    it('blocks an (account, IP) pair on its 5th consecutive failure for firstBlockSeconds', async () => {
      const t = throttle();
      const account = freshAccount();
      const ip = freshIp();
      const first = await fail(t, account, ip, 4);
      assert.deepEqual(first, Array.from({ length: 4 }, () => ({ accountAlert: false, locked: false, retryAfterSeconds: null })));
      assert.deepEqual(await t.check(account, ip), { allowed: true, delayMs: 0 });
      assert.deepEqual(await t.recordFailure(account, ip), { accountAlert: false, locked: true, retryAfterSeconds: 60 });
      const decision = refused(await t.check(account, ip));
      assert.equal(decision.scope, 'account_ip');
      assert.ok(decision.retryAfterSeconds >= 59 && decision.retryAfterSeconds <= 60, `retryAfterSeconds ${decision.retryAfterSeconds}`);
    });

    it('refuses a blocked pair before the password is checked, even the right one', async () => {
      const t = throttle();
      const account = freshAccount();
      const ip = freshIp();
      for (let i = 0; i < 5; i += 1) assert.equal((await login(t, account, ip, false)).outcome, 'failure');
      assert.deepEqual(await login(t, account, ip, true), { outcome: 'refused', passwordChecked: false });
      assert.equal(refused(await t.check(account, ip)).scope, 'account_ip', 'the refused right password did not reset the pair');
    });

    it('lets the same account in from a clean IP, without delay, while a pair is blocked', async () => {
      const t = throttle();
      const account = freshAccount();
      const attacker = freshIp();
      await fail(t, account, attacker, 5);
      refused(await t.check(account, attacker));
      assert.deepEqual(await t.check(account, freshIp()), { allowed: true, delayMs: 0 });
      assert.deepEqual(await login(t, account, freshIp(), true), { outcome: 'success', passwordChecked: true });
    });

    it('re-blocks on one more failure after a block ends, for twice as long, up to maxBlockSeconds', async () => {
      const t = throttle({ firstBlockSeconds: 1, maxBlockSeconds: 2 });
      const account = freshAccount();
      const ip = freshIp();
      const blocks: (number | null)[] = [];
      blocks.push((await fail(t, account, ip, 5)).at(-1)?.retryAfterSeconds ?? null);
      for (let round = 0; round < 2; round += 1) {
        await eventually('the block ends', async () => (await t.check(account, ip)).allowed);
        const outcome = await t.recordFailure(account, ip);
        assert.equal(outcome.locked, true, `round ${round}: a single failure after a block blocks again`);
        blocks.push(outcome.retryAfterSeconds);
        const decision = refused(await t.check(account, ip));
        assert.ok(decision.retryAfterSeconds <= 2, `retryAfterSeconds ${decision.retryAfterSeconds}`);
      }
      assert.deepEqual(blocks, [1, 2, 2]);
    });

    it('resets the pair and its escalation on success, and lets the block end on its own', async () => {
      const t = throttle({ firstBlockSeconds: 1 });
      const account = freshAccount();
      const ip = freshIp();
      await fail(t, account, ip, 5);
      await eventually('the block ends', async () => (await t.check(account, ip)).allowed);
      assert.equal((await login(t, account, ip, true)).outcome, 'success');
      const afterSuccess = await fail(t, account, ip, 5);
      assert.deepEqual(afterSuccess.map((o) => o.locked), [false, false, false, false, true], 'five failures are needed again');
      assert.equal(afterSuccess.at(-1)?.retryAfterSeconds, 1, 'the escalation starts over');
    });

    it('keeps the per-IP and per-account counts across a success', async () => {
      const t = throttle({ ipFailures: 3, accountFailuresPerHour: 3 });
      const account = freshAccount();
      const ip = freshIp();
      await fail(t, account, ip, 2);
      await t.recordSuccess(account, ip);
      assert.equal((await t.recordFailure(account, freshIp())).accountAlert, true, 'the account count kept the two failures before the success');
      await t.recordFailure(freshAccount(), ip);
      assert.equal(refused(await t.check(freshAccount(), ip)).scope, 'ip', 'the client count kept them too');
    });

    it('blocks a client for every account after 100 failures across 100 accounts, and no other client', async () => {
      const t = throttle();
      const ip = freshIp();
      for (let i = 0; i < 99; i += 1) {
        const outcome = await t.recordFailure(freshAccount(), ip);
        assert.equal(outcome.retryAfterSeconds, null, `failure ${i + 1} blocks nothing`);
      }
      assert.deepEqual(await t.check(freshAccount(), ip), { allowed: true, delayMs: 0 });
      const hundredth = await t.recordFailure(freshAccount(), ip);
      assert.equal(hundredth.locked, false, 'no pair was blocked');
      assert.ok(hundredth.retryAfterSeconds !== null && hundredth.retryAfterSeconds > 86_000, `retryAfterSeconds ${String(hundredth.retryAfterSeconds)}`);
      const decision = refused(await t.check(freshAccount(), ip));
      assert.equal(decision.scope, 'ip');
      assert.ok(decision.retryAfterSeconds > 86_000 && decision.retryAfterSeconds <= 86_400, `retryAfterSeconds ${decision.retryAfterSeconds}`);
      assert.deepEqual(await t.check(freshAccount(), freshIp()), { allowed: true, delayMs: 0 });
    });

    it('names the block that ends last when both the pair and the client are blocked', async () => {
      const t = throttle({ ipFailures: 6 });
      const account = freshAccount();
      const ip = freshIp();
      await fail(t, account, ip, 5);
      assert.equal(refused(await t.check(account, ip)).scope, 'account_ip');
      await t.recordFailure(freshAccount(), ip);
      const decision = refused(await t.check(account, ip));
      assert.equal(decision.scope, 'ip');
      assert.ok(decision.retryAfterSeconds > 86_000, `retryAfterSeconds ${decision.retryAfterSeconds}`);
    });

    it('counts IPv6 addresses of one /64 as one client, for the client budget and for pairs', async () => {
      const t = throttle({ ipFailures: 4 });
      for (const address of ['2001:db8:77:5::1', '2001:db8:77:5::2', '2001:db8:77:5:abcd:ef01:2345:6789']) {
        await t.recordFailure(freshAccount(), address);
      }
      assert.deepEqual(await t.check(freshAccount(), '2001:db8:77:6::1'), { allowed: true, delayMs: 0 }, 'another /64 is another client');
      await t.recordFailure(freshAccount(), '2001:db8:77:5:ffff:ffff:ffff:ffff');
      assert.equal(refused(await t.check(freshAccount(), '2001:db8:77:5::9')).scope, 'ip');
      assert.deepEqual(await t.check(freshAccount(), '2001:db8:77:6::1'), { allowed: true, delayMs: 0 });

      const pairs = throttle();
      const account = freshAccount();
      for (let host = 1; host <= 5; host += 1) await pairs.recordFailure(account, `2001:db8:99:1::${host}`);
      assert.equal(refused(await pairs.check(account, '2001:db8:99:1::abc')).scope, 'account_ip');
      assert.deepEqual(await pairs.check(account, '2001:db8:99:2::1'), { allowed: true, delayMs: 0 });
    });

    it('alerts once at 50 failures of an account from 50 IPs, then delays only pairs that have failed', async () => {
      const t = throttle();
      const account = freshAccount();
      const attackers = Array.from({ length: 50 }, () => freshIp());
      const alerts: boolean[] = [];
      for (const [i, ip] of attackers.entries()) {
        if (i === 49) assert.deepEqual(await t.check(account, ip), { allowed: true, delayMs: 0 }, 'not yet under attack');
        alerts.push((await t.recordFailure(account, ip)).accountAlert);
      }
      assert.deepEqual(alerts.flatMap((alert, i) => (alert ? [i + 1] : [])), [50], 'exactly the 50th failure raises the alert');
      assert.equal((await t.recordFailure(account, freshIp())).accountAlert, false, 'no second alert in the window');
      assert.deepEqual(await t.check(account, attackers[0]!), { allowed: true, delayMs: 1_000 });
      const owner = freshIp();
      assert.deepEqual(await t.check(account, owner), { allowed: true, delayMs: 0 });
      assert.deepEqual(await login(t, account, owner, true), { outcome: 'success', passwordChecked: true });
      assert.deepEqual(await t.check(freshAccount(), attackers[0]!), { allowed: true, delayMs: 0 }, 'another account is not under attack');
    });

    it('counts concurrent failures atomically: 20 at once are 20, and one of them locks', async () => {
      const t = throttle({ consecutiveFailures: 20, accountFailuresPerHour: 20, ipFailures: 20 });
      const account = freshAccount();
      const ip = freshIp();
      const outcomes = await Promise.all(Array.from({ length: 20 }, () => t.recordFailure(account, ip)));
      assert.equal(outcomes.filter((o) => o.locked).length, 1, 'exactly one failure starts the block');
      assert.equal(outcomes.filter((o) => o.accountAlert).length, 1, 'exactly one failure raises the alert');
      assert.equal(refused(await t.check(freshAccount(), ip)).scope, 'ip');

      const other = freshAccount();
      const otherIp = freshIp();
      const nineteen = await Promise.all(Array.from({ length: 19 }, () => t.recordFailure(other, otherIp)));
      assert.equal(nineteen.filter((o) => o.locked || o.accountAlert).length, 0, 'nineteen are not counted as more');
      assert.ok((await t.check(other, otherIp)).allowed);
    });

    it('does not escalate a block for failures that raced past check()', async () => {
      const t = throttle();
      const account = freshAccount();
      const ip = freshIp();
      const outcomes = await Promise.all(Array.from({ length: 12 }, () => t.recordFailure(account, ip)));
      assert.equal(outcomes.filter((o) => o.locked).length, 1);
      const decision = refused(await t.check(account, ip));
      assert.ok(decision.retryAfterSeconds <= 60, `one first block, not a doubled one: ${decision.retryAfterSeconds}`);
    });

    it('lets one password check per (account, IP) run at a time, until it is released', async () => {
      const t = throttle();
      const account = freshAccount();
      const ip = freshIp();
      const first = await t.claim(account, ip);
      assert.ok(first !== null);
      assert.equal(await t.claim(account, ip), null, 'a parallel guess at the same pair is refused');
      assert.ok((await t.claim(account, freshIp())) !== null, 'another client is not held up');
      await first.release();
      const again = await t.claim(account, ip);
      assert.ok(again !== null, 'released pairs can be claimed again');
      await again.release();
    });

    it('lets one client run at most clientChecksInFlight password checks at once, across accounts and its /64', async () => {
      const t = throttle({ clientChecksInFlight: 4 });
      const prefix = `2001:db8:${randomBytes(2).toString('hex')}:${randomBytes(2).toString('hex')}`;
      const ipOf = (n: number) => `${prefix}::${String(n + 1)}`;
      const accounts = Array.from({ length: 10 }, () => freshAccount());
      const claims = await Promise.all(accounts.map((account, i) => t.claim(account, ipOf(i))));
      const held = claims.filter((c) => c !== null);
      assert.equal(held.length, 4, 'ten parallel checks from one /64: four run');
      assert.equal(await t.claim(freshAccount(), ipOf(20)), null);
      assert.ok((await t.claim(freshAccount(), freshIp())) !== null, 'another client is not held up');
      await held[0]?.release();
      // A refused claim left its pair free: the same account and address get the released slot.
      const refused = claims.findIndex((c) => c === null);
      const next = await t.claim(accounts[refused] ?? '', ipOf(refused));
      assert.ok(next !== null, 'a released slot is free again, and a refused pair was not left claimed');
      assert.equal(await t.claim(freshAccount(), ipOf(22)), null, 'and the client is full again');
    });

    it('shares blocks between throttle instances on the same store', async () => {
      const account = freshAccount();
      const ip = freshIp();
      await fail(throttle(), account, ip, 5);
      const second = createLoginThrottle({ store: await opened.another(), keyPrefix });
      assert.equal(refused(await second.check(account, ip)).scope, 'account_ip');
      assert.deepEqual(await second.check(account, freshIp()), { allowed: true, delayMs: 0 });
    });

    it('reports only the first refusal of a kind per client and window as one to record, across instances, and again once the window has passed', async () => {
      const account = freshAccount();
      const ip = freshIp();
      const first = throttle();
      const second = createLoginThrottle({ store: await opened.another(), keyPrefix });
      const flood = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? first : second).firstRefusal('concurrent', account, ip, 60_000)));
      assert.equal(flood.filter(Boolean).length, 1, 'one of twenty concurrent refusals is recorded');
      assert.equal(await first.firstRefusal('concurrent', freshAccount(), ip, 60_000), false, 'a concurrent refusal is per client, whatever the account');
      assert.equal(await first.firstRefusal('ip', account, ip, 60_000), true, 'each scope has its own window');
      assert.equal(await first.firstRefusal('account_ip', account, ip, 60_000), true);
      assert.equal(await first.firstRefusal('account_ip', freshAccount(), ip, 60_000), true, 'a pair block is per (account, client)');
      assert.equal(await first.firstRefusal('concurrent', account, freshIp(), 60_000), true, 'another client has its own');
      assert.equal(await first.firstRefusal('ip', account, ip, 1_000), false);
      const short = freshIp();
      assert.equal(await first.firstRefusal('ip', account, short, 1), true, 'a window under a second lasts a second');
      await eventually('the refusal window ended', () => first.firstRefusal('ip', account, short, 1));
    });

    it('keeps account keys out of the store key space', async () => {
      const account = freshAccount();
      const t = throttle();
      await fail(t, account, freshIp(), 5);
      await t.check(account, freshIp());
      const keys = await opened.keys();
      if (keys === null) return;
      assert.ok(keys.some((key) => key.includes(keyPrefix)), 'the throttle wrote keys under its prefix');
      assert.deepEqual(keys.filter((key) => key.includes(account)), []);
    });

    it('allows an attempt limiter `points` attempts per key, then refuses with Retry-After', async () => {
      const limiter = createAttemptLimiter({ store, keyPrefix: `${keyPrefix}:reset`, points: 3, durationSeconds: 60 });
      const email = freshAccount();
      for (let i = 0; i < 3; i += 1) assert.deepEqual(await limiter.consume(email), { allowed: true });
      const retryAfter = limitedFor(await limiter.consume(email));
      assert.ok(retryAfter >= 1 && retryAfter <= 60, `retryAfterSeconds ${retryAfter}`);
      assert.deepEqual(await limiter.consume(freshAccount()), { allowed: true }, 'another key has its own budget');
    });

    it('refuses an attempt limiter key for blockSeconds once over the limit, and allows it again after the window', async () => {
      const blocking = createAttemptLimiter({ store, keyPrefix: `${keyPrefix}:verify`, points: 2, durationSeconds: 1, blockSeconds: 300 });
      const key = freshIp();
      await blocking.consume(key);
      await blocking.consume(key);
      const retryAfter = limitedFor(await blocking.consume(key));
      assert.ok(retryAfter > 1 && retryAfter <= 300, `blocked past the 1 s window: retryAfterSeconds ${retryAfter}`);

      const windowed = createAttemptLimiter({ store, keyPrefix: `${keyPrefix}:window`, points: 1, durationSeconds: 1 });
      assert.deepEqual(await windowed.consume(key), { allowed: true });
      assert.equal((await windowed.consume(key)).allowed, false);
      await eventually('the window ends', async () => (await windowed.consume(key)).allowed);
    });
  });
}

function memorySubject(): Subject {
  return {
    name: 'memory',
    open() {
      const store = createMemoryStore();
      return Promise.resolve({ store, another: () => Promise.resolve(store), keys: () => Promise.resolve(null), close: () => store.close() });
    },
  };
}

function redisSubject(): Subject {
  return { name: 'redis', open: () => openRedisStores('brute-force') };
}

bruteForceSuite(memorySubject());
if (target.kind === 'real') {
  bruteForceSuite(redisSubject());

  describe('attempt limiter: redis', () => {
    it('shares one budget between instances on the same Redis prefix', async () => {
      const stores = await openRedisStores('attempts');
      const [a, b] = [stores.store, await stores.another()];
      try {
        const options = { keyPrefix: 'reset-ip', points: 2, durationSeconds: 60 };
        const first = createAttemptLimiter({ store: a, ...options });
        const second = createAttemptLimiter({ store: b, ...options });
        const key = freshIp();
        assert.deepEqual(await first.consume(key), { allowed: true });
        assert.deepEqual(await second.consume(key), { allowed: true });
        assert.equal((await first.consume(key)).allowed, false);
        assert.equal((await second.consume(key)).allowed, false);
      } finally {
        await stores.close();
      }
    });
  });
}

describe('createLoginThrottle and createAttemptLimiter options', () => {
  it('refuse bad numbers and prefixes with a TypeError naming the option', async () => {
    const store = createMemoryStore();
    try {
      const bad: [Partial<LoginThrottleOptions>, RegExp][] = [
        [{ consecutiveFailures: 0 }, /consecutiveFailures/],
        [{ consecutiveFailures: 2.5 }, /consecutiveFailures/],
        [{ firstBlockSeconds: 120, maxBlockSeconds: 60 }, /firstBlockSeconds/],
        [{ maxBlockSeconds: 8 * 24 * 3600 }, /maxBlockSeconds/],
        [{ ipFailures: -1 }, /ipFailures/],
        [{ accountFailuresPerHour: Number.NaN }, /accountFailuresPerHour/],
        [{ accountAlertDelayMs: 60_000 }, /accountAlertDelayMs/],
        [{ clientChecksInFlight: 0 }, /clientChecksInFlight/],
        [{ clientChecksInFlight: 65 }, /clientChecksInFlight/],
        [{ keyPrefix: '' }, /keyPrefix/],
      ];
      for (const [options, message] of bad) {
        assert.throws(() => createLoginThrottle({ store, ...options }), (err: unknown) => err instanceof TypeError && message.test(err.message), JSON.stringify(options));
      }
      assert.throws(() => createLoginThrottle({ store: {} as StateStore }), TypeError);
      assert.throws(() => createAttemptLimiter({ store, keyPrefix: 'x', points: 0, durationSeconds: 60 }), TypeError);
      assert.throws(() => createAttemptLimiter({ store, keyPrefix: 'x', points: 1, durationSeconds: 60, blockSeconds: 0 }), TypeError);
      await assert.rejects(createLoginThrottle({ store }).check('', '192.0.2.1'), TypeError, 'an empty account key is a programming error');
    } finally {
      await store.close();
    }
  });
});

describe('recording refusals when the store is full', () => {
  it('still reports a refusal as one to record when a full store cannot hold its marker', async () => {
    // Only security state: nothing may be evicted, so every new write is refused (fail closed).
    const store = createMemoryStore({ maxEntries: 3, evictable: () => false });
    try {
      for (let i = 0; i < 3; i += 1) await store.set(`filler-${String(i)}`, '1', { ttlMs: 60_000 });
      await assert.rejects(store.set('one-more', '1', { ttlMs: 60_000 }), 'the store is full');
      const throttle = createLoginThrottle({ store, keyPrefix: `bf-test:${randomUUID()}` });
      assert.equal(await throttle.firstRefusal('concurrent', freshAccount(), freshIp(), 60_000), true);
    } finally {
      await store.close();
    }
  });
});
