import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { StateStore } from '../../src/platform/store.js';
import { clientKey } from '../../src/security/client-ip.js';
import { defaultBatch, RequestBudget, type BudgetDecision } from '../../src/security/request-budget.js';
import { build, randomIp } from '../helpers/build.js';
import { injectRetryingShed } from '../helpers/client.js';
import { openTargetStore } from '../helpers/stores.js';
import { testTarget, uniquePrefix } from '../helpers/target.js';

const POINTS = 100;
const BATCH = 10;
const WINDOW_SECONDS = 60;
// Longer than the test: the timer never synchronises, so only the interleavings below happen.
const NO_TIMER_MS = WINDOW_SECONDS * 1000;

async function decide(budget: RequestBudget, key: string): Promise<BudgetDecision> {
  return budget.consume(key);
}

/** A deterministic pseudo-random sequence, so a failing interleaving can be replayed. */
function sequence(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

describe('the global rate limit counted locally and synchronised in batches', () => {
  let store: StateStore;
  before(async () => {
    store = await openTargetStore('budget');
  });
  after(() => store.close());

  function twoInstances(): [RequestBudget, RequestBudget] {
    const options = { store, keyPrefix: `rl:${randomUUID()}:`, points: POINTS, windowSeconds: WINDOW_SECONDS, batch: BATCH, syncIntervalMs: NO_TIMER_MS };
    return [new RequestBudget(options), new RequestBudget(options)];
  }

  it('admits exactly the budget on one instance, then refuses with the time left', async () => {
    const [budget, unused] = twoInstances();
    await unused.close();
    let admitted = 0;
    const refusals: BudgetDecision[] = [];
    for (let i = 0; i < POINTS * 3; i += 1) {
      const decision = await decide(budget, 'client');
      if (decision.allowed) admitted += 1;
      else refusals.push(decision);
    }
    await budget.close();
    assert.equal(admitted, POINTS);
    assert.equal(refusals.filter((d) => d.firstRefusal).length, 1, 'one refusal per window is marked first');
    assert.ok(refusals.every((d) => d.msBeforeNext > 0 && d.msBeforeNext <= WINDOW_SECONDS * 1000));
  });

  it('admits at most points + 2 × batch − 1 across two instances, whatever the interleaving of requests and synchronisations', async () => {
    for (const seed of [1, 7, 42, 1234, 99_999]) {
      const [one, two] = twoInstances();
      const next = sequence(seed);
      let admitted = 0;
      for (let i = 0; i < POINTS * 4; i += 1) {
        const budget = next() < 0.5 ? one : two;
        if ((await decide(budget, 'flood')).allowed) admitted += 1;
        // Now and then one instance's timer fires.
        if (next() < 0.05) await (next() < 0.5 ? one : two).sync();
      }
      await Promise.all([one.close(), two.close()]);
      assert.ok(admitted <= POINTS + 2 * BATCH - 1, `seed ${seed}: ${admitted} admitted, bound ${POINTS + 2 * BATCH - 1}`);
      assert.ok(admitted >= POINTS, `seed ${seed}: ${admitted} admitted, never fewer than the budget`);
    }
  });

  it('stays within the bound when an instance spends a full batch on a stale count, the overshoot it documents', async () => {
    const [one, two] = twoInstances();
    let admitted = 0;
    // Both learn the shared count is just under the budget.
    for (let i = 0; i < POINTS - 1; i += 1) if ((await decide(one, 'edge')).allowed) admitted += 1;
    await one.sync();
    await two.sync();
    // The shared count (99) is still under the budget when each decides locally, so each spends its own batch.
    for (const budget of [one, two]) {
      for (let i = 0; i < BATCH * 3; i += 1) if ((await decide(budget, 'edge')).allowed) admitted += 1;
    }
    await Promise.all([one.close(), two.close()]);
    assert.ok(admitted > POINTS, `${admitted} admitted: the second instance's batch was spent on a stale count`);
    assert.ok(admitted <= POINTS + 2 * BATCH - 1, `${admitted} admitted`);
  });

  it('admits at most points + 2 × batch − 1 to two simultaneous bursts on two instances (the reviewer\'s 558 of 300)', async () => {
    const points = 300;
    const batch = defaultBatch(points);
    const options = { store, keyPrefix: `rl:${randomUUID()}:`, points, windowSeconds: WINDOW_SECONDS, batch, syncIntervalMs: NO_TIMER_MS };
    const one = new RequestBudget(options);
    const two = new RequestBudget(options);
    // Every request of both bursts is issued before any answer from the store can arrive.
    const decisions = await Promise.all(Array.from({ length: 800 }, (_, i) => decide(i % 2 === 0 ? one : two, 'burst')));
    await Promise.all([one.close(), two.close()]);
    const admitted = decisions.filter((d) => d.allowed).length;
    assert.ok(admitted <= points + 2 * batch - 1, `${admitted} admitted, bound ${points + 2 * batch - 1}`);
    assert.ok(admitted >= points, `${admitted} admitted, never fewer than the budget`);
  });

  it('stays within the bound when concurrent bursts interleave with timer synchronisations', async () => {
    const points = 300;
    const batch = defaultBatch(points);
    for (const seed of [3, 11, 2024, 77_777]) {
      const options = { store, keyPrefix: `rl:${randomUUID()}:`, points, windowSeconds: WINDOW_SECONDS, batch, syncIntervalMs: NO_TIMER_MS };
      const budgets = [new RequestBudget(options), new RequestBudget(options), new RequestBudget(options)];
      const next = sequence(seed);
      const pick = (): RequestBudget => budgets[Math.floor(next() * budgets.length)] ?? budgets[0] as RequestBudget;
      const decisions: Promise<BudgetDecision>[] = [];
      const syncs: Promise<void>[] = [];
      for (let i = 0; i < points * 3; i += 1) {
        decisions.push(decide(pick(), 'mixed'));
        if (next() < 0.05) syncs.push(pick().sync());
        // Now and then the event loop turns, so some answers arrive between requests.
        if (next() < 0.03) await new Promise((resolve) => setImmediate(resolve));
      }
      const admitted = (await Promise.all(decisions)).filter((d) => d.allowed).length;
      await Promise.all([...syncs, ...budgets.map((b) => b.close())]);
      assert.ok(admitted <= points + 3 * batch - 1, `seed ${seed}: ${admitted} admitted, bound ${points + 3 * batch - 1}`);
      assert.ok(admitted >= points, `seed ${seed}: ${admitted} admitted`);
    }
  });

  it('refuses a burst on an instance that never saw the client once the budget was used up on another (the reviewer\'s 343 of 300)', async () => {
    const points = 300;
    const batch = defaultBatch(points);
    const options = { store, keyPrefix: `rl:${randomUUID()}:`, points, windowSeconds: WINDOW_SECONDS, batch, syncIntervalMs: NO_TIMER_MS };
    const one = new RequestBudget(options);
    const two = new RequestBudget(options);
    let admitted = 0;
    for (let i = 0; i < points + 10; i += 1) if ((await decide(two, 'elsewhere')).allowed) admitted += 1;
    await two.sync();
    assert.equal(admitted, points, 'one instance alone is exact');
    const burst = await Promise.all(Array.from({ length: 50 }, () => decide(one, 'elsewhere')));
    admitted += burst.filter((d) => d.allowed).length;
    await Promise.all([one.close(), two.close()]);
    assert.ok(admitted <= points + 2 * batch - 1, `${admitted} admitted, bound ${points + 2 * batch - 1}`);
    assert.equal(admitted, points, 'a client new to this instance is decided by the store first, so nothing more gets through');
  });

  it('admits a new client when the counters it tracks are full, dropping the oldest idle one', async () => {
    const options = { store, keyPrefix: `rl:${randomUUID()}:`, points: POINTS, windowSeconds: WINDOW_SECONDS, batch: BATCH, syncIntervalMs: NO_TIMER_MS, maxKeys: 100 };
    const budget = new RequestBudget(options);
    for (let i = 0; i < 100; i += 1) assert.equal((await decide(budget, `filler-${i}`)).allowed, true);
    await budget.sync();
    const before = budget.examined;
    for (let i = 0; i < 100; i += 1) assert.equal((await decide(budget, `newcomer-${i}`)).allowed, true, `newcomer ${i} is admitted`);
    assert.ok(budget.examined - before <= 100 * 8, `${budget.examined - before} counters looked at for 100 new clients`);
    await budget.close();
  });

  it('counts every request in the store when the budget is below 50 (batch 0): exact across instances', async () => {
    assert.equal(defaultBatch(49), 0);
    assert.equal(defaultBatch(300), 6);
    const options = { store, keyPrefix: `rl:${randomUUID()}:`, points: 5, windowSeconds: WINDOW_SECONDS, batch: 0, syncIntervalMs: NO_TIMER_MS };
    const one = new RequestBudget(options);
    const two = new RequestBudget(options);
    const answers: boolean[] = [];
    for (let i = 0; i < 10; i += 1) answers.push((await decide(i % 2 === 0 ? one : two, 'small')).allowed);
    await Promise.all([one.close(), two.close()]);
    assert.deepEqual(answers, [true, true, true, true, true, false, false, false, false, false]);
  });

  it('refuses options that would make the bound meaningless', () => {
    const base = { store, keyPrefix: 'rl:x:', points: 10, windowSeconds: 60, batch: 1, syncIntervalMs: 100 };
    assert.throws(() => new RequestBudget({ ...base, batch: 11 }), /batch/);
    assert.throws(() => new RequestBudget({ ...base, batch: -1 }), /batch/);
    assert.throws(() => new RequestBudget({ ...base, syncIntervalMs: 61_000 }), /syncIntervalMs/);
    assert.throws(() => new RequestBudget({ ...base, points: 0 }), /points/);
  });
});

describe('the global rate limit on two application instances', () => {
  const target = testTarget();
  // The in-memory store is one process by contract: the budget is not shared through it (below).
  if (target.kind !== 'real') return;
  it('admits one client at most points + 2 × batch − 1 requests per window across both', async (t) => {
    const points = 100;
    const batch = defaultBatch(points);
    const env = { RAMPART_RATE_LIMIT_POINTS: String(points), RAMPART_RATE_LIMIT_WINDOW_SECONDS: '60', RAMPART_REDIS_PREFIX: uniquePrefix(target, 'rl-two') };
    const one = await build(t, { env });
    const two = await build(t, { env });
    const ip = randomIp();
    let admitted = 0;
    for (let i = 0; i < points * 2; i += 1) {
      const app = i % 3 === 0 ? two.app : one.app;
      const res = await injectRetryingShed(app, { method: 'GET', url: '/api/status', remoteAddress: ip });
      if (res.statusCode === 200) admitted += 1;
      else assert.equal(res.statusCode, 429);
    }
    assert.ok(admitted >= points && admitted <= points + 2 * batch - 1, `${admitted} admitted (budget ${points}, batch ${batch})`);
  });

});

describe('the global rate limit on the in-memory store', () => {
  // Redis is shared: the budget is mirrored there (above).
  if (testTarget().kind === 'real') return;
  it('counts exactly in the process and writes nothing to the store', async (t) => {
    const points = 100;
    const { app } = await build(t, { env: { RAMPART_RATE_LIMIT_POINTS: String(points), RAMPART_RATE_LIMIT_WINDOW_SECONDS: '60' } });
    const ip = randomIp();
    let admitted = 0;
    for (let i = 0; i < points * 2; i += 1) {
      const res = await injectRetryingShed(app, { method: 'GET', url: '/api/status', remoteAddress: ip });
      if (res.statusCode === 200) admitted += 1;
      else assert.equal(res.statusCode, 429);
    }
    assert.equal(admitted, points);
    await new Promise((resolve) => setTimeout(resolve, 250));
    assert.equal(await app.store.get(`rl:global:${clientKey(ip)}`), null, 'the counter never reached the store');
  });
});
