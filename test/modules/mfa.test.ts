import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Secret, TOTP } from 'otpauth';
import { build, randomIp, suiteAppWithMail, tables } from '../helpers/build.js';
import { Client, json } from '../helpers/client.js';
import { requestToken, withBearer } from '../helpers/tokens.js';
import { PageClient } from '../helpers/pages.js';
import { clientWithSession, createVerifiedUser, enrolTotp, signIn, signedIn, signInThroughPages, totpCodeFor, type TestUser } from '../helpers/users.js';

interface Challenge { code: string; challenge: string; methods: string[] }

/** The code of `secret` at `timestamp`, from the library (as an authenticator app computes it). */
function codeAt(secret: string, timestamp: number): string {
  return new TOTP({ algorithm: 'SHA1', digits: 6, period: 30, secret: Secret.fromBase32(secret) }).generate({ timestamp });
}

/** A user with an authenticator, enrolled through the API; the client it enrolled on stays signed in. */
async function enrolled(app: Parameters<typeof createVerifiedUser>[0]): Promise<{ user: TestUser; client: Client }> {
  const user = await createVerifiedUser(app);
  const client = new Client(app);
  await signIn(client, user);
  return { user: await enrolTotp(client, user, () => app.clock()), client };
}

async function passwordStep(client: Client, user: TestUser): Promise<Challenge> {
  const res = await client.post('/api/auth/login', { email: user.email, password: user.password });
  assert.equal(res.statusCode, 401, res.body);
  const body = json<Challenge>(res);
  assert.equal(body.code, 'AUTH_ERR_SECOND_FACTOR_REQUIRED');
  assert.match(body.challenge, /^[A-Za-z0-9_-]{43}$/);
  assert.deepEqual(body.methods, ['totp', 'recovery_code']);
  return body;
}

describe('second factor (TOTP) and recovery codes', () => {
  const { rampart, smtp } = suiteAppWithMail();

  it('enrols with a QR code and the secret, activates with a valid code, and signs in only after the second factor', async () => {
    const user = await createVerifiedUser(rampart.app);
    const client = new Client(rampart.app);
    await signIn(client, user);
    const started = await client.post('/api/account/mfa/totp', {});
    assert.equal(started.statusCode, 201, started.body);
    const enrolment = json<{ secret: string; uri: string; qrSvg: string }>(started);
    assert.match(enrolment.secret, /^[A-Z2-7]{32}$/, '160-bit base32 secret');
    assert.match(enrolment.uri, /^otpauth:\/\/totp\/Rampart:.+\?.*secret=/);
    assert.match(enrolment.uri, /algorithm=SHA1/);
    assert.match(enrolment.uri, /digits=6/);
    assert.match(enrolment.uri, /period=30/);
    assert.match(enrolment.qrSvg, /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.doesNotMatch(enrolment.qrSvg, /<script/i);
    // Not active until a code proves the app holds the secret: sign-in still needs no code.
    assert.equal(json<{ totp: boolean }>(await client.get('/api/account/mfa')).totp, false);
    const wrong = await client.post('/api/account/mfa/totp/activate', { code: '000000' === codeAt(enrolment.secret, rampart.app.clock()) ? '111111' : '000000' });
    assert.equal(wrong.statusCode, 400);
    assert.equal(json(wrong).code, 'MFA_ERR_ACTIVATION_FAILED');
    const activated = await client.post('/api/account/mfa/totp/activate', { code: await totpCodeFor(enrolment.secret, () => rampart.app.clock()) });
    assert.equal(activated.statusCode, 200, activated.body);
    const codes = json<{ recoveryCodes: string[] }>(activated).recoveryCodes;
    assert.equal(codes.length, 10);
    assert.equal(new Set(codes).size, 10);
    for (const code of codes) assert.match(code, /^[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}$/);
    assert.deepEqual(json(await client.get('/api/account/mfa')), { totp: true, recoveryCodesLeft: 10 });
    // A second enrolment is refused while one is active.
    assert.equal(json(await client.post('/api/account/mfa/totp', {})).code, 'MFA_ERR_ALREADY_ENROLLED');

    const browser = new Client(rampart.app);
    const { challenge } = await passwordStep(browser, user);
    // No session between the two steps.
    assert.equal(browser.cookies.has(rampart.config.sessions.cookieName), false);
    assert.equal((await browser.get('/api/me')).statusCode, 401);
    const done = await browser.post('/api/auth/login/second-factor', { challenge, code: await totpCodeFor(enrolment.secret, () => rampart.app.clock()) });
    assert.equal(done.statusCode, 200, done.body);
    assert.equal(json<{ user: { id: string } }>(done).user.id, user.id);
    assert.equal((await browser.get('/api/me')).statusCode, 200);
    // The challenge was single-use: it cannot be replayed, even with another valid code.
    const replayed = await new Client(rampart.app).post('/api/auth/login/second-factor', { challenge, code: await totpCodeFor(enrolment.secret, () => rampart.app.clock()) });
    assert.equal(replayed.statusCode, 401);
    assert.equal(json(replayed).code, 'MFA_ERR_INVALID_CODE');
    await rampart.app.securityEvents.flush();
    const events = await tables(rampart.app).selectFrom('security_events').select('event').where('actor', '=', user.id).execute();
    for (const event of ['authn_mfa_enrolled', 'authn_mfa_success', 'authn_mfa_fail']) assert.ok(events.some((e) => e.event === event), event);
  });

  it('refuses a code already used (replay within its window), and a malformed or made-up challenge, with one answer', async () => {
    const { user } = await enrolled(rampart.app);
    const secret = user.totpSecret ?? '';
    const first = new Client(rampart.app);
    const code = await totpCodeFor(secret, () => rampart.app.clock());
    assert.equal((await first.post('/api/auth/login/second-factor', { challenge: (await passwordStep(first, user)).challenge, code })).statusCode, 200);
    const second = new Client(rampart.app);
    const replay = await second.post('/api/auth/login/second-factor', { challenge: (await passwordStep(second, user)).challenge, code });
    assert.equal(replay.statusCode, 401);
    assert.equal(json(replay).code, 'MFA_ERR_INVALID_CODE');
    // Two parallel uses of one fresh code: exactly one wins.
    const fresh = await totpCodeFor(secret, () => rampart.app.clock());
    const [a, b] = [new Client(rampart.app), new Client(rampart.app)];
    const [ca, cb] = [await passwordStep(a, user), await passwordStep(b, user)];
    const results = await Promise.all([a.post('/api/auth/login/second-factor', { challenge: ca.challenge, code: fresh }), b.post('/api/auth/login/second-factor', { challenge: cb.challenge, code: fresh })]);
    assert.deepEqual(results.map((r) => r.statusCode).sort(), [200, 401]);
    for (const challenge of ['x'.repeat(43), 'not-a-challenge']) {
      const res = await new Client(rampart.app).post('/api/auth/login/second-factor', { challenge, code: '123456' });
      assert.ok([400, 401].includes(res.statusCode), res.body);
      assert.notEqual(res.statusCode, 500);
    }
  });

  it('throttles wrong codes per (account, IP) with 429 and Retry-After, without locking the owner out on another IP', async () => {
    const { user } = await enrolled(rampart.app);
    const ip = randomIp();
    const attacker = new Client(rampart.app, ip);
    const { challenge } = await passwordStep(attacker, user);
    const right = await totpCodeFor(user.totpSecret ?? '', () => rampart.app.clock());
    const wrong = right === '000000' ? '999999' : '000000';
    for (let i = 0; i < 5; i++) {
      const res = await attacker.post('/api/auth/login/second-factor', { challenge, code: wrong });
      assert.equal(res.statusCode, 401, `attempt ${i + 1}: ${res.body}`);
    }
    // The challenge is spent after 5 wrong codes; a new sign-in from the same client is blocked before the code is checked.
    const again = await passwordStep(attacker, user);
    const blocked = await attacker.post('/api/auth/login/second-factor', { challenge: again.challenge, code: right });
    assert.equal(blocked.statusCode, 429, blocked.body);
    assert.equal(json(blocked).code, 'MFA_ERR_LOCKED');
    assert.ok(Number(blocked.headers['retry-after']) > 0);
    // The owner, elsewhere, still signs in.
    const owner = new Client(rampart.app);
    const ok = await owner.post('/api/auth/login/second-factor', { challenge: (await passwordStep(owner, user)).challenge, code: right });
    assert.equal(ok.statusCode, 200, ok.body);
  });

  it('accepts a recovery code once, records it and mails the owner (one notice, through the account notices)', async () => {
    const { user } = await enrolled(rampart.app);
    const code = user.recoveryCodes?.[0] ?? assert.fail('codes');
    const client = new Client(rampart.app);
    // Case and separators are free, as people type them.
    const used = await client.post('/api/auth/login/second-factor', { challenge: (await passwordStep(client, user)).challenge, code: code.toLowerCase().replace(/-/g, ' ') });
    assert.equal(used.statusCode, 200, used.body);
    const again = new Client(rampart.app);
    const reused = await again.post('/api/auth/login/second-factor', { challenge: (await passwordStep(again, user)).challenge, code });
    assert.equal(reused.statusCode, 401);
    assert.equal(json(reused).code, 'MFA_ERR_INVALID_CODE');
    await rampart.app.securityEvents.flush();
    const event = await tables(rampart.app).selectFrom('security_events').select('details').where('actor', '=', user.id).where('event', '=', 'authn_mfa_recovery_code_used').executeTakeFirst();
    assert.deepEqual(event?.details, { codes_left: 9 });
    const mail = await smtp.waitFor((m) => m.to.includes(user.email) && m.subject === 'A recovery code of your account was used', 10_000);
    assert.match(mail.text, /How: recovery code, 9 left/);
    assert.ok(!mail.text.includes(code), 'the code is not in the mail');
    assert.equal(smtp.messages.filter((m) => m.to.includes(user.email) && /recovery code/i.test(m.subject)).length, 1, 'one mail, not two');
  });

  it('keeps the secret unreadable in a database dump, and recovery codes only as keyed hashes', async () => {
    const { user } = await enrolled(rampart.app);
    const secret = user.totpSecret ?? '';
    const row = await tables(rampart.app).selectFrom('mfa_totp').selectAll().where('user_id', '=', user.id).executeTakeFirstOrThrow();
    const dump = JSON.stringify(row);
    assert.ok(!dump.includes(secret), 'the base32 secret is not in the row');
    assert.ok(!dump.includes(Buffer.from(Secret.fromBase32(secret).bytes).toString('hex')), 'nor its bytes in hex');
    assert.ok(!dump.includes(Buffer.from(Secret.fromBase32(secret).bytes).toString('base64')), 'nor in base64');
    assert.notEqual(row.enabled_at, null);
    // Bound to its row: moved to another user's row it does not decrypt.
    assert.equal(rampart.app.keyring.decryptString(row.secret_ciphertext, { table: 'mfa_totp', column: 'secret', rowId: crypto.randomUUID() }), null);
    const hashes = await tables(rampart.app).selectFrom('mfa_recovery_codes').select('code_hash').where('user_id', '=', user.id).execute();
    assert.equal(hashes.length, 10);
    const all = JSON.stringify(hashes);
    for (const code of user.recoveryCodes ?? []) {
      assert.ok(!all.includes(code) && !all.includes(code.replace(/-/g, '')), 'no code in plain form');
    }
  });

  it('regenerates recovery codes (voiding the old set) and disables TOTP, each behind step-up', async () => {
    const { user, client } = await enrolled(rampart.app);
    const renewed = await client.post('/api/account/mfa/recovery-codes', {});
    assert.equal(renewed.statusCode, 200, renewed.body);
    const fresh = json<{ recoveryCodes: string[] }>(renewed).recoveryCodes;
    const old = new Client(rampart.app);
    assert.equal((await old.post('/api/auth/login/second-factor', { challenge: (await passwordStep(old, user)).challenge, code: user.recoveryCodes?.[1] ?? '' })).statusCode, 401, 'the old set is void');
    const current = new Client(rampart.app);
    assert.equal((await current.post('/api/auth/login/second-factor', { challenge: (await passwordStep(current, user)).challenge, code: fresh[0] ?? '' })).statusCode, 200);
    // Without a fresh proof on the session: refused.
    const stale = await clientWithSession(rampart, user.id, { ip: randomIp(), userAgent: 'Stale/1.0' });
    for (const [method, url] of [['POST', '/api/account/mfa/recovery-codes'], ['DELETE', '/api/account/mfa/totp'], ['POST', '/api/account/mfa/totp']] as const) {
      const res = await stale.send({ method, url, payload: method === 'POST' ? {} : undefined });
      assert.equal(res.statusCode, 401, `${method} ${url}`);
      assert.equal(json(res).code, 'AUTH_ERR_STEP_UP_REQUIRED');
    }
    const added = await smtp.waitFor((m) => m.to.includes(user.email) && m.subject === 'A second factor was added to your account', 10_000);
    assert.match(added.text, /How: totp/);
    const disabled = await client.delete('/api/account/mfa/totp');
    assert.equal(disabled.statusCode, 204, disabled.body);
    const removedMail = await smtp.waitFor((m) => m.to.includes(user.email) && m.subject === 'A second factor was removed from your account', 10_000);
    assert.match(removedMail.text, /How: totp/);
    await rampart.app.securityEvents.flush();
    const event = await tables(rampart.app).selectFrom('security_events').select('details').where('actor', '=', user.id).where('event', '=', 'authn_mfa_disabled').executeTakeFirst();
    assert.deepEqual(event?.details, { method: 'totp', role: 'author' });
    assert.equal(json(await client.delete('/api/account/mfa/totp')).code, 'MFA_ERR_NOT_ENROLLED');
    assert.equal((await tables(rampart.app).selectFrom('mfa_recovery_codes').select('code_hash').where('user_id', '=', user.id).execute()).length, 0);
    // Signing in needs only the password again.
    await signIn(new Client(rampart.app), { email: user.email, password: user.password });
  });

  it('requires the second factor for the password grant: a short-lived single-use challenge, then the code', async () => {
    const { user } = await enrolled(rampart.app);
    const ip = randomIp();
    const first = await requestToken(rampart.app, { email: user.email, password: user.password, scope: 'account:read' }, ip);
    assert.equal(first.statusCode, 401, first.body);
    const { challenge, code } = json<Challenge>(first);
    assert.equal(code, 'AUTH_ERR_SECOND_FACTOR_REQUIRED');
    assert.equal(first.headers['cache-control'], 'no-store');
    // A token challenge does not sign a browser in, nor the other way round.
    assert.equal((await new Client(rampart.app).post('/api/auth/login/second-factor', { challenge, code: await totpCodeFor(user.totpSecret ?? '', () => rampart.app.clock()) })).statusCode, 401);
    const again = json<Challenge>(await requestToken(rampart.app, { email: user.email, password: user.password, scope: 'account:read' }, ip));
    const send = async (body: Record<string, unknown>) => rampart.app.inject({ method: 'POST', url: '/api/auth/token/second-factor', payload: body, remoteAddress: ip });
    const pair = await send({ challenge: again.challenge, code: await totpCodeFor(user.totpSecret ?? '', () => rampart.app.clock()) });
    assert.equal(pair.statusCode, 200, pair.body);
    const tokens = json<{ access_token: string; scope: string }>(pair);
    assert.equal(tokens.scope, 'account:read');
    assert.equal((await withBearer(rampart.app, tokens.access_token, { url: '/api/me' })).statusCode, 200);
    assert.equal((await send({ challenge: again.challenge, code: await totpCodeFor(user.totpSecret ?? '', () => rampart.app.clock()) })).statusCode, 401, 'single use');
  });
});

describe('second factor: the pending sign-in expires after 5 minutes', () => {
  it('refuses the second step once 5 minutes have passed since the password, however often it was tried', async (t) => {
    let offset = 0;
    const { app } = await build(t, { clock: () => Date.now() + offset });
    const { user } = await enrolled(app);
    const client = new Client(app);
    const { challenge } = await passwordStep(client, user);
    offset += 5 * 60_000;
    const late = await client.post('/api/auth/login/second-factor', { challenge, code: await totpCodeFor(user.totpSecret ?? '', () => app.clock()) });
    assert.equal(late.statusCode, 401, late.body);
    assert.equal(json(late).code, 'MFA_ERR_INVALID_CODE');
  });
});

describe('step-up ("sudo mode")', () => {
  it('refuses every sensitive action without a fresh proof, and allows it after POST /api/auth/step-up', async (t) => {
    const { app, config } = await build(t);
    const admin = await signedIn(app, 'admin');
    const target = await createVerifiedUser(app);
    const user = await createVerifiedUser(app);
    // A session with no proof of presence (made directly, not by a sign-in).
    const stale = await clientWithSession({ app, config }, user.id, { ip: randomIp(), userAgent: 'Stale/1.0' });
    const staleAdmin = await clientWithSession({ app, config }, admin.user.id, { ip: randomIp(), userAgent: 'Stale/1.0' });
    const actions: [Client, 'POST' | 'DELETE' | 'PATCH', string, unknown][] = [
      [stale, 'POST', '/api/account/tokens', { name: 'ci', scopes: ['account:read'], expiresInDays: 7 }],
      [stale, 'POST', '/api/account/password', { currentPassword: user.password, newPassword: 'another harbor lantern phrase 42' }],
      [stale, 'POST', '/api/account/sessions/revoke-others', {}],
      [stale, 'DELETE', '/api/account', { password: user.password }],
      [stale, 'POST', '/api/account/mfa/totp', {}],
      [staleAdmin, 'PATCH', `/api/admin/users/${target.id}`, { role: 'moderator' }],
      [staleAdmin, 'PATCH', `/api/admin/users/${target.id}`, { disabled: true }],
    ];
    for (const [client, method, url, payload] of actions) {
      const res = await client.send({ method, url, payload });
      assert.equal(res.statusCode, 401, `${method} ${url}: ${res.body}`);
      assert.equal(json(res).code, 'AUTH_ERR_STEP_UP_REQUIRED');
    }
    // A wrong password is no proof.
    const wrong = await stale.post('/api/auth/step-up', { password: 'not the password at all, surely' });
    assert.equal(wrong.statusCode, 403);
    assert.equal((await stale.post('/api/account/tokens', { name: 'ci', scopes: ['account:read'], expiresInDays: 7 })).statusCode, 401);
    const proved = await stale.post('/api/auth/step-up', { password: user.password });
    assert.equal(proved.statusCode, 200, proved.body);
    assert.deepEqual(json(proved), { status: 'confirmed', expiresIn: 600 });
    assert.equal((await stale.post('/api/account/tokens', { name: 'ci', scopes: ['account:read'], expiresInDays: 7 })).statusCode, 201);
    assert.equal((await stale.post('/api/account/sessions/revoke-others', {})).statusCode, 200);
    // The admin proves with an authenticator code instead.
    const byCode = await staleAdmin.post('/api/auth/step-up', { code: await totpCodeFor(admin.user.totpSecret ?? '', () => app.clock()) });
    assert.equal(byCode.statusCode, 200, byCode.body);
    assert.equal((await staleAdmin.patch(`/api/admin/users/${target.id}`, { role: 'moderator' })).statusCode, 200);
    await app.securityEvents.flush();
    const events = await tables(app).selectFrom('security_events').select('event').where('actor', 'in', [user.id, admin.user.id]).execute();
    for (const event of ['authn_step_up_granted', 'authn_step_up_fail']) assert.ok(events.some((e) => e.event === event), event);
    assert.ok((await tables(app).selectFrom('security_events').select('event').where('event', '=', 'authn_step_up_required').execute()).length >= actions.length);
  });

  it('expires the proof after 10 minutes: an older sign-in cannot create a personal access token', async (t) => {
    let offset = 0;
    const { app } = await build(t, { clock: () => Date.now() + offset });
    const { user, client } = await signedIn(app);
    offset += 9 * 60_000;
    assert.equal((await client.post('/api/account/tokens', { name: 'a', scopes: ['account:read'], expiresInDays: 7 })).statusCode, 201, 'fresh for 10 minutes after sign-in');
    offset += 61_000;
    const late = await client.post('/api/account/tokens', { name: 'b', scopes: ['account:read'], expiresInDays: 7 });
    assert.equal(late.statusCode, 401);
    assert.equal(json(late).code, 'AUTH_ERR_STEP_UP_REQUIRED');
    assert.equal((await client.post('/api/auth/step-up', { password: user.password })).statusCode, 200);
    assert.equal((await client.post('/api/account/tokens', { name: 'b', scopes: ['account:read'], expiresInDays: 7 })).statusCode, 201);
  });

  it('is never satisfied by a bearer token: sensitive routes refuse it, and it cannot prove presence', async (t) => {
    const { app } = await build(t);
    const admin = await signedIn(app, 'admin');
    const target = await createVerifiedUser(app);
    const created = await admin.client.post('/api/account/tokens', { name: 'ops', scopes: ['account:read', 'account:write', 'admin'], expiresInDays: 7 });
    assert.equal(created.statusCode, 201, created.body);
    const token = json<{ token: string }>(created).token;
    const patch = await app.inject({ method: 'PATCH', url: `/api/admin/users/${target.id}`, headers: { authorization: `Bearer ${token}` }, payload: { role: 'moderator' }, remoteAddress: randomIp() });
    assert.equal(patch.statusCode, 403, patch.body);
    assert.equal(json(patch).code, 'AUTH_ERR_STEP_UP_SESSION_ONLY');
    const others = await withBearer(app, token, { method: 'POST', url: '/api/account/sessions/revoke-others', payload: {} });
    assert.equal(json(others).code, 'AUTH_ERR_STEP_UP_SESSION_ONLY');
    const prove = await withBearer(app, token, { method: 'POST', url: '/api/auth/step-up', payload: { password: admin.user.password } });
    assert.equal(prove.statusCode, 403, 'no step-up for a token');
    // Reading stays open to the admin's token.
    assert.equal((await withBearer(app, token, { url: '/api/admin/users' })).statusCode, 200);
  });
});

describe('second-factor policy (RAMPART_MFA_REQUIRED)', () => {
  it('admins (the default): an administrator without a second factor is refused admin actions until enrolled, and warned about at boot', async (t) => {
    const { app } = await build(t);
    const user = await createVerifiedUser(app, 'admin');
    const client = new Client(app);
    await signIn(client, user);
    const refused = await client.get('/api/admin/users');
    assert.equal(refused.statusCode, 403);
    assert.equal(json(refused).code, 'MFA_ERR_ENROLMENT_REQUIRED');
    const page = await client.get('/admin', { accept: 'text/html' });
    assert.equal(page.statusCode, 303);
    assert.equal(page.headers.location, '/account/security?next=%2Fadmin');
    // Enrolment itself and the rest of the account stay open.
    assert.equal((await client.get('/api/me')).statusCode, 200);
    await enrolTotp(client, user, () => app.clock());
    assert.equal((await client.get('/api/admin/users')).statusCode, 200);
  });

  it('enrolment through the pages leads back where the policy stopped the administrator, and never off the site', async (t) => {
    const { app } = await build(t);
    const user = await createVerifiedUser(app, 'admin');
    const browser = new PageClient(app);
    await signInThroughPages(browser, user);
    const sentTo = (await browser.page('/admin')).headers.location;
    assert.equal(sentTo, '/account/security?next=%2Fadmin');
    const hidden = (body: string) => [...body.matchAll(/<input type="hidden" name="next" value="([^"]*)">/g)].map((m) => m[1]);
    assert.deepEqual(hidden((await browser.page(sentTo)).body), ['/admin'], 'the start form carries next');
    const started = await browser.submit(sentTo, '/account/security/totp', { next: '/admin' });
    assert.equal(started.statusCode, 200);
    assert.deepEqual(hidden(started.body), ['/admin'], 'the activation form carries next');
    const secret = /<code id="totp-secret">([A-Z2-7]+)<\/code>/.exec(started.body)?.[1] ?? '';
    const activated = await browser.submit('/account/security', '/account/security/totp/activate', { code: await totpCodeFor(secret, () => app.clock()), next: '/admin' });
    assert.equal(activated.statusCode, 200, 'the recovery codes are shown, not skipped by a redirect');
    assert.match(activated.body, /Your recovery codes/);
    assert.match(activated.body, /<a href="\/admin">I have saved them: continue<\/a>/);
    assert.equal((await browser.page('/admin')).statusCode, 200);

    // Off-site or malformed destinations are dropped at every step: no hidden field, no link.
    for (const next of ['//evil.example/', 'https://evil.example/', '/\\evil.example', 'javascript:alert(1)', '/%0d%0aSet-Cookie:x=1']) {
      const page = await browser.page(`/account/security?next=${encodeURIComponent(next)}`);
      assert.deepEqual(hidden(page.body), [], next);
      assert.ok(!page.body.includes('evil.example') && !page.body.includes('javascript:'), next);
    }
    const again = await browser.submit('/account/security', '/account/security/recovery-codes', {});
    assert.equal(again.statusCode, 200);
    assert.doesNotMatch(again.body, /I have saved them/, 'regenerated codes have no continue link');
  });

  it('counts administrators without a second factor for the boot warning (RAMPART-W030)', async (t) => {
    const { app } = await build(t);
    const user = await createVerifiedUser(app, 'admin');
    const before = await app.mfa.adminsWithoutSecondFactor();
    assert.ok(before >= 1);
    const client = new Client(app);
    await signIn(client, user);
    await enrolTotp(client, user, () => app.clock());
    assert.ok((await app.mfa.adminsWithoutSecondFactor()) < before + 1);
  });

  it('all: every user must enrol before anything beyond enrolment, step-up, their profile and sign-out', async (t) => {
    const { app } = await build(t, { env: { RAMPART_MFA_REQUIRED: 'all' } });
    const { client, user } = await signedIn(app);
    const post = await client.post('/api/posts', { title: 'Hello', body: 'World' });
    assert.equal(post.statusCode, 403);
    assert.equal(json(post).code, 'MFA_ERR_ENROLMENT_REQUIRED');
    assert.equal((await client.get('/api/me')).statusCode, 200);
    assert.equal((await client.get('/account', { accept: 'text/html' })).headers.location, '/account/security?next=%2Faccount');
    await enrolTotp(client, user, () => app.clock());
    assert.notEqual((await client.post('/api/posts', { title: 'Hello', body: 'World' })).statusCode, 403);
    assert.equal((await client.post('/api/auth/logout', {})).statusCode, 204);
  });

  it('off: no enrolment is required, even of administrators', async (t) => {
    const { app } = await build(t, { env: { RAMPART_MFA_REQUIRED: 'off' } });
    const user = await createVerifiedUser(app, 'admin');
    const client = new Client(app);
    await signIn(client, user);
    assert.equal((await client.get('/api/admin/users')).statusCode, 200);
  });
});
