import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { subject } from '@casl/ability';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { MODULES } from '../../src/app.js';
import { composeAbilities } from '../../src/kernel/module.js';
import type { Principal } from '../../src/security/authentication.js';
import { describeAccess, isPermission } from '../../src/security/route-contract.js';
import { build, suiteApp } from '../helpers/build.js';
import { Client, json } from '../helpers/client.js';
import { signedIn } from '../helpers/users.js';

// Every route anyone may call without signing in. Adding one is a decision: it must be listed here.
const PUBLIC_ROUTES = new Set([
  'GET /healthz', 'HEAD /healthz', 'GET /readyz', 'HEAD /readyz', 'GET /.well-known/security.txt', 'HEAD /.well-known/security.txt',
  'GET /api/status', 'HEAD /api/status', 'GET /api/csrf', 'HEAD /api/csrf', 'POST /api/auth/register', 'POST /api/auth/verify-email',
  'POST /api/auth/verify-email/resend',
  // Email-change links: the mailed token is the proof, as for verification (the undo link must work signed out).
  'POST /api/account/email/confirm', 'POST /api/account/email/undo',
  'POST /api/auth/login', 'POST /api/auth/logout', 'POST /api/auth/password-reset/request', 'POST /api/auth/password-reset/confirm',
  'POST /api/setup', 'POST /api/auth/token', 'POST /api/auth/token/refresh', 'POST /api/auth/token/revoke',
  // The second step of a sign-in (its challenge is the credential), API and page.
  'POST /api/auth/login/second-factor', 'POST /api/auth/token/second-factor', 'POST /login/second-factor',
  'POST /api/auth/login/second-factor/passkey/options', 'POST /api/auth/login/second-factor/passkey',
  'GET /.well-known/jwks.json', 'HEAD /.well-known/jwks.json',
  'POST /api/auth/passkey/options', 'POST /api/auth/passkey',
  // The API's OpenAPI document and its reference page (/metrics exists only with a token, and checks it itself).
  'GET /openapi.json', 'HEAD /openapi.json', 'GET /docs/api', 'HEAD /docs/api',
  // The browser surface: sign-in and recovery pages, their forms, static files and CSP reports.
  // The home page is not here: it lists posts, so it declares `read Post` like the API.
  ...['/login', '/register', '/verify-email', '/verify-email/resend', '/forgot-password', '/reset-password', '/setup', '/confirm-email-change', '/undo-email-change'].flatMap((path) => [`GET ${path}`, `HEAD ${path}`, `POST ${path}`]),
  'POST /logout', 'GET /static/:file', 'HEAD /static/:file', 'GET /favicon.ico', 'HEAD /favicon.ico', 'POST /csp-report',
]);

// CASL's subject() keeps the literal's type, which has no index signature; rules take any record.
const tagged = (type: SubjectType, fields: Record<string, unknown>) => subject(type, fields);
const principal = (role: string, id = crypto.randomUUID()): Principal => ({ id, role, credential: 'session', scopes: null });

// A test extension: an object route that forgets its object check, and one that does it.
const careless: FastifyPluginAsyncZod = (app) => {
  app.get('/api/test/careless/:id', {
    config: { access: { action: 'read', subject: 'Post' } },
    schema: { params: z.strictObject({ id: z.uuid() }), querystring: z.strictObject({}), response: { 200: z.object({ leaked: z.boolean() }) } },
  }, () => ({ leaked: true }));
  return Promise.resolve();
};

// The abilities the app composes from its modules' rules.
const { abilityFor, actions: ACTIONS, subjects: SUBJECTS } = composeAbilities(MODULES);
type Action = string;
type SubjectType = string;

describe('authorization', () => {
  describe('the route table', () => {
    const rampart = suiteApp();

    it('gives every route a rule, and only the listed routes are public', () => {
      const publicNow = rampart.app.routeTable.filter((r) => r.access === 'public').map((r) => `${r.method} ${r.url}`);
      assert.deepEqual(publicNow.sort(), [...PUBLIC_ROUTES].sort());
      for (const route of rampart.app.routeTable) {
        assert.ok(route.access === 'public' || route.access === 'authenticated' || isPermission(route.access), `${route.method} ${route.url}`);
      }
    });

    it('puts content and administration behind permissions that match each role', () => {
      for (const route of rampart.app.routeTable) {
        const label = `${route.method} ${route.url} (${describeAccess(route.access)})`;
        if (/^\/api\/(posts|comments)/.test(route.url)) assert.ok(isPermission(route.access), label);
        if (route.url.startsWith('/api/admin')) {
          assert.ok(isPermission(route.access), label);
          assert.equal(route.scope, 'admin', label);
          const { action, subject: type } = route.access as { action: Action; subject: SubjectType };
          assert.equal(abilityFor(principal('admin')).can(action, type), true, label);
          for (const role of ['author', 'moderator', 'unknown-role']) assert.equal(abilityFor(principal(role)).can(action, type), false, `${label} for ${role}`);
          assert.equal(abilityFor(null).can(action, type), false, `${label} for a guest`);
        }
        if (!['GET', 'HEAD'].includes(route.method) && route.access !== 'public') assert.notEqual(route.scope, 'posts:read', `${label}: a write needs a write scope`);
      }
    });
  });

  describe('abilities (deny by default)', () => {
    const alice = principal('author');
    const bob = principal('author');
    const draft = tagged('Post', { id: 'p1', authorId: alice.id, status: 'draft' });
    const published = tagged('Post', { id: 'p2', authorId: alice.id, status: 'published' });
    const visible = tagged('Comment', { id: 'c1', authorId: bob.id, hidden: false, postPublished: true });
    const hidden = tagged('Comment', { id: 'c2', authorId: bob.id, hidden: true, postPublished: true });

    it('lets a guest read published posts and visible comments, nothing else', () => {
      const guest = abilityFor(null);
      assert.equal(guest.can('read', published), true);
      assert.equal(guest.can('read', draft), false);
      assert.equal(guest.can('read', visible), true);
      assert.equal(guest.can('read', hidden), false);
      for (const action of ACTIONS.filter((a) => a !== 'read')) for (const type of SUBJECTS) assert.equal(guest.can(action, type), false, `${action} ${type}`);
    });

    it('gives authors their own posts and comments only', () => {
      const asAlice = abilityFor(alice);
      const asBob = abilityFor(bob);
      for (const action of ['read', 'update', 'delete', 'publish', 'unpublish'] as const) {
        assert.equal(asAlice.can(action, draft), true, action);
        assert.equal(asBob.can(action, draft), false, action);
      }
      assert.equal(asBob.can('read', published), true);
      assert.equal(asBob.can('update', published), false);
      assert.equal(asBob.can('unpublish', published), false);
      assert.equal(asBob.can('delete', visible), true);
      assert.equal(asAlice.can('delete', visible), false);
      assert.equal(asAlice.can('hide', visible), false);
      assert.equal(asAlice.can('read', hidden), false);
      assert.equal(asAlice.can('read', 'User'), false);
      assert.equal(asAlice.can('read', 'SecurityEvent'), false);
    });

    it('lets moderators unpublish any post and hide any comment, not edit; admins also manage users', () => {
      const moderator = abilityFor(principal('moderator'));
      assert.equal(moderator.can('unpublish', published), true);
      assert.equal(moderator.can('update', published), false);
      assert.equal(moderator.can('delete', published), false);
      assert.equal(moderator.can('hide', visible), true);
      assert.equal(moderator.can('read', hidden), true);
      assert.equal(moderator.can('read', draft), false, 'a draft stays private to its author, moderators included');
      assert.equal(moderator.can('manage', 'User'), false);
      const admin = abilityFor(principal('admin'));
      assert.equal(admin.can('manage', 'User'), true);
      assert.equal(admin.can('read', 'SecurityEvent'), true);
      assert.equal(admin.can('update', published), false, 'administrators do not edit other people\'s posts');
    });

    it('gives an unknown role the guest\'s abilities', () => {
      const odd = abilityFor(principal('superuser'));
      assert.equal(odd.can('create', 'Post'), false);
      assert.equal(odd.can('read', published), true);
    });
  });

  describe('route declarations', () => {
    const routeWith = (access: unknown): FastifyPluginAsyncZod => (app) => Promise.resolve().then(() => {
      app.get('/x', { config: { access: access as 'public' }, schema: { querystring: z.strictObject({}), response: { 200: z.object({}) } } }, () => ({}));
    });
    for (const [label, access] of [
      ['an unknown subject', { action: 'read', subject: 'Nope' }],
      ['an unknown action', { action: 'obliterate', subject: 'Post' }],
      ['extra keys', { action: 'read', subject: 'Post', when: 'always' }],
      ['an empty rule', {}],
      ['an unknown rule name', 'admins'],
    ] as const) {
      it(`refuses to boot with a permission that has ${label}`, async (t) => {
        await assert.rejects(build(t, { plugins: [routeWith(access)] }), /Route GET \/x/);
      });
    }

it('answers a signed-in caller on a forgotten object check with 500, never with the object', async (t) => {
      const { app } = await build(t, { plugins: [careless] });
      const alice = await signedIn(app);
      const res = await alice.client.get(`/api/test/careless/${crypto.randomUUID()}`);
      assert.equal(res.statusCode, 500);
      assert.doesNotMatch(res.body, /leaked/);
      const guest = await new Client(app).get(`/api/test/careless/${crypto.randomUUID()}`);
      assert.equal(guest.statusCode, 500);
    });

    it('answers a signed-in caller without the permission 403 before the handler runs', async (t) => {
      let ran = false;
      const plugin: FastifyPluginAsyncZod = (app) => {
        app.post('/api/test/moderate', {
          config: { access: { action: 'manage', subject: 'User' } },
          schema: { querystring: z.strictObject({}), body: z.strictObject({ n: z.number() }), response: { 200: z.object({}) } },
        }, () => {
          ran = true;
          return {};
        });
        return Promise.resolve();
      };
      const { app } = await build(t, { plugins: [plugin] });
      const alice = await signedIn(app);
      const res = await alice.client.post('/api/test/moderate', { n: 1 });
      assert.equal(res.statusCode, 403);
      assert.equal(json(res).code, 'AUTHZ_ERR_FORBIDDEN');
      assert.equal(ran, false);
    });
  });
});
