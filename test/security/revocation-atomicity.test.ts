import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import type { StateStore, TtlOption } from '../../src/platform/store.js';
import { withinOneSecond } from '../helpers/eventually.js';
import { buildUnmanaged, randomIp, testEnvironment, type BuildResult, tables } from '../helpers/build.js';
import type { Client} from '../helpers/client.js';
import { injectRetryingShed, json } from '../helpers/client.js';
import { openTargetResources, type TargetResources } from '../helpers/stores.js';
import { refresh, tokenPair, withBearer } from '../helpers/tokens.js';
import { clientWithSession, createEnrolledAdmin, createVerifiedUser, type TestUser } from '../helpers/users.js';

/**
 * The real store, except that while armed the next write of a per-user version marker fails,
 * as a Redis blip or a full store would fail it: the fault falls after the database commit.
 */
function markerFaults(store: StateStore): { store: StateStore; failNextMarkerWrite: () => void; failures: () => number } {
  let armed = false;
  let failed = 0;
  const faulty = new Proxy(store, {
    get(target, property, receiver) {
      if (property === 'set') {
        return async (key: string, value: string, options: TtlOption) => {
          if (armed && key.startsWith('user-ver:')) {
            armed = false;
            failed += 1;
            throw new Error('injected: the store dropped the connection');
          }
          return target.set(key, value, options);
        };
      }
      const member: unknown = Reflect.get(target, property, receiver);
      return typeof member === 'function' ? (member as (...args: unknown[]) => unknown).bind(target) : member;
    },
  });
  return { store: faulty, failNextMarkerWrite: () => { armed = true; }, failures: () => failed };
}

/**
 * Two instances on one database and one store (the real PostgreSQL and Redis on the real
 * target); the first reaches the store through the fault injector.
 */
describe('revocation when the shared store fails after the database commit', () => {
  let first: BuildResult;
  let second: BuildResult;
  let resources: TargetResources;
  let faults: ReturnType<typeof markerFaults>;

  before(async () => {
    const env = testEnvironment();
    resources = await openTargetResources('atomic');
    const { database, store } = resources;
    faults = markerFaults(store);
    first = await buildUnmanaged({ env, shared: { database, store: faults.store } });
    second = await buildUnmanaged({ env, shared: { database, store } });
  });
  after(async () => {
    await second.app.close();
    await first.app.close();
    await resources.close();
  });

  function me(app: FastifyInstance, headers: Record<string, string>): Promise<LightMyRequestResponse> {
    return injectRetryingShed(app, { method: 'GET', url: '/api/me', headers, remoteAddress: randomIp() });
  }

  /** A session, an access/refresh pair and a personal token, each served by both instances (so both cache the user). */
  async function credentialsOf(user: TestUser, role: 'author' | 'moderator') {
    const { token } = await first.app.sessions.create(user.id, { ip: '10.0.0.1', userAgent: 'AtomicityTest/1.0' });
    const pair = await tokenPair(first.app, user);
    const personal = await first.app.tokens.createPersonalToken({ id: user.id, role }, { name: 'ci', scopes: ['account:read'], expiresInDays: 30 }, () => undefined);
    assert.ok(personal.ok);
    const headers = {
      cookie: { cookie: `${first.config.sessions.cookieName}=${token}` },
      bearer: { authorization: `Bearer ${pair.access_token}` },
      personal: { authorization: `Bearer ${personal.token}` },
    };
    for (const app of [first.app, second.app]) {
      for (const h of Object.values(headers)) assert.equal((await me(app, h)).statusCode, 200, 'served before the change');
    }
    return { headers, refreshToken: pair.refresh_token };
  }

  async function adminClient(): Promise<Client> {
    // An administrator with a second factor, whose session has just confirmed it is them (step-up).
    return clientWithSession(first, (await createEnrolledAdmin(first.app)).id, { ip: '10.0.0.2', userAgent: 'AtomicityTest/1.0' }, { steppedUp: true });
  }

  async function apiTokensLeft(userId: string): Promise<number> {
    const db = tables(first.app);
    const refreshRows = await db.selectFrom('refresh_tokens').select('token_hash').where('user_id', '=', userId).execute();
    const personalRows = await db.selectFrom('personal_access_tokens').select('id').where('user_id', '=', userId).execute();
    return refreshRows.length + personalRows.length;
  }

  function assertCleanUnavailable(res: LightMyRequestResponse): void {
    assert.equal(res.statusCode, 503, res.body);
    assert.equal(json<{ code: string }>(res).code, 'RAMPART_ERR_UNAVAILABLE');
    assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
    assert.ok(Number(res.headers['retry-after']) > 0, 'Retry-After tells the client when to retry');
    assert.doesNotMatch(res.body, /injected|stack|Error/, 'nothing of the failure leaks');
  }

  for (const { change, role, expect } of [
    { change: { role: 'author' }, role: 'moderator', expect: { role: 'author', disabled: false } },
    { change: { disabled: true }, role: 'author', expect: { role: 'author', disabled: true } },
  ] as const) {
    it(`${JSON.stringify(change)}: API tokens end with the commit, a retry ends the sessions, the other instance follows within a second`, async () => {
      const user = await createVerifiedUser(first.app, role);
      const { headers, refreshToken } = await credentialsOf(user, role);
      const admin = await adminClient();

      faults.failNextMarkerWrite();
      const failed = await admin.patch(`/api/admin/users/${user.id}`, change);
      assert.equal(faults.failures() > 0, true, 'the fault hit the marker write');
      assertCleanUnavailable(failed);
      // Committed with the change, whatever failed after it.
      const row = await tables(first.app).selectFrom('users').select(['role', 'disabled_at']).where('id', '=', user.id).executeTakeFirstOrThrow();
      assert.deepEqual({ role: row.role, disabled: row.disabled_at !== null }, expect);
      assert.equal(await apiTokensLeft(user.id), 0, 'refresh families and personal tokens went in the change\'s transaction');
      assert.notEqual((await refresh(first.app, refreshToken)).statusCode, 200, 'the refresh token is dead already');
      assert.equal((await me(second.app, headers.personal)).statusCode, 401, 'the personal token is dead already, on every instance');

      // The administrator retries the same change: nothing left to change, but the revocation runs.
      const retried = await admin.patch(`/api/admin/users/${user.id}`, change);
      assert.equal(retried.statusCode, 200, retried.body);
      assert.equal(json<{ role: string; disabled: boolean }>(retried).role, expect.role);
      for (const h of Object.values(headers)) {
        assert.ok(await withinOneSecond(async () => (await me(second.app, h)).statusCode === 401), 'the second instance refuses every old credential within a second of the retry');
        assert.equal((await me(first.app, h)).statusCode, 401);
      }
      assert.deepEqual(await first.app.sessions.list(user.id), [], 'no session of the target survives');
      assert.equal(await apiTokensLeft(user.id), 0);
    });
  }

  it('asks for a retry when a revoked access token cannot be announced, and the retry reaches the other instance', async () => {
    const user = await createVerifiedUser(first.app);
    const pair = await tokenPair(first.app, user);
    for (const app of [first.app, second.app]) assert.equal((await withBearer(app, pair.access_token, { url: '/api/me' })).statusCode, 200);
    const revoke = () => first.app.inject({ method: 'POST', url: '/api/auth/token/revoke', payload: { token: pair.access_token }, remoteAddress: randomIp() });
    faults.failNextMarkerWrite();
    assertCleanUnavailable(await revoke());
    assert.equal((await revoke()).statusCode, 200);
    assert.ok(await withinOneSecond(async () => (await withBearer(second.app, pair.access_token, { url: '/api/me' })).statusCode === 401), 'refused on the second instance within a second of the retry');
  });
});
