import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { withinOneSecond } from '../helpers/eventually.js';
import { buildUnmanaged, randomIp, testEnvironment, type BuildResult, tables } from '../helpers/build.js';
import { Client, injectRetryingShed, json } from '../helpers/client.js';
import { sharedByInstances, type TargetResources } from '../helpers/stores.js';
import { tokenPair, withBearer } from '../helpers/tokens.js';
import { clientWithSession, createEnrolledAdmin, createVerifiedUser, strongPassword, type TestUser, uniqueEmail } from '../helpers/users.js';


/**
 * Two instances of one deployment: the same secrets, database and store. On the real target
 * each opens its own connections to one PostgreSQL and one Redis prefix; embedded, they share
 * one PGlite and one memory store. Each keeps its own per-instance cache of principals.
 */
describe('the request hot path across two instances (principal caching on)', () => {
  let first: BuildResult;
  let second: BuildResult;
  let shared: TargetResources | undefined;

  before(async () => {
    const env = testEnvironment();
    shared = await sharedByInstances();
    first = await buildUnmanaged({ env, shared });
    second = await buildUnmanaged({ env, shared });
  });
  after(async () => {
    await second.app.close();
    await first.app.close();
    await shared?.close();
  });

  function me(app: FastifyInstance, headers: Record<string, string>): Promise<LightMyRequestResponse> {
    return injectRetryingShed(app, { method: 'GET', url: '/api/me', headers, remoteAddress: randomIp() });
  }

  async function signedIn(user: TestUser): Promise<{ cookie: Record<string, string>; bearer: Record<string, string> }> {
    const { token } = await first.app.sessions.create(user.id, { ip: '10.0.0.1', userAgent: 'HotPathTest/1.0' });
    const pair = await tokenPair(first.app, user);
    return { cookie: { cookie: `${first.config.sessions.cookieName}=${token}` }, bearer: { authorization: `Bearer ${pair.access_token}` } };
  }

  /** Both instances serve both credentials, so each has the user's principal cached. */
  async function warm(credentials: { cookie: Record<string, string>; bearer: Record<string, string> }): Promise<void> {
    for (const app of [first.app, second.app]) {
      for (const headers of [credentials.cookie, credentials.bearer]) {
        for (let i = 0; i < 3; i += 1) assert.equal((await me(app, headers)).statusCode, 200, 'served before the change');
      }
    }
  }

  async function adminClient(): Promise<Client> {
    // An administrator with a second factor, whose session has just confirmed it is them (step-up).
    return clientWithSession(first, (await createEnrolledAdmin(first.app)).id, { ip: '10.0.0.2', userAgent: 'HotPathTest/1.0' }, { steppedUp: true });
  }

  it('refuses on the second instance a session revoked on the first', async () => {
    const user = await createVerifiedUser(first.app);
    const credentials = await signedIn(user);
    await warm(credentials);
    const owner = new Client(first.app);
    owner.cookies.set(first.config.sessions.cookieName, credentials.cookie.cookie?.split('=')[1] ?? '');
    const list = await owner.get('/api/account/sessions');
    const [session] = json<{ sessions: { id: string }[] }>(list).sessions;
    assert.ok(session);
    // Revoked through another of the user's sessions, on the first instance.
    const remover = await clientWithSession(first, user.id, { ip: '10.0.0.3', userAgent: 'HotPathTest/1.0' });
    assert.equal((await remover.delete(`/api/account/sessions/${session.id}`)).statusCode, 204);
    assert.ok(await withinOneSecond(async () => (await me(second.app, credentials.cookie)).statusCode === 401), 'the second instance refuses the revoked session within a second');
    assert.equal((await me(first.app, credentials.cookie)).statusCode, 401);
    assert.equal((await me(second.app, credentials.bearer)).statusCode, 200, 'the user\'s access token is another credential, untouched');
  });

  it('refuses on the second instance every credential of a user disabled on the first', async () => {
    const user = await createVerifiedUser(first.app);
    const credentials = await signedIn(user);
    await warm(credentials);
    const admin = await adminClient();
    const res = await admin.patch(`/api/admin/users/${user.id}`, { disabled: true });
    assert.equal(res.statusCode, 200, res.body);
    for (const headers of [credentials.cookie, credentials.bearer]) {
      assert.ok(await withinOneSecond(async () => (await me(second.app, headers)).statusCode === 401), 'the second instance refuses the disabled user within a second');
    }
  });

  it('takes a lowered role away on the second instance: the old credentials no longer act with it', async () => {
    const user = await createVerifiedUser(first.app, 'moderator');
    const credentials = await signedIn(user);
    await warm(credentials);
    const admin = await adminClient();
    assert.equal((await admin.patch(`/api/admin/users/${user.id}`, { role: 'author' })).statusCode, 200);
    for (const headers of [credentials.cookie, credentials.bearer]) {
      assert.ok(await withinOneSecond(async () => (await me(second.app, headers)).statusCode === 401), 'credentials issued under the moderator role are refused within a second');
    }
    // Signing in again gives the new role, on either instance.
    const fresh = await signedIn(user);
    const answer = await me(second.app, fresh.bearer);
    assert.equal(answer.statusCode, 200);
    assert.equal(json<{ user: { role: string } }>(answer).user.role, 'author');
  });

  it('shows a role change announced after a direct database update on the second instance at once', async () => {
    const user = await createVerifiedUser(first.app, 'moderator');
    const credentials = await signedIn(user);
    await warm(credentials);
    await tables(first.app).updateTable('users').set({ role: 'author' }).where('id', '=', user.id).execute();
    await first.app.userStates.changed(user.id);
    const answer = await me(second.app, credentials.cookie);
    assert.equal(answer.statusCode, 200);
    assert.equal(json<{ user: { role: string } }>(answer).user.role, 'author', 'the next request on the other instance sees the new role');
  });

  it('shows an address confirmed on the first instance in the profile the second instance serves, at once', async () => {
    const created = await first.app.accounts.createUser({ name: 'Not Yet Confirmed', email: uniqueEmail('hot'), password: strongPassword(), role: 'author', verified: false });
    assert.ok(created.ok);
    const userId = created.user.id;
    // A session made directly: an unconfirmed account cannot sign in, and the profile is what is tested.
    const { token } = await first.app.sessions.create(userId, { ip: '10.0.0.4', userAgent: 'HotPathTest/1.0' });
    const cookie = { cookie: `${first.config.sessions.cookieName}=${token}` };
    for (const app of [first.app, second.app]) {
      const before = await me(app, cookie);
      assert.equal(json<{ user: { emailVerified: boolean } }>(before).user.emailVerified, false, 'cached unconfirmed on both instances');
    }
    // The link the confirmation mail carries (only its SHA-256 is stored).
    const link = randomBytes(32).toString('base64url');
    await tables(first.app).insertInto('account_tokens')
      .values({ token_hash: createHash('sha256').update(link).digest('hex'), user_id: userId, purpose: 'verify_email', expires_at: new Date(Date.now() + 3_600_000) })
      .execute();
    const confirmed = await new Client(first.app).post('/api/auth/verify-email', { token: link });
    assert.equal(confirmed.statusCode, 200, confirmed.body);
    const answer = await me(second.app, cookie);
    assert.equal(answer.statusCode, 200);
    assert.equal(json<{ user: { emailVerified: boolean } }>(answer).user.emailVerified, true, 'the next request on the other instance shows the confirmation');
  });

  it('refuses on the second instance an access token revoked on the first, and keeps the user\'s other token', async () => {
    const user = await createVerifiedUser(first.app);
    const revoked = await tokenPair(first.app, user);
    const kept = await tokenPair(first.app, user);
    for (const app of [first.app, second.app]) {
      assert.equal((await withBearer(app, revoked.access_token, { url: '/api/me' })).statusCode, 200);
      assert.equal((await withBearer(app, kept.access_token, { url: '/api/me' })).statusCode, 200);
    }
    const res = await first.app.inject({ method: 'POST', url: '/api/auth/token/revoke', payload: { token: revoked.access_token }, remoteAddress: randomIp() });
    assert.equal(res.statusCode, 200);
    assert.ok(await withinOneSecond(async () => (await withBearer(second.app, revoked.access_token, { url: '/api/me' })).statusCode === 401));
    assert.equal((await withBearer(second.app, kept.access_token, { url: '/api/me' })).statusCode, 200);
  });
});
