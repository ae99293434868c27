import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { randomBytes, randomUUID } from 'node:crypto';
import { suiteApp, tables } from '../helpers/build.js';
import { json } from '../helpers/client.js';
import { createComment, createPost } from '../helpers/publishing.js';
import { type Actor, signedIn } from '../helpers/users.js';

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const FORM = 'application/x-www-form-urlencoded';

interface Variant {
  readonly label: string;
  /** Builds the request's body headers and payload; `csrf` is the token the client fetched. */
  readonly build: (csrf: string, page: boolean) => { headers: Record<string, string>; payload?: string };
}

// What a script (curl -X POST), a client sending an empty JSON body, and one sending `{}` do;
// on a page route the same three with the form content type (a form's `{}` is `_csrf` alone).
const VARIANTS: readonly Variant[] = [
  { label: 'no body', build: (csrf) => ({ headers: { 'x-csrf-token': csrf } }) },
  { label: 'an empty body with its content type', build: (csrf, page) => ({ headers: { 'x-csrf-token': csrf, 'content-type': page ? FORM : 'application/json' }, payload: '' }) },
  {
    label: '{}',
    build: (csrf, page): { headers: Record<string, string>; payload: string } => (page
      ? { headers: { 'content-type': FORM }, payload: new URLSearchParams({ _csrf: csrf }).toString() }
      : { headers: { 'x-csrf-token': csrf, 'content-type': 'application/json' }, payload: '{}' }),
  },
];

/**
 * Action routes (logout, publish, revoke-others, …) take no body: `curl -X POST` must work.
 * The routes are found by walking the route table, so a route added later is covered too.
 */
describe('action routes without a body', () => {
  const rampart = suiteApp();

  const isPage = (url: string) => !url.startsWith('/api/');

  /**
   * A URL for a route pattern, each `:id` filled with a fresh object `actor` may act on. A
   * pattern this does not know fails the test: a new route needs a fixture here.
   */
  async function urlFor(pattern: string, actor: Actor): Promise<string> {
    if (!pattern.includes(':')) return pattern;
    let id: string;
    if (/^\/(api\/)?posts\/:id/.test(pattern)) {
      id = (await createPost(actor, { title: 'Bodyless' }, pattern.endsWith('/unpublish'))).id;
    } else if (/^\/(api\/)?comments\/:id/.test(pattern)) {
      const post = await createPost(actor, { title: 'Commented' }, true);
      id = (await createComment(actor, post.id)).id;
    } else if (pattern === '/api/account/sessions/:id') {
      const other = await actor.client.app.inject({ method: 'GET', url: '/api/account/sessions', headers: { cookie: actor.client.cookieHeader() }, remoteAddress: actor.client.ip });
      id = json<{ sessions: { id: string }[] }>(other).sessions[0]?.id ?? '';
    } else if (pattern === '/api/account/tokens/:id') {
      const created = await actor.client.post('/api/account/tokens', { name: 'bodyless', scopes: ['account:read'], expiresInDays: 1 });
      assert.equal(created.statusCode, 201, created.body);
      id = json<{ id: string }>(created).id;
    } else if (pattern === '/api/bookmarks/:id') {
      const created = await actor.client.post('/api/bookmarks', { url: 'https://example.com/bodyless', title: 'Bodyless' });
      assert.equal(created.statusCode, 201, created.body);
      id = json<{ id: string }>(created).id;
    } else if (pattern === '/api/account/passkeys/:id') {
      // A stored passkey row: registering one takes an authenticator (test/modules/passkeys.test.ts has the real ceremony).
      id = randomUUID();
      await tables(actor.client.app).insertInto('passkeys').values({
        id, user_id: actor.user.id, credential_id: randomBytes(32).toString('base64url'), public_key: randomBytes(77), counter: 0,
        transports: 'internal', device_type: 'singleDevice', backed_up: false, name: 'Bodyless',
      }).execute();
    } else if (/^\/(api\/)?admin\/users\/:id$/.test(pattern)) {
      id = (await signedIn(actor.client.app, 'author')).user.id;
    } else {
      throw new Error(`no fixture for ${pattern}: add one so this route is covered`);
    }
    return pattern.replace(':id', id);
  }

  function describeResponse(response: LightMyRequestResponse): string {
    return `${response.statusCode} ${response.body.slice(0, 300)}`;
  }

  it('the route table says which routes take a body, and the action routes take none', () => {
    const bodies = new Map(rampart.app.routeTable.map((route) => [`${route.method} ${route.url}`, route.body]));
    for (const route of ['POST /api/auth/logout', 'POST /api/account/sessions/revoke-others', 'POST /api/posts/:id/publish', 'POST /api/posts/:id/unpublish', 'POST /api/comments/:id/hide', 'POST /logout']) {
      assert.equal(bodies.get(route), 'optional', route);
    }
    for (const route of ['POST /api/auth/login', 'POST /api/auth/token/revoke', 'PATCH /api/posts/:id', 'PATCH /api/admin/users/:id', 'DELETE /api/account', 'POST /login']) {
      assert.equal(bodies.get(route), 'required', route);
    }
    assert.equal(bodies.get('DELETE /api/posts/:id'), 'none');
    assert.equal(bodies.get('GET /api/me'), 'none');
  });

  it('accepts no body, an empty body and {} on every unsafe route whose body has no required field, signed in and with a CSRF token', async () => {
    const { app } = rampart;
    const routes = app.routeTable.filter((route) => UNSAFE.has(route.method) && route.body !== 'required');
    assert.ok(routes.length >= 15, `the walk finds the action routes (${routes.length})`);
    const answers: string[] = [];
    for (const route of routes) {
      for (const variant of VARIANTS) {
        // A fresh administrator per request: logout ends the session, and each action needs its own object.
        const actor = await signedIn(app, 'admin');
        const url = await urlFor(route.url, actor);
        const csrf = await actor.client.csrfToken();
        const { headers, payload } = variant.build(csrf, isPage(route.url));
        const response = await actor.client.send({ method: route.method as 'POST', url, headers: { accept: isPage(route.url) ? 'text/html' : 'application/json', ...headers }, payload, csrf: false });
        const where = `${route.method} ${route.url} with ${variant.label}: ${describeResponse(response)}`;
        assert.ok(![400, 415].includes(response.statusCode), where);
        // Authentication and the CSRF guard ran and passed: this is the action itself answering.
        assert.ok(![401, 403].includes(response.statusCode), where);
        // Enrolling a second authenticator is refused by the action itself (the administrator has one).
        // Step-up by passkey is refused by the action itself too (the administrator has no passkey).
        const alreadyEnrolled = ['/api/account/mfa/totp', '/account/security/totp', '/api/auth/step-up/passkey/options'].includes(route.url) && route.method === 'POST' && response.statusCode === 409;
        assert.ok(response.statusCode < 400 || alreadyEnrolled, where);
        answers.push(`${route.method} ${route.url} ${response.statusCode}`);
      }
    }
    for (const reached of ['POST /api/auth/logout 204', 'POST /api/posts/:id/publish 200', 'POST /api/posts/:id/unpublish 200', 'POST /api/account/sessions/revoke-others 200', 'DELETE /api/posts/:id 204', 'POST /logout 303']) {
      assert.equal(answers.filter((a) => a === reached).length, VARIANTS.length, reached);
    }
  });

  it('keeps the CSRF guard on a request without a body', async () => {
    const { app } = rampart;
    const routes = app.routeTable.filter((route) => UNSAFE.has(route.method) && route.body !== 'required' && !route.csrfExempt);
    for (const route of routes) {
      const actor = await signedIn(app, 'admin');
      const url = await urlFor(route.url, actor);
      const response = await actor.client.send({ method: route.method as 'POST', url, csrf: false, headers: { accept: 'application/json' } });
      assert.equal(response.statusCode, 403, `${route.method} ${route.url}: ${describeResponse(response)}`);
      if (!isPage(route.url)) assert.equal(json(response).code, 'CSRF_ERR_INVALID');
    }
  });

  it('refuses a missing body with RAMPART_ERR_EMPTY_BODY on every API route with a required field', async () => {
    const { app } = rampart;
    const actor = await signedIn(app, 'admin');
    const routes = app.routeTable.filter((route) => UNSAFE.has(route.method) && route.body === 'required' && route.url.startsWith('/api/'));
    assert.ok(routes.length >= 10, `${routes.length} routes need a body`);
    for (const route of routes) {
      const url = route.url.replace(':id', '00000000-0000-4000-8000-000000000000');
      for (const variant of VARIANTS.slice(0, 2)) {
        const { headers, payload } = variant.build(await actor.client.csrfToken(), false);
        const response = await actor.client.send({ method: route.method as 'POST', url, headers, payload, csrf: false });
        const where = `${route.method} ${route.url} with ${variant.label}: ${describeResponse(response)}`;
        assert.equal(response.statusCode, 400, where);
        assert.equal(json(response).code, 'RAMPART_ERR_EMPTY_BODY', where);
      }
    }
  });

  it('still refuses unknown keys, a JSON null and a non-JSON content type on a bodyless route', async () => {
    const { app } = rampart;
    const actor = await signedIn(app, 'admin');
    const post = await createPost(actor);
    const url = `/api/posts/${post.id}/publish`;
    const unknown = await actor.client.post(url, { status: 'published' });
    assert.equal(unknown.statusCode, 400);
    assert.equal(json(unknown).code, 'RAMPART_ERR_VALIDATION');
    const explicitNull = await actor.client.post(url, 'null', { headers: { 'content-type': 'application/json' } });
    assert.equal(explicitNull.statusCode, 400);
    for (const type of ['text/plain', FORM, 'multipart/form-data; boundary=x']) {
      for (const payload of ['', '{}']) {
        const response = await actor.client.post(url, payload, { headers: { 'content-type': type } });
        assert.equal(response.statusCode, 415, `${type} ${JSON.stringify(payload)}: ${describeResponse(response)}`);
      }
    }
    const operator = await actor.client.post(url, { $where: '1' });
    assert.equal(json(operator).code, 'RAMPART_ERR_FORBIDDEN_KEY');
    assert.equal((await app.posts.find(post.id))?.status, 'draft', 'none of the refused requests published the post');
  });

  it('logs out over a real socket with `curl -X POST` (no body, no content type)', async () => {
    const { app } = rampart;
    const actor = await signedIn(app, 'author');
    const csrf = await actor.client.csrfToken();
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as AddressInfo;
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, method: 'POST', path: '/api/auth/logout', headers: { host: 'localhost:3000', origin: 'http://localhost:3000', cookie: actor.client.cookieHeader(), 'x-csrf-token': csrf } }, (res) => {
        res.resume();
        res.on('end', () => {
          resolve(res.statusCode ?? 0);
        });
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 204);
    assert.equal((await actor.client.get('/api/me')).statusCode, 401, 'the session ended');
  });
});
