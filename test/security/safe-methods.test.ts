import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { randomIp, suiteApp, tables } from '../helpers/build.js';
import { Client } from '../helpers/client.js';
import { createComment, createPost } from '../helpers/publishing.js';
import { type Actor, signedIn } from '../helpers/users.js';

const SAFE = new Set(['GET', 'HEAD']);

/**
 * GET and HEAD never change state: no safe route opts out of the CSRF guard (which would only
 * matter if it changed something), and calling every one of them, pages and API alike, as a
 * guest and as a signed-in administrator who also owns posts and comments, leaves the users,
 * posts and comments exactly as they were. Security events may grow (a 404 is recorded).
 */
describe('safe methods change nothing', () => {
  const rampart = suiteApp();
  let admin: Actor;
  let reader: Actor;
  const ids = { users: [] as string[], posts: [] as string[], comments: [] as string[] };

  before(async () => {
    admin = await signedIn(rampart.app, 'admin');
    reader = await signedIn(rampart.app, 'author');
    const published = await createPost(admin, { title: 'Published', tags: ['safe'] }, true);
    const draft = await createPost(admin, { title: 'Draft' });
    const comment = await createComment(reader, published.id, 'a comment');
    ids.users.push(admin.user.id, reader.user.id);
    ids.posts.push(published.id, draft.id);
    ids.comments.push(comment.id);
  });

  /** Every row the fixtures own, whole: any write (even one that only bumps updated_at) shows. */
  async function snapshot(): Promise<string> {
    const db = tables(rampart.app);
    const users = await db.selectFrom('users').selectAll().where('id', 'in', ids.users).orderBy('id').execute();
    const posts = await db.selectFrom('posts').selectAll().where('author_id', 'in', ids.users).orderBy('id').execute();
    const comments = await db.selectFrom('comments').selectAll().where((eb) => eb.or([eb('author_id', 'in', ids.users), eb('post_id', 'in', ids.posts)])).orderBy('id').execute();
    assert.equal(posts.length, 2);
    assert.equal(comments.length, 1);
    return JSON.stringify({ users, posts, comments });
  }

  /** A URL for a route pattern: each `:param` filled with a fixture's id (or a plausible value). */
  function urlsFor(pattern: string): string[] {
    if (!pattern.includes(':')) return [pattern];
    if (pattern.includes(':file')) return [pattern.replace(':file', 'app.0000000000000000.css')];
    // The fixtures' own objects of the route's kind, and one that does not exist.
    const own = pattern.startsWith('/api/admin/users') ? ids.users : /^\/(api\/)?comments\//.test(pattern) ? ids.comments : ids.posts;
    const candidates = [...own, '00000000-0000-4000-8000-000000000000'];
    return candidates.map((id) => pattern.replace(/:[A-Za-z]+/g, id));
  }

  it('no GET or HEAD route is exempt from the CSRF guard', () => {
    const safe = rampart.app.routeTable.filter((route) => SAFE.has(route.method));
    assert.ok(safe.length >= 30, `the table lists the safe routes (${safe.length})`);
    assert.deepEqual(safe.filter((route) => route.csrfExempt).map((route) => `${route.method} ${route.url}`), []);
    // The exemption is visible in the table, so the check above can fail.
    assert.ok(rampart.app.routeTable.every((route) => typeof route.csrfExempt === 'boolean'));
  });

  it('calling every GET and HEAD route, as a guest and signed in, leaves users, posts and comments unchanged', async () => {
    const before = await snapshot();
    const guest = new Client(rampart.app);
    const statuses = new Map<string, number>();
    const routes = rampart.app.routeTable.filter((route) => SAFE.has(route.method));
    for (const route of routes) {
      // The same people (their cookie jars) from a fresh address per route: the walk sends more
      // requests than one client's global rate limit allows, and the limit stays on.
      const from = (client: Client): Client => new Client(rampart.app, randomIp(), client.userAgent, client.jar);
      for (const url of urlsFor(route.url)) {
        for (const [who, client] of [['guest', from(guest)], ['admin', from(admin.client)], ['reader', from(reader.client)]] as const) {
          for (const accept of ['text/html', 'application/json']) {
            const response = await client.send({ method: route.method as 'GET', url, headers: { accept } });
            assert.ok(response.statusCode < 500, `${route.method} ${url} as ${who}: ${response.statusCode} ${response.body.slice(0, 200)}`);
            statuses.set(`${route.method} ${url} ${who}`, response.statusCode);
          }
        }
      }
    }
    assert.equal(await snapshot(), before);
    // The walk reached the pages and the API for real, not only their refusals.
    for (const key of ['GET / guest', `GET /posts/${ids.posts[0]} guest`, `GET /posts/${ids.posts[1]}/edit admin`, 'GET /admin admin', `GET /api/posts/${ids.posts[1]} admin`, 'GET /api/admin/users admin']) {
      assert.equal(statuses.get(key), 200, key);
    }
    assert.equal(statuses.get('GET /admin reader'), 403);
    // Every session still works: nothing signed anyone out.
    assert.equal((await admin.client.get('/api/me')).statusCode, 200);
  });
});
