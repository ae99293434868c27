import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultBatch, RequestBudget, type BudgetDecision } from '../../src/security/request-budget.js';
import { build } from '../helpers/build.js';
import { Client, injectRetryingShed } from '../helpers/client.js';
import { createVerifiedUser } from '../helpers/users.js';

// One more than the in-memory store holds and than the budget tracks by default.
const FLOOD = 100_001;
const PROXY = '10.255.255.1';
const IN_FLIGHT = 32;

/** The n-th address of the flood: distinct IPv4 clients outside the 10/8 other tests use. */
function floodAddress(n: number): string {
  return `11.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
}

describe('the global rate limit under a flood of distinct clients', () => {
  it('keeps logins working and admits a new client after one request each from 100 001 addresses', async (t) => {
    const { app } = await build(t, { env: { RAMPART_TRUST_PROXY: PROXY } });
    const user = await createVerifiedUser(app);
    // A few requests in flight at a time, as a flood arrives: on the real target each new
    // client's first request is counted in Redis, and the round trips overlap instead of
    // queueing one behind another. Every address still sends exactly one request.
    let next = 0;
    const sender = async (): Promise<void> => {
      while (next < FLOOD) {
        const n = next;
        next += 1;
        const res = await injectRetryingShed(app, { method: 'GET', url: '/nothing-here', remoteAddress: PROXY, headers: { 'x-forwarded-for': floodAddress(n) } });
        if (res.statusCode !== 404) assert.fail(`flood request ${n} answered ${res.statusCode}`);
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, sender));
    const fresh = await injectRetryingShed(app, { method: 'GET', url: '/api/status', remoteAddress: PROXY, headers: { 'x-forwarded-for': '12.0.0.1' } });
    assert.equal(fresh.statusCode, 200, `${fresh.body}: a client never seen before is not refused because the flood filled the counters`);
    const client = new Client(app);
    const login = await client.post('/api/auth/login', { email: user.email, password: user.password });
    assert.equal(login.statusCode, 200, `login after the flood: ${login.body}`);
    const me = await client.get('/api/me');
    assert.equal(me.statusCode, 200, `the session written at login is readable: ${me.body}`);
  });

  it('does a constant amount of map work per new client once 100 000 are tracked', async () => {
    let clock = 1_000_000;
    const budget = new RequestBudget({ store: null, keyPrefix: 'rl:global:', points: 300, windowSeconds: 60, batch: defaultBatch(300), syncIntervalMs: 60_000, now: () => clock });
    // Without a store every decision is made on the spot.
    const decideNow = (key: string): BudgetDecision => {
      const decision = budget.consume(key);
      assert.ok(!(decision instanceof Promise), 'decided without a round trip');
      return decision;
    };
    for (let n = 0; n < 100_000; n += 1) decideNow(`client-${n}`);
    const filled = budget.examined;
    for (let n = 0; n < 1000; n += 1) assert.equal(decideNow(`late-${n}`).allowed, true);
    assert.ok(budget.examined - filled <= 1000 * 8, `${budget.examined - filled} counters looked at for 1000 new clients (a sweep per request would be 100 000 each)`);
    // The timer's sweep stops at the first live counter...
    const beforeSweep = budget.examined;
    await budget.sync();
    assert.ok(budget.examined - beforeSweep <= 1, 'a sweep with nothing expired looks at one counter');
    // ...and once the window is over, it drops each expired counter once.
    clock += 61_000;
    await budget.sync();
    assert.equal(decideNow('client-0').remaining, 299, 'a new window starts from zero');
    await budget.close();
  });
});
