import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildUnmanaged, randomIp, testEnvironment } from '../helpers/build.js';
import { sharedByInstances } from '../helpers/stores.js';
import { tokenPair, withBearer } from '../helpers/tokens.js';
import { createVerifiedUser } from '../helpers/users.js';

describe('access-token revocation across instances', () => {
  it('refuses on a second instance, within the same second, an access token revoked through the first', async () => {
    // Two instances with the same secrets, database and store: on the real target separate
    // connections to one PostgreSQL and one Redis prefix; embedded, one PGlite and one memory store.
    const env = testEnvironment();
    const shared = await sharedByInstances();
    try {
      const first = await buildUnmanaged({ env, shared });
      const second = await buildUnmanaged({ env, shared });
      try {
        const user = await createVerifiedUser(first.app);
        const pair = await tokenPair(first.app, user);
        assert.equal((await withBearer(second.app, pair.access_token, { url: '/api/me' })).statusCode, 200, 'the second instance verifies the first one\'s token (same keys)');
        const jwks = await Promise.all([first.app, second.app].map(async (app) => (await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).body));
        assert.equal(jwks[0], jwks[1], 'both instances publish the same JWKS');

        const revoked = await first.app.inject({ method: 'POST', url: '/api/auth/token/revoke', payload: { token: pair.access_token }, remoteAddress: randomIp() });
        assert.equal(revoked.statusCode, 200);
        const startedAt = Date.now();
        const refused = await withBearer(second.app, pair.access_token, { url: '/api/me' });
        assert.equal(refused.statusCode, 401, 'the second instance refuses the revoked token');
        assert.ok(Date.now() - startedAt < 1000, 'within the same second');
        assert.equal((await withBearer(first.app, pair.access_token, { url: '/api/me' })).statusCode, 401);

        // A refresh token spent on one instance cannot be spent again on the other.
        const refreshed = await second.app.inject({ method: 'POST', url: '/api/auth/token/refresh', payload: { refresh_token: pair.refresh_token }, remoteAddress: randomIp() });
        assert.equal(refreshed.statusCode, 200, refreshed.body);
        const replay = await first.app.inject({ method: 'POST', url: '/api/auth/token/refresh', payload: { refresh_token: pair.refresh_token }, remoteAddress: randomIp() });
        assert.equal(replay.statusCode, 401);
      } finally {
        await second.app.close();
        await first.app.close();
      }
    } finally {
      await shared?.close();
    }
  });
});
