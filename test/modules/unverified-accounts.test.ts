import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { randomIp, securityEventRows, suiteAppWithMail, tables } from '../helpers/build.js';
import { Client, json } from '../helpers/client.js';
import { PageClient } from '../helpers/pages.js';
import { type ReceivedMail } from '../helpers/smtp-server.js';
import { mailedLinks, register, registerAndVerify, strongPassword, type TestUser, tokenOf, uniqueEmail } from '../helpers/users.js';


const CONFIRM = /confirm your email address/i;
const ALREADY = /already confirmed/i;
const RESEND = '/api/auth/verify-email/resend';

/** Status, body and headers of an answer, without what differs on every response. */
function answer(response: LightMyRequestResponse): { status: number; body: unknown; headers: Record<string, unknown> } {
  const parsed: Record<string, unknown> | null = response.headers['content-type']?.toString().includes('json') === true ? json(response) : null;
  const body = parsed === null ? response.body : { ...parsed, traceId: null };
  const headers = Object.fromEntries(Object.entries(response.headers).filter(([name]) => !['date', 'ratelimit', 'content-length', 'set-cookie'].includes(name)));
  return { status: response.statusCode, body, headers };
}

/** A page without what is fresh on every response: the CSP nonce and the CSRF token. */
function pageText(response: LightMyRequestResponse): string {
  return response.body.replace(/nonce="[^"]+"/g, 'nonce=""').replace(/name="_csrf" value="[^"]+"/g, 'name="_csrf" value=""');
}

/**
 * An account whose address is not confirmed is no dead end: a sign-in with the right password
 * mails a new link, a link can be asked for again, and a reset through the mailed link
 * confirms the address. None of it tells anyone else whether an address has an account.
 */
describe('unverified accounts', () => {
  const { rampart, smtp } = suiteAppWithMail();

  /** Every mail `to` received so far whose subject matches, once the background mail is out. */
  async function mailsTo(to: string, subject: RegExp): Promise<ReceivedMail[]> {
    await rampart.app.accounts.flush();
    return smtp.messages.filter((m) => m.to.includes(to) && subject.test(m.subject));
  }

  /** The token of the `nth` (1-based) mail to `to` matching `subject`, waiting for it. */
  async function nthToken(to: string, subject: RegExp, nth: number): Promise<string> {
    return tokenOf(await mailedLinks(smtp, 'http://localhost:3000')(to, subject, nth));
  }

  async function registerUnverified(): Promise<{ email: string; password: string; id: string }> {
    const { email, password } = await register(new Client(rampart.app), { name: 'Una Verified', email: uniqueEmail('unverified') });
    await nthToken(email, CONFIRM, 1);
    const row = await tables(rampart.app).selectFrom('users').select('id').where('email_index', '=', rampart.app.keyring.blindIndex(email, 'users.email')).executeTakeFirstOrThrow();
    return { email, password, id: row.id };
  }

  async function registerVerified(): Promise<TestUser> {
    return registerAndVerify(new Client(rampart.app), mailedLinks(smtp, 'http://localhost:3000'), { name: 'Una Verified', email: uniqueEmail('unverified') });
  }

  it('API: register, do not verify; sign-in says what to do and mails a new link; resend; verify with the mailed link; sign in', async () => {
    const { app } = rampart;
    const { email, password } = await registerUnverified();
    const client = new Client(app);

    const wrong = await client.post('/api/auth/login', { email, password: strongPassword() });
    assert.equal(wrong.statusCode, 401);
    assert.equal((await mailsTo(email, CONFIRM)).length, 1, 'a wrong password mails nothing');

    const refused = await client.post('/api/auth/login', { email, password });
    assert.equal(refused.statusCode, 401);
    assert.equal(json(refused).code, 'AUTH_ERR_INVALID_CREDENTIALS');
    assert.match(String(json(refused).title), /not confirmed yet.*new confirmation link/);
    await nthToken(email, CONFIRM, 2);

    const resent = await client.post(RESEND, { email });
    assert.equal(resent.statusCode, 202);
    assert.deepEqual(json(resent), { status: 'accepted' });
    const token = await nthToken(email, CONFIRM, 3);
    const verified = await client.post('/api/auth/verify-email', { token });
    assert.equal(verified.statusCode, 200, verified.body);
    const older = await new Client(app).post('/api/auth/verify-email', { token: await nthToken(email, CONFIRM, 2) });
    assert.equal(older.statusCode, 400, 'confirming spends the other links');

    const login = await client.post('/api/auth/login', { email, password });
    assert.equal(login.statusCode, 200, login.body);
    assert.equal(json<{ user: { emailVerified: boolean } }>(login).user.emailVerified, true);
    const events = await securityEventRows(app, client.ip);
    assert.ok(events.some((e) => e.event === 'authn_login_fail' && e.details.reason === 'email_unverified'), 'the event log (not the answer) says why');
    assert.ok(events.some((e) => e.event === 'user_updated' && e.details.change === 'email_verified' && e.details.via === 'link'));
  });

  it('API: register, do not verify, reset the password through the mailed link: the address is confirmed and sign-in works', async () => {
    const { app } = rampart;
    const { email, id } = await registerUnverified();
    const client = new Client(app);
    assert.equal((await client.post('/api/auth/password-reset/request', { email })).statusCode, 202);
    const resetToken = await nthToken(email, /reset/i, 1);
    const newPassword = strongPassword();
    const changed = await client.post('/api/auth/password-reset/confirm', { token: resetToken, password: newPassword });
    assert.equal(changed.statusCode, 200, changed.body);

    const login = await client.post('/api/auth/login', { email, password: newPassword });
    assert.equal(login.statusCode, 200, login.body);
    assert.equal(json<{ user: { emailVerified: boolean } }>(login).user.emailVerified, true);
    const events = await securityEventRows(app, client.ip);
    const confirmed = events.find((e) => e.event === 'user_updated');
    assert.deepEqual({ actor: confirmed?.actor, details: confirmed?.details }, { actor: id, details: { change: 'email_verified', via: 'password_reset' } });
    const stale = await new Client(app).post('/api/auth/verify-email', { token: await nthToken(email, CONFIRM, 1) });
    assert.equal(stale.statusCode, 400, 'the registration link is spent once the reset confirmed the address');
  });

  it('pages: register, do not verify; the sign-in page says what to do; resend; verify through the mailed link; sign in', async () => {
    const browser = new PageClient(rampart.app);
    const email = uniqueEmail('page');
    const password = strongPassword();
    const registered = await browser.submit('/register', '/register', { name: 'Page Person', email, password });
    // POST/redirect/GET: the registration answers 303 to the same page for every address.
    assert.equal(registered.statusCode, 303);
    assert.equal(registered.headers.location, '/register?done=sent');
    assert.match((await browser.page('/register?done=sent')).body, /href="\/verify-email\/resend"/);

    const refused = await browser.submit('/login', '/login', { email, password });
    assert.equal(refused.statusCode, 401);
    assert.match(refused.body, /not confirmed yet/);
    assert.match(refused.body, /href="\/verify-email\/resend"/);
    await nthToken(email, CONFIRM, 2);

    const form = await browser.page('/verify-email/resend');
    assert.equal(form.statusCode, 200);
    const sent = await browser.submit('/verify-email/resend', '/verify-email/resend', { email });
    assert.equal(sent.statusCode, 303, sent.body);
    assert.equal(sent.headers.location, '/verify-email/resend?done=sent');
    assert.match((await browser.page('/verify-email/resend?done=sent')).body, /Check your email/);
    const token = await nthToken(email, CONFIRM, 3);

    const link = `/verify-email?token=${token}`;
    assert.equal((await browser.page(link)).statusCode, 200);
    const confirmed = await browser.submit(link, '/verify-email', { token });
    assert.equal(confirmed.statusCode, 303);
    assert.equal(confirmed.headers.location, '/login?done=verified');
    const again = await browser.submit(link, '/verify-email', { token });
    assert.equal(again.statusCode, 400);
    assert.match(again.body, /href="\/verify-email\/resend"/, 'a dead link points to resend');
    assert.doesNotMatch(again.body, /register again/);

    const login = await browser.submit('/login', '/login', { email, password });
    assert.equal(login.statusCode, 303, login.body);
    assert.equal(login.headers.location, '/account');
  });

  it('pages: register, do not verify, reset the password through the mailed link, sign in', async () => {
    const browser = new PageClient(rampart.app);
    const email = uniqueEmail('page-reset');
    await browser.submit('/register', '/register', { name: 'Page Reset', email, password: strongPassword() });
    assert.equal((await browser.submit('/forgot-password', '/forgot-password', { email })).statusCode, 303);
    const token = await nthToken(email, /reset/i, 1);
    const link = `/reset-password?token=${token}`;
    const newPassword = strongPassword();
    const reset = await browser.submit(link, '/reset-password', { token, password: newPassword });
    assert.equal(reset.statusCode, 303, reset.body);
    assert.equal(reset.headers.location, '/login?done=password-reset');
    const login = await browser.submit('/login', '/login', { email, password: newPassword });
    assert.equal(login.statusCode, 303, login.body);
    assert.equal(login.headers.location, '/account');
  });

  it('answers a sign-in identically for an unknown email, a wrong password, and the right password of an unconfirmed account', async () => {
    const { app } = rampart;
    const verified = await registerVerified();
    const unverified = await registerUnverified();
    const answers = [];
    for (const credentials of [
      { email: uniqueEmail('nobody'), password: strongPassword() },
      { email: verified.email, password: strongPassword() },
      { email: unverified.email, password: strongPassword() },
      { email: unverified.email, password: unverified.password },
    ]) {
      answers.push(answer(await new Client(app).post('/api/auth/login', credentials)));
    }
    assert.equal(answers[0]?.status, 401);
    for (const other of answers.slice(1)) assert.deepEqual(other, answers[0]);
    // The API token endpoint checks credentials the same way.
    const token = await app.inject({ method: 'POST', url: '/api/auth/token', payload: { email: unverified.email, password: unverified.password }, remoteAddress: randomIp() });
    const unknown = await app.inject({ method: 'POST', url: '/api/auth/token', payload: { email: uniqueEmail('nobody'), password: strongPassword() }, remoteAddress: randomIp() });
    assert.deepEqual(answer(token), answer(unknown));
  });

  it('answers a resend identically for an unknown, an unconfirmed and a confirmed address; only the mailbox tells them apart', async () => {
    const { app } = rampart;
    const verified = await registerVerified();
    const unverified = await registerUnverified();
    const unknown = uniqueEmail('ghost');
    const api = [];
    const pages = [];
    for (const email of [unknown, unverified.email, verified.email]) {
      api.push(answer(await new Client(app).post(RESEND, { email })));
      const page = await new PageClient(app).submit('/verify-email/resend', '/verify-email/resend', { email });
      pages.push({ status: page.statusCode, text: pageText(page) });
    }
    assert.equal(api[0]?.status, 202);
    assert.deepEqual(api[1], api[0]);
    assert.deepEqual(api[2], api[0]);
    assert.equal(pages[0]?.status, 303);
    assert.deepEqual(pages[1], pages[0]);
    assert.deepEqual(pages[2], pages[0]);

    assert.equal((await mailsTo(unknown, /./)).length, 0, 'an address without an account gets nothing');
    assert.equal((await mailsTo(unverified.email, CONFIRM)).length, 3, 'registration, then one link per resend');
    assert.equal((await mailsTo(verified.email, ALREADY)).length, 2, 'a confirmed address is told so');
    assert.equal((await mailsTo(verified.email, CONFIRM)).length, 1, 'and gets no new link');
  });

  it('sends at most 3 new links an hour per address, whoever asks, with an unchanged answer', async () => {
    const { app } = rampart;
    const { email, password } = await registerUnverified();
    const answers = [];
    // From a new address each time, so only the per-address limit applies.
    for (let i = 0; i < 8; i += 1) answers.push(answer(await new Client(app).post(RESEND, { email })));
    for (const other of answers) assert.deepEqual(other, answers[0]);
    assert.equal(answers[0]?.status, 202);
    assert.equal((await mailsTo(email, CONFIRM)).length, 1 + 3, 'the registration mail and 3 more, not 8');
    // A sign-in with the right password shares the same limit.
    assert.equal((await new Client(app).post('/api/auth/login', { email, password })).statusCode, 401);
    assert.equal((await mailsTo(email, CONFIRM)).length, 4);
  });

  it('refuses a flood of resends from one client with 429 and Retry-After, and mails nothing more', async () => {
    const { app } = rampart;
    const { email } = await registerUnverified();
    const flooder = new Client(app);
    const statuses: number[] = [];
    for (let i = 0; i < 30; i += 1) statuses.push((await flooder.post(RESEND, { email: uniqueEmail('flood') })).statusCode);
    assert.deepEqual(new Set(statuses), new Set([202]));
    const refused = await flooder.post(RESEND, { email });
    assert.equal(refused.statusCode, 429);
    assert.equal(json(refused).code, 'ACCOUNT_ERR_TOO_MANY_REQUESTS');
    assert.ok(Number(refused.headers['retry-after']) >= 1);
    const page = await new PageClient(app, flooder.ip).submit('/verify-email/resend', '/verify-email/resend', { email });
    assert.equal(page.statusCode, 429);
    assert.equal((await mailsTo(email, CONFIRM)).length, 1, 'only the registration mail: the refused requests sent none');
  });

  it('refuses a resend without a CSRF token, or with an unknown key', async () => {
    const { app } = rampart;
    const { email } = await registerUnverified();
    assert.equal((await new Client(app).post(RESEND, { email }, { csrf: false })).statusCode, 403);
    const extra = await new Client(app).post(RESEND, { email, verified: true });
    assert.equal(extra.statusCode, 400);
    assert.equal((await new Client(app).post(RESEND, { email: { $ne: null } })).statusCode, 400);
    assert.equal((await mailsTo(email, CONFIRM)).length, 1);
  });
});
