import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { securityEventRows, suiteApp, tables } from '../helpers/build.js';
import { csrfField, PageClient } from '../helpers/pages.js';
import { createPost, type PostBody } from '../helpers/publishing.js';
import { type Actor, createVerifiedUser, type Role, signedInThroughPages } from '../helpers/users.js';

const form = { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' };

type PageActor = Actor<PageClient>;

/** Submits `fields` to `action` with the CSRF token of the page at `formPage`, as a browser does. */
function submit(actor: PageActor, formPage: string, action: string, fields: Record<string, string> = {}): Promise<LightMyRequestResponse> {
  return actor.client.submit(formPage, action, fields);
}

describe('publishing pages', () => {
  const rampart = suiteApp();

  /** A verified user of `role`, signed in through the sign-in page on a client of its own. */
  function pageUser(role: Role = 'author'): Promise<PageActor> {
    return signedInThroughPages(rampart.app, role);
  }

  /** The same page user as an API actor (same cookies), for setting up posts quickly. */
  const api = (actor: PageActor) => ({ user: actor.user, client: actor.client });

  /** Writes a post through the editor page and returns its id. */
  async function writeThroughEditor(actor: PageActor, fields: { title: string; body: string; tags?: string }): Promise<string> {
    const saved = await submit(actor, '/posts/new', '/posts/new', { title: fields.title, body: fields.body, tags: fields.tags ?? '', id: '' });
    assert.equal(saved.statusCode, 303, saved.body);
    const id = /^\/posts\/([0-9a-f-]{36})\/edit\?done=created$/.exec(String(saved.headers.location))?.[1];
    assert.ok(id !== undefined, String(saved.headers.location));
    return id;
  }

  it('shows on the form why Markdown that would render to too much HTML is refused, with a 400, and saves nothing (new, preview, edit)', async () => {
    const author = await pageUser();
    const bomb = `[a]: https://example.com/${'x'.repeat(1000)}\n\n${'[a] '.repeat(15_000)}`;
    const why = /This post would render to too much HTML: use fewer repeated links, images or formatting\./;
    const created = await submit(author, '/posts/new', '/posts/new', { title: 'Bomb', body: bomb, tags: '', id: '' });
    assert.equal(created.statusCode, 400, created.body);
    assert.match(created.body, why);
    const previewed = await submit(author, '/posts/new', '/posts/preview', { title: 'Bomb', body: bomb, tags: '', id: '' });
    assert.equal(previewed.statusCode, 400, previewed.body);
    assert.match(previewed.body, why);
    const id = await writeThroughEditor(author, { title: 'Kept', body: 'The *original* body.' });
    const edited = await submit(author, `/posts/${id}/edit`, `/posts/${id}/edit`, { title: 'Kept', body: bomb, tags: '', id });
    assert.equal(edited.statusCode, 400, edited.body);
    assert.match(edited.body, why);
    assert.match((await author.client.page(`/posts/${id}/edit`)).body, /The \*original\* body\./, 'the refused edit changed nothing');
    assert.doesNotMatch((await author.client.page('/posts/mine')).body, /Bomb/, 'the refused draft was not saved');
  });

  it('the home page lists published posts with a plain-text excerpt, searches, filters by tag and pages by signed cursor', async () => {
    const author = await pageUser();
    const tag = `t-${randomBytes(4).toString('hex')}`;
    const marker = `marker${randomBytes(4).toString('hex')}`;
    for (let i = 0; i < 12; i += 1) await createPost(api(author), { title: `Post ${i} ${marker}`, body: `**Bold** ${marker} <em>x</em> & more ${i}`, tags: [tag] }, true);
    await createPost(api(author), { title: `Draft ${marker}`, body: 'never listed', tags: [tag] });

    const home = await author.client.page(`/?tag=${tag}`);
    assert.equal(home.statusCode, 200, home.body);
    assert.equal((home.body.match(/class="panel post-summary"/g) ?? []).length, 10, 'ten per page');
    assert.ok(!home.body.includes('Draft '), 'drafts are not listed');
    // The excerpt is text: the post's HTML tags are gone, its text escaped once.
    assert.ok(home.body.includes(`<p>Bold ${marker} x &amp; more 11</p>`), 'the newest post\'s excerpt');
    assert.ok(!/<strong>Bold/.test(home.body), 'no post HTML on the list');
    const next = /href="(\/\?[^"]*cursor=[^"]+)" rel="next"/.exec(home.body)?.[1]?.replace(/&amp;/g, '&');
    assert.ok(next !== undefined, 'a link to the next page');
    const second = await author.client.page(next);
    assert.equal(second.statusCode, 200);
    assert.equal((second.body.match(/class="panel post-summary"/g) ?? []).length, 2);
    assert.ok(!second.body.includes('rel="next"'));

    const search = await author.client.page(`/?q=${encodeURIComponent('Post 3 ' + marker)}&tag=`);
    assert.equal(search.statusCode, 200);
    assert.equal((search.body.match(/class="panel post-summary"/g) ?? []).length, 1);

    const forged = await author.client.page(`/?cursor=${next.split('cursor=')[1]!.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A'))}`);
    assert.equal(forged.statusCode, 400);
    assert.match(forged.body, /RAMPART_ERR_INVALID_CURSOR/);
    const badTag = await author.client.page('/?tag=NOT%20A%20TAG');
    assert.equal(badTag.statusCode, 400);
  });

  it('write, preview (sanitized by the same renderer), save, publish and read a post through the pages', async () => {
    const author = await pageUser();
    const page = await author.client.page('/posts/new');
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /formaction="\/posts\/preview"/);
    const body = 'Hello **world**\n\n<script>alert(1)</script><img src=x onerror=alert(2)>[x](javascript:alert(3))';
    const preview = await submit(author, '/posts/new', '/posts/preview', { title: 'Mine', body, tags: 'news, Web', id: '' });
    assert.equal(preview.statusCode, 200, preview.body);
    assert.match(preview.body, /<strong>world<\/strong>/);
    const shown = /<section class="panel preview"[\s\S]*?<\/section>/.exec(preview.body)?.[0] ?? '';
    assert.match(shown, /<strong>world<\/strong>/, preview.body);
    assert.ok(!/<script|onerror|href="javascript:/i.test(shown), shown);
    assert.match(preview.body, /Hello \*\*world\*\*/, 'the textarea keeps the Markdown, escaped');

    const invalid = await submit(author, '/posts/new', '/posts/new', { title: '', body: 'x', tags: 'Bad Tag!', id: '' });
    assert.equal(invalid.statusCode, 400);
    assert.match(invalid.body, /Give the post a title/);
    assert.match(invalid.body, /Up to 10 tags/);

    const id = await writeThroughEditor(author, { title: 'Mine', body, tags: 'news, Web, news' });
    const stored = await rampart.app.posts.find(id);
    assert.ok(stored !== null);
    assert.deepEqual(stored.tags, ['news', 'web'], 'tags lowercased and deduplicated by the post schema');
    assert.equal(stored.status, 'draft');
    const edit = await author.client.page(`/posts/${id}/edit?done=created`);
    assert.equal(edit.statusCode, 200);
    const published = await submit(author, `/posts/${id}/edit`, `/posts/${id}/publish`);
    assert.equal(published.statusCode, 303);
    assert.equal(published.headers.location, `/posts/${id}?done=published`);

    const reader = new PageClient(rampart.app);
    const view = await reader.page(`/posts/${id}`);
    assert.equal(view.statusCode, 200);
    assert.match(view.body, /<div class="post-body">\s*<p>Hello <strong>world<\/strong><\/p>/);
    assert.ok(!/<script>alert|onerror|href="javascript:/i.test(view.body), view.body);
    assert.match(view.body, /href="\/login\?next=%2Fposts%2F/, 'a guest is offered to sign in to comment');

    const mine = await author.client.page('/posts/mine');
    assert.match(mine.body, /Published[\s\S]*Mine/);
  });

  it('someone else\'s draft is a 404 and their published post a 403 in the editor; a guest is sent to sign in and back', async () => {
    const owner = await pageUser();
    const other = await pageUser();
    const draft = await createPost(api(owner), { title: 'Secret draft' });
    const live = await createPost(api(owner), { title: 'Public' }, true);
    assert.equal((await other.client.page(`/posts/${draft.id}`)).statusCode, 404);
    assert.equal((await other.client.page(`/posts/${draft.id}/edit`)).statusCode, 404);
    assert.equal((await other.client.page(`/posts/${live.id}/edit`)).statusCode, 403);
    const forgedEdit = await submit(other, `/posts/${live.id}`, `/posts/${live.id}/edit`, { title: 'Owned', body: 'x', tags: '' });
    assert.equal(forgedEdit.statusCode, 403);
    assert.equal((await submit(other, `/posts/${live.id}`, `/posts/${live.id}/delete`)).statusCode, 403);
    assert.equal((await submit(other, `/posts/${live.id}`, `/posts/${draft.id}/publish`)).statusCode, 404);
    assert.equal((await submit(other, `/posts/${live.id}`, '/posts/preview', { title: 'a', body: 'b', tags: '', id: draft.id })).statusCode, 404);
    assert.equal((await rampart.app.posts.find(live.id))?.title, 'Public', 'nothing changed');
    const events = await securityEventRows(rampart.app, other.client.ip);
    assert.ok(events.some((e) => e.event === 'authz_fail' && e.details.subject_id === live.id));

    const guest = new PageClient(rampart.app);
    const toLogin = await guest.page(`/posts/${live.id}/edit`);
    assert.equal(toLogin.statusCode, 303);
    assert.equal(toLogin.headers.location, `/login?next=${encodeURIComponent(`/posts/${live.id}/edit`)}`);
    const login = await guest.page(toLogin.headers.location ?? '');
    assert.ok(login.body.includes(`name="next" value="/posts/${live.id}/edit"`));
    const signedIn = await guest.post('/login', new URLSearchParams({ _csrf: csrfField(login.body), email: owner.user.email, password: owner.user.password, next: `/posts/${live.id}/edit` }).toString(), { csrf: false, headers: form });
    assert.equal(signedIn.statusCode, 303);
    assert.equal(signedIn.headers.location, `/posts/${live.id}/edit`);
  });

  it('a next= that would leave the origin is ignored', async () => {
    const user = await createVerifiedUser(rampart.app);
    for (const next of ['//evil.example/x', 'https://evil.example/', '/\\evil.example', '/%2F%2Fevil.example', 'javascript:alert(1)']) {
      const client = new PageClient(rampart.app);
      const login = await client.page(`/login?next=${encodeURIComponent(next)}`);
      assert.equal(login.statusCode, 200);
      assert.ok(!login.body.includes('name="next"'), `${next} is not carried`);
      const done = await client.post('/login', new URLSearchParams({ _csrf: csrfField(login.body), email: user.email, password: user.password, next }).toString(), { csrf: false, headers: form });
      assert.equal(done.statusCode, 303);
      assert.equal(done.headers.location, '/account', next);
    }
  });

  it('comments: escaped with line breaks, deleted by their author only, hidden by a moderator, none on drafts', async () => {
    const author = await pageUser();
    const commenter = await pageUser();
    const stranger = await pageUser();
    const moderator = await pageUser('moderator');
    const post: PostBody = await createPost(api(author), { title: 'Discuss' }, true);
    const posted = await submit(commenter, `/posts/${post.id}`, `/posts/${post.id}/comments`, { body: 'line one\n<b>two</b> <img src=x onerror=alert(1)>' });
    assert.equal(posted.statusCode, 303, posted.body);
    const view = await stranger.client.page(`/posts/${post.id}`);
    assert.match(view.body, /line one<br>&lt;b&gt;two&lt;\/b&gt; &lt;img src=x onerror=alert\(1\)&gt;/);
    const commentId = /action="\/comments\/([0-9a-f-]{36})\/delete"/.exec((await commenter.client.page(`/posts/${post.id}`)).body)?.[1];
    assert.ok(commentId !== undefined, 'the author sees a delete button');
    assert.ok(!view.body.includes('/delete"'), 'a stranger sees none');
    assert.equal((await submit(stranger, `/posts/${post.id}`, `/comments/${commentId}/delete`)).statusCode, 403);
    assert.equal((await submit(stranger, `/posts/${post.id}`, `/comments/${commentId}/hide`)).statusCode, 403);
    const empty = await submit(commenter, `/posts/${post.id}`, `/posts/${post.id}/comments`, { body: '' });
    assert.equal(empty.statusCode, 400);
    assert.match(empty.body, /Write a comment/);

    const hidden = await submit(moderator, `/posts/${post.id}`, `/comments/${commentId}/hide`);
    assert.equal(hidden.statusCode, 303);
    assert.ok(!(await stranger.client.page(`/posts/${post.id}`)).body.includes('line one'), 'hidden from readers');
    assert.match((await moderator.client.page(`/posts/${post.id}`)).body, /badge">hidden/);
    // A hidden comment is a moderation record: its author can no longer delete it.
    assert.equal((await submit(commenter, `/posts/${post.id}`, `/comments/${commentId}/delete`)).statusCode, 403);

    const second = await submit(commenter, `/posts/${post.id}`, `/posts/${post.id}/comments`, { body: 'again' });
    assert.equal(second.statusCode, 303);
    const againId = /action="\/comments\/([0-9a-f-]{36})\/delete"/.exec((await commenter.client.page(`/posts/${post.id}`)).body)?.[1];
    assert.equal((await submit(commenter, `/posts/${post.id}`, `/comments/${againId ?? ''}/delete`)).statusCode, 303);

    // A moderator unpublishes; the post is a draft: no comments, 404 to others.
    const unpublished = await submit(moderator, `/posts/${post.id}`, `/posts/${post.id}/unpublish`);
    assert.equal(unpublished.statusCode, 303);
    assert.equal(unpublished.headers.location, '/');
    assert.equal((await stranger.client.page(`/posts/${post.id}`)).statusCode, 404);
    const onDraft = await submit(author, `/posts/${post.id}`, `/posts/${post.id}/comments`, { body: 'on a draft' });
    assert.equal(onDraft.statusCode, 409);
    assert.equal((await submit(stranger, '/', `/posts/${post.id}/comments`, { body: 'x' })).statusCode, 404);
  });

  it('the admin page: 403 for others, role changes through the shared logic, self-change and unknown users refused', async () => {
    const admin = await pageUser('admin');
    const author = await pageUser();
    const denied = await author.client.page('/admin');
    assert.equal(denied.statusCode, 403);
    assert.match(denied.body, /AUTHZ_ERR_FORBIDDEN/);
    const guest = await new PageClient(rampart.app).page('/admin');
    assert.equal(guest.statusCode, 303);
    assert.equal(guest.headers.location, '/login?next=%2Fadmin');
    assert.equal((await submit(author, '/', `/admin/users/${author.user.id}`, { role: 'admin' })).statusCode, 403);

    const page = await admin.client.page('/admin');
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /Security events/);
    assert.match(page.body, /href="\/admin" aria-current="page">Admin/, 'the nav shows Admin to admins');
    assert.ok(!(await author.client.page('/')).body.includes('href="/admin"'), 'and not to others');

    const changed = await submit(admin, '/admin', `/admin/users/${author.user.id}`, { role: 'moderator' });
    assert.equal(changed.statusCode, 303, changed.body);
    const row = await tables(rampart.app).selectFrom('users').select('role').where('id', '=', author.user.id).executeTakeFirstOrThrow();
    assert.equal(row.role, 'moderator');
    // Every session of the target was revoked: the author is signed out.
    assert.equal((await author.client.page('/account')).statusCode, 303);
    const events = await securityEventRows(rampart.app, admin.client.ip);
    assert.ok(events.some((e) => e.event === 'privilege_permissions_changed' && e.details.target_id === author.user.id && e.details.to_role === 'moderator'));

    const self = await submit(admin, '/admin', `/admin/users/${admin.user.id}`, { disabled: 'true' });
    assert.equal(self.statusCode, 403);
    assert.match(self.body, /cannot change your own role/);
    assert.equal((await submit(admin, '/admin', `/admin/users/${randomUUID()}`, { role: 'author' })).statusCode, 404);
    assert.equal((await submit(admin, '/admin', `/admin/users/${author.user.id}`, { role: 'root' })).statusCode, 400);

    const filtered = await admin.client.page(`/admin?event=privilege_permissions_changed&actor=&from=&to=`);
    assert.equal(filtered.statusCode, 200);
    assert.match(filtered.body, /<td title="privilege_permissions_changed">privilege_permissions_changed<\/td>/);
    assert.ok(!/<td title="authn_login_success">/.test(filtered.body));
    assert.equal((await admin.client.page('/admin?from=2026-13-45')).statusCode, 400);
    assert.equal((await admin.client.page('/admin?event=no_such_event')).statusCode, 400);
  });
});
