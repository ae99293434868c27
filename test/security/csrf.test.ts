import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance, type LightMyRequestResponse } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { authenticationPlugin } from '../../src/security/authentication.js';
import { csrfPlugin, destroyPreSession } from '../../src/security/csrf.js';
import { problemDetailsPlugin } from '../../src/security/problem-details.js';
import { routeContractPlugin } from '../../src/security/route-contract.js';
import { createChainKeys } from '../../src/security/security-event-chain.js';
import { securityEventsPlugin } from '../../src/security/security-events.js';
import { randomIp, securityEventRows, suiteApp, tables } from '../helpers/build.js';
import { CookieJar, setCookie } from '../helpers/cookie-jar.js';
import { insertUserRow } from '../helpers/users.js';

const PUBLIC_ORIGIN = 'http://localhost:3000';
const SESSION_COOKIE = '__Host-rampart_session';
const PRE_SESSION_COOKIE = '__Host-rampart_presession';
const TITLE = 'The request could not be verified as coming from this site: reload the page and try again.';

const sha256hex = (text: string): string => createHash('sha256').update(text).digest('hex');

const noQuery = z.strictObject({});
const ok = { 200: z.object({ ok: z.boolean() }) };

// The token API, a guarded action (POST with a form-style `_csrf` field allowed, DELETE), an
// exempt webhook, a test-only sign-in, and a login that ends the pre-session as the real one does.
const csrfRoutes: FastifyPluginAsyncZod = (app) => {
  app.get('/api/test/csrf', {
    config: { access: 'public' },
    schema: { querystring: noQuery, response: { 200: z.object({ token: z.string() }) } },
  }, async (request) => ({ token: await request.csrfToken() }));
  app.post('/api/test/action', {
    config: { access: 'public' },
    schema: { querystring: noQuery, body: z.strictObject({ value: z.string().max(20), _csrf: z.string().max(128).optional() }), response: ok },
  }, () => ({ ok: true }));
  app.delete('/api/test/action', { config: { access: 'public' }, schema: { querystring: noQuery, response: ok } }, () => ({ ok: true }));
  app.post('/api/test/webhook', {
    config: { access: 'public', csrf: false },
    schema: { querystring: noQuery, body: z.strictObject({ value: z.string().max(20) }), response: ok },
  }, () => ({ ok: true }));
  app.get('/api/test/sign-in', {
    config: { access: 'public' },
    schema: { querystring: z.strictObject({ user: z.uuid() }), response: ok },
  }, async (request, reply) => {
    const { token } = await app.sessions.create(request.query.user, { ip: request.ip, userAgent: 'CsrfTest' });
    reply.setSessionCookie(token);
    return { ok: true };
  });
  app.post('/api/test/login', {
    config: { access: 'public' },
    schema: { querystring: noQuery, body: z.strictObject({ user: z.uuid() }), response: ok },
  }, async (request, reply) => {
    await destroyPreSession(request, reply);
    const { token } = await app.sessions.create(request.body.user, { ip: request.ip, userAgent: 'CsrfTest' });
    reply.setSessionCookie(token);
    return { ok: true };
  });
  return Promise.resolve();
};

describe('csrf', () => {
  const shared = suiteApp({ plugins: [csrfRoutes] });

  /** A client with its own IP and cookie jar. */
  function client() {
    const ip = randomIp();
    const jar = new CookieJar();
    const { app } = shared;
    return {
      ip,
      jar,
      async token(): Promise<string> {
        const res = jar.take(await app.inject({ method: 'GET', url: '/api/test/csrf', headers: jar.headers(), remoteAddress: ip }));
        assert.equal(res.statusCode, 200);
        return (JSON.parse(res.body) as { token: string }).token;
      },
      async post(headers: Record<string, string> = {}, payload: object = { value: 'x' }, url = '/api/test/action'): Promise<LightMyRequestResponse> {
        return jar.take(await app.inject({ method: 'POST', url, payload, headers: { ...jar.headers(), ...headers }, remoteAddress: ip }));
      },
      async signIn(): Promise<void> {
        const userId = await insertUserRow(app);
        const res = jar.take(await app.inject({ method: 'GET', url: `/api/test/sign-in?user=${userId}`, remoteAddress: ip }));
        assert.equal(res.statusCode, 200);
      },
      async reasons(): Promise<unknown[]> {
        return (await securityEventRows(app, ip)).filter((r) => r.event === 'malicious_csrf').map((r) => r.details.reason);
      },
    };
  }

  function assertRefused(res: LightMyRequestResponse, message?: string): void {
    assert.equal(res.statusCode, 403, message);
    assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
    const problem = JSON.parse(res.body) as Record<string, unknown>;
    // One answer whatever failed.
    assert.deepEqual({ ...problem, traceId: undefined }, { type: 'urn:rampart:problem:invalid', title: TITLE, status: 403, code: 'CSRF_ERR_INVALID', traceId: undefined });
  }

  it('refuses a POST without a token with 403 and records malicious_csrf (missing_token)', async () => {
    const c = client();
    assertRefused(await c.post());
    await c.signIn();
    assertRefused(await c.post());
    assert.deepEqual(await c.reasons(), ['missing_token', 'missing_token']);
  });

  it('refuses a wrong token (bad_token)', async () => {
    const c = client();
    await c.signIn();
    const token = await c.token();
    const forged = `${token.slice(0, -1)}${token.endsWith('A') ? 'B' : 'A'}`;
    assertRefused(await c.post({ 'x-csrf-token': forged }));
    assertRefused(await c.post({ 'x-csrf-token': 'short' }));
    assertRefused(await c.post({ 'x-csrf-token': 'x'.repeat(10_000) }));
    assert.deepEqual(await c.reasons(), ['bad_token', 'bad_token', 'bad_token']);
  });

  it('refuses a token issued for another session (bad_token)', async () => {
    const attacker = client();
    await attacker.signIn();
    const stolen = await attacker.token();
    const victim = client();
    await victim.signIn();
    assertRefused(await victim.post({ 'x-csrf-token': stolen }));
    assert.deepEqual(await victim.reasons(), ['bad_token']);
    assert.equal((await victim.post({ 'x-csrf-token': await victim.token() })).statusCode, 200);
  });

  it('refuses Sec-Fetch-Site: cross-site even with a valid token (cross_site)', async () => {
    const c = client();
    await c.signIn();
    const token = await c.token();
    assertRefused(await c.post({ 'x-csrf-token': token, 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' }));
    assertRefused(await c.post({ 'x-csrf-token': token, 'sec-fetch-site': 'cross-site' }));
    assertRefused(await c.post({ 'x-csrf-token': token, 'sec-fetch-site': 'something-new' }));
    assert.deepEqual(await c.reasons(), ['cross_site', 'cross_site', 'cross_site']);
  });

  it('refuses Sec-Fetch-Site: same-site from an origin that is not trusted', async () => {
    const c = client();
    await c.signIn();
    const token = await c.token();
    assertRefused(await c.post({ 'x-csrf-token': token, 'sec-fetch-site': 'same-site', origin: 'http://blog.localhost:3000' }));
    assertRefused(await c.post({ 'x-csrf-token': token, 'sec-fetch-site': 'same-site' }));
    assert.deepEqual(await c.reasons(), ['cross_site', 'cross_site']);
  });

  it('refuses a foreign Origin when Fetch-Metadata is absent (origin)', async () => {
    const c = client();
    await c.signIn();
    const token = await c.token();
    for (const origin of ['https://evil.example', 'http://localhost:3000.evil.example', 'http://localhost:3001', 'https://localhost:3000']) {
      assertRefused(await c.post({ 'x-csrf-token': token, origin }));
    }
    assert.deepEqual(await c.reasons(), ['origin', 'origin', 'origin', 'origin']);
  });

  it('refuses Origin: null (sandboxed frames, redirect chains)', async () => {
    const c = client();
    await c.signIn();
    const token = await c.token();
    assertRefused(await c.post({ 'x-csrf-token': token, origin: 'null' }));
    assertRefused(await c.post({ 'x-csrf-token': token, origin: 'null', 'sec-fetch-site': 'same-origin' }));
    assert.deepEqual(await c.reasons(), ['origin', 'origin']);
  });

  it('accepts a valid token from the same origin, in the header or a _csrf body field', async () => {
    const c = client();
    await c.signIn();
    const token = await c.token();
    const res = await c.post({ 'x-csrf-token': token, 'sec-fetch-site': 'same-origin', origin: PUBLIC_ORIGIN });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers.vary), /Origin/);
    assert.match(String(res.headers.vary), /Sec-Fetch-Site/);
    assert.equal((await c.post({ 'x-csrf-token': token })).statusCode, 200, 'a non-browser client with neither header');
    assert.equal((await c.post({}, { value: 'x', _csrf: token })).statusCode, 200);
    assert.equal((await c.post({ 'sec-fetch-site': 'none' }, { value: 'x', _csrf: token })).statusCode, 200);
    const del = c.jar.take(await shared.app.inject({ method: 'DELETE', url: '/api/test/action', headers: { ...c.jar.headers(), 'x-csrf-token': token }, remoteAddress: c.ip }));
    assert.equal(del.statusCode, 200);
    assertRefused(await shared.app.inject({ method: 'DELETE', url: '/api/test/action', headers: c.jar.headers(), remoteAddress: c.ip }));
    assert.deepEqual(await c.reasons(), ['missing_token']);
  });

  it('binds the token to a pre-session before login: a __Host- cookie holding only a hash in the store', async () => {
    const c = client();
    const res = c.jar.take(await shared.app.inject({ method: 'GET', url: '/api/test/csrf', remoteAddress: c.ip }));
    assert.equal(res.headers['cache-control'], 'no-store');
    const cookie = setCookie(res, PRE_SESSION_COOKIE);
    assert.ok(cookie !== undefined);
    assert.match(cookie.value, /^[A-Za-z0-9_-]{43}$/);
    assert.deepEqual([...cookie.attributes].sort(), ['HttpOnly', 'Path=/', 'SameSite=Strict', 'Secure']);
    assert.notEqual(await shared.app.store.get(`presess:${sha256hex(cookie.value)}`), null);
    assert.equal(await shared.app.store.get(`presess:${cookie.value}`), null);
    const token = (JSON.parse(res.body) as { token: string }).token;
    assert.notEqual(token, cookie.value);
    assert.equal((await c.post({ 'x-csrf-token': token, 'sec-fetch-site': 'same-origin', origin: PUBLIC_ORIGIN })).statusCode, 200);
    // The token alone is not enough: without its cookie it matches no pre-session.
    const cookieless = await shared.app.inject({ method: 'POST', url: '/api/test/action', payload: { value: 'x' }, headers: { 'x-csrf-token': token }, remoteAddress: c.ip });
    assertRefused(cookieless);
    assert.deepEqual(await c.reasons(), ['bad_token']);
  });

  it('reuses a valid pre-session: the same token and no new cookie', async () => {
    const c = client();
    const first = await c.token();
    const again = await shared.app.inject({ method: 'GET', url: '/api/test/csrf', headers: c.jar.headers(), remoteAddress: c.ip });
    assert.equal(again.headers['set-cookie'], undefined);
    assert.equal((JSON.parse(again.body) as { token: string }).token, first);
  });

  it('never adopts a forged pre-session cookie: a new one is issued and tokens do not cross over', async () => {
    const c = client();
    const honest = await c.token();
    const honestCookie = c.jar.cookies.get(PRE_SESSION_COOKIE) ?? assert.fail('no pre-session cookie');
    const forged = randomBytes(32).toString('base64url');
    const attacker = client();
    attacker.jar.cookies.set(PRE_SESSION_COOKIE, forged);
    const res = await shared.app.inject({ method: 'GET', url: '/api/test/csrf', headers: attacker.jar.headers(), remoteAddress: attacker.ip });
    const issued = setCookie(res, PRE_SESSION_COOKIE);
    assert.ok(issued !== undefined && issued.value !== forged, 'a fresh pre-session replaces the forged value');
    assert.equal(await shared.app.store.get(`presess:${sha256hex(forged)}`), null);
    const fresh = (JSON.parse(res.body) as { token: string }).token;
    assertRefused(await attacker.post({ 'x-csrf-token': fresh }), 'the forged cookie with the new token');
    attacker.jar.take(res);
    assertRefused(await attacker.post({ 'x-csrf-token': honest }), 'the new cookie with an old token');
    assert.equal((await attacker.post({ 'x-csrf-token': fresh })).statusCode, 200);
    assert.notEqual(issued.value, honestCookie);
    assert.deepEqual(await attacker.reasons(), ['bad_token', 'bad_token']);
  });

  it('ends the pre-session at login: its cookie is cleared, its token dies, and the session has its own token', async () => {
    const c = client();
    const preToken = await c.token();
    const preCookie = c.jar.cookies.get(PRE_SESSION_COOKIE) ?? assert.fail('no pre-session cookie');
    const userId = await insertUserRow(shared.app);
    const login = await c.post({ 'x-csrf-token': preToken }, { user: userId }, '/api/test/login');
    assert.equal(login.statusCode, 200);
    const cleared = setCookie(login, PRE_SESSION_COOKIE);
    assert.ok(cleared !== undefined);
    assert.equal(cleared.value, '');
    assert.ok(cleared.attributes.includes('Max-Age=0'));
    assert.ok(c.jar.cookies.has(SESSION_COOKIE));
    assert.equal(await shared.app.store.get(`presess:${sha256hex(preCookie)}`), null);
    assertRefused(await c.post({ 'x-csrf-token': preToken }));
    const sessionToken = await c.token();
    assert.notEqual(sessionToken, preToken);
    assert.equal(c.jar.cookies.has(PRE_SESSION_COOKIE), false, 'a signed-in client gets no pre-session');
    assert.equal((await c.post({ 'x-csrf-token': sessionToken })).statusCode, 200);
    // Replaying the old pre-session cookie with its token gets nowhere either.
    const replay = await shared.app.inject({ method: 'POST', url: '/api/test/action', payload: { value: 'x' }, headers: { cookie: `${PRE_SESSION_COOKIE}=${preCookie}`, 'x-csrf-token': preToken }, remoteAddress: c.ip });
    assertRefused(replay);
    assert.deepEqual(await c.reasons(), ['bad_token', 'bad_token']);
  });

  it('exempts a route declaring csrf: false, and logs the exemption at boot', async () => {
    const c = client();
    const res = await c.post({ 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' }, { value: 'x' }, '/api/test/webhook');
    assert.equal(res.statusCode, 200);
    assert.deepEqual(await c.reasons(), []);
    const exemptions = shared.logs.entries().filter((e) => e.msg === 'route exempt from CSRF protection');
    // The API token endpoints are exempt by declaration too: they read no cookie and set none;
    // so is the CSP report endpoint (browsers send reports without a token; it changes no data).
    assert.deepEqual(exemptions.map((e) => String(e.route)).sort(), ['POST /api/auth/token', 'POST /api/auth/token/refresh', 'POST /api/auth/token/revoke', 'POST /api/auth/token/second-factor', 'POST /api/test/webhook', 'POST /csp-report']);
  });

  it('never checks GET', async () => {
    const c = client();
    const res = await shared.app.inject({ method: 'GET', url: '/api/test/csrf', headers: { 'sec-fetch-site': 'cross-site', origin: 'null' }, remoteAddress: c.ip });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(await c.reasons(), []);
  });

  it('keeps cookies and tokens out of logs and security events', async () => {
    const c = client();
    const token = await c.token();
    await c.post({ 'x-csrf-token': `${token}x` });
    await c.post({ 'x-csrf-token': token, origin: 'https://evil.example' });
    const text = JSON.stringify(await securityEventRows(shared.app, c.ip)) + shared.logs.text();
    assert.ok(!text.includes(token));
    for (const value of c.jar.cookies.values()) assert.ok(!text.includes(value));
  });

  it('refuses to boot a route whose csrf setting is anything but false', async (t) => {
    const app = Fastify();
    t.after(() => app.close());
    await app.register(routeContractPlugin);
    await assert.rejects(async () => {
      app.post('/x', { config: { access: 'public', csrf: true as unknown as false }, schema: { querystring: noQuery, body: noQuery, response: ok } }, () => ({ ok: true }));
      await app.ready();
    }, /declares csrf other than `false`/);
  });

  describe('with a trusted same-site origin', () => {
    let kernel: FastifyInstance;
    before(async () => {
      // The kernel plugins on a bare Fastify, as another application would adopt them.
      kernel = Fastify();
      await kernel.register(securityEventsPlugin, { db: shared.app.database.db, chain: createChainKeys(shared.app.keyring) });
      await kernel.register(problemDetailsPlugin);
      await kernel.register(authenticationPlugin, { sessions: shared.app.sessions, cookieName: SESSION_COOKIE, secureCookies: true, loadPrincipal: (id) => Promise.resolve({ id, role: 'author' }) });
      await kernel.register(csrfPlugin, { store: shared.app.store, keyring: shared.app.keyring, publicOrigin: 'https://app.example.com', trustedOrigins: ['https://admin.example.com'], secureCookies: true });
      kernel.get('/csrf', { config: { access: 'public' } }, async (request) => ({ token: await request.csrfToken() }));
      kernel.post('/act', { config: { access: 'public' } }, () => ({ ok: true }));
      await kernel.ready();
    });
    after(() => kernel.close());

    it('accepts same-site only from the trusted origin, and refuses the rest', async () => {
      const ip = randomIp();
      const { token } = await shared.app.sessions.create(randomUUID(), { ip, userAgent: 'CsrfTest' });
      const cookie = `${SESSION_COOKIE}=${token}`;
      const csrf = (JSON.parse((await kernel.inject({ method: 'GET', url: '/csrf', headers: { cookie }, remoteAddress: ip })).body) as { token: string }).token;
      const send = (headers: Record<string, string>) => kernel.inject({ method: 'POST', url: '/act', payload: {}, headers: { cookie, 'x-csrf-token': csrf, ...headers }, remoteAddress: ip });
      assert.equal((await send({ 'sec-fetch-site': 'same-site', origin: 'https://admin.example.com' })).statusCode, 200);
      assert.equal((await send({ origin: 'https://admin.example.com' })).statusCode, 200);
      assert.equal((await send({ 'sec-fetch-site': 'same-origin', origin: 'https://app.example.com' })).statusCode, 200);
      assert.equal((await send({ 'sec-fetch-site': 'same-site', origin: 'https://blog.example.com' })).statusCode, 403);
      assert.equal((await send({ 'sec-fetch-site': 'cross-site', origin: 'https://admin.example.com' })).statusCode, 403);
      await kernel.securityEvents.flush();
      const rows = await tables(shared.app).selectFrom('security_events').select(['event', 'details']).where('client_ip', '=', ip).orderBy('id').execute();
      assert.deepEqual(rows.map((r) => [r.event, r.details.reason]), [['malicious_csrf', 'cross_site'], ['malicious_csrf', 'cross_site']]);
    });

    it('refuses options it cannot enforce', async () => {
      const base = { store: shared.app.store, keyring: shared.app.keyring, publicOrigin: 'https://app.example.com', secureCookies: true };
      for (const [options, message] of [
        [{ ...base, publicOrigin: 'https://app.example.com/' }, /publicOrigin must be an exact origin/],
        [{ ...base, trustedOrigins: ['*'] }, /trustedOrigins entry must be an exact origin/],
        [{ ...base, trustedOrigins: ['null'] }, /trustedOrigins entry must be an exact origin/],
        [{ ...base, secureCookies: false, preSessionCookieName: '__Host-pre' }, /needs secureCookies/],
        [{ ...base, preSessionTtlMs: 0 }, /preSessionTtlMs/],
      ] as const) {
        const app = Fastify();
        await app.register(securityEventsPlugin, { db: shared.app.database.db, chain: createChainKeys(shared.app.keyring) });
        await app.register(problemDetailsPlugin);
        await app.register(authenticationPlugin, { sessions: shared.app.sessions, cookieName: SESSION_COOKIE, secureCookies: true, loadPrincipal: () => Promise.resolve(null) });
        await assert.rejects(async () => { await app.register(csrfPlugin, options); }, message);
        await app.close();
      }
    });
  });
});
