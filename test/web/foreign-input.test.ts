import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { suiteApp } from '../helpers/build.js';
import { csrfField, PageClient } from '../helpers/pages.js';
import { createComment, createPost } from '../helpers/publishing.js';
import { createVerifiedUser, signedInThroughPages } from '../helpers/users.js';

const BASIC = `Basic ${Buffer.from('staging:proxy-password').toString('base64')}`;
// A well-formed bearer that names no token (stale or forged), and one that is not even well formed.
const STALE_BEARER = 'Bearer eyJhbGciOiJFZERTQSIsImtpZCI6Im9sZCJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl';
const MALFORMED_BEARER = 'Bearer not a token!';
const FOREIGN_HEADERS: readonly (readonly [string, string])[] = [['basic', BASIC], ['stale bearer', STALE_BEARER], ['malformed bearer', MALFORMED_BEARER]];
const FORM = { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' };

describe('pages with a foreign Authorization header or a NUL byte in a form', () => {
  const rampart = suiteApp();
  let adminClient: PageClient;
  const ids = { post: '', comment: '', user: '' };

  before(async () => {
    const actor = await signedInThroughPages(rampart.app, 'admin');
    adminClient = actor.client;
    const post = await createPost(actor, { title: 'Foreign headers' }, true);
    ids.post = post.id;
    ids.comment = (await createComment(actor, post.id)).id;
    ids.user = (await createVerifiedUser(rampart.app)).id;
  });

  /** Every page route of the route table, its path parameter filled with an existing object. */
  function pageRoutes(): { method: string; url: string; bodyFields: readonly string[] }[] {
    const routes = rampart.app.routeTable.filter((route) => route.page && (route.method === 'GET' || route.method === 'POST'));
    assert.ok(routes.length >= 25, `the route table lists the page routes (${routes.length})`);
    return routes.map((route) => {
      const id = route.url.startsWith('/comments/') ? ids.comment : route.url.startsWith('/admin/users/') ? ids.user : ids.post;
      return { method: route.method, url: route.url.replace(':id', id), bodyFields: route.bodyFields };
    });
  }

  /** Follows redirects with the same header, as a browser behind the proxy would; fails on a loop or a 5xx. */
  async function walk(client: PageClient, method: string, url: string, authorization: string, payload?: string): Promise<LightMyRequestResponse> {
    const seen = new Set<string>();
    let response = await client.send({ method: method as 'GET' | 'POST', url, payload, csrf: false, headers: { ...(payload === undefined ? { accept: 'text/html' } : FORM), authorization } });
    let current = url;
    for (let hop = 0; response.statusCode >= 300 && response.statusCode < 400; hop += 1) {
      assert.ok(response.statusCode < 500, `${method} ${current}: ${response.statusCode}`);
      const location = String(response.headers.location);
      assert.ok(!seen.has(location) && location !== current && hop < 4, `${method} ${url} redirects in a loop (${[...seen, location].join(' → ')})`);
      seen.add(location);
      current = location;
      response = await client.send({ method: 'GET', url: location, headers: { accept: 'text/html', authorization } });
    }
    assert.ok(response.statusCode < 500, `${method} ${url} → ${current} answered ${response.statusCode}: ${response.body.slice(0, 200)}`);
    return response;
  }

  for (const [label, authorization] of FOREIGN_HEADERS) {
    it(`every page route answers a ${label} Authorization header without a 500 or a redirect loop, signed in or not`, async () => {
      for (const route of pageRoutes()) {
        const payload = route.method === 'POST' ? '' : undefined;
        await walk(new PageClient(rampart.app), route.method, route.url, authorization, payload);
        const response = await walk(adminClient.onFreshIp(), route.method, route.url, authorization, payload);
        // Signed in, an empty form is refused as invalid or, without its CSRF token, as forged.
        if (route.method === 'POST') assert.ok([400, 403].includes(response.statusCode), `${route.method} ${route.url}: ${response.statusCode}`);
      }
    });
  }

  it('a page reads the session cookie beside a proxy\'s Basic header, and shows the signed-in user', async () => {
    const client = adminClient.onFreshIp();
    for (const url of ['/account', `/posts/${ids.post}`, `/posts/${ids.post}/edit`, '/admin', '/login']) {
      const response = await client.send({ method: 'GET', url, headers: { accept: 'text/html', authorization: BASIC } });
      if (url === '/login') {
        assert.ok(response.statusCode === 200 || response.statusCode === 303, `${url}: ${response.statusCode}`);
        continue;
      }
      assert.equal(response.statusCode, 200, `${url}: ${response.body.slice(0, 200)}`);
      assert.match(response.body, /Sign out/, `${url} is rendered for the signed-in user`);
    }
    const account = await client.send({ method: 'GET', url: '/account', headers: { accept: 'text/html', authorization: BASIC } });
    const created = await client.send({
      method: 'POST', url: '/account/tokens', csrf: false, headers: { ...FORM, authorization: BASIC },
      payload: new URLSearchParams({ _csrf: csrfField(account.body), name: 'via proxy', expiresInDays: '30', scope_posts_read: 'on' }).toString(),
    });
    assert.equal(created.statusCode, 201, `the form works behind the proxy: ${created.body.slice(0, 300)}`);
    assert.match(created.body, /via proxy/);
  });

  it('a Basic header never makes a page form CSRF-exempt (pages are not bearer requests)', async () => {
    const client = adminClient.onFreshIp();
    for (const authorization of [BASIC, STALE_BEARER]) {
      const forged = await client.send({
        method: 'POST', url: '/account/tokens', csrf: false, headers: { ...FORM, authorization },
        payload: new URLSearchParams({ name: 'forged', expiresInDays: '30', scope_posts_read: 'on' }).toString(),
      });
      assert.equal(forged.statusCode, 403, authorization);
      assert.match(forged.body, /CSRF_ERR_INVALID/);
    }
  });

  it('an unknown URL with a Basic header is a 404 page, not a sign-in redirect', async () => {
    const response = await new PageClient(rampart.app).send({ method: 'GET', url: '/no/such/page', headers: { accept: 'text/html', authorization: BASIC } });
    assert.equal(response.statusCode, 404);
    assert.match(String(response.headers['content-type']), /^text\/html/);
  });

  it('the API still refuses any Authorization header that is not a valid bearer token, cookie or not', async () => {
    for (const [, authorization] of FOREIGN_HEADERS) {
      for (const client of [new PageClient(rampart.app), adminClient.onFreshIp()]) {
        const response = await client.send({ method: 'GET', url: '/api/me', headers: { authorization } });
        assert.equal(response.statusCode, 401, authorization);
        assert.equal((JSON.parse(response.body) as { code: string }).code, 'AUTH_ERR_INVALID_TOKEN');
        assert.equal(response.headers['www-authenticate'], 'Bearer error="invalid_token"');
      }
    }
  });

  it('a NUL byte in any field (or field name) of every page form is a 400 HTML page, never a 500', async () => {
    const forms = pageRoutes().filter((route) => route.method === 'POST');
    assert.ok(forms.length >= 15, `page forms found: ${forms.length}`);
    let checked = 0;
    for (const route of forms) {
      const client = adminClient.onFreshIp();
      const token = csrfField((await client.page('/account')).body);
      const fields = [...new Set(['_csrf', ...route.bodyFields])];
      const bodies = fields.map((nul) => {
        const body = new URLSearchParams({ _csrf: token });
        for (const field of route.bodyFields) if (field !== '_csrf') body.set(field, 'x');
        body.set(nul, nul === '_csrf' ? `${token}\u0000` : 'a\u0000b');
        return { label: nul, payload: body.toString() };
      });
      bodies.push({ label: 'a field name', payload: `_csrf=${encodeURIComponent(token)}&na%00me=x` });
      for (const { label, payload } of bodies) {
        const response = await client.send({ method: 'POST', url: route.url, payload, csrf: false, headers: FORM });
        assert.equal(response.statusCode, 400, `POST ${route.url} with a NUL in ${label}: ${response.statusCode} ${response.body.slice(0, 300)}`);
        assert.match(String(response.headers['content-type']), /^text\/html/);
        assert.match(response.body, /RAMPART_ERR_NUL_CHARACTER/);
        checked += 1;
      }
    }
    assert.ok(checked >= 40, `fields checked: ${checked}`);
  });
});
