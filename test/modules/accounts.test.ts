import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { build, type BuildResult, buildUnmanaged, privateDatabase, randomIp, securityEventRows, suiteAppWithMail, tables } from '../helpers/build.js';
import { Client, json } from '../helpers/client.js';
import { mailedLinks, registerAndVerify, signIn, strongPassword, tokenOf, uniqueEmail } from '../helpers/users.js';


const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('accounts', () => {
  const { rampart, smtp } = suiteAppWithMail();

  const mailedLink = mailedLinks(smtp, 'http://localhost:3000');

  async function tokenFromMail(to: string, subject: RegExp, nth = 1): Promise<string> {
    return tokenOf(await mailedLink(to, subject, nth));
  }

  it('walks the whole account life: register, verify by mail, log in, list sessions, change password, log out', async () => {
    const { app } = rampart;
    const browser = new Client(app);
    const laptop = new Client(app);
    const email = uniqueEmail('ada');
    const { password } = await registerAndVerify(browser, mailedLink, { email });

    await signIn(browser, { email, password });
    await signIn(laptop, { email, password });
    const me = await browser.get('/api/me');
    assert.equal(me.statusCode, 200);
    assert.equal(me.headers['cache-control'], 'no-store');
    const user = json<{ user: { email: string; emailVerified: boolean; role: string } }>(me).user;
    assert.deepEqual([user.email, user.emailVerified, user.role], [email, true, 'author']);

    const sessions = json<{ sessions: { id: string; current: boolean }[] }>(await browser.get('/api/account/sessions')).sessions;
    assert.equal(sessions.length, 2);
    assert.equal(sessions.filter((s) => s.current).length, 1);

    const oldBrowserCookie = browser.cookieHeader();
    const newPassword = strongPassword();
    const changed = await browser.post('/api/account/password', { currentPassword: password, newPassword });
    assert.equal(changed.statusCode, 200, changed.body);
    assert.notEqual(browser.cookieHeader(), oldBrowserCookie, 'the session id is renewed on password change');
    assert.equal((await laptop.get('/api/me')).statusCode, 401, 'the other session ended');
    assert.equal((await browser.get('/api/me')).statusCode, 200, 'the current session continues under its new id');
    assert.equal((await app.inject({ method: 'GET', url: '/api/me', headers: { cookie: oldBrowserCookie }, remoteAddress: browser.ip })).statusCode, 401);

    const loggedOutCookie = browser.cookieHeader();
    const logout = await browser.post('/api/auth/logout');
    assert.equal(logout.statusCode, 204);
    assert.equal(logout.headers['clear-site-data'], '"cookies", "storage"');
    const replay = await app.inject({ method: 'GET', url: '/api/me', headers: { cookie: loggedOutCookie }, remoteAddress: browser.ip });
    assert.equal(replay.statusCode, 401, 'a logged-out cookie is dead on the server');
    await signIn(browser, { email, password: newPassword });
  });

  it('stores the password as Argon2id with the OWASP parameters, and the email only encrypted', async () => {
    const { app } = rampart;
    const email = uniqueEmail('stored');
    const client = new Client(app);
    const { id } = await registerAndVerify(client, mailedLink, { email });
    const row = await tables(app).selectFrom('users').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    assert.match(row.password_hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    const everything = JSON.stringify(await tables(app).selectFrom('users').selectAll().execute()) + JSON.stringify(await tables(app).selectFrom('security_events').selectAll().execute());
    assert.ok(!everything.includes(email), 'no plaintext email in users or security_events');
    assert.ok(!everything.includes(email.split('@')[0] ?? email));
  });

  it('never promotes a planted session cookie (session fixation)', async () => {
    const { app } = rampart;
    const victim = new Client(app);
    const { email, password } = await registerAndVerify(victim, mailedLink);
    const planted = randomBytes(32).toString('base64url');
    const cookieName = rampart.config.sessions.cookieName;
    victim.cookies.set(cookieName, planted);
    await signIn(victim, { email, password });
    assert.notEqual(victim.cookies.get(cookieName), planted);
    const attacker = await app.inject({ method: 'GET', url: '/api/me', headers: { cookie: `${cookieName}=${planted}` }, remoteAddress: randomIp() });
    assert.equal(attacker.statusCode, 401);
    assert.equal(await app.store.get(`sess:${sha256(victim.cookies.get(cookieName) ?? '')}`) !== null, true, 'the store keys sessions by the SHA-256 of the token');
    assert.equal(await app.store.get(`sess:${victim.cookies.get(cookieName) ?? ''}`), null, 'never by the token itself');
  });

  it('blocks the 6th wrong password from one IP with 429 and Retry-After, refuses even the right password meanwhile, and lets the owner in from a clean IP', async () => {
    const { app } = rampart;
    const owner = new Client(app);
    const { email, password } = await registerAndVerify(owner, mailedLink);
    const attacker = new Client(app);
    for (let i = 0; i < 5; i++) assert.equal((await attacker.post('/api/auth/login', { email, password: `wrong ${strongPassword()}` })).statusCode, 401);
    const blocked = await attacker.post('/api/auth/login', { email, password: `wrong ${strongPassword()}` });
    assert.equal(blocked.statusCode, 429);
    assert.ok(Number(blocked.headers['retry-after']) >= 1);
    assert.equal(json(blocked).code, 'AUTH_ERR_LOCKED');
    const right = await attacker.post('/api/auth/login', { email, password });
    assert.equal(right.statusCode, 429, 'the right password is not even checked while blocked');
    await signIn(owner, { email, password });
    const events = (await securityEventRows(app, attacker.ip)).map((r) => r.event);
    assert.ok(events.includes('authn_login_lock'));
    assert.equal(events.filter((e) => e === 'authn_login_fail').length, 5);
  });

  it('records one authn_login_lock for a flood of refused logins, not one per request, and still refuses each with Retry-After', async () => {
    const { app } = rampart;
    const owner = new Client(app);
    const { email } = await registerAndVerify(owner, mailedLink);
    const attacker = new Client(app);
    for (let i = 0; i < 5; i++) assert.equal((await attacker.post('/api/auth/login', { email, password: `wrong ${strongPassword()}` })).statusCode, 401);
    const refusals = await Promise.all(Array.from({ length: 20 }, () => attacker.post('/api/auth/login', { email, password: `wrong ${strongPassword()}` })));
    for (const refusal of refusals) {
      assert.equal(refusal.statusCode, 429, refusal.body);
      assert.equal(json(refusal).code, 'AUTH_ERR_LOCKED');
      assert.ok(Number(refusal.headers['retry-after']) >= 1);
    }
    const rows = await securityEventRows(app, attacker.ip);
    const locks = rows.filter((r) => r.event === 'authn_login_lock');
    // The failure that started the block, and the first attempt it refused.
    assert.equal(locks.length, 2, `${locks.length} authn_login_lock rows for 20 refused attempts; events: ${JSON.stringify(rows.map((r) => [r.event, r.details]))}; ${JSON.stringify(app.securityEvents.stats())}`);
  });

  it('blocks an IP after 100 failures across accounts', async () => {
    const { app } = rampart;
    const attacker = new Client(app);
    for (let i = 0; i < 100; i++) {
      const res = await attacker.post('/api/auth/login', { email: uniqueEmail('spray'), password: 'guess guess guess guess' });
      assert.equal(res.statusCode, 401, `attempt ${i + 1}`);
    }
    const res = await attacker.post('/api/auth/login', { email: uniqueEmail('spray'), password: 'guess guess guess guess' });
    assert.equal(res.statusCode, 429);
  });

  it('lets no more than five guesses through from a burst of parallel wrong passwords', async () => {
    const { app } = rampart;
    const { email } = await registerAndVerify(new Client(app), mailedLink);
    const attacker = new Client(app);
    const token = await attacker.csrfToken();
    const statuses = await Promise.all(Array.from({ length: 20 }, () => attacker.post('/api/auth/login', { email, password: `wrong ${strongPassword()}` }, { headers: { 'x-csrf-token': token } }).then((r) => r.statusCode)));
    const checked = statuses.filter((s) => s === 401).length;
    assert.ok(checked <= 5, `${checked} passwords were checked`);
    assert.equal(statuses.filter((s) => s === 429).length, 20 - checked);
  });

  it('gives a registrant no way to learn whether an address was taken by logging in', async () => {
    const { app } = rampart;
    const { email } = await registerAndVerify(new Client(app), mailedLink);
    const password = strongPassword();
    const taken = new Client(app);
    assert.equal((await taken.post('/api/auth/register', { name: 'Mallory', email, password })).statusCode, 201);
    const fresh = new Client(app);
    const freshEmail = uniqueEmail('fresh');
    assert.equal((await fresh.post('/api/auth/register', { name: 'Mallory', email: freshEmail, password })).statusCode, 201);
    const a = await taken.post('/api/auth/login', { email, password });
    const b = await fresh.post('/api/auth/login', { email: freshEmail, password });
    assert.equal(a.statusCode, 401);
    assert.equal(b.statusCode, 401, 'an unverified account cannot log in');
    assert.deepEqual({ ...json<object>(a), traceId: '' }, { ...json<object>(b), traceId: '' });
  });

  it('refuses operator objects in place of credentials', async () => {
    const client = new Client(rampart.app);
    const res = await client.post('/api/auth/login', { email: { $ne: null }, password: { $ne: null } });
    assert.equal(res.statusCode, 400);
    assert.equal(json(res).code, 'RAMPART_ERR_FORBIDDEN_KEY');
  });

  it('answers unknown email, wrong password and disabled account identically', async () => {
    const { app } = rampart;
    const owner = new Client(app);
    const { email, id } = await registerAndVerify(owner, mailedLink);
    const disabled = await registerAndVerify(new Client(app), mailedLink);
    await tables(app).updateTable('users').set({ disabled_at: new Date() }).where('id', '=', disabled.id).execute();
    const answers = [];
    for (const credentials of [{ email: uniqueEmail('nobody'), password: strongPassword() }, { email, password: strongPassword() }, { email: disabled.email, password: disabled.password }]) {
      const res = await new Client(app).post('/api/auth/login', credentials);
      const body: Record<string, unknown> = { ...json(res), traceId: null };
      const headers = Object.fromEntries(Object.entries(res.headers).filter(([k]) => !['date', 'ratelimit', 'content-length'].includes(k)));
      answers.push({ status: res.statusCode, body, headers });
    }
    assert.equal(answers[0]?.status, 401);
    assert.deepEqual(answers[1], answers[0]);
    assert.deepEqual(answers[2], answers[0]);
    assert.ok(id);
  });

  it('takes the same time for an unknown email as for a wrong password (medians within 25%)', async () => {
    const { app } = rampart;
    const { email } = await registerAndVerify(new Client(app), mailedLink);
    const unknown: number[] = [];
    const wrong: number[] = [];
    const attempt = async (target: number[], address: string) => {
      const client = new Client(app);
      await client.csrfToken();
      const token = await client.csrfToken();
      const started = process.hrtime.bigint();
      const res = await client.post('/api/auth/login', { email: address, password: strongPassword() }, { headers: { 'x-csrf-token': token } });
      target.push(Number(process.hrtime.bigint() - started) / 1e6);
      assert.equal(res.statusCode, 401);
    };
    // Alternating which goes first, so work one attempt leaves behind (its security event write)
    // weighs on both cases alike.
    for (let i = 0; i < 30; i++) {
      if (i % 2 === 0) {
        await attempt(unknown, uniqueEmail('ghost'));
        await attempt(wrong, email);
      } else {
        await attempt(wrong, email);
        await attempt(unknown, uniqueEmail('ghost'));
      }
    }
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
    const [a, b] = [median(unknown), median(wrong)];
    assert.ok(Math.abs(a - b) / Math.max(a, b) <= 0.25, `median unknown ${a.toFixed(1)} ms vs wrong password ${b.toFixed(1)} ms`);
  });

  it('answers registration of a taken address like a new one, and mails the owner instead', async () => {
    const { app } = rampart;
    const { email } = await registerAndVerify(new Client(app), mailedLink);
    const again = await new Client(app).post('/api/auth/register', { name: 'Mallory', email, password: strongPassword() });
    const fresh = await new Client(app).post('/api/auth/register', { name: 'Mallory', email: uniqueEmail('fresh'), password: strongPassword() });
    assert.equal(again.statusCode, 201);
    assert.equal(fresh.statusCode, 201);
    assert.deepEqual(Object.keys(json(again)).sort(), Object.keys(json(fresh)).sort());
    assert.equal(json(again).email, email);
    await smtp.waitFor((m) => m.to.includes(email) && /someone tried to register/i.test(m.subject), 10_000);
  });

  it('answers every password-reset request with 202, whether or not the account exists', async () => {
    const { app } = rampart;
    const { email } = await registerAndVerify(new Client(app), mailedLink);
    const known = await new Client(app).post('/api/auth/password-reset/request', { email });
    const unknown = await new Client(app).post('/api/auth/password-reset/request', { email: uniqueEmail('ghost') });
    assert.equal(known.statusCode, 202);
    assert.equal(unknown.statusCode, 202);
    assert.equal(known.body, unknown.body);
  });

  it('resets a password once per token, ends every session, and refuses a reused or expired token', async () => {
    const { app } = rampart;
    const owner = new Client(app);
    const { email, password, id } = await registerAndVerify(owner, mailedLink);
    await signIn(owner, { email, password });
    assert.equal((await new Client(app).post('/api/auth/password-reset/request', { email })).statusCode, 202);
    const token = await tokenFromMail(email, /reset/i);
    const weak = await new Client(app).post('/api/auth/password-reset/confirm', { token, password: 'short' });
    assert.equal(weak.statusCode, 400);
    const newPassword = strongPassword();
    assert.equal((await new Client(app).post('/api/auth/password-reset/confirm', { token, password: newPassword })).statusCode, 200, 'a rejected password does not spend the token');
    assert.equal((await owner.get('/api/me')).statusCode, 401, 'the reset ended existing sessions');
    const reuse = await new Client(app).post('/api/auth/password-reset/confirm', { token, password: strongPassword() });
    assert.equal(reuse.statusCode, 400);
    await signIn(new Client(app), { email, password: newPassword });

    assert.equal((await new Client(app).post('/api/auth/password-reset/request', { email })).statusCode, 202);
    const late = await tokenFromMail(email, /reset/i, 2);
    await tables(app).updateTable('account_tokens').set({ expires_at: new Date(Date.now() - 1000) }).where('user_id', '=', id).execute();
    const expired = await new Client(app).post('/api/auth/password-reset/confirm', { token: late, password: strongPassword() });
    assert.equal(expired.statusCode, 400);
    assert.deepEqual({ ...json<object>(expired), traceId: '' }, { ...json<object>(reuse), traceId: '' }, 'reused and expired tokens get the same answer');
  });

  it('refuses a login without a CSRF token, or from a cross-site context', async () => {
    const { app } = rampart;
    const { email, password } = await registerAndVerify(new Client(app), mailedLink);
    const noToken = await new Client(app).post('/api/auth/login', { email, password }, { csrf: false });
    assert.equal(noToken.statusCode, 403);
    const crossSite = await new Client(app).post('/api/auth/login', { email, password }, { headers: { 'sec-fetch-site': 'cross-site' } });
    assert.equal(crossSite.statusCode, 403);
  });

  it('applies the password policy on registration: 129 characters refused, 73 bytes accepted, the email refused', async () => {
    const { app } = rampart;
    const tooLong = await new Client(app).post('/api/auth/register', { name: 'Long', email: uniqueEmail(), password: `${strongPassword()} `.repeat(10).slice(0, 129) });
    assert.equal(tooLong.statusCode, 400);
    assert.equal(json(tooLong).code, 'ACCOUNT_ERR_WEAK_PASSWORD');
    const seventyThree = `${strongPassword()} ${randomBytes(20).toString('hex')}`.slice(0, 73);
    assert.equal(Buffer.byteLength(seventyThree), 73);
    const email = uniqueEmail();
    assert.equal((await new Client(app).post('/api/auth/register', { name: 'Byte', email, password: seventyThree })).statusCode, 201);
    const verifyToken = await tokenFromMail(email, /confirm/i);
    assert.equal((await new Client(app).post('/api/auth/verify-email', { token: verifyToken })).statusCode, 200);
    await signIn(new Client(app), { email, password: seventyThree });
    assert.equal((await new Client(app).post('/api/auth/login', { email, password: seventyThree.slice(0, 72) })).statusCode, 401, 'no truncation');
    const personal = uniqueEmail('zanzibarquokka');
    const own = await new Client(app).post('/api/auth/register', { name: 'Q', email: personal, password: `zanzibarquokka ${randomBytes(4).toString('hex')} river` });
    assert.equal(own.statusCode, 400);
  });

  it('rehashes a legacy bcrypt hash to Argon2id at the next login', async () => {
    const { app } = rampart;
    const { hash } = await import('@node-rs/bcrypt');
    const { email, password, id } = await registerAndVerify(new Client(app), mailedLink);
    await tables(app).updateTable('users').set({ password_hash: await hash(password, 10) }).where('id', '=', id).execute();
    await signIn(new Client(app), { email, password });
    const row = await tables(app).selectFrom('users').select('password_hash').where('id', '=', id).executeTakeFirstOrThrow();
    assert.match(row.password_hash, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
  });

  it('revokes one session by id and all others, and a user cannot revoke another user\'s session', async () => {
    const { app } = rampart;
    const { email, password } = await registerAndVerify(new Client(app), mailedLink);
    const [a, b, c] = [new Client(app), new Client(app), new Client(app)];
    for (const client of [a, b, c]) await signIn(client, { email, password });
    const sessions = json<{ sessions: { id: string; current: boolean }[] }>(await a.get('/api/account/sessions')).sessions;
    const bId = json<{ sessions: { id: string; current: boolean }[] }>(await b.get('/api/account/sessions')).sessions.find((s) => s.current)?.id ?? '';
    const stranger = new Client(app);
    const other = await registerAndVerify(stranger, mailedLink);
    await signIn(stranger, other);
    assert.equal((await stranger.delete(`/api/account/sessions/${bId}`)).statusCode, 404);
    assert.equal((await b.get('/api/me')).statusCode, 200);
    assert.equal((await a.delete(`/api/account/sessions/${bId}`)).statusCode, 204);
    assert.equal((await b.get('/api/me')).statusCode, 401);
    assert.equal(sessions.length, 3);
    const revoked = await a.post('/api/account/sessions/revoke-others');
    assert.equal(json<{ revoked: number }>(revoked).revoked, 1);
    assert.equal((await c.get('/api/me')).statusCode, 401);
    assert.equal((await a.get('/api/me')).statusCode, 200);
  });

  it('deletes an account with its sessions after confirming the password', async () => {
    const { app } = rampart;
    const client = new Client(app);
    const { email, password, id } = await registerAndVerify(client, mailedLink);
    await signIn(client, { email, password });
    assert.equal((await client.delete('/api/account', { password: strongPassword() })).statusCode, 403);
    assert.equal((await client.delete('/api/account', { password })).statusCode, 204);
    assert.equal((await client.get('/api/me')).statusCode, 401);
    assert.equal(await tables(app).selectFrom('users').select('id').where('id', '=', id).executeTakeFirst(), undefined);
    assert.equal((await new Client(app).post('/api/auth/login', { email, password })).statusCode, 401);
  });

  it('throttles guessing the current password through a stolen session like a login', async () => {
    const { app } = rampart;
    const thief = new Client(app);
    const { email, password } = await registerAndVerify(thief, mailedLink);
    await signIn(thief, { email, password });
    const token = await thief.csrfToken();
    const guess = () => thief.post('/api/account/password', { currentPassword: `wrong ${strongPassword()}`, newPassword: strongPassword() }, { headers: { 'x-csrf-token': token } }).then((r) => r.statusCode);
    const burst = await Promise.all(Array.from({ length: 12 }, guess));
    const checked = burst.filter((s) => s === 403).length;
    assert.ok(checked <= 5, `${checked} passwords were checked in parallel`);
    assert.equal(burst.filter((s) => s === 429).length, 12 - checked);
    for (let i = checked; i < 5; i++) assert.equal(await guess(), 403);
    const blocked = await thief.post('/api/account/password', { currentPassword: password, newPassword: strongPassword() });
    assert.equal(blocked.statusCode, 429, 'the right password is not checked while blocked');
    assert.ok(Number(blocked.headers['retry-after']) >= 1);
    assert.equal((await thief.delete('/api/account', { password })).statusCode, 429, 'account deletion shares the block');
    const events = (await securityEventRows(app, thief.ip)).map((r) => r.event);
    assert.ok(events.includes('authn_login_lock'));
  });

  it('refuses to verify with a used or invented token', async () => {
    const { app } = rampart;
    const client = new Client(app);
    const email = uniqueEmail();
    await client.post('/api/auth/register', { name: 'Vera', email, password: strongPassword() });
    const token = await tokenFromMail(email, /confirm/i);
    assert.equal((await client.post('/api/auth/verify-email', { token })).statusCode, 200);
    assert.equal((await client.post('/api/auth/verify-email', { token })).statusCode, 400);
    assert.equal((await client.post('/api/auth/verify-email', { token: randomBytes(32).toString('base64url') })).statusCode, 400);
  });
});

describe('first administrator', () => {
  let rampart: BuildResult;

  it('creates the first administrator once through the one-time setup token, then refuses the token', async (t) => {
    // Its own database: on the real target other test files create administrators in the shared one.
    rampart = await buildUnmanaged({ env: await privateDatabase(t) });
    t.after(() => rampart.app.close());
    const { app, logs } = rampart;
    const token = await app.accounts.issueSetupToken();
    assert.ok(token !== null, 'no administrator exists yet');
    const weak = await new Client(app).post('/api/setup', { token, name: 'Root', email: uniqueEmail('root'), password: 'short' });
    assert.equal(weak.statusCode, 400, 'a refused password does not spend the token');
    const email = uniqueEmail('root');
    const created = await new Client(app).post('/api/setup', { token, name: 'Root', email, password: strongPassword() });
    assert.equal(created.statusCode, 201, created.body);
    assert.equal(json<{ user: { role: string; emailVerified: boolean } }>(created).user.role, 'admin');
    const again = await new Client(app).post('/api/setup', { token, name: 'Eve', email: uniqueEmail('eve'), password: strongPassword() });
    assert.equal(again.statusCode, 400);
    assert.equal(json(again).code, 'SETUP_ERR_INVALID_TOKEN');
    assert.equal(await app.accounts.issueSetupToken(), null, 'no new setup token once an administrator exists');
    assert.ok(!logs.text().includes(token), 'the setup token never reaches the log');
  });

  it('refuses an invented setup token', async (t) => {
    const { app } = await build(t);
    const res = await new Client(app).post('/api/setup', { token: randomBytes(32).toString('base64url'), name: 'Eve', email: uniqueEmail('eve'), password: strongPassword() });
    assert.equal(res.statusCode, 400);
  });
});
