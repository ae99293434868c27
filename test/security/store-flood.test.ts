import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { PRE_SESSION_KEY_PREFIX } from '../../src/security/csrf.js';
import { suiteApp } from '../helpers/build.js';
import { Client, json } from '../helpers/client.js';
import { createVerifiedUser } from '../helpers/users.js';

// One more than the in-memory store holds (its default cap), so a memory store must make room.
const FLOOD = 100_001;
const BATCH = 1_000;
const PRE_SESSION_TTL = { ttlMs: 2 * 60 * 60 * 1000 };

/**
 * Anonymous visitors are cheap to make: every `GET /api/csrf` without a cookie stores a
 * pre-session. Filling the state store with them must not push a brute-force block out of it.
 */
describe('state store flooded with pre-sessions', () => {
  const rampart = suiteApp();

  it('keeps a login block in force while the store fills with pre-sessions', async () => {
    const { app } = rampart;
    const user = await createVerifiedUser(app);
    const attacker = new Client(app);
    for (let i = 0; i < 5; i++) assert.equal((await attacker.post('/api/auth/login', { email: user.email, password: `wrong ${randomBytes(6).toString('hex')} guess` })).statusCode, 401);
    assert.equal((await attacker.post('/api/auth/login', { email: user.email, password: user.password })).statusCode, 429, 'blocked before the flood');
    // The flood, written as the pre-session plugin writes it (a request each would take minutes).
    const run = randomBytes(4).toString('hex');
    for (let start = 0; start < FLOOD; start += BATCH) {
      const writes = [];
      for (let i = start; i < Math.min(start + BATCH, FLOOD); i++) writes.push(app.store.set(`${PRE_SESSION_KEY_PREFIX}flood-${run}-${String(i)}`, '1', PRE_SESSION_TTL));
      await Promise.all(writes);
    }
    const after = await attacker.post('/api/auth/login', { email: user.email, password: user.password });
    assert.equal(after.statusCode, 429, 'the block survived the flood: the right password is still not checked');
    assert.equal(json(after).code, 'AUTH_ERR_LOCKED');
  });
});
