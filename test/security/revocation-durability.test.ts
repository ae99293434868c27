import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildUnmanaged, randomIp, testEnvironment } from '../helpers/build.js';
import { deleteRedisKeys, openTargetStore, sharedByInstances } from '../helpers/stores.js';
import { testTarget, uniquePrefix } from '../helpers/target.js';
import { tokenPair, withBearer, type TokenPairBody } from '../helpers/tokens.js';
import type { FastifyInstance } from 'fastify';
import { createVerifiedUser } from '../helpers/users.js';

async function status(app: FastifyInstance, pair: TokenPairBody): Promise<number> {
  return (await withBearer(app, pair.access_token, { url: '/api/me' })).statusCode;
}

describe('access-token revocation when the shared store loses its data', () => {
  it('keeps a revoked token and the tokens of a "revoke all" refused, and a live token working, after the store is emptied', async () => {
    const target = testTarget();
    const prefix = uniquePrefix(target, 'durable');
    const env = testEnvironment(target.kind === 'real' ? { RAMPART_REDIS_PREFIX: prefix } : {});
    const shared = await sharedByInstances();
    const first = await buildUnmanaged({ env, shared });
    // Embedded: the memory store's data is lost with its process; the "restarted" store is a new, empty one.
    const emptied = shared === undefined ? undefined : { database: shared.database, store: await openTargetStore('emptied') };
    try {
      const user = await createVerifiedUser(first.app);
      const revoked = await tokenPair(first.app, user);
      const live = await tokenPair(first.app, user);
      const other = await createVerifiedUser(first.app);
      const revokedAll = await tokenPair(first.app, other);
      for (const pair of [revoked, live, revokedAll]) assert.equal(await status(first.app, pair), 200);

      assert.equal((await first.app.inject({ method: 'POST', url: '/api/auth/token/revoke', payload: { token: revoked.access_token }, remoteAddress: randomIp() })).statusCode, 200);
      // What a password reset, a detected refresh reuse or an administrator's change does.
      await first.app.tokens.revokeAllForUser(other.id, { personal: true });
      assert.equal(await status(first.app, revoked), 401);
      assert.equal(await status(first.app, revokedAll), 401);

      if (target.kind === 'real') {
        // The running instance, its cache warm, finds every marker gone.
        assert.ok(await deleteRedisKeys(prefix) > 0, 'the test\'s keys existed and are gone');
        assert.equal(await status(first.app, revoked), 401, 'the revoked token stays refused on the running instance');
        assert.equal(await status(first.app, revokedAll), 401, 'tokens issued before a revoke-all stay refused');
        assert.equal(await status(first.app, live), 200, 'a token nobody revoked still works');
        assert.ok(await deleteRedisKeys(prefix) > 0);
      }
      // A fresh instance (empty cache) on the emptied store.
      const second = await buildUnmanaged({ env, shared: emptied });
      try {
        assert.equal(await status(second.app, revoked), 401, 'the revoked token stays refused on a fresh instance');
        assert.equal(await status(second.app, revokedAll), 401);
        assert.equal(await status(second.app, live), 200);
        // A new token for the revoked-all user is issued after the cutoff and works.
        assert.equal(await status(second.app, await tokenPair(second.app, other)), 200);
      } finally {
        await second.app.close();
      }
    } finally {
      await first.app.close();
      await emptied?.store.close();
      await shared?.close();
    }
  });
});
