import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { buildUnmanaged, securityEventRows, tables, type BuildResult } from '../helpers/build.js';
import { Client, json } from '../helpers/client.js';
import { signedIn } from '../helpers/users.js';

interface Bookmark { id: string; url: string; title: string; createdAt: string }

/**
 * The example module (docs/add-a-module.md), attacked like the built-in ones: a guest, a second
 * user, a foreign origin, script URLs, forbidden keys, a bearer token without the scope, and a
 * parallel burst at the per-account limit. The route-contract, authorization and GET-safety
 * suites cover its routes with everyone else's.
 */
describe('bookmarks (the example module)', () => {
  let rampart: BuildResult;
  before(async () => {
    rampart = await buildUnmanaged();
  });
  after(async () => {
    await rampart.app.close();
  });

  it('keeps each user\'s bookmarks to themselves: create, list, delete', async () => {
    const alice = await signedIn(rampart.app);
    const created = await alice.client.post('/api/bookmarks', { url: 'https://example.com/a?b=c#d', title: '  Example  ' });
    assert.equal(created.statusCode, 201, created.body);
    const bookmark = json<Bookmark>(created);
    assert.equal(created.headers.location, `/api/bookmarks/${bookmark.id}`);
    assert.equal(bookmark.title, 'Example');
    const listed = json<{ bookmarks: Bookmark[] }>(await alice.client.get('/api/bookmarks')).bookmarks;
    assert.deepEqual(listed.map((b) => b.id), [bookmark.id]);
    assert.equal((await alice.client.delete(`/api/bookmarks/${bookmark.id}`)).statusCode, 204);
    assert.deepEqual(json<{ bookmarks: Bookmark[] }>(await alice.client.get('/api/bookmarks')).bookmarks, []);
  });

  it('answers a guest 401 and a second user 404 for someone else\'s bookmark, which stays', async () => {
    const alice = await signedIn(rampart.app);
    const mallory = await signedIn(rampart.app);
    const id = json<Bookmark>(await alice.client.post('/api/bookmarks', { url: 'https://example.com/private', title: 'Private' })).id;
    const guest = new Client(rampart.app);
    assert.equal((await guest.get('/api/bookmarks')).statusCode, 401);
    assert.equal((await guest.post('/api/bookmarks', { url: 'https://example.com/', title: 'x' })).statusCode, 401);
    assert.equal((await guest.delete(`/api/bookmarks/${id}`)).statusCode, 401);
    assert.deepEqual(json<{ bookmarks: Bookmark[] }>(await mallory.client.get('/api/bookmarks')).bookmarks, []);
    const theirs = await mallory.client.delete(`/api/bookmarks/${id}`);
    const missing = await mallory.client.delete(`/api/bookmarks/${randomUUID()}`);
    assert.equal(theirs.statusCode, 404);
    assert.deepEqual({ ...json<object>(theirs), traceId: '' }, { ...json<object>(missing), traceId: '' }, 'someone else\'s bookmark looks like none at all');
    assert.equal(json(theirs).code, 'BOOKMARK_ERR_NOT_FOUND');
    const denied = (await securityEventRows(rampart.app, mallory.client.ip)).filter((row) => row.event === 'authz_fail');
    assert.equal(denied.length, 1, 'the refused delete is recorded');
    assert.deepEqual(json<{ bookmarks: Bookmark[] }>(await alice.client.get('/api/bookmarks')).bookmarks.map((b) => b.id), [id]);
  });

  it('refuses every URL that is not a web link, and stores nothing', async () => {
    const alice = await signedIn(rampart.app);
    const corpus = [
      'javascript:alert(1)', 'JavaScript:alert(document.cookie)', ' javascript:alert(1)', 'data:text/html,<script>alert(1)</script>',
      'vbscript:msgbox(1)', 'file:///etc/passwd', 'ftp://example.com/', '//example.com/', 'https://', 'http://exa mple.com/',
      'https://example.com/\u0000', `https://example.com/${'a'.repeat(2048)}`, '', 'example.com',
    ];
    for (const url of corpus) {
      const res = await alice.client.post('/api/bookmarks', { url, title: 'Bad' });
      assert.equal(res.statusCode, 400, `${JSON.stringify(url)}: ${res.body}`);
      assert.ok(/^RAMPART_ERR_/.test(String(json(res).code)), res.body);
    }
    for (const body of [{ url: 'https://example.com/', title: '' }, { url: 'https://example.com/', title: 'x'.repeat(201) }, { url: 'https://example.com/', title: 'x', ownerId: alice.user.id }, { url: 'https://example.com/', title: { $ne: null } }]) {
      assert.equal((await alice.client.post('/api/bookmarks', body)).statusCode, 400, JSON.stringify(body));
    }
    assert.deepEqual(json<{ bookmarks: Bookmark[] }>(await alice.client.get('/api/bookmarks')).bookmarks, []);
  });

  it('refuses a write without the CSRF token or from a foreign origin', async () => {
    const alice = await signedIn(rampart.app);
    const noToken = await alice.client.post('/api/bookmarks', { url: 'https://example.com/', title: 'x' }, { csrf: false });
    assert.equal(noToken.statusCode, 403);
    assert.equal(json(noToken).code, 'CSRF_ERR_INVALID');
    const foreign = await alice.client.post('/api/bookmarks', { url: 'https://example.com/', title: 'x' }, { headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' } });
    assert.equal(foreign.statusCode, 403);
    assert.deepEqual(json<{ bookmarks: Bookmark[] }>(await alice.client.get('/api/bookmarks')).bookmarks, []);
  });

  it('lets a token read with bookmarks:read, and write only with bookmarks:write', async () => {
    const alice = await signedIn(rampart.app);
    const created = await alice.client.post('/api/account/tokens', { name: 'reader', scopes: ['bookmarks:read'], expiresInDays: 1 });
    assert.equal(created.statusCode, 201, created.body);
    const bearer = { authorization: `Bearer ${json<{ token: string }>(created).token}` };
    const api = new Client(rampart.app);
    assert.equal((await api.get('/api/bookmarks', bearer)).statusCode, 200);
    const write = await api.post('/api/bookmarks', { url: 'https://example.com/', title: 'x' }, { headers: bearer, csrf: false });
    assert.equal(write.statusCode, 403);
    assert.equal(json(write).code, 'AUTH_ERR_INSUFFICIENT_SCOPE');
    const other = await alice.client.post('/api/account/tokens', { name: 'posts only', scopes: ['posts:read'], expiresInDays: 1 });
    assert.equal((await api.get('/api/bookmarks', { authorization: `Bearer ${json<{ token: string }>(other).token}` })).statusCode, 403);
  });

  it('holds the per-account limit under a parallel burst', async () => {
    const alice = await signedIn(rampart.app);
    const rows = Array.from({ length: 499 }, (_, i) => ({ id: randomUUID(), owner_id: alice.user.id, url: `https://example.com/${String(i)}`, title: `b${String(i)}` }));
    await tables(rampart.app).insertInto('bookmarks').values(rows).execute();
    const burst = await Promise.all(Array.from({ length: 5 }, (_, i) => alice.client.post('/api/bookmarks', { url: `https://example.com/burst/${String(i)}`, title: 'burst' })));
    const statuses = burst.map((res) => res.statusCode).sort();
    assert.deepEqual(statuses, [201, 409, 409, 409, 409], burst.map((res) => res.body).join('\n'));
    assert.equal(json(burst.find((res) => res.statusCode === 409) ?? burst[0]!).code, 'BOOKMARK_ERR_LIMIT');
    const { count } = await tables(rampart.app).selectFrom('bookmarks').select((eb) => eb.fn.countAll<string>().as('count')).where('owner_id', '=', alice.user.id).executeTakeFirstOrThrow();
    assert.equal(Number(count), 500);
  });
});
