import assert from 'node:assert/strict';
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { StateStore } from '../../src/platform/store.js';
import { routeContractPlugin } from '../../src/security/route-contract.js';
import { createSessionManager, type SessionManager, type SessionManagerOptions } from '../../src/security/sessions.js';
import { buildUnmanaged, type BuildResult, randomIp, securityEventRows } from '../helpers/build.js';
import { setCookie } from '../helpers/cookie-jar.js';
import { insertUserRow } from '../helpers/users.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const COOKIE = '__Host-rampart_session';
const META = { ip: '10.1.2.3', userAgent: 'SessionTest/1.0' };

const sha256hex = (text: string): string => createHash('sha256').update(text).digest('hex');

/** The store, with every call recorded by method name. */
function countingStore(store: StateStore): { store: StateStore; calls: string[] } {
  const calls: string[] = [];
  const proxy = new Proxy(store, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        calls.push(String(property));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: proxy, calls };
}

const WRITES = new Set(['set', 'setIfAbsent', 'expire', 'setAdd', 'setRemove', 'delete', 'take', 'increment']);

// A route that needs a principal, one open to anyone, and a test-only sign-in that issues the cookie.
const sessionRoutes: FastifyPluginAsyncZod = (app) => {
  app.get('/api/test/me', {
    config: { access: 'authenticated' },
    schema: { querystring: z.strictObject({}), response: { 200: z.object({ userId: z.string(), sessionId: z.string() }) } },
  }, (request) => ({ userId: request.principal?.id ?? '', sessionId: request.session?.id ?? '' }));
  app.get('/api/test/anyone', {
    config: { access: 'public' },
    schema: { querystring: z.strictObject({}), response: { 200: z.object({ signedIn: z.boolean() }) } },
  }, (request) => ({ signedIn: request.principal !== null }));
  app.get('/api/test/sign-in', {
    config: { access: 'public' },
    schema: { querystring: z.strictObject({ user: z.uuid() }), response: { 200: z.object({ sessionId: z.string() }) } },
  }, async (request, reply) => {
    const { token, session } = await app.sessions.create(request.query.user, { ip: request.ip, userAgent: request.headers['user-agent'] ?? '' });
    reply.setSessionCookie(token);
    return { sessionId: session.id };
  });
  return Promise.resolve();
};

describe('sessions', () => {
  let shared: BuildResult;
  // One app for the suite (PGlite takes seconds to start); each test uses its own users and client IP.
  before(async () => {
    shared = await buildUnmanaged({ plugins: [sessionRoutes] });
  });
  after(() => shared.app.close());

  /** A manager on the app's store (Redis in the real target) with a clock the test moves. */
  function manager(overrides: Partial<SessionManagerOptions> = {}): { sessions: SessionManager; clock: { now: number } } {
    const clock = { now: Date.now() };
    const sessions = createSessionManager({ store: shared.app.store, keyring: shared.app.keyring, now: () => clock.now, ...overrides });
    return { sessions, clock };
  }

  describe('session manager', () => {
    it('creates a session that resolves to its user, under a public id that is neither the token nor its hash', async () => {
      const { sessions } = manager();
      const userId = randomUUID();
      const { token, session } = await sessions.create(userId, META);
      assert.match(token, /^[A-Za-z0-9_-]{43}$/, '32 random bytes, base64url');
      assert.match(session.id, /^[A-Za-z0-9_-]{22,}$/);
      assert.notEqual(session.id, token);
      assert.ok(!session.id.includes(sha256hex(token)) && !token.includes(session.id));
      const resolved = await sessions.resolve(token);
      assert.deepEqual(resolved, session);
      assert.deepEqual({ userId: resolved.userId, ip: resolved.ip, userAgent: resolved.userAgent }, { userId, ...META });
    });

    it('keeps only the SHA-256 of the token in the store, never the token', async () => {
      const { sessions } = manager();
      const { token } = await sessions.create(randomUUID(), META);
      const stored = await shared.app.store.get(`sess:${sha256hex(token)}`);
      assert.notEqual(stored, null);
      assert.ok(!String(stored).includes(token));
      assert.equal(await shared.app.store.get(`sess:${token}`), null);
    });

    it('ends a session idle for 30 minutes, from its stored timestamps rather than the store TTL', async () => {
      const { sessions, clock } = manager();
      const { token } = await sessions.create(randomUUID(), META);
      clock.now += 30 * MINUTE - 1;
      assert.notEqual(await sessions.resolve(token), null, 'still alive one millisecond before the idle timeout');
      clock.now += 30 * MINUTE;
      // The store's own clock has barely moved, so its TTL would still keep the key.
      assert.equal(await sessions.resolve(token), null);
      assert.equal(await shared.app.store.get(`sess:${sha256hex(token)}`), null, 'the expired session is deleted');
    });

    it('ends a session 8 hours after login even when it was used all along', async () => {
      const { sessions, clock } = manager();
      const { token } = await sessions.create(randomUUID(), META);
      const key = `sess:${sha256hex(token)}`;
      for (let elapsed = 20 * MINUTE; elapsed < 8 * HOUR; elapsed += 20 * MINUTE) {
        clock.now += 20 * MINUTE;
        assert.notEqual(await sessions.resolve(token), null, `alive after ${elapsed / MINUTE} minutes`);
      }
      // The TTL shrinks to what is left of the 8 hours (here 20 minutes at most, minus the store's latency).
      const ttl = await shared.app.store.ttlMs(key);
      assert.ok(ttl !== null && ttl <= 20 * MINUTE, `TTL ${String(ttl)}`);
      clock.now += 20 * MINUTE;
      assert.equal(await sessions.resolve(token), null);
      assert.equal(await shared.app.store.get(key), null);
    });

    it('writes lastSeenAt at most once per touch interval, and the idle timeout counts from the last touch', async () => {
      const counting = countingStore(shared.app.store);
      const { sessions, clock } = manager({ store: counting.store });
      const { token, session } = await sessions.create(randomUUID(), META);
      const start = clock.now;
      counting.calls.length = 0;
      for (const offset of [1000, 30_000, 59_999]) {
        clock.now = start + offset;
        assert.equal((await sessions.resolve(token))?.lastSeenAt, session.lastSeenAt);
      }
      assert.deepEqual(counting.calls.filter((c) => WRITES.has(c)), [], 'no writes inside the touch interval');
      clock.now = start + 60_000;
      assert.equal((await sessions.resolve(token))?.lastSeenAt, start + 60_000);
      assert.ok(counting.calls.some((c) => WRITES.has(c)), 'the touch is written');
      clock.now = start + 60_000 + 29 * MINUTE;
      assert.notEqual(await sessions.resolve(token), null, '29 minutes after the touch, not after login');
    });

    it('cannot be brought back by a touch that races its revocation', async () => {
      const { sessions: writer } = manager();
      const { token } = await writer.create(randomUUID(), META);
      const key = `sess:${sha256hex(token)}`;
      // The revocation lands between the read and the touch of a concurrent request.
      const racing = new Proxy(shared.app.store, {
        get(target, property, receiver) {
          if (property === 'expire') {
            return async (k: string, options: { ttlMs: number }) => {
              await target.delete(k);
              return target.expire(k, options);
            };
          }
          const value: unknown = Reflect.get(target, property, receiver);
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
      const { sessions, clock } = manager({ store: racing });
      clock.now += 2 * MINUTE;
      assert.equal(await sessions.resolve(token), null);
      assert.equal(await shared.app.store.get(key), null, 'the revoked record stays gone');
      assert.equal(await writer.resolve(token), null);
    });

    it('rotates to a new token for the same user, keeps the login time, and ends the old token', async () => {
      const { sessions, clock } = manager();
      const userId = randomUUID();
      const { token, session } = await sessions.create(userId, META);
      for (let step = 0; step < 21; step += 1) {
        clock.now += 20 * MINUTE;
        assert.notEqual(await sessions.resolve(token), null);
      }
      const rotated = await sessions.rotate(token, { ip: '10.9.9.9', userAgent: 'Rotated/2.0' });
      assert.ok(rotated !== null);
      assert.notEqual(rotated.token, token);
      assert.notEqual(rotated.session.id, session.id);
      assert.deepEqual([rotated.session.userId, rotated.session.createdAt, rotated.session.ip], [userId, session.createdAt, '10.9.9.9']);
      assert.equal(await sessions.resolve(token), null, 'the old token is dead');
      assert.equal(await shared.app.store.get(`sess:${sha256hex(token)}`), null);
      assert.deepEqual((await sessions.list(userId)).map((s) => s.id), [rotated.session.id]);
      for (const minutes of [20, 40]) {
        clock.now += 20 * MINUTE;
        assert.notEqual(await sessions.resolve(rotated.token), null, `alive 7 hours ${minutes} minutes after login`);
      }
      clock.now += 20 * MINUTE;
      assert.equal(await sessions.resolve(rotated.token), null, 'the absolute timeout still counts from login');
      assert.equal(await sessions.rotate(token, META), null, 'a dead token cannot be rotated');
    });

    it("revokes a session by public id only among its owner's sessions", async () => {
      const { sessions } = manager();
      const alice = randomUUID();
      const bob = randomUUID();
      const a = await sessions.create(alice, META);
      const b = await sessions.create(bob, META);
      assert.equal(await sessions.revoke(bob, a.session.id), false, "Bob cannot end Alice's session by its id");
      assert.notEqual(await sessions.resolve(a.token), null);
      assert.equal(await sessions.revoke(alice, 'not-a-session-id'), false);
      assert.equal(await sessions.revoke(alice, a.session.id), true);
      assert.equal(await sessions.resolve(a.token), null);
      assert.equal(await sessions.revoke(alice, a.session.id), false, 'already gone');
      assert.notEqual(await sessions.resolve(b.token), null);
    });

    it('revokes all of a user’s sessions except the one named, and no one else’s', async () => {
      const { sessions } = manager();
      const userId = randomUUID();
      const [kept, second, third] = [await sessions.create(userId, META), await sessions.create(userId, META), await sessions.create(userId, META)];
      const other = await sessions.create(randomUUID(), META);
      assert.equal(await sessions.revokeAll(userId, { exceptToken: kept.token }), 2);
      assert.equal(await sessions.resolve(second.token), null);
      assert.equal(await sessions.resolve(third.token), null);
      assert.notEqual(await sessions.resolve(kept.token), null);
      assert.notEqual(await sessions.resolve(other.token), null);
      assert.equal(await sessions.revokeAll(userId), 1);
      assert.equal(await sessions.resolve(kept.token), null);
    });

    it('lists live sessions newest first and prunes index entries whose session is gone', async () => {
      const { sessions, clock } = manager();
      const userId = randomUUID();
      const first = await sessions.create(userId, META);
      clock.now += 1000;
      const second = await sessions.create(userId, META);
      clock.now += 1000;
      const third = await sessions.create(userId, META);
      // Gone behind the manager's back, as if the store had expired or evicted it.
      await shared.app.store.delete(`sess:${sha256hex(second.token)}`);
      const listed = await sessions.list(userId);
      assert.deepEqual(listed.map((s) => s.id), [third.session.id, first.session.id]);
      assert.deepEqual(listed[0], third.session);
      const index = await shared.app.store.setMembers(`user-sess:${userId}`);
      assert.deepEqual(index.sort(), [sha256hex(first.token), sha256hex(third.token)].sort());
      assert.ok(!JSON.stringify(listed).includes(first.token));
    });

    it('answers null for malformed tokens without asking the store', async () => {
      const counting = countingStore(shared.app.store);
      const { sessions } = manager({ store: counting.store });
      for (const token of ['', 'short', 'x'.repeat(44), `${'a'.repeat(42)}=`, `${'a'.repeat(42)}+`, 'é'.repeat(43), `../${'a'.repeat(40)}`]) {
        assert.equal(await sessions.resolve(token), null, JSON.stringify(token));
        assert.equal(await sessions.rotate(token, META), null);
        await sessions.revokeToken(token);
      }
      assert.deepEqual(counting.calls, []);
    });

    it('refuses options that would weaken the timeouts', () => {
      const base = { store: shared.app.store, keyring: shared.app.keyring };
      assert.throws(() => createSessionManager({ ...base, idleTimeoutMs: 0 }), /idleTimeoutMs/);
      assert.throws(() => createSessionManager({ ...base, idleTimeoutMs: 9 * HOUR }), /must not exceed absoluteTimeoutMs/);
      assert.throws(() => createSessionManager({ ...base, touchIntervalMs: 30 * MINUTE }), /touchIntervalMs/);
      assert.throws(() => createSessionManager({ ...base, absoluteTimeoutMs: 400 * 24 * HOUR }), /absoluteTimeoutMs/);
    });
  });

  describe('authentication', () => {
    it('answers 401 AUTH_ERR_UNAUTHENTICATED on an authenticated route without a cookie, and records nothing', async () => {
      const ip = randomIp();
      const res = await shared.app.inject({ method: 'GET', url: '/api/test/me', remoteAddress: ip });
      assert.equal(res.statusCode, 401);
      assert.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8');
      const problem = JSON.parse(res.body) as { code: string; status: number; title: string };
      assert.deepEqual([problem.code, problem.status], ['AUTH_ERR_UNAUTHENTICATED', 401]);
      assert.equal(res.headers['set-cookie'], undefined);
      assert.deepEqual(await securityEventRows(shared.app, ip), []);
      const open = await shared.app.inject({ method: 'GET', url: '/api/test/anyone', remoteAddress: ip });
      assert.deepEqual(JSON.parse(open.body), { signedIn: false });
    });

    it('sets the session cookie with exactly HttpOnly, Secure, SameSite=Lax and Path=/, and no Domain or expiry', async () => {
      const ip = randomIp();
      const userId = await insertUserRow(shared.app);
      const res = await shared.app.inject({ method: 'GET', url: `/api/test/sign-in?user=${userId}`, remoteAddress: ip });
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['cache-control'], 'no-store');
      const cookie = setCookie(res, COOKIE);
      assert.ok(cookie !== undefined);
      assert.match(cookie.value, /^[A-Za-z0-9_-]{43}$/);
      assert.deepEqual([...cookie.attributes].sort(), ['HttpOnly', 'Path=/', 'SameSite=Lax', 'Secure']);
      const me = await shared.app.inject({ method: 'GET', url: '/api/test/me', headers: { cookie: `${COOKIE}=${cookie.value}` }, remoteAddress: ip });
      assert.equal(me.statusCode, 200);
      assert.deepEqual(JSON.parse(me.body), { userId, sessionId: (JSON.parse(res.body) as { sessionId: string }).sessionId });
      assert.equal(me.headers['cache-control'], 'no-store');
      assert.equal(me.headers['set-cookie'], undefined, 'a live session is not re-issued');
    });

    it('never adopts a planted cookie: it records session_use_after_expire and deletes the cookie', async () => {
      const ip = randomIp();
      for (const planted of [randomBytes(32).toString('base64url'), 'attacker-chosen-session-id']) {
        const res = await shared.app.inject({ method: 'GET', url: '/api/test/anyone', headers: { cookie: `${COOKIE}=${planted}` }, remoteAddress: ip });
        assert.equal(res.statusCode, 200);
        assert.deepEqual(JSON.parse(res.body), { signedIn: false });
        const cleared = setCookie(res, COOKIE);
        assert.ok(cleared !== undefined);
        assert.equal(cleared.value, '');
        assert.deepEqual([...cleared.attributes].sort(), ['Expires=Thu, 01 Jan 1970 00:00:00 GMT', 'HttpOnly', 'Max-Age=0', 'Path=/', 'SameSite=Lax', 'Secure']);
        assert.equal(await shared.app.store.get(`sess:${sha256hex(planted)}`), null, 'nothing was stored for the planted value');
      }
      const rows = await securityEventRows(shared.app, ip);
      assert.deepEqual(rows.map((r) => [r.event, r.actor, r.details]), [['session_use_after_expire', null, {}], ['session_use_after_expire', null, {}]]);
    });

    it('refuses the cookie of a revoked session on an authenticated route with 401 and clears it', async () => {
      const ip = randomIp();
      const userId = await insertUserRow(shared.app);
      const { token } = await shared.app.sessions.create(userId, META);
      await shared.app.sessions.revokeToken(token);
      const res = await shared.app.inject({ method: 'GET', url: '/api/test/me', headers: { cookie: `${COOKIE}=${token}` }, remoteAddress: ip });
      assert.equal(res.statusCode, 401);
      assert.equal(setCookie(res, COOKIE)?.value, '');
      assert.deepEqual((await securityEventRows(shared.app, ip)).map((r) => r.event), ['session_use_after_expire']);
    });

    for (const [label, user] of [['disabled', (app: FastifyInstance) => insertUserRow(app, { disabled: true })], ['deleted', () => Promise.resolve(randomUUID())]] as const) {
      it(`ends the session of a ${label} user and treats the request as anonymous`, async () => {
        const ip = randomIp();
        const userId = await user(shared.app);
        const { token } = await shared.app.sessions.create(userId, META);
        const res = await shared.app.inject({ method: 'GET', url: '/api/test/me', headers: { cookie: `${COOKIE}=${token}` }, remoteAddress: ip });
        assert.equal(res.statusCode, 401);
        assert.equal(setCookie(res, COOKIE)?.value, '');
        assert.equal(await shared.app.sessions.resolve(token), null, 'the session is revoked');
        assert.deepEqual(await shared.app.sessions.list(userId), []);
      });
    }

    it('keeps tokens out of logs and security events', async () => {
      const ip = randomIp();
      const userId = await insertUserRow(shared.app);
      const signIn = await shared.app.inject({ method: 'GET', url: `/api/test/sign-in?user=${userId}`, remoteAddress: ip });
      const token = setCookie(signIn, COOKIE)?.value ?? assert.fail('no session cookie');
      await shared.app.sessions.revokeToken(token);
      await shared.app.inject({ method: 'GET', url: '/api/test/me', headers: { cookie: `${COOKIE}=${token}` }, remoteAddress: ip });
      const rows = await securityEventRows(shared.app, ip);
      assert.ok(rows.length > 0);
      assert.ok(!JSON.stringify(rows).includes(token));
      assert.ok(!shared.logs.text().includes(token));
      assert.ok(!shared.logs.text().includes(sha256hex(token)));
    });

    it('refuses to boot a route declaring access "authenticated" when nothing enforces it', async (t) => {
      const app = Fastify();
      t.after(() => app.close());
      await app.register(routeContractPlugin);
      await assert.rejects(async () => {
        app.get('/x', { config: { access: 'authenticated' }, schema: { querystring: z.strictObject({}), response: { 200: z.object({}) } } }, () => ({}));
        await app.ready();
      }, /declares access "authenticated" but no authentication plugin/);
    });
  });
});
