import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { randomIp, suiteApp, tables } from '../helpers/build.js';
import { Client, json } from '../helpers/client.js';
import { createComment, createPost, type CommentBody, type Page, type PostBody } from '../helpers/publishing.js';
import { tokenPair, withBearer } from '../helpers/tokens.js';
import { type Actor, signedIn } from '../helpers/users.js';

describe('posts and comments', () => {
  const rampart = suiteApp();
  let alice: Actor;
  let bob: Actor;
  let moderator: Actor;
  let guest: Client;

  before(async () => {
    alice = await signedIn(rampart.app);
    bob = await signedIn(rampart.app);
    moderator = await signedIn(rampart.app, 'moderator');
    guest = new Client(rampart.app);
  });

  describe('writing', () => {
    it('creates a draft and answers 201 with exactly the public shape (author is id and name only)', async () => {
      const res = await alice.client.post('/api/posts', { title: '  Hello  ', body: '# Title\n\nText with [a link](https://example.com).', tags: ['intro', 'intro', 'rampart'] });
      assert.equal(res.statusCode, 201, res.body);
      const post = json<PostBody>(res);
      assert.deepEqual(Object.keys(post).sort(), ['author', 'body', 'createdAt', 'html', 'id', 'publishedAt', 'status', 'tags', 'title', 'updatedAt']);
      assert.deepEqual(Object.keys(post.author).sort(), ['id', 'name']);
      assert.equal(post.author.id, alice.user.id);
      assert.equal(post.title, 'Hello');
      assert.equal(post.status, 'draft');
      assert.equal(post.publishedAt, null);
      assert.deepEqual(post.tags, ['intro', 'rampart']);
      assert.match(post.html, /<h1>Title<\/h1>/);
      assert.match(post.html, /<a href="https:\/\/example.com\/?" rel="nofollow ugc noopener noreferrer">a link<\/a>/);
      assert.equal(res.headers.location, `/api/posts/${post.id}`);
      assert.doesNotMatch(res.body, /@example\.com|password|hash|email/i);
    });

    it('stores the sanitized HTML on write: the database row holds no script, and reads serve it as stored', async () => {
      const post = await createPost(alice, { body: 'Hi <script>alert(1)</script><img src=x onerror=alert(1)>' });
      const row = await tables(rampart.app).selectFrom('posts').select(['body', 'html']).where('id', '=', post.id).executeTakeFirstOrThrow();
      assert.match(row.body, /<script>/, 'the source is kept as written');
      assert.doesNotMatch(row.html, /script|onerror/i);
      const read = await alice.client.get(`/api/posts/${post.id}`);
      assert.equal(json<PostBody>(read).html, row.html);
    });

    it('refuses mass assignment: authorId, status, createdAt, role or any unknown key is a 400', async () => {
      for (const extra of [{ authorId: bob.user.id }, { status: 'published' }, { createdAt: '2020-01-01T00:00:00Z' }, { role: 'admin' }, { html: '<b>x</b>' }, { id: crypto.randomUUID() }, { publishedAt: null }]) {
        const res = await alice.client.post('/api/posts', { title: 'x', body: 'y', ...extra });
        assert.equal(res.statusCode, 400, `${JSON.stringify(extra)}: ${res.body}`);
        assert.equal(json(res).code, 'RAMPART_ERR_VALIDATION');
      }
      const post = await createPost(alice);
      for (const extra of [{ authorId: bob.user.id }, { status: 'published' }, { updatedAt: '2020-01-01T00:00:00Z' }]) {
        const res = await alice.client.patch(`/api/posts/${post.id}`, { title: 'New', ...extra });
        assert.equal(res.statusCode, 400, res.body);
      }
      const stored = json<PostBody>(await alice.client.get(`/api/posts/${post.id}`));
      assert.equal(stored.title, 'A post', 'a refused edit changed nothing');
      assert.equal(stored.status, 'draft');
    });

    it('bounds every field: title 1–200, tags ≤ 10 of [a-z0-9-]{1,32}, body ≤ 64 KiB (the route allows the JSON for it, no more)', async () => {
      const cases: Record<string, unknown>[] = [
        { title: '', body: 'x' }, { title: '   ', body: 'x' }, { title: 'x'.repeat(201), body: 'x' }, { title: 'a\nb', body: 'x' },
        { title: 'x', body: '' }, { title: 'x', body: 'x', tags: Array.from({ length: 11 }, (_, i) => `t${i}`) },
        { title: 'x', body: 'x', tags: ['Upper'] }, { title: 'x', body: 'x', tags: ['a b'] }, { title: 'x', body: 'x', tags: ['x'.repeat(33)] },
        { title: 'x', body: 'x', tags: 'one' }, { title: 'x', body: 'é'.repeat(32_769) }, { title: 'x', body: 'x\u0000y' }, { title: 7, body: 'x' },
      ];
      for (const body of cases) {
        const res = await alice.client.post('/api/posts', body);
        assert.equal(res.statusCode, 400, `${JSON.stringify(body).slice(0, 80)}: ${res.body}`);
      }
      const full = await alice.client.post('/api/posts', { title: 'Full', body: 'a'.repeat(65_536) });
      assert.equal(full.statusCode, 201, full.body);
      const tooLarge = await alice.client.post('/api/posts', { title: 'x', body: '\u0001'.repeat(70_000) });
      assert.equal(tooLarge.statusCode, 413, 'past the route limit the body is not even read');
      const elsewhere = await alice.client.post('/api/auth/logout', { pad: 'a'.repeat(20_000) });
      assert.equal(elsewhere.statusCode, 413, 'other routes keep the 10 KiB limit');
    });

    it('refuses Markdown that would explode into megabytes of HTML (reference links repeated), before rendering it', async () => {
      const bomb = `[a]: https://example.com/${'x'.repeat(1000)}\n\n${'[a] '.repeat(15_000)}`;
      const res = await alice.client.post('/api/posts', { title: 'bomb', body: bomb });
      assert.equal(res.statusCode, 400, res.body);
      assert.equal(json(res).code, 'POST_ERR_TOO_LARGE_RENDERED');
      const post = await createPost(alice);
      const edit = await alice.client.patch(`/api/posts/${post.id}`, { body: `[a]: https://example.com/x\n\n${'[a] '.repeat(16_000)}` });
      assert.equal(edit.statusCode, 400, edit.body);
      assert.equal(json<PostBody>(await alice.client.get(`/api/posts/${post.id}`)).body, 'Some *Markdown*.', 'the refused edit changed nothing');
    });

    it('previews Markdown as saving would render it, stores nothing, and limits previews per user', async () => {
      const writer = await signedIn(rampart.app);
      const res = await writer.client.post('/api/posts/preview', { body: '# Hi\n\n<script>alert(1)</script>\n\n<a href="javascript:alert(1)">x</a> and **bold**' });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(json(res), { html: '<h1>Hi</h1>\n\n<p><a rel="nofollow ugc noopener noreferrer">x</a> and <strong>bold</strong></p>\n' });
      const stored = await tables(rampart.app).selectFrom('posts').select('id').where('author_id', '=', writer.user.id).execute();
      assert.equal(stored.length, 0);
      assert.equal((await guest.post('/api/posts/preview', { body: 'x' })).statusCode, 401);
      assert.equal((await writer.client.post('/api/posts/preview', { body: 'x', title: 'y' })).statusCode, 400);
      let refused = 0;
      for (let i = 0; i < 61; i += 1) if ((await writer.client.post('/api/posts/preview', { body: `p${i}` })).statusCode === 429) refused += 1;
      assert.ok(refused >= 1, 'the preview budget ran out');
      assert.equal(json<PostBody>(await writer.client.post('/api/posts', { title: 't', body: 'b' })).status, 'draft', 'previews do not spend the content writes');
    });

    it('refuses form, text and multipart bodies with 415, so a cross-site form cannot post', async () => {
      for (const type of ['application/x-www-form-urlencoded', 'text/plain', 'multipart/form-data; boundary=x']) {
        const res = await alice.client.send({ method: 'POST', url: '/api/posts', payload: 'title=x&body=y', headers: { 'content-type': type } });
        assert.equal(res.statusCode, 415, type);
      }
    });

    it('edits, publishes, unpublishes and deletes the author\'s own post', async () => {
      const post = await createPost(alice, { body: 'first' });
      const edited = await alice.client.patch(`/api/posts/${post.id}`, { body: '**second**', tags: ['x'] });
      assert.equal(edited.statusCode, 200, edited.body);
      assert.equal(json<PostBody>(edited).html, '<p><strong>second</strong></p>\n');
      const published = json<PostBody>(await alice.client.post(`/api/posts/${post.id}/publish`));
      assert.equal(published.status, 'published');
      assert.ok(published.publishedAt !== null);
      assert.equal((await guest.get(`/api/posts/${post.id}`)).statusCode, 200);
      const again = json<PostBody>(await alice.client.post(`/api/posts/${post.id}/publish`));
      assert.equal(again.publishedAt, published.publishedAt, 'publishing twice keeps the first publication time');
      assert.equal(json<PostBody>(await alice.client.post(`/api/posts/${post.id}/unpublish`)).status, 'draft');
      assert.equal((await guest.get(`/api/posts/${post.id}`)).statusCode, 404);
      assert.equal((await alice.client.delete(`/api/posts/${post.id}`)).statusCode, 204);
      assert.equal((await alice.client.get(`/api/posts/${post.id}`)).statusCode, 404);
    });

    it('limits how fast one user writes content (429 with Retry-After), per user, not per IP', async () => {
      const flooder = await signedIn(rampart.app);
      let refused = null;
      for (let i = 0; i < 130 && refused === null; i += 1) {
        const res = await flooder.client.post('/api/posts', { title: `t${i}`, body: 'x' });
        if (res.statusCode === 429) refused = res;
        else assert.equal(res.statusCode, 201);
      }
      assert.ok(refused !== null, 'the flood was cut off');
      assert.equal(json(refused).code, 'CONTENT_ERR_TOO_MANY_WRITES');
      assert.ok(Number(refused.headers['retry-after']) > 0);
      const other = await createPost(bob);
      assert.equal(other.status, 'draft', 'another user is not affected');
    });
  });

  describe('access control (IDOR and escalation)', () => {
    let draft: PostBody;
    let published: PostBody;

    before(async () => {
      draft = await createPost(alice, { title: 'Alice draft secret' });
      published = await createPost(alice, { title: 'Alice public' }, true);
    });

    it('hides another author\'s draft completely: read, edit, publish, unpublish, delete and comment answer 404', async () => {
      const id = draft.id;
      const attempts = [
        bob.client.get(`/api/posts/${id}`), bob.client.patch(`/api/posts/${id}`, { title: 'pwned' }), bob.client.post(`/api/posts/${id}/publish`),
        bob.client.post(`/api/posts/${id}/unpublish`), bob.client.delete(`/api/posts/${id}`), bob.client.post(`/api/posts/${id}/comments`, { body: 'hi' }),
        bob.client.get(`/api/posts/${id}/comments`), moderator.client.post(`/api/posts/${id}/unpublish`), guest.get(`/api/posts/${id}`),
      ];
      for (const res of await Promise.all(attempts)) {
        assert.equal(res.statusCode, 404, res.body);
        assert.doesNotMatch(res.body, /secret/);
      }
      const missing = json(await bob.client.get(`/api/posts/${crypto.randomUUID()}`));
      const hidden = json(await bob.client.get(`/api/posts/${id}`));
      assert.deepEqual({ ...missing, traceId: null }, { ...hidden, traceId: null }, 'a draft looks exactly like nothing');
      const row = await tables(rampart.app).selectFrom('posts').select(['title', 'status']).where('id', '=', id).executeTakeFirstOrThrow();
      assert.deepEqual(row, { title: 'Alice draft secret', status: 'draft' });
    });

    it('lets others read a published post but not edit, unpublish or delete it (403)', async () => {
      const id = published.id;
      assert.equal((await bob.client.get(`/api/posts/${id}`)).statusCode, 200);
      for (const res of [await bob.client.patch(`/api/posts/${id}`, { title: 'pwned' }), await bob.client.post(`/api/posts/${id}/unpublish`), await bob.client.delete(`/api/posts/${id}`), await bob.client.post(`/api/posts/${id}/publish`)]) {
        assert.equal(res.statusCode, 403, res.body);
        assert.equal(json(res).code, 'AUTHZ_ERR_FORBIDDEN');
      }
      assert.equal((await moderator.client.patch(`/api/posts/${id}`, { title: 'mod edit' })).statusCode, 403, 'moderators unpublish, they do not edit');
      assert.equal(json<PostBody>(await guest.get(`/api/posts/${id}`)).title, 'Alice public');
    });

    it('records each denial as authz_fail with the actor, action and subject id', async () => {
      const ip = randomIp();
      const mallory = await signedIn(rampart.app);
      const probe = new Client(rampart.app, ip);
      probe.cookies.set(...([...mallory.client.cookies][0] as [string, string]));
      assert.equal((await probe.patch(`/api/posts/${published.id}`, { title: 'x' })).statusCode, 403);
      await rampart.app.securityEvents.flush();
      const rows = await tables(rampart.app).selectFrom('security_events').select(['event', 'actor', 'details']).where('client_ip', '=', ip).where('event', '=', 'authz_fail').execute();
      assert.equal(rows.length, 1);
      const [row] = rows;
      assert.ok(row !== undefined);
      assert.equal(row.actor, mallory.user.id);
      assert.equal(row.details.action, 'update');
      assert.equal(row.details.subject, 'Post');
      assert.equal(row.details.subject_id, published.id);
    });

    it('lets a moderator unpublish any post, and answers 401 to a guest who tries', async () => {
      const post = await createPost(bob, {}, true);
      assert.equal((await guest.post(`/api/posts/${post.id}/unpublish`)).statusCode, 401);
      assert.equal((await guest.post('/api/posts', { title: 'x', body: 'y' })).statusCode, 401);
      const res = await moderator.client.post(`/api/posts/${post.id}/unpublish`);
      assert.equal(res.statusCode, 200, res.body);
      assert.equal((await guest.get(`/api/posts/${post.id}`)).statusCode, 404);
    });

    it('treats an uppercase id as the same id', async () => {
      assert.equal((await bob.client.get(`/api/posts/${published.id.toUpperCase()}`)).statusCode, 200);
      assert.equal((await bob.client.get(`/api/posts/${draft.id.toUpperCase()}`)).statusCode, 404);
    });

    it('refuses a NUL character anywhere in the query, path or body with 400, never a database error', async () => {
      for (const url of ['/api/posts?q=%00', '/api/posts?q=a%00b', '/api/posts?tag=a%00']) {
        const res = await guest.get(url);
        assert.equal(res.statusCode, 400, url);
        assert.equal(json(res).code, 'RAMPART_ERR_NUL_CHARACTER', url);
      }
      const body = await alice.client.post('/api/posts', { title: 'a\u0000b', body: 'x' });
      assert.equal(body.statusCode, 400);
      assert.equal(json(body).code, 'RAMPART_ERR_NUL_CHARACTER');
      const register = await guest.post('/api/auth/register', { name: 'nul\u0000name', email: 'nul@example.com', password: 'harbor lantern quietly willow' });
      assert.equal(register.statusCode, 400, 'a name field without its own control-character check is covered too');
    });

    it('validates ids by schema: `1 OR 1=1` and other non-UUIDs are a 400 before any query', async () => {
      for (const id of ['1%20OR%201=1', "'", '..%2F..%2Fetc', '00000000-0000-0000-0000-00000000000g']) {
        const res = await bob.client.get(`/api/posts/${id}`);
        assert.equal(res.statusCode, 400, id);
      }
    });

    it('keeps bearer tokens within their scopes', async () => {
      const readOnly = await tokenPair(rampart.app, alice.user, 'posts:read');
      const denied = await withBearer(rampart.app, readOnly.access_token, { method: 'POST', url: '/api/posts', payload: { title: 'x', body: 'y' } });
      assert.equal(denied.statusCode, 403);
      const drafts = await withBearer(rampart.app, readOnly.access_token, { url: '/api/posts?status=draft' });
      assert.equal(drafts.statusCode, 200);
      assert.ok(json<Page<PostBody>>(drafts).items.every((p) => p.author.id === alice.user.id));
      const writer = await tokenPair(rampart.app, alice.user, 'posts:write');
      const created = await withBearer(rampart.app, writer.access_token, { method: 'POST', url: '/api/posts', payload: { title: 'From a script', body: 'y' } });
      assert.equal(created.statusCode, 201, 'no CSRF token: a bearer request carries no ambient credential');
    });
  });

  describe('listing', () => {
    it('lists published posts newest first; drafts only for their author; never another author\'s draft', async () => {
      const mine = await createPost(bob, { title: 'Bob draft only' });
      const page = json<Page<PostBody>>(await guest.get('/api/posts?limit=50'));
      assert.ok(page.items.every((p) => p.status === 'published'));
      const times = page.items.map((p) => p.publishedAt ?? '');
      assert.deepEqual(times, [...times].sort().reverse());
      assert.equal((await guest.get('/api/posts?status=draft')).statusCode, 401);
      const aliceDrafts = json<Page<PostBody>>(await alice.client.get(`/api/posts?status=draft&author=${bob.user.id}`));
      assert.equal(aliceDrafts.items.length, 0);
      const bobDrafts = json<Page<PostBody>>(await bob.client.get('/api/posts?status=draft&limit=50'));
      assert.ok(bobDrafts.items.some((p) => p.id === mine.id));
      assert.ok(bobDrafts.items.every((p) => p.author.id === bob.user.id && p.status === 'draft'));
    });

    it('pages with a signed cursor: every post once, in order; a tampered or foreign cursor is a 400', async () => {
      const author = await signedIn(rampart.app);
      const tag = `page-${Date.now().toString(36)}`;
      const ids: string[] = [];
      for (let i = 0; i < 7; i += 1) ids.unshift((await createPost(author, { title: `p${i}`, tags: [tag] }, true)).id);
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const res = await guest.get(`/api/posts?tag=${tag}&limit=3${cursor === null ? '' : `&cursor=${cursor}`}`);
        assert.equal(res.statusCode, 200, res.body);
        const page = json<Page<PostBody>>(res);
        seen.push(...page.items.map((p) => p.id));
        cursor = page.nextCursor;
      } while (cursor !== null);
      assert.deepEqual(seen, ids);

      const first = json<Page<PostBody>>(await guest.get(`/api/posts?tag=${tag}&limit=3`));
      const valid = first.nextCursor ?? '';
      const [body = '', mac = ''] = valid.split('.');
      const forgedBody = Buffer.from(JSON.stringify({ s: 'draft', t: new Date().toISOString(), i: ids[0] })).toString('base64url');
      const flip = (s: string) => (s[0] === 'A' ? 'B' : 'A') + s.slice(1);
      for (const bad of [`${flip(body)}.${mac}`, `${body}.${flip(mac)}`, `${forgedBody}.${mac}`, `${body}.`, 'x.y', `${valid}.x`]) {
        const res = await guest.get(`/api/posts?tag=${tag}&cursor=${encodeURIComponent(bad)}`);
        assert.equal(res.statusCode, 400, bad);
      }
      const comments = json<Page<CommentBody>>(await guest.get(`/api/posts/${ids[0] ?? ''}/comments`));
      assert.equal(comments.nextCursor, null);
      const draftCursor = await bob.client.get(`/api/posts?status=draft&cursor=${valid}`);
      assert.equal(draftCursor.statusCode, 400, 'a cursor of the published list does not page drafts');
    });

    it('bounds the page size: limit=100000, 0, -1, 1e1 and abc are a 400', async () => {
      for (const limit of ['100000', '51', '0', '-1', '1e1', 'abc', '']) {
        assert.equal((await guest.get(`/api/posts?limit=${limit}`)).statusCode, 400, limit);
      }
      assert.equal((await guest.get('/api/posts?limit=50')).statusCode, 200);
    });

    it('searches title and body as a substring: LIKE wildcards in ?q= match only themselves', async () => {
      const author = await signedIn(rampart.app);
      const marker = `m${Date.now().toString(36)}`;
      const percent = await createPost(author, { title: `${marker} 100% sure` }, true);
      await createPost(author, { title: `${marker} 1000 sure` }, true);
      const underscore = await createPost(author, { title: 'plain', body: `${marker} a_b` }, true);
      await createPost(author, { title: 'plain', body: `${marker} axb` }, true);
      const byPercent = json<Page<PostBody>>(await guest.get(`/api/posts?q=${encodeURIComponent(`${marker} 100%`)}`));
      assert.deepEqual(byPercent.items.map((p) => p.id), [percent.id]);
      const byUnderscore = json<Page<PostBody>>(await guest.get(`/api/posts?q=${encodeURIComponent(`${marker} a_b`)}`));
      assert.deepEqual(byUnderscore.items.map((p) => p.id), [underscore.id]);
      const byAuthor = json<Page<PostBody>>(await guest.get(`/api/posts?author=${author.user.id}`));
      assert.equal(byAuthor.items.length, 4);
      assert.equal((await guest.get('/api/posts?q=a&q=b')).statusCode, 400, 'a repeated key is not turned into an array');
      assert.equal((await guest.get('/api/posts?sort=title')).statusCode, 400, 'unknown query keys are refused');
    });
  });

  describe('comments', () => {
    let post: PostBody;
    before(async () => {
      post = await createPost(alice, { title: 'Commented' }, true);
    });

    it('takes plain text: markup is escaped, line breaks kept, nothing parsed', async () => {
      const comment = await createComment(bob, post.id, 'Line one <b>bold?</b>\r\nLine two <script>alert(1)</script>');
      assert.equal(comment.body, 'Line one <b>bold?</b>\nLine two <script>alert(1)</script>');
      assert.equal(comment.html, 'Line one &lt;b&gt;bold?&lt;/b&gt;<br>Line two &lt;script&gt;alert(1)&lt;/script&gt;');
      assert.deepEqual(Object.keys(comment.author).sort(), ['id', 'name']);
      const listed = json<Page<CommentBody>>(await guest.get(`/api/posts/${post.id}/comments`));
      assert.ok(listed.items.some((c) => c.id === comment.id));
    });

    it('bounds comments to 1–4 000 characters and refuses extra fields', async () => {
      for (const body of [{ body: '' }, { body: '  \n ' }, { body: 'x'.repeat(4001) }, { body: 'x', postId: post.id }, { body: 'x', authorId: alice.user.id }, { body: 'x', hidden: false }]) {
        assert.equal((await bob.client.post(`/api/posts/${post.id}/comments`, body)).statusCode, 400, JSON.stringify(body).slice(0, 60));
      }
      assert.equal((await bob.client.post(`/api/posts/${post.id}/comments`, { body: 'x'.repeat(4000) })).statusCode, 201);
    });

    it('opens comments only on published posts; the author of a draft gets 409, others 404', async () => {
      const draft = await createPost(alice);
      assert.equal((await alice.client.post(`/api/posts/${draft.id}/comments`, { body: 'x' })).statusCode, 409);
      assert.equal((await bob.client.post(`/api/posts/${draft.id}/comments`, { body: 'x' })).statusCode, 404);
      assert.equal((await guest.post(`/api/posts/${post.id}/comments`, { body: 'x' })).statusCode, 401);
    });

    it('lets authors delete their own comments only', async () => {
      const comment = await createComment(bob, post.id);
      const res = await alice.client.delete(`/api/comments/${comment.id}`);
      assert.equal(res.statusCode, 403, 'the post\'s author cannot delete someone else\'s comment');
      assert.equal((await guest.delete(`/api/comments/${comment.id}`)).statusCode, 401);
      assert.equal((await bob.client.delete(`/api/comments/${comment.id}`)).statusCode, 204);
      assert.equal((await bob.client.delete(`/api/comments/${comment.id}`)).statusCode, 404);
    });

    it('lets moderators hide comments (authors get 403); a hidden comment is gone for everyone but moderators', async () => {
      const comment = await createComment(bob, post.id, 'spam spam');
      assert.equal((await alice.client.post(`/api/comments/${comment.id}/hide`)).statusCode, 403);
      assert.equal((await bob.client.post(`/api/comments/${comment.id}/hide`)).statusCode, 403);
      const hidden = await moderator.client.post(`/api/comments/${comment.id}/hide`);
      assert.equal(hidden.statusCode, 200, hidden.body);
      assert.equal(json<CommentBody>(hidden).hidden, true);
      const forGuests = json<Page<CommentBody>>(await guest.get(`/api/posts/${post.id}/comments`));
      assert.ok(!forGuests.items.some((c) => c.id === comment.id));
      const forModerators = json<Page<CommentBody>>(await moderator.client.get(`/api/posts/${post.id}/comments`));
      assert.ok(forModerators.items.some((c) => c.id === comment.id && c.hidden));
      assert.equal((await alice.client.delete(`/api/comments/${comment.id}`)).statusCode, 404, 'a hidden comment is private to its author and moderators');
      assert.equal((await bob.client.delete(`/api/comments/${comment.id}`)).statusCode, 403, 'its author cannot erase the moderation record');
    });

    it('hides the comments of a post that went back to draft: hiding or deleting them as someone else is a 404', async () => {
      const temporary = await createPost(alice, {}, true);
      const comment = await createComment(bob, temporary.id);
      assert.equal((await alice.client.post(`/api/posts/${temporary.id}/unpublish`)).statusCode, 200);
      assert.equal((await moderator.client.post(`/api/comments/${comment.id}/hide`)).statusCode, 404);
      const mallory = await signedIn(rampart.app);
      assert.equal((await mallory.client.post(`/api/comments/${comment.id}/hide`)).statusCode, 404);
      assert.equal((await mallory.client.delete(`/api/comments/${comment.id}`)).statusCode, 404);
      const forAlice = json<Page<CommentBody>>(await alice.client.get(`/api/posts/${temporary.id}/comments`));
      assert.deepEqual(forAlice.items, [], 'under a draft, even its author sees only their own comments');
      assert.equal((await bob.client.delete(`/api/comments/${comment.id}`)).statusCode, 204, 'the comment\'s own author may still delete it');
    });

    it('pages comments oldest first; a cursor from another post is a 400', async () => {
      const other = await createPost(alice, {}, true);
      const ids: string[] = [];
      for (let i = 0; i < 5; i += 1) ids.push((await createComment(bob, other.id, `c${i}`)).id);
      const first = json<Page<CommentBody>>(await guest.get(`/api/posts/${other.id}/comments?limit=2`));
      assert.deepEqual(first.items.map((c) => c.id), ids.slice(0, 2));
      const second = json<Page<CommentBody>>(await guest.get(`/api/posts/${other.id}/comments?limit=2&cursor=${first.nextCursor ?? ''}`));
      assert.deepEqual(second.items.map((c) => c.id), ids.slice(2, 4));
      assert.equal((await guest.get(`/api/posts/${post.id}/comments?cursor=${first.nextCursor ?? ''}`)).statusCode, 400);
    });
  });
});
