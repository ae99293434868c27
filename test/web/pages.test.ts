import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { securityEventRows, suiteAppWithMail } from '../helpers/build.js';
import { csrfField, PageClient } from '../helpers/pages.js';
import { mailedLinks, type NewUser, pathOf, registerThroughPages, strongPassword, uniqueEmail } from '../helpers/users.js';

const form = { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' };

describe('pages', () => {
  const { rampart, smtp } = suiteAppWithMail();

  const mailedLink = mailedLinks(smtp, 'http://localhost:3000');

  /** The path of a mailed link (to a page of the configured public URL). */
  async function linkFromMail(to: string, subject: RegExp): Promise<string> {
    return pathOf(await mailedLink(to, subject));
  }

  async function registered(client: PageClient): Promise<NewUser> {
    return registerThroughPages(client, mailedLink, { name: 'Grace Hopper' });
  }

  async function signedIn(): Promise<{ client: PageClient; email: string; password: string }> {
    const client = new PageClient(rampart.app);
    const { email, password } = await registered(client);
    const login = await client.submit('/login', '/login', { email, password });
    assert.equal(login.statusCode, 303, login.body);
    assert.equal(login.headers.location, '/account');
    return { client, email, password };
  }

  it('register, verify from the mailed link, sign in and sign out, entirely through forms', async () => {
    const { client } = await signedIn();
    const account = await client.page('/account');
    assert.equal(account.statusCode, 200);
    assert.equal(account.headers['cache-control'], 'no-store', 'a signed-in page is never cached');
    assert.match(account.body, /Grace Hopper/);
    const logout = await client.post('/logout', `_csrf=${encodeURIComponent(csrfField(account.body))}`, { csrf: false, headers: form });
    assert.equal(logout.statusCode, 303);
    assert.equal(logout.headers['clear-site-data'], '"cookies", "storage"');
    const after = await client.page('/account');
    assert.equal(after.statusCode, 303, 'signed out: the account page sends the browser to sign in');
    assert.equal(after.headers.location, '/login?next=%2Faccount');
  });

  it('a verification link only shows a button: the GET spends nothing, the POST form does', async () => {
    const client = new PageClient(rampart.app);
    const email = uniqueEmail();
    await client.submit('/register', '/register', { name: 'Link Scanner', email, password: strongPassword() });
    const link = await linkFromMail(email, /confirm/i);
    for (let i = 0; i < 2; i += 1) assert.equal((await client.page(link)).statusCode, 200);
    const token = link.split('token=')[1]!;
    assert.equal((await client.submit(link, '/verify-email', { token })).statusCode, 303);
    const again = await client.submit(link, '/verify-email', { token });
    assert.equal(again.statusCode, 400, 'single use');
    assert.match(again.body, /invalid or has expired/);
  });

  it('a refused sign-in re-renders the form with one message and never echoes the password', async () => {
    const client = new PageClient(rampart.app);
    const password = `secret-${randomBytes(8).toString('hex')}`;
    const res = await client.submit('/login', '/login', { email: uniqueEmail(), password });
    assert.equal(res.statusCode, 401);
    assert.equal(res.headers['content-type'], 'text/html; charset=utf-8');
    assert.match(res.body, /The email or password is incorrect/);
    assert.ok(!res.body.includes(password), 'the password is not in the page');
    const weak = await client.submit('/register', '/register', { name: 'Weak', email: uniqueEmail(), password: 'password123456789' });
    assert.equal(weak.statusCode, 400);
    assert.ok(!weak.body.includes('password123456789'));
    assert.match(weak.body, /aria-invalid="true"/);
  });

  it('forms without their CSRF token, or sent cross-site, are refused with an HTML 403 and change nothing', async () => {
    const { client, password } = await signedIn();
    const noToken = await client.post('/account/delete', `password=${encodeURIComponent(password)}`, { csrf: false, headers: form });
    assert.equal(noToken.statusCode, 403);
    assert.match(noToken.body, /CSRF_ERR_INVALID/);
    assert.match(noToken.headers['content-type'] as string, /^text\/html/);
    const page = await client.page('/account');
    const crossSite = await client.post('/account/delete', new URLSearchParams({ _csrf: csrfField(page.body), password }).toString(), { csrf: false, headers: { ...form, 'sec-fetch-site': 'cross-site', origin: 'http://evil.example' } });
    assert.equal(crossSite.statusCode, 403);
    assert.equal((await client.page('/account')).statusCode, 200, 'the account still exists and the session lives');
    const events = await securityEventRows(rampart.app, client.ip);
    assert.ok(events.filter((e) => e.event === 'malicious_csrf').length >= 2);
  });

  it('JSON routes refuse forms (415) and page routes refuse JSON (415); forms refuse repeated and forbidden fields', async () => {
    const client = new PageClient(rampart.app);
    const api = await client.post('/api/auth/login', 'email=a%40b.c&password=x', { headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assert.equal(api.statusCode, 415);
    const page = await client.post('/login', { email: 'a@b.c', password: 'x' }, { headers: { accept: 'text/html' } });
    assert.equal(page.statusCode, 415);
    const loaded = await client.page('/login');
    const token = encodeURIComponent(csrfField(loaded.body));
    const repeated = await client.post('/login', `_csrf=${token}&email=a%40example.com&email=b%40example.com&password=long+enough+password`, { csrf: false, headers: form });
    assert.equal(repeated.statusCode, 400);
    assert.match(repeated.body, /RAMPART_ERR_BAD_REQUEST/, 'refused by the parser, not by the login');
    const proto = await client.post('/login', `_csrf=${token}&__proto__=x&email=a%40example.com&password=long+enough+password`, { csrf: false, headers: form });
    assert.equal(proto.statusCode, 400);
    assert.match(proto.body, /RAMPART_ERR_FORBIDDEN_KEY/);
    const tooLarge = await client.post('/login', `_csrf=${token}&email=a%40b.c&password=${'x'.repeat(9000)}`, { csrf: false, headers: form });
    assert.equal(tooLarge.statusCode, 413);
  });

  it('the account page changes the password, revokes sessions, shows a new API token once and revokes it', async () => {
    const { client, email, password } = await signedIn();
    const other = new PageClient(rampart.app);
    assert.equal((await other.submit('/login', '/login', { email, password })).statusCode, 303);
    const revokeOthers = await client.submit('/account', '/account/sessions/revoke-others', {});
    assert.equal(revokeOthers.headers.location, '/account?done=others-revoked');
    assert.equal((await other.page('/account')).statusCode, 303, 'the other browser is signed out');

    const created = await client.submit('/account', '/account/tokens', { name: 'ci', expiresInDays: '30', scope_account_read: 'on' });
    assert.equal(created.statusCode, 201, created.body);
    const token = /<code class="token" id="new-token">(rpat_[^<]+)<\/code>/.exec(created.body)?.[1];
    assert.ok(token !== undefined, 'the new token is shown');
    const me = await rampart.app.inject({ url: '/api/me', headers: { authorization: `Bearer ${token}` } });
    assert.equal(me.statusCode, 200);
    const listed = await client.page('/account');
    assert.ok(!listed.body.includes(token), 'shown once only');
    const id = /name="id" value="([0-9a-f-]{36})"/.exec(listed.body)?.[1];
    assert.ok(id !== undefined);
    assert.equal((await client.submit('/account', '/account/tokens/revoke', { id })).headers.location, '/account?done=token-revoked');
    assert.equal((await rampart.app.inject({ url: '/api/me', headers: { authorization: `Bearer ${token}` } })).statusCode, 401);

    const wrong = await client.submit('/account', '/account/password', { currentPassword: 'not my password at all', newPassword: strongPassword() });
    assert.equal(wrong.statusCode, 403);
    const newPassword = strongPassword();
    const changed = await client.submit('/account', '/account/password', { currentPassword: password, newPassword });
    assert.equal(changed.headers.location, '/account?done=password-changed');
    assert.equal((await client.page('/account')).statusCode, 200, 'the session continues under a new id');

    const deleted = await client.submit('/account', '/account/delete', { password: newPassword });
    assert.equal(deleted.headers.location, '/login?done=deleted');
    const gone = await new PageClient(rampart.app).submit('/login', '/login', { email, password: newPassword });
    assert.equal(gone.statusCode, 401);
  });

  it('reset password through the mailed link, and first-run setup refuses a bad link', async () => {
    const client = new PageClient(rampart.app);
    const { email } = await registered(client);
    const sent = await client.submit('/forgot-password', '/forgot-password', { email });
    assert.equal(sent.statusCode, 303);
    assert.equal(sent.headers.location, '/forgot-password?done=sent');
    assert.match((await client.page('/forgot-password?done=sent')).body, /Check your email/);
    const link = await linkFromMail(email, /reset/i);
    const token = link.split('token=')[1]!;
    const weak = await client.submit(link, '/reset-password', { token, password: 'short' });
    assert.equal(weak.statusCode, 400);
    assert.ok(weak.body.includes(`name="token" value="${token}"`), 'a refused password keeps the link usable');
    const newPassword = strongPassword();
    const reset = await client.submit(link, '/reset-password', { token, password: newPassword });
    assert.equal(reset.headers.location, '/login?done=password-reset');
    assert.equal((await client.submit('/login', '/login', { email, password: newPassword })).statusCode, 303);

    const setup = await new PageClient(rampart.app).submit('/setup?token=' + 'A'.repeat(43), '/setup', { token: 'A'.repeat(43), name: 'Admin', email: uniqueEmail('admin'), password: strongPassword() });
    assert.equal(setup.statusCode, 400);
    assert.match(setup.body, /setup link is invalid/);
  });

  it('error pages: HTML for browsers in the problem vocabulary, problem+json for API clients', async () => {
    const { app } = rampart;
    const html = await app.inject({ url: '/no/such/page', headers: { accept: 'text/html,application/xhtml+xml;q=0.9,*/*;q=0.8' } });
    assert.equal(html.statusCode, 404);
    assert.match(html.headers['content-type'] as string, /^text\/html/);
    assert.match(html.body, /RAMPART_ERR_NOT_FOUND/);
    assert.match(html.body, /<html lang="en">/);
    assert.match(html.headers['content-security-policy'] as string, /script-src 'nonce-/);
    const problem = await app.inject({ url: '/no/such/page', headers: { accept: 'application/json' } });
    assert.equal(problem.headers['content-type'], 'application/problem+json; charset=utf-8');
    assert.equal(problem.headers['content-security-policy'], "default-src 'none';frame-ancestors 'none'");
    const apiFromBrowser = await app.inject({ url: '/api/me', headers: { accept: 'text/html' } });
    assert.equal(apiFromBrowser.statusCode, 401);
    assert.equal(apiFromBrowser.headers['content-type'], 'application/problem+json; charset=utf-8', 'API routes keep problem+json');
    const badQuery = await app.inject({ url: '/login?x=1', headers: { accept: 'text/html' } });
    assert.equal(badQuery.statusCode, 400);
    assert.match(badQuery.body, /RAMPART_ERR_VALIDATION/);
  });

  it('static files have fingerprinted names and immutable caching; unknown fingerprints are 404', async () => {
    const { app } = rampart;
    const page = await app.inject({ url: '/login' });
    const css = /href="(\/static\/app\.[0-9a-f]{16}\.css)"/.exec(page.body)?.[1];
    const js = /src="(\/static\/app\.[0-9a-f]{16}\.js)"/.exec(page.body)?.[1];
    assert.ok(css !== undefined && js !== undefined);
    for (const [url, type] of [[css, 'text/css; charset=utf-8'], [js, 'text/javascript; charset=utf-8']] as const) {
      const res = await app.inject({ url });
      assert.equal(res.statusCode, 200);
      assert.equal(res.headers['content-type'], type);
      assert.equal(res.headers['cache-control'], 'public, max-age=31536000, immutable');
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
    }
    assert.equal((await app.inject({ url: '/static/app.0000000000000000.css' })).statusCode, 404);
    const { client } = await signedIn();
    const signedInCss = await client.get(css);
    assert.equal(signedInCss.headers['cache-control'], 'public, max-age=31536000, immutable', 'a signed-in browser caches them too');
    assert.equal(signedInCss.headers['set-cookie'], undefined);
    assert.equal((await app.inject({ url: '/static/..%2f..%2fpackage.json' })).statusCode, 400);
  });
});
