import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { build, randomIp, securityEventRows, suiteAppWithMail, tables } from '../helpers/build.js';
import { Client, injectRetryingShed, json } from '../helpers/client.js';
import { PageClient } from '../helpers/pages.js';
import { startSmtpServer } from '../helpers/smtp-server.js';
import { bearer, withBearer } from '../helpers/tokens.js';
import { createVerifiedUser, mailedLinks, pathOf, signedIn, signIn, signInThroughPages, tokenOf, uniqueEmail, type TestUser } from '../helpers/users.js';

const CONFIRM_NEW = /confirm your new email/i;
const CHANGED = /email address was changed/i;
const RESET = /reset your password/i;

interface Me { user: { id: string; name: string; email: string; emailVerified: boolean } }

describe('account lifecycle', () => {
  const { rampart, smtp } = suiteAppWithMail();
  const mailedLink = mailedLinks(smtp, 'http://localhost:3000');
  const mailsTo = (to: string, subject: RegExp) => smtp.messages.filter((m) => m.to.includes(to) && subject.test(m.subject));
  const waitForMail = (to: string, subject: RegExp) => smtp.waitFor((m) => m.to.includes(to) && subject.test(m.subject), 10_000);
  const emailIndexOf = (email: string) => rampart.app.keyring.blindIndex(email, 'users.email');

  /** A verified user signed in on a fresh client (its first device: no notice). */
  async function member(): Promise<{ user: TestUser; client: Client }> {
    return signedIn(rampart.app);
  }

  /** Requests a change to `newEmail` and returns the confirmation token mailed to it. */
  async function requestChange(client: Client, user: TestUser, newEmail: string): Promise<string> {
    const res = await client.post('/api/account/email', { newEmail, password: user.password });
    assert.equal(res.statusCode, 202, res.body);
    return tokenOf(await mailedLink(newEmail, CONFIRM_NEW));
  }

  describe('email change', () => {
    it('takes effect only through the link to the new address, moves the blind index and ciphertext together, and mails the old address an undo link', async () => {
      const { app } = rampart;
      const { user, client } = await member();
      const newEmail = uniqueEmail('moved');
      const res = await client.post('/api/account/email', { newEmail: `  ${newEmail.toUpperCase()} `, password: user.password });
      assert.equal(res.statusCode, 202, res.body);
      assert.deepEqual(json(res), { status: 'accepted' });
      await waitForMail(user.email, /change of your email address was requested/i);
      const token = tokenOf(await mailedLink(newEmail, CONFIRM_NEW));

      // Nothing changed yet: the old address still signs in, the profile still shows it.
      assert.equal(json<Me>(await client.get('/api/me')).user.email, user.email);
      const stored = await tables(app).selectFrom('email_change_tokens').select(['token_hash', 'email_ciphertext', 'email_index']).where('user_id', '=', user.id).execute();
      assert.equal(stored.length, 1);
      assert.notEqual(stored[0]?.token_hash, token, 'only the hash of the link is stored');
      assert.ok(!JSON.stringify(stored).includes(newEmail), 'the new address is stored only encrypted');

      const confirmed = await new Client(app).post('/api/account/email/confirm', { token });
      assert.equal(confirmed.statusCode, 200, confirmed.body);
      assert.deepEqual(json(confirmed), { status: 'changed' });

      const me = json<Me>(await client.get('/api/me')).user;
      assert.equal(me.email, newEmail, 'the profile shows the new address at once (the cache was invalidated)');
      assert.equal(me.emailVerified, true);
      const row = await tables(app).selectFrom('users').select(['email_index', 'email_ciphertext']).where('id', '=', user.id).executeTakeFirstOrThrow();
      assert.equal(row.email_index, emailIndexOf(newEmail));
      assert.equal(app.keyring.decryptString(row.email_ciphertext, { table: 'users', column: 'email', rowId: user.id }), newEmail);

      // The new address signs in; the old one no longer does.
      await signIn(new Client(app), { email: newEmail, password: user.password });
      const old = await new Client(app).post('/api/auth/login', { email: user.email, password: user.password });
      assert.equal(old.statusCode, 401);

      const undoLink = await mailedLink(user.email, CHANGED);
      assert.match(undoLink, /\/undo-email-change\?token=/);

      // Replayed: single use.
      const replay = await new Client(app).post('/api/account/email/confirm', { token });
      assert.equal(replay.statusCode, 400);
      assert.equal(json<{ code: string }>(replay).code, 'ACCOUNT_ERR_INVALID_TOKEN');
    });

    it('undo restores the old address, ends every session and token, locks the password and mails the restored address a reset link', async () => {
      const { app } = rampart;
      const { user, client } = await member();
      const laptop = new Client(app);
      await signIn(laptop, user);
      const created = await client.post('/api/account/tokens', { name: 'script', scopes: ['account:read'], expiresInDays: 7 });
      assert.equal(created.statusCode, 201, created.body);
      const personal = json<{ token: string }>(created).token;
      const newEmail = uniqueEmail('attacker');
      assert.equal((await new Client(app).post('/api/account/email/confirm', { token: await requestChange(client, user, newEmail) })).statusCode, 200);
      const undoToken = tokenOf(await mailedLink(user.email, CHANGED));

      // The confirm token's twin does not work at the undo endpoint, nor the undo token at confirm.
      const crossed = await new Client(app).post('/api/account/email/confirm', { token: undoToken });
      assert.equal(crossed.statusCode, 400);

      const undone = await new Client(app).post('/api/account/email/undo', { token: undoToken });
      assert.equal(undone.statusCode, 200, undone.body);
      assert.deepEqual(json(undone), { status: 'restored' });

      assert.equal((await client.get('/api/me')).statusCode, 401, 'the session that changed the address is gone');
      assert.equal((await laptop.get('/api/me')).statusCode, 401, 'every session is gone');
      assert.equal((await withBearer(app, personal, { url: '/api/me' })).statusCode, 401, 'personal tokens are revoked');
      const row = await tables(app).selectFrom('users').select(['email_index']).where('id', '=', user.id).executeTakeFirstOrThrow();
      assert.equal(row.email_index, emailIndexOf(user.email));
      // Whoever changed the address may know the password: it no longer works, for anyone.
      assert.equal((await new Client(app).post('/api/auth/login', { email: user.email, password: user.password })).statusCode, 401);
      assert.equal((await new Client(app).post('/api/auth/login', { email: newEmail, password: user.password })).statusCode, 401);
      const reset = tokenOf(await mailedLink(user.email, RESET));
      const password = `${user.password} again`;
      const changed = await new Client(app).post('/api/auth/password-reset/confirm', { token: reset, password });
      assert.equal(changed.statusCode, 200, changed.body);
      await signIn(new Client(app), { email: user.email, password });

      const replay = await new Client(app).post('/api/account/email/undo', { token: undoToken });
      assert.equal(replay.statusCode, 400);
      const ip = randomIp();
      await new Client(app, ip).post('/api/account/email/undo', { token: randomBytes(32).toString('base64url') });
      const events = await securityEventRows(app, ip);
      assert.ok(events.some((e) => e.event === 'authn_token_invalid' && e.details.purpose === 'email_undo'));
    });

    it('refuses forged, malformed and crossed tokens with one answer', async () => {
      const client = new Client(rampart.app);
      for (const path of ['/api/account/email/confirm', '/api/account/email/undo']) {
        const forged = await client.post(path, { token: randomBytes(32).toString('base64url') });
        assert.equal(forged.statusCode, 400);
        assert.equal(json<{ code: string }>(forged).code, 'ACCOUNT_ERR_INVALID_TOKEN');
        for (const token of ['short', 'x'.repeat(44), { $ne: null }, ['a']]) {
          const bad = await client.post(path, { token });
          assert.equal(bad.statusCode, 400, JSON.stringify(token));
          assert.notEqual(json<{ code: string }>(bad).code, undefined);
        }
        assert.equal((await client.post(path, { token: randomBytes(32).toString('base64url'), userId: 'x' })).statusCode, 400, 'unknown keys are refused');
      }
    });

    it('a second user cannot use their session to redeem someone else\'s link for themselves', async () => {
      const { app } = rampart;
      const victim = await member();
      const other = await member();
      const newEmail = uniqueEmail('victim-new');
      const token = await requestChange(victim.client, victim.user, newEmail);
      // The link acts on the account that asked, whoever's browser opens it.
      assert.equal((await other.client.post('/api/account/email/confirm', { token })).statusCode, 200);
      assert.equal(json<Me>(await other.client.get('/api/me')).user.email, other.user.email, 'the other user is untouched');
      assert.equal(json<Me>(await victim.client.get('/api/me')).user.email, newEmail);
      // And the other user's own pending link cannot be replayed once spent.
      assert.equal((await other.client.post('/api/account/email/confirm', { token })).statusCode, 400);
      await mailedLink(victim.user.email, CHANGED);
      assert.equal((await tables(app).selectFrom('users').select('email_index').where('id', '=', other.user.id).executeTakeFirstOrThrow()).email_index, emailIndexOf(other.user.email));
    });

    it('answers a taken address exactly like a free one, mails its owner instead, and stores nothing', async () => {
      const { app } = rampart;
      const owner = await createVerifiedUser(app);
      const { user, client } = await member();
      const free = uniqueEmail('free');
      const taken = await client.post('/api/account/email', { newEmail: owner.email, password: user.password });
      const fresh = await client.post('/api/account/email', { newEmail: free, password: user.password });
      assert.equal(taken.statusCode, 202);
      assert.equal(taken.body, fresh.body);
      const strip = (headers: Record<string, unknown>) => Object.keys(headers).filter((h) => !['date', 'content-length'].includes(h)).sort();
      assert.deepEqual(strip(taken.headers), strip(fresh.headers));
      await waitForMail(owner.email, /someone tried to use your address/i);
      await mailedLink(free, CONFIRM_NEW);
      assert.equal(mailsTo(owner.email, CONFIRM_NEW).length, 0, 'no confirmation link goes to a taken address');
      const rows = await tables(app).selectFrom('email_change_tokens').select('email_index').where('user_id', '=', user.id).execute();
      assert.deepEqual(rows.map((r) => r.email_index), [emailIndexOf(free)], 'only the free address has a pending link');
    });

    it('keeps the old address reserved for its owner while the undo link lives', async () => {
      const { app } = rampart;
      const { user, client } = await member();
      await new Client(app).post('/api/account/email/confirm', { token: await requestChange(client, user, uniqueEmail('away')) });
      const squatter = new Client(app);
      const registered = await squatter.post('/api/auth/register', { name: 'Squatter', email: user.email, password: 'harbor lantern squatting willow tree' });
      assert.equal(registered.statusCode, 201, 'the same answer as ever');
      const holders = await tables(app).selectFrom('users').select('id').where('email_index', '=', emailIndexOf(user.email)).execute();
      assert.equal(holders.length, 0, 'nobody took the address');
      const undone = await new Client(app).post('/api/account/email/undo', { token: tokenOf(await mailedLink(user.email, CHANGED)) });
      assert.equal(undone.statusCode, 200);
    });

    it('requires the current password, refuses the current address, and is for cookie sessions only', async () => {
      const { app } = rampart;
      const { user, client } = await member();
      const missing = await client.post('/api/account/email', { newEmail: uniqueEmail('x') });
      assert.equal(missing.statusCode, 403);
      assert.equal(json<{ code: string }>(missing).code, 'ACCOUNT_ERR_REAUTHENTICATE');
      const wrong = await client.post('/api/account/email', { newEmail: uniqueEmail('x'), password: 'not the password at all, sorry' });
      assert.equal(wrong.statusCode, 403);
      assert.equal(json<{ code: string }>(wrong).code, 'ACCOUNT_ERR_WRONG_PASSWORD');
      const same = await client.post('/api/account/email', { newEmail: user.email, password: user.password });
      assert.equal(json<{ code: string }>(same).code, 'ACCOUNT_ERR_EMAIL_UNCHANGED');
      for (const newEmail of ['not an address', 'a@b', `${'a'.repeat(250)}@example.com`]) {
        assert.equal((await client.post('/api/account/email', { newEmail, password: user.password })).statusCode, 400, newEmail);
      }
      assert.equal((await new Client(app).post('/api/account/email', { newEmail: uniqueEmail('x'), password: 'x' })).statusCode, 401);
      assert.equal((await client.post('/api/account/email', { newEmail: uniqueEmail('x'), password: user.password }, { csrf: false })).statusCode, 403, 'CSRF token required');
      const token = json<{ token: string }>(await client.post('/api/account/tokens', { name: 'all', scopes: ['account:read', 'account:write'], expiresInDays: 7 })).token;
      const viaToken = await withBearer(app, token, { method: 'POST', url: '/api/account/email', payload: { newEmail: uniqueEmail('x'), password: user.password } });
      assert.equal(viaToken.statusCode, 403, 'an API token cannot move the account to another mailbox');
      assert.equal((await tables(app).selectFrom('email_change_tokens').select('id').where('user_id', '=', user.id).execute()).length, 0);
    });

    it('limits requests per user (a flood of parallel requests included)', async () => {
      const { app } = rampart;
      const { user, client } = await member();
      const answers = await Promise.all(Array.from({ length: 8 }, () => client.onFreshIp().post('/api/account/email', { newEmail: uniqueEmail('flood'), password: user.password })));
      const codes = answers.map((a) => a.statusCode);
      assert.equal(codes.filter((c) => c === 202).length <= 5, true, codes.join());
      const refused = answers.filter((a) => a.statusCode === 429);
      assert.ok(refused.length >= 3, codes.join());
      assert.ok(refused.every((a) => json<{ code: string }>(a).code === 'ACCOUNT_ERR_TOO_MANY_REQUESTS' && a.headers['retry-after'] !== undefined));
      await app.accounts.flush();
      const pending = await tables(app).selectFrom('email_change_tokens').select('id').where('user_id', '=', user.id).execute();
      assert.equal(pending.length, 1, 'one pending change at a time, however many requests ran at once');
    });
  });

  describe('pages', () => {
    it('changes the address through the account form and the landing pages (POST/redirect/GET), and undoes it', async () => {
      const { app } = rampart;
      const user = await createVerifiedUser(app);
      const browser = new PageClient(app);
      await signInThroughPages(browser, user);
      const newEmail = uniqueEmail('page-new');
      const requested = await browser.submit('/account', '/account/email', { newEmail, password: user.password });
      assert.equal(requested.statusCode, 303, requested.body);
      assert.equal(requested.headers.location, '/account?done=email-requested');
      const link = await mailedLink(newEmail, CONFIRM_NEW);
      const landing = await browser.page(pathOf(link));
      assert.equal(landing.statusCode, 200);
      assert.match(landing.body, /Confirm my new address/);
      assert.equal((await browser.page(pathOf(link))).statusCode, 200, 'a GET spends nothing (mail scanners follow links)');
      const confirmed = await browser.submit(pathOf(link), '/confirm-email-change', { token: tokenOf(link) });
      assert.equal(confirmed.statusCode, 303);
      assert.equal(confirmed.headers.location, '/account?done=email-changed');
      assert.ok((await browser.page('/account?done=email-changed')).body.includes(newEmail));

      const undo = await mailedLink(user.email, CHANGED);
      const stranger = new PageClient(app);
      const undone = await stranger.submit(pathOf(undo), '/undo-email-change', { token: tokenOf(undo) });
      assert.equal(undone.statusCode, 303);
      assert.equal(undone.headers.location, '/login?done=email-restored');
      assert.equal((await browser.page('/account')).statusCode, 303, 'the browser that changed it is signed out');
      const again = await stranger.submit(pathOf(undo), '/undo-email-change', { token: tokenOf(undo) });
      assert.equal(again.statusCode, 400);
      assert.match(again.body, /invalid, used or expired/);
    });

    it('refuses the forms from a foreign origin or without their CSRF token', async () => {
      const { app } = rampart;
      const user = await createVerifiedUser(app);
      const browser = new PageClient(app);
      await signInThroughPages(browser, user);
      const form = { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' };
      const body = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
      const crossSite = await browser.post('/account/email', body({ newEmail: uniqueEmail('csrf'), password: user.password }), { csrf: false, headers: { ...form, 'sec-fetch-site': 'cross-site', origin: 'https://evil.example' } });
      assert.equal(crossSite.statusCode, 403);
      const noToken = await browser.post('/account/profile', body({ displayName: 'Mallory' }), { csrf: false, headers: form });
      assert.equal(noToken.statusCode, 403);
      const landing = await new PageClient(app).post('/confirm-email-change', body({ token: randomBytes(32).toString('base64url') }), { csrf: false, headers: { ...form, origin: 'https://evil.example' } });
      assert.equal(landing.statusCode, 403);
      assert.notEqual(json<Me>(await browser.get('/api/me')).user.name, 'Mallory');
      assert.equal((await tables(app).selectFrom('email_change_tokens').select('id').where('user_id', '=', user.id).execute()).length, 0);
    });

    it('saves the name from the account page with the registration\'s bounds', async () => {
      const { app } = rampart;
      const user = await createVerifiedUser(app);
      const browser = new PageClient(app);
      await signInThroughPages(browser, user);
      const saved = await browser.submit('/account', '/account/profile', { displayName: '  Grace Hopper ' });
      assert.equal(saved.headers.location, '/account?done=profile-saved');
      assert.equal(json<Me>(await browser.get('/api/me')).user.name, 'Grace Hopper');
      const tooLong = await browser.submit('/account', '/account/profile', { displayName: 'x'.repeat(101) });
      assert.equal(tooLong.statusCode, 400);
    });
  });

  describe('profile', () => {
    it('PATCH /api/me renames within the registration bounds, and nothing else', async () => {
      const { app } = rampart;
      const { user, client } = await member();
      const renamed = await client.patch('/api/me', { displayName: '  Ada Lovelace  ' });
      assert.equal(renamed.statusCode, 200, renamed.body);
      assert.equal(json<Me>(renamed).user.name, 'Ada Lovelace');
      assert.equal(json<Me>(await client.get('/api/me')).user.name, 'Ada Lovelace');
      for (const payload of [{ displayName: '' }, { displayName: '   ' }, { displayName: 'x'.repeat(101) }, { displayName: 7 }, { displayName: { $gt: '' } }, { displayName: 'Ok', role: 'admin' }, { email: 'x@example.com' }, {}]) {
        const res = await client.patch('/api/me', payload);
        assert.equal(res.statusCode, 400, JSON.stringify(payload));
        assert.ok(['RAMPART_ERR_VALIDATION', 'RAMPART_ERR_FORBIDDEN_KEY', 'RAMPART_ERR_EMPTY_BODY'].includes(json<{ code: string }>(res).code), res.body);
      }
      const row = await tables(app).selectFrom('users').select(['name', 'role']).where('id', '=', user.id).executeTakeFirstOrThrow();
      assert.deepEqual(row, { name: 'Ada Lovelace', role: 'author' });
      assert.equal((await new Client(app).patch('/api/me', { displayName: 'Guest' })).statusCode, 401);
      assert.equal((await client.patch('/api/me', { displayName: 'No Csrf' }, { csrf: false })).statusCode, 403);
      const readOnly = json<{ token: string }>(await client.post('/api/account/tokens', { name: 'ro', scopes: ['account:read'], expiresInDays: 7 })).token;
      const writer = json<{ token: string }>(await client.post('/api/account/tokens', { name: 'rw', scopes: ['account:write'], expiresInDays: 7 })).token;
      const patch = (token: string) => injectRetryingShed(app, { method: 'PATCH', url: '/api/me', headers: bearer(token), remoteAddress: randomIp(), payload: { displayName: 'Via Token' } });
      assert.equal((await patch(readOnly)).statusCode, 403);
      assert.equal((await patch(writer)).statusCode, 200);
    });
  });

  describe('security notices', () => {
    it('mails a sign-in from a new device, once, and not the first sign-in ever', async () => {
      const { app } = rampart;
      const user = await createVerifiedUser(app);
      const laptop = new Client(app);
      await signIn(laptop, user);
      await signIn(laptop, user);
      const phone = new Client(app, randomIp(), 'PhoneBrowser/2.0');
      await signIn(phone, user);
      await signIn(phone, user);
      await waitForMail(user.email, /new sign-in/i);
      // A script without cookies is known by its User-Agent and network.
      const script = async () => injectRetryingShed(app, { method: 'POST', url: '/api/auth/token', payload: { email: user.email, password: user.password }, remoteAddress: '10.77.1.2', headers: { 'user-agent': 'deploy-script/1' } });
      assert.equal((await script()).statusCode, 200);
      assert.equal((await script()).statusCode, 200);
      await app.accounts.flush();
      const notices = mailsTo(user.email, /new sign-in/i);
      assert.equal(notices.length, 2, 'the phone and the script, each once; never the first device');
      assert.match(notices[0]?.text ?? '', /PhoneBrowser\/2\.0/);
      const deviceCookie = phone.cookies.get(app.accounts.devices.cookieName);
      assert.ok(deviceCookie !== undefined, 'the browser keeps a device cookie');
      const devices = await tables(app).selectFrom('known_devices').select(['device_hash', 'kind']).where('user_id', '=', user.id).execute();
      assert.equal(devices.length, 3);
      assert.ok(devices.every((d) => d.device_hash !== deviceCookie), 'only a keyed hash of the cookie is stored');
    });

    it('mails a password change, an email change request, a lock, and the kinds other modules send', async () => {
      const { app } = rampart;
      const { user, client } = await member();
      const changed = await client.post('/api/account/password', { currentPassword: user.password, newPassword: `${user.password} two` });
      assert.equal(changed.statusCode, 200, changed.body);
      await waitForMail(user.email, /your password was changed/i);

      const attacker = new Client(app);
      for (let i = 0; i < 6; i += 1) await attacker.post('/api/auth/login', { email: user.email, password: `wrong guess number ${i} here` });
      const lock = await waitForMail(user.email, /sign-ins to your account were blocked/i);
      assert.ok(lock.text.includes(`From: ${attacker.ip}`), lock.text);

      app.accounts.notify(user.id, 'second_factor_added', { via: 'totp' });
      app.accounts.notify(user.id, 'recovery_code_used', { ip: '10.1.2.3' });
      await waitForMail(user.email, /second factor was added/i);
      await waitForMail(user.email, /recovery code/i);
      assert.throws(() => { app.accounts.notify(user.id, 'nonsense' as 'new_sign_in'); }, /unknown notice kind/);
    });

    it('lets modules react to security events: a throwing listener is logged, never raised, and an unknown event is refused', () => {
      const { app, logs } = rampart;
      const seen: string[] = [];
      app.securityEvents.subscribe('sys_monitor_disabled', (entry) => { seen.push(String(entry.details.probe)); });
      app.securityEvents.subscribe('sys_monitor_disabled', () => { throw new Error('listener broke'); });
      app.securityEvents.record('sys_monitor_disabled', { details: { probe: 'lifecycle-test' } });
      assert.deepEqual(seen, ['lifecycle-test']);
      assert.ok(logs.text().includes('a security event listener failed'));
      assert.throws(() => { app.securityEvents.subscribe('no_such_event' as 'sys_monitor_disabled', () => undefined); }, /unknown security event/);
    });

    it('mails at most a few notices of a kind per hour, so failing sign-ins cannot flood an inbox', async () => {
      const { app } = rampart;
      const user = await createVerifiedUser(app);
      for (let i = 0; i < 12; i += 1) app.accounts.notify(user.id, 'second_factor_removed');
      await app.accounts.flush();
      assert.equal(mailsTo(user.email, /second factor was removed/i).length, 5);
    });
  });

  describe('data export', () => {
    it('returns exactly the user\'s own data, no secrets, and nobody else\'s', async () => {
      const { app } = rampart;
      const seed = async (actor: { client: Client }, label: string) => {
        const post = json<{ id: string }>(await actor.client.post('/api/posts', { title: `${label} post`, body: `${label} body`, tags: ['export'] }));
        assert.equal((await actor.client.post(`/api/posts/${post.id}/publish`)).statusCode, 200);
        const draft = json<{ id: string }>(await actor.client.post('/api/posts', { title: `${label} draft`, body: 'draft', tags: [] }));
        const comment = json<{ id: string }>(await actor.client.post(`/api/posts/${post.id}/comments`, { body: `${label} comment` }));
        const bookmark = json<{ id: string }>(await actor.client.post('/api/bookmarks', { url: `https://example.com/${label}`, title: `${label} link` }));
        const token = json<{ id: string; token: string }>(await actor.client.post('/api/account/tokens', { name: `${label} token`, scopes: ['account:read'], expiresInDays: 7 }));
        return { published: post.id, posts: [post.id, draft.id].sort(), comment: comment.id, bookmark: bookmark.id, token };
      };
      const alice = await member();
      const bob = await member();
      const mine = await seed(alice, 'alice');
      const theirs = await seed(bob, 'bob');
      // Bob comments under Alice's post: his comment is his, not hers.
      const bobsComment = json<{ id: string }>(await bob.client.post(`/api/posts/${mine.published}/comments`, { body: 'bob on alice' }));

      const res = await alice.client.get('/api/account/export');
      assert.equal(res.statusCode, 200, res.body);
      assert.match(String(res.headers['content-disposition']), /attachment/);
      const body = json<{ userId: string; data: {
        accounts: { profile: { id: string; email: string }; sessions: unknown[]; devices: unknown[]; securityEvents: { event: string }[] };
        tokens: { personalTokens: { id: string; name: string }[]; refreshTokens: unknown[] };
        posts: { posts: { id: string }[] }; comments: { comments: { id: string }[] }; bookmarks: { bookmarks: { id: string }[] };
      } }>(res);
      const { data } = body;
      assert.equal(body.userId, alice.user.id);
      assert.equal(data.accounts.profile.email, alice.user.email);
      assert.deepEqual(data.posts.posts.map((p) => p.id).sort(), mine.posts);
      assert.deepEqual(data.comments.comments.map((c) => c.id), [mine.comment]);
      assert.deepEqual(data.bookmarks.bookmarks.map((b) => b.id), [mine.bookmark]);
      assert.deepEqual(data.tokens.personalTokens.map((t) => t.id), [mine.token.id]);
      assert.ok(data.accounts.sessions.length >= 1);
      assert.ok(data.accounts.securityEvents.some((e) => e.event === 'authn_login_success'));
      assert.ok(data.accounts.securityEvents.some((e) => e.event === 'authn_token_created'));

      const text = res.body;
      for (const foreign of [bob.user.id, bob.user.email, ...theirs.posts, theirs.comment, theirs.bookmark, theirs.token.id, bobsComment.id]) assert.ok(!text.includes(foreign), `nothing of the other user (${foreign})`);
      const secrets = await tables(app).selectFrom('users').select(['password_hash', 'email_index', 'email_ciphertext']).where('id', '=', alice.user.id).executeTakeFirstOrThrow();
      const tokenHashes = await tables(app).selectFrom('personal_access_tokens').select('token_hash').where('user_id', '=', alice.user.id).execute();
      for (const secret of [secrets.password_hash, secrets.email_index, secrets.email_ciphertext, mine.token.token, ...tokenHashes.map((t) => t.token_hash), alice.client.cookies.get(rampart.config.sessions.cookieName) ?? 'no-session', alice.client.cookies.get(app.accounts.devices.cookieName) ?? 'no-device']) {
        assert.ok(!text.includes(secret), 'no secret, hash or cookie in the export');
      }
    });

    it('is for the signed-in user in a cookie session, and rate limited', async () => {
      const { app } = rampart;
      const { client } = await member();
      assert.equal((await new Client(app).get('/api/account/export')).statusCode, 401);
      const token = json<{ token: string }>(await client.post('/api/account/tokens', { name: 'exporter', scopes: ['account:read'], expiresInDays: 7 })).token;
      assert.equal((await withBearer(app, token, { url: '/api/account/export' })).statusCode, 403);
      const answers = await Promise.all(Array.from({ length: 5 }, () => client.onFreshIp().get('/api/account/export')));
      const codes = answers.map((a) => a.statusCode).sort();
      assert.deepEqual(codes, [200, 200, 200, 429, 429]);
      const refused = answers.find((a) => a.statusCode === 429);
      assert.equal(json<{ code: string }>(refused ?? assert.fail()).code, 'ACCOUNT_ERR_TOO_MANY_REQUESTS');
    });
  });
});

describe('email-change links expire', () => {
  it('refuses a confirmation link after 24 hours and an undo link after 7 days', async (t) => {
    const smtp = await startSmtpServer();
    t.after(() => smtp.close());
    let offset = 0;
    const { app } = await build(t, { env: { RAMPART_SMTP_URL: smtp.url }, clock: () => Date.now() + offset });
    const mailedLink = mailedLinks(smtp, 'http://localhost:3000');
    const { user, client } = await signedIn(app);
    const late = uniqueEmail('late');
    assert.equal((await client.post('/api/account/email', { newEmail: late, password: user.password })).statusCode, 202);
    const stale = tokenOf(await mailedLink(late, CONFIRM_NEW));
    offset = 24 * 3_600_000 + 60_000;
    const expired = await new Client(app).post('/api/account/email/confirm', { token: stale });
    assert.equal(expired.statusCode, 400);
    assert.equal(json<Me>(await client.get('/api/me')).user.email, user.email);

    const next = uniqueEmail('next');
    // A day later the sign-in's step-up proof is stale: a sensitive action asks for a fresh one.
    const stale2 = await client.post('/api/account/email', { newEmail: next, password: user.password });
    assert.equal(stale2.statusCode, 401);
    assert.equal(json<{ code: string }>(stale2).code, 'AUTH_ERR_STEP_UP_REQUIRED');
    assert.equal((await client.post('/api/auth/step-up', { password: user.password })).statusCode, 200);
    assert.equal((await client.post('/api/account/email', { newEmail: next, password: user.password })).statusCode, 202);
    assert.equal((await new Client(app).post('/api/account/email/confirm', { token: tokenOf(await mailedLink(next, CONFIRM_NEW)) })).statusCode, 200);
    const undo = tokenOf(await mailedLink(user.email, CHANGED));
    offset += 7 * 24 * 3_600_000 + 60_000;
    assert.equal((await new Client(app).post('/api/account/email/undo', { token: undo })).statusCode, 400);
    assert.equal(json<Me>(await client.get('/api/me')).user.email, next);
  });
});
