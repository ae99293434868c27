import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import { z } from 'zod';
import { loadConfig } from '../../src/config/config.js';
import { ConfigError } from '../../src/config/findings.js';
import { isWellFormedPersonalToken } from '../../src/modules/tokens/personal-token.js';
import { randomIp, securityEventRows, suiteApp, testEnvironment, tables } from '../helpers/build.js';
import { Client, json } from '../helpers/client.js';
import { refresh, requestToken, tokenPair, withBearer, type TokenPairBody } from '../helpers/tokens.js';
import { createVerifiedUser, type TestUser } from '../helpers/users.js';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

// A route only an administrator's token with the `admin` scope may call.
const adminProbe: FastifyPluginAsyncZod = (app) => {
  app.get('/api/test/admin-probe', {
    config: { access: 'authenticated', scope: 'admin' },
    schema: { querystring: z.strictObject({}), response: { 200: z.object({ scopes: z.array(z.string()).nullable() }) } },
  }, (request) => ({ scopes: request.principal?.scopes === null || request.principal === null ? null : [...request.principal.scopes] }));
  return Promise.resolve();
};

describe('API tokens', () => {
  const rampart = suiteApp({ plugins: [adminProbe] });

  async function sessionClient(user: TestUser): Promise<Client> {
    const client = new Client(rampart.app);
    const res = await client.post('/api/auth/login', { email: user.email, password: user.password });
    assert.equal(res.statusCode, 200, res.body);
    return client;
  }

  it('issues an EdDSA access token and a refresh token for email and password, with no cookie and no CSRF token', async () => {
    const { app, config } = rampart;
    const user = await createVerifiedUser(app);
    const res = await requestToken(app, { email: user.email, password: user.password });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(res.headers['set-cookie'], undefined, 'the token endpoint sets no cookie');
    assert.equal(res.headers['cache-control'], 'no-store');
    const pair = json<TokenPairBody>(res);
    assert.equal(pair.token_type, 'Bearer');
    assert.equal(pair.expires_in, 600);
    assert.match(pair.refresh_token, /^[A-Za-z0-9_-]{43}$/);
    const header = decodeProtectedHeader(pair.access_token);
    assert.deepEqual(Object.keys(header).sort(), ['alg', 'kid', 'typ']);
    assert.equal(header.alg, 'EdDSA');
    const claims = decodeJwt(pair.access_token);
    assert.equal(claims.iss, config.publicUrl);
    assert.equal(claims.aud, `${config.publicUrl}/api`);
    assert.equal(claims.sub, user.id);
    assert.equal((claims.exp ?? 0) - (claims.iat ?? 0), 600);
    assert.equal(claims.nbf, claims.iat);
    assert.match(String(claims.jti), /^[A-Za-z0-9_-]{22}$/);
    assert.equal(claims.scope, 'account:read account:write posts:read posts:write bookmarks:read bookmarks:write');

    const me = await withBearer(app, pair.access_token, { url: '/api/me' });
    assert.equal(me.statusCode, 200, me.body);
    assert.equal(me.headers['cache-control'], 'no-store');
    assert.equal(json<{ user: { id: string } }>(me).user.id, user.id);
    const row = await tables(app).selectFrom('refresh_tokens').selectAll().where('user_id', '=', user.id).executeTakeFirstOrThrow();
    assert.equal(row.token_hash, sha256(pair.refresh_token), 'only the SHA-256 of the refresh token is stored');
  });

  it('answers a wrong password exactly as login does, and locks the (account, IP) pair after 5 failures with the login throttle', async () => {
    const { app } = rampart;
    const user = await createVerifiedUser(app);
    const ip = randomIp();
    const viaToken = await requestToken(app, { email: user.email, password: 'not the password at all' }, ip);
    const viaLogin = await new Client(app, randomIp()).post('/api/auth/login', { email: user.email, password: 'not the password at all' });
    assert.equal(viaToken.statusCode, 401);
    const strip = (body: Record<string, unknown>) => ({ ...body, traceId: undefined });
    assert.deepEqual(strip(json(viaToken)), strip(json(viaLogin)));
    const unknown = await requestToken(app, { email: `nobody.${user.email}`, password: 'not the password at all' }, ip);
    assert.deepEqual(strip(json(unknown)), strip(json(viaToken)), 'an unknown email gets the same answer');
    for (let i = 0; i < 4; i++) await requestToken(app, { email: user.email, password: `wrong guess number ${i}` }, ip);
    const blocked = await requestToken(app, { email: user.email, password: user.password }, ip);
    assert.equal(blocked.statusCode, 429, 'the right password is not even checked while blocked');
    assert.equal(json(blocked).code, 'AUTH_ERR_LOCKED');
    assert.ok(Number(blocked.headers['retry-after']) >= 1);
    assert.equal((await requestToken(app, { email: user.email, password: user.password })).statusCode, 200, 'the owner from another IP is not locked out');
  });

  it("rotates refresh tokens; a reused refresh token kills its whole family (the newest token too) and the user's outstanding access tokens", async () => {
    const { app } = rampart;
    const user = await createVerifiedUser(app);
    const ip = randomIp();
    const first = await tokenPair(app, user);
    const second = await refresh(app, first.refresh_token, ip);
    assert.equal(second.statusCode, 200, second.body);
    const rotated = json<TokenPairBody>(second);
    assert.notEqual(rotated.refresh_token, first.refresh_token);
    assert.equal((await withBearer(app, rotated.access_token, { url: '/api/me' })).statusCode, 200);
    const third = json<TokenPairBody>(await refresh(app, rotated.refresh_token, ip));
    const other = await tokenPair(app, user);

    const replay = await refresh(app, first.refresh_token, ip);
    assert.equal(replay.statusCode, 401);
    assert.equal(json(replay).code, 'TOKEN_ERR_INVALID_GRANT');
    const newest = await refresh(app, third.refresh_token, ip);
    assert.equal(newest.statusCode, 401, 'the newest refresh token of the family is dead too');
    assert.equal(json(newest).code, 'TOKEN_ERR_INVALID_GRANT');
    const events = await securityEventRows(app, ip);
    const reuse = events.filter((e) => e.event === 'authn_token_reuse');
    assert.equal(reuse.length, 1);
    assert.equal(reuse[0]?.actor, user.id);

    // The thief's access token from the family dies with it; the user's other client loses
    // its access token too, but its own refresh family is untouched and recovers it.
    assert.equal((await withBearer(app, third.access_token, { url: '/api/me' })).statusCode, 401);
    assert.equal((await withBearer(app, other.access_token, { url: '/api/me' })).statusCode, 401);
    const recovered = await refresh(app, other.refresh_token);
    assert.equal(recovered.statusCode, 200);
    assert.equal((await withBearer(app, json<TokenPairBody>(recovered).access_token, { url: '/api/me' })).statusCode, 200);
  });

  it('treats two concurrent refreshes with the same token as a reuse: no pair of that family survives', async () => {
    const { app } = rampart;
    const user = await createVerifiedUser(app);
    const pair = await tokenPair(app, user);
    const results = await Promise.all([refresh(app, pair.refresh_token), refresh(app, pair.refresh_token)]);
    const statuses = results.map((r) => r.statusCode);
    assert.ok(statuses.includes(401), `statuses ${statuses.join(', ')}`);
    // The token was spent once; the second use revoked the family, whichever finished first.
    for (const res of results.filter((r) => r.statusCode === 200)) {
      const issued = json<TokenPairBody>(res);
      assert.equal((await refresh(app, issued.refresh_token)).statusCode, 401, 'the winner\'s refresh token died with its family');
      assert.equal((await withBearer(app, issued.access_token, { url: '/api/me' })).statusCode, 401, 'and so did its access token');
    }
  });

  it('revokes an access token by its jti: refused at once, and revoke answers 200 for anything', async () => {
    const { app } = rampart;
    const user = await createVerifiedUser(app);
    const pair = await tokenPair(app, user);
    const revoke = (token: string) => app.inject({ method: 'POST', url: '/api/auth/token/revoke', payload: { token }, remoteAddress: randomIp() });
    const revoked = await revoke(pair.access_token);
    assert.equal(revoked.statusCode, 200, revoked.body);
    assert.equal((await withBearer(app, pair.access_token, { url: '/api/me' })).statusCode, 401);
    for (const junk of ['nonsense', 'a.b.c', 'rpat_000', pair.refresh_token.replace(/^./, (c) => (c === 'A' ? 'B' : 'A'))]) {
      const res = await revoke(junk);
      assert.equal(res.statusCode, 200, `${junk} is answered 200`);
    }
    // Revoking the refresh token ends its family.
    assert.equal((await revoke(pair.refresh_token)).statusCode, 200);
    assert.equal((await refresh(app, pair.refresh_token)).statusCode, 401);
  });

  it('exempts bearer requests from CSRF, while a cookie POST without a CSRF token still fails', async () => {
    const { app } = rampart;
    const user = await createVerifiedUser(app);
    const browser = await sessionClient(user);
    const pair = await tokenPair(app, user);
    const cookiePost = await browser.post('/api/account/sessions/revoke-others', {}, { csrf: false });
    assert.equal(cookiePost.statusCode, 403);
    assert.equal(json(cookiePost).code, 'CSRF_ERR_INVALID');
    // Signing out every other session needs a step-up proof, which a token never has: a bearer
    // write ends the browser's session by its id instead.
    const listed = await withBearer(app, pair.access_token, { url: '/api/account/sessions' });
    const sessionId = json<{ sessions: { id: string }[] }>(listed).sessions[0]?.id ?? assert.fail(listed.body);
    const bearerWrite = await withBearer(app, pair.access_token, { method: 'DELETE', url: `/api/account/sessions/${sessionId}` });
    assert.equal(bearerWrite.statusCode, 204, bearerWrite.body);
    assert.equal((await browser.get('/api/me')).statusCode, 401, 'the bearer write really ran: the browser session ended');
  });

  it('never reads the session cookie on a bearer request: a bad token with a good cookie is still 401', async () => {
    const { app } = rampart;
    const user = await createVerifiedUser(app);
    const browser = await sessionClient(user);
    const res = await app.inject({ method: 'GET', url: '/api/me', headers: { cookie: browser.cookieHeader(), authorization: 'Bearer a.b.c' }, remoteAddress: browser.ip });
    assert.equal(res.statusCode, 401);
    assert.equal(json(res).code, 'AUTH_ERR_INVALID_TOKEN');
  });

  it('enforces scopes: a token without the route scope, or on a session-only route, gets 403; scopes never exceed the role', async () => {
    const { app } = rampart;
    const author = await createVerifiedUser(app);
    const readOnly = await tokenPair(app, author, 'account:read');
    assert.equal((await withBearer(app, readOnly.access_token, { url: '/api/me' })).statusCode, 200);
    const write = await withBearer(app, readOnly.access_token, { method: 'POST', url: '/api/account/sessions/revoke-others', payload: {} });
    assert.equal(write.statusCode, 403);
    assert.equal(json(write).code, 'AUTH_ERR_INSUFFICIENT_SCOPE');
    assert.match(String(write.headers['www-authenticate']), /insufficient_scope/);
    const full = await tokenPair(app, author);
    const sessionOnly = await withBearer(app, full.access_token, { method: 'POST', url: '/api/account/tokens', payload: { name: 'x', scopes: ['account:read'], expiresInDays: 1 } });
    assert.equal(sessionOnly.statusCode, 403, 'a token cannot mint personal tokens');
    const beyondRole = await requestToken(app, { email: author.email, password: author.password, scope: 'account:read admin' });
    assert.equal(beyondRole.statusCode, 400);
    assert.equal(json(beyondRole).code, 'TOKEN_ERR_INVALID_SCOPE');
    assert.equal((await withBearer(app, full.access_token, { url: '/api/test/admin-probe' })).statusCode, 403);

    const admin = await createVerifiedUser(app, 'admin');
    const adminPair = await tokenPair(app, admin, 'admin account:read');
    const probe = await withBearer(app, adminPair.access_token, { url: '/api/test/admin-probe' });
    assert.equal(probe.statusCode, 200, probe.body);
    assert.deepEqual(json<{ scopes: string[] }>(probe).scopes, ['account:read', 'admin']);
    // Demoted: the same token loses the admin scope at once.
    await tables(app).updateTable('users').set({ role: 'author' }).where('id', '=', admin.id).execute();
    // As every change of a user in Rampart does once committed (user-changes.ts, user-states.ts):
    // announce it, so every instance reloads the user on its next request.
    await app.userStates.changed(admin.id);
    assert.equal((await withBearer(app, adminPair.access_token, { url: '/api/test/admin-probe' })).statusCode, 403);
    assert.equal((await withBearer(app, adminPair.access_token, { url: '/api/me' })).statusCode, 200);
  });

  it('creates personal access tokens (shown once, rpat_ prefix with a checksum, stored only as SHA-256), lists and revokes them', async () => {
    const { app } = rampart;
    const user = await createVerifiedUser(app);
    const browser = await sessionClient(user);
    const created = await browser.post('/api/account/tokens', { name: 'deploy script', scopes: ['account:read'], expiresInDays: 30 });
    assert.equal(created.statusCode, 201, created.body);
    const { token, id, expiresAt } = json<{ token: string; id: string; expiresAt: string }>(created);
    assert.match(token, /^rpat_[0-9A-Za-z]{38}$/);
    assert.ok(isWellFormedPersonalToken(token));
    assert.ok(Math.abs(Date.parse(expiresAt) - (Date.now() + 30 * 86_400_000)) < 60_000);
    const row = await tables(app).selectFrom('personal_access_tokens').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    assert.equal(row.token_hash, sha256(token));
    assert.ok(!JSON.stringify(await tables(app).selectFrom('personal_access_tokens').selectAll().execute()).includes(token));

    const listed = await browser.get('/api/account/tokens');
    assert.equal(listed.statusCode, 200);
    assert.ok(!listed.body.includes(token), 'the token is shown only once');
    assert.deepEqual(json<{ tokens: { id: string; name: string; scopes: string[] }[] }>(listed).tokens.map((t) => [t.id, t.name, t.scopes]), [[id, 'deploy script', ['account:read']]]);

    assert.equal((await withBearer(app, token, { url: '/api/me' })).statusCode, 200);
    const lastChar = token.at(-1) === 'a' ? 'b' : 'a';
    assert.equal((await withBearer(app, `${token.slice(0, -1)}${lastChar}`, { url: '/api/me' })).statusCode, 401, 'a token failing its checksum is refused');
    assert.equal((await withBearer(app, token, { method: 'POST', url: '/api/account/sessions/revoke-others', payload: {} })).statusCode, 403, 'scopes bind personal tokens too');

    for (const bad of [{ name: 'x', scopes: ['account:read'], expiresInDays: 366 }, { name: 'x', scopes: ['everything'], expiresInDays: 1 }, { name: '', scopes: ['account:read'], expiresInDays: 1 }]) {
      assert.equal((await browser.post('/api/account/tokens', bad)).statusCode, 400, JSON.stringify(bad));
    }
    const adminScope = await browser.post('/api/account/tokens', { name: 'x', scopes: ['admin'], expiresInDays: 1 });
    assert.equal(adminScope.statusCode, 400);
    assert.equal(json(adminScope).code, 'TOKEN_ERR_INVALID_SCOPE');

    const stranger = await sessionClient(await createVerifiedUser(app));
    assert.equal((await stranger.delete(`/api/account/tokens/${id}`)).statusCode, 404, 'another user cannot revoke it');
    assert.equal((await browser.delete(`/api/account/tokens/${id}`)).statusCode, 204);
    assert.equal((await withBearer(app, token, { url: '/api/me' })).statusCode, 401);
  });

  it('ends refresh tokens, personal tokens and outstanding access tokens on a password change', async () => {
    const { app } = rampart;
    const user = await createVerifiedUser(app);
    const browser = await sessionClient(user);
    const pair = await tokenPair(app, user);
    const pat = json<{ token: string }>(await browser.post('/api/account/tokens', { name: 'ci', scopes: ['account:read'], expiresInDays: 7 })).token;
    for (const token of [pair.access_token, pat]) assert.equal((await withBearer(app, token, { url: '/api/me' })).statusCode, 200);
    const changed = await browser.post('/api/account/password', { currentPassword: user.password, newPassword: `${user.password} renewed` });
    assert.equal(changed.statusCode, 200, changed.body);
    assert.equal((await withBearer(app, pair.access_token, { url: '/api/me' })).statusCode, 401, 'the access token is refused');
    assert.equal((await withBearer(app, pat, { url: '/api/me' })).statusCode, 401, 'the personal token is gone');
    assert.equal((await refresh(app, pair.refresh_token)).statusCode, 401, 'the refresh token is gone');
    // A token issued right after the change works: the marker only refuses older tokens.
    const fresh = await tokenPair(app, { ...user, password: `${user.password} renewed` });
    assert.equal((await withBearer(app, fresh.access_token, { url: '/api/me' })).statusCode, 200);
  });

  it('ends refresh and access tokens on revoke-others, keeping personal tokens', async () => {
    const { app } = rampart;
    const user = await createVerifiedUser(app);
    const browser = await sessionClient(user);
    const pair = await tokenPair(app, user);
    const pat = json<{ token: string }>(await browser.post('/api/account/tokens', { name: 'ci', scopes: ['account:read'], expiresInDays: 7 })).token;
    assert.equal((await browser.post('/api/account/sessions/revoke-others', {})).statusCode, 200);
    assert.equal((await withBearer(app, pair.access_token, { url: '/api/me' })).statusCode, 401);
    assert.equal((await refresh(app, pair.refresh_token)).statusCode, 401);
    assert.equal((await withBearer(app, pat, { url: '/api/me' })).statusCode, 200);
    assert.equal((await browser.get('/api/me')).statusCode, 200, 'the current session stays');
  });

  it('publishes exactly the verification keys as JWKS, and keeps private keys only encrypted', async () => {
    const { app } = rampart;
    const res = await app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    assert.equal(res.statusCode, 200);
    const { keys } = json<{ keys: Record<string, string>[] }>(res);
    assert.ok(keys.length >= 1);
    for (const key of keys) {
      assert.deepEqual(Object.keys(key).sort(), ['alg', 'crv', 'kid', 'kty', 'use', 'x']);
      assert.deepEqual([key.kty, key.crv, key.alg, key.use], ['OKP', 'Ed25519', 'EdDSA', 'sig']);
    }
    const rows = await tables(app).selectFrom('signing_keys').selectAll().execute();
    const { privateKey } = await app.signingKeys.signingKey();
    const der = privateKey.export({ format: 'der', type: 'pkcs8' });
    const pkcs8Texts = [der.toString('base64'), der.toString('base64url'), der.toString('hex'), String(privateKey.export({ format: 'jwk' }).d)];
    const dump = JSON.stringify(rows);
    for (const text of pkcs8Texts) assert.ok(!dump.includes(text), 'no private key in plain form in the database');
    for (const row of rows.filter((r) => r.private_key_ciphertext !== null)) assert.match(String(row.private_key_ciphertext), /^v1\./);
  });

  it('refuses an access-token lifetime over 60 minutes at boot', () => {
    assert.throws(() => loadConfig(testEnvironment({ RAMPART_ACCESS_TOKEN_MINUTES: '61' })), (err: unknown) => err instanceof ConfigError && err.message.includes('RAMPART_ACCESS_TOKEN_MINUTES'));
    assert.equal(loadConfig(testEnvironment({ RAMPART_ACCESS_TOKEN_MINUTES: '60' })).config.tokens.accessTtlSeconds, 3600);
  });
});
