import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { describeUserAgent } from '../../src/web/user-agent.js';
import { suiteApp } from '../helpers/build.js';
import { PageClient } from '../helpers/pages.js';
import { createComment, createPost } from '../helpers/publishing.js';
import { type Actor, createVerifiedUser, type Role, signedInThroughPages } from '../helpers/users.js';

const CHROME_WINDOWS = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const FIREFOX_LINUX = 'Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0';
const SAFARI_IPHONE = 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1';
const CSS = readFileSync(new URL('../../src/web/static/app.css', import.meta.url), 'utf8');

const count = (text: string, needle: string): number => text.split(needle).length - 1;

describe('page details', () => {
  const rampart = suiteApp();

  function signedInAs(role: Role, userAgent = 'RampartTest/1.0'): Promise<Actor<PageClient>> {
    return signedInThroughPages(rampart.app, role, userAgent);
  }

  it('serves /favicon.ico (an icon, cached, no cookie read or set) and every page links the fingerprinted copy', async () => {
    const icon = await rampart.app.inject({ url: '/favicon.ico', headers: { cookie: 'rampart_session=whatever' } });
    assert.equal(icon.statusCode, 200);
    assert.equal(icon.headers['content-type'], 'image/x-icon');
    assert.equal(icon.headers['cache-control'], 'public, max-age=86400');
    assert.equal(icon.headers['set-cookie'], undefined, 'a planted session cookie is not even read');
    assert.deepEqual([...icon.rawPayload.subarray(0, 4)], [0, 0, 1, 0], 'an ICO header');
    const page = await new PageClient(rampart.app).page('/login');
    const href = /<link rel="icon" href="(\/static\/favicon\.[0-9a-f]{16}\.ico)"/.exec(page.body)?.[1];
    assert.ok(href !== undefined, 'the layout links the icon');
    const linked = await rampart.app.inject({ url: href });
    assert.equal(linked.statusCode, 200);
    assert.deepEqual(linked.rawPayload, icon.rawPayload);
  });

  it('a refused sign-in shows its message once, not beside every field', async () => {
    const user = await createVerifiedUser(rampart.app);
    const client = new PageClient(rampart.app);
    const refused = await client.submit('/login', '/login', { email: user.email, password: 'not the password at all' });
    assert.equal(refused.statusCode, 401);
    assert.equal(count(refused.body, 'The email or password is incorrect'), 1, refused.body);
    const empty = await client.submit('/login', '/login', { email: '', password: '' });
    assert.equal(empty.statusCode, 400);
    assert.equal(count(empty.body, 'Enter your email address and password.'), 1);
    assert.equal(count(empty.body, 'aria-invalid'), 0, 'no field is marked with another field\'s message');
    // A page's own error never leaks into its fields: the account page's token error stays with the token form.
    const { client: author } = await signedInAs('author');
    const account = await author.submit('/account', '/account/tokens', { name: '', expiresInDays: '30' });
    assert.equal(account.statusCode, 400);
    assert.equal(count(account.body, 'Name the token'), 1);
  });

  it('the sessions table names the browser and OS, never the raw User-Agent, and escapes what it shows', async () => {
    const { client } = await signedInAs('author', CHROME_WINDOWS);
    const page = await client.page('/account');
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /<td>Chrome 131 on Windows<\/td>/);
    assert.ok(!page.body.includes('AppleWebKit'), 'the raw header is not shown');
    const { client: hostile } = await signedInAs('author', '<script>alert(1)</script> Firefox/133.0 (X11; Linux x86_64)');
    const hostilePage = await hostile.page('/account');
    assert.ok(!hostilePage.body.includes('<script>alert(1)'), 'nothing of the header reaches the page unescaped');
  });

  it('describes User-Agent strings briefly, and bounds what it reads', () => {
    assert.equal(describeUserAgent(CHROME_WINDOWS), 'Chrome 131 on Windows');
    assert.equal(describeUserAgent(FIREFOX_LINUX), 'Firefox 133 on Linux');
    assert.equal(describeUserAgent(SAFARI_IPHONE), 'Safari 18 on iOS');
    assert.equal(describeUserAgent(''), 'Unknown browser');
    assert.equal(describeUserAgent('\u0001\u0002'), 'Unknown browser');
    const long = describeUserAgent(`${'A'.repeat(100_000)} Chrome/1.0`);
    assert.ok(long.length <= 100, long);
  });

  it('the admin event log names the actor, links to their events and opens long details on demand', async () => {
    const { user, client } = await signedInAs('admin');
    // A long event of this admin: a role change carries before/after details.
    const target = await createVerifiedUser(rampart.app);
    const changed = await client.submit('/admin', `/admin/users/${target.id}`, { role: 'moderator' });
    assert.equal(changed.statusCode, 303, changed.body);
    const page = await client.page(`/admin?actor=${user.id}`);
    assert.equal(page.statusCode, 200);
    assert.ok(page.body.includes(`<a href="/admin?actor=${user.id}" title="${user.id}">Api User</a>`), 'the actor by name, linked to their events');
    const events = page.body.slice(page.body.indexOf('<table class="events">'));
    assert.ok(/<details><summary><code>[^<]+…<\/code><\/summary><pre>\{\n {2}&quot;/.test(events), `long details are truncated, the full JSON in <details>: ${events.slice(0, 1500)}`);
    assert.ok(!/\sstyle=|<script(?![^>]*\bsrc=)/.test(page.body), 'no inline style or script (the CSP forbids them)');
    assert.match(page.body, /<table class="events">/);
  });

  it('comment Delete and Hide are coloured like links, also on hover (never the filled button\'s white on white)', async () => {
    const { user, client } = await signedInAs('admin');
    const actor = { user, client };
    const post = await createPost(actor, { title: 'Buttons' }, true);
    await createComment(actor, post.id, 'Visible buttons please.');
    const page = await client.page(`/posts/${post.id}`);
    assert.match(page.body, /<button type="submit" class="link-button">Hide<\/button>/);
    assert.match(page.body, /<button type="submit" class="link-button danger-link">Delete<\/button>/);
    const rule = (selector: string) => CSS.split('\n').find((line) => line.startsWith(`${selector} {`)) ?? '';
    assert.match(rule('.link-button'), /[{;] color: var\(--accent\);/);
    assert.match(rule('.link-button:hover'), /[{;] color: var\(--accent-dark\);/);
  });

  it('the search box is styled like the other inputs', () => {
    assert.match(CSS, /input\[type="search"\][^{]*\{[^}]*border: 2px solid var\(--muted\)/);
    assert.match(CSS, /\.search input\[type="search"\] \{/);
  });
});
