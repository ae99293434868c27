/**
 * The one place tests make users: a fresh address and a strong password; a verified user made
 * through the accounts service; and the whole way a person goes (register, confirm from the
 * mailed link, sign in) through the JSON API, through the pages, or in a real browser. Every
 * step goes through the protections (CSRF tokens, rate limits per client IP), never around them.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { Secret, TOTP } from 'otpauth';
import type { Page } from 'playwright-core';
import type { BuildResult } from './build.js';
import { Client, json } from './client.js';
import { csrfField, PageClient } from './pages.js';
import type { TestSmtpServer } from './smtp-server.js';
import { tables } from './build.js';

export type Role = 'author' | 'moderator' | 'admin';

export interface Credentials {
  readonly email: string;
  readonly password: string;
}

export interface TestUser extends Credentials {
  readonly id: string;
  /** The TOTP secret the enrolment API returned, once the user has enrolled an authenticator. */
  readonly totpSecret?: string;
  /** The recovery codes shown at enrolment. */
  readonly recoveryCodes?: readonly string[];
}

// The last time step each secret's code was made for: the server accepts a step once, so the
// next sign-in of the same user uses the next step (valid within the ±1 window) or waits for it.
const lastSteps = new Map<string, number>();

/** A TOTP code for `secret` that the server has not accepted yet, computed with the library at `now` (the app's clock). */
export async function totpCodeFor(secret: string, now: () => number = Date.now): Promise<string> {
  const totp = new TOTP({ algorithm: 'SHA1', digits: 6, period: 30, secret: Secret.fromBase32(secret) });
  for (;;) {
    const current = totp.counter({ timestamp: now() });
    const step = Math.max(current, (lastSteps.get(secret) ?? -1) + 1);
    if (step <= current + 1) {
      lastSteps.set(secret, step);
      return totp.generate({ timestamp: step * 30_000 });
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
}

/**
 * JSON API: enrols an authenticator for the signed-in `client` (its sign-in is a fresh step-up
 * proof) and activates it with a real code; returns the user with its secret and recovery codes.
 */
export async function enrolTotp(client: Client, user: TestUser, now: () => number = Date.now): Promise<TestUser> {
  const started = await client.post('/api/account/mfa/totp', {});
  assert.equal(started.statusCode, 201, started.body);
  const { secret } = json<{ secret: string }>(started);
  const activated = await client.post('/api/account/mfa/totp/activate', { code: await totpCodeFor(secret, now) });
  assert.equal(activated.statusCode, 200, activated.body);
  return { ...user, totpSecret: secret, recoveryCodes: json<{ recoveryCodes: string[] }>(activated).recoveryCodes };
}

/** What a person types into the registration form. */
export interface NewUser extends Credentials {
  readonly name: string;
}

/** A signed-in user and the client (own IP, own cookie jar) that holds the session. */
export interface Actor<C extends Client = Client> {
  readonly user: TestUser;
  readonly client: C;
}

// 16 letters (4 random bits each) none of which is a hex digit or a vowel: a random part can
// never contain a word of the user's name or email (`Ada 3f9a1c`, `label.<hex>`), which the
// policy refuses as personal information. Hex did: "ada" turned up in about 1 in 400 passwords.
const PASSWORD_LETTERS = 'ghjkmnpqrstvwxyz';

/** A password the password policy accepts, different every call (48 random bits). */
export function strongPassword(): string {
  const random = [...randomBytes(12)].map((byte) => PASSWORD_LETTERS[byte & 15] ?? '').join('');
  return `harbor lantern ${random} willow`;
}

/** An address no other test uses; `label` says in a failure which test made it. */
export function uniqueEmail(label = 'user'): string {
  return `${label}.${randomBytes(5).toString('hex')}@example.com`;
}

function newUser(input: Partial<NewUser>, label: string): NewUser {
  return { name: input.name ?? `Ada ${randomBytes(3).toString('hex')}`, email: input.email ?? uniqueEmail(label), password: input.password ?? strongPassword() };
}

/** A verified user made through the accounts service (as `rampart users create` does), skipping the mail round trip. */
export async function createVerifiedUser(app: FastifyInstance, role: Role = 'author', input: Partial<NewUser> = {}): Promise<TestUser> {
  const { name, email, password } = newUser({ name: 'Api User', ...input }, 'api');
  const created = await app.accounts.createUser({ name, email, password, role, verified: true });
  assert.ok(created.ok, 'the test user was created');
  return { id: created.user.id, email, password };
}

/**
 * An administrator as the second-factor policy wants one: a verified admin with an authenticator
 * enrolled and activated through the mfa service (a real code from the library), for tests that
 * start the admin's session directly ({@link clientWithSession}).
 */
export async function createEnrolledAdmin(app: FastifyInstance): Promise<TestUser> {
  const user = await createVerifiedUser(app, 'admin');
  const started = await app.mfa.beginTotp(user.id, user.email);
  assert.ok(started.ok, 'enrolment started');
  const activated = await app.mfa.activateTotp(user.id, await totpCodeFor(started.secret, () => app.clock()), { ip: '192.0.2.250', userAgent: 'TestHelper/1.0', audit: () => undefined });
  assert.ok(activated.ok, 'enrolment activated');
  return { ...user, totpSecret: started.secret, recoveryCodes: activated.recoveryCodes };
}

/**
 * A bare, unverified user row the principal loader can find, written straight to the database
 * with a placeholder hash: for tests of the session and CSRF layers, which never check a password.
 */
export async function insertUserRow(app: FastifyInstance, options: { disabled?: boolean } = {}): Promise<string> {
  const id = randomUUID();
  await tables(app).insertInto('users').values({
    id,
    name: 'Row Tester',
    email_ciphertext: app.keyring.encrypt(`${id}@example.test`, { table: 'users', column: 'email', rowId: id }),
    email_index: randomBytes(32).toString('base64url'),
    password_hash: '$argon2id$v=19$m=19456,t=2,p=1$cm93dGVzdGVy$cm93dGVzdGVy',
    role: 'author',
    email_verified_at: null,
    disabled_at: options.disabled === true ? new Date() : null,
  }).execute();
  return id;
}

/** The `nth` (1-based) link Rampart mailed to `to` under a subject matching `subject`, waiting for it. */
export type MailedLink = (to: string, subject: RegExp, nth?: number) => Promise<string>;

const MAILED_LINK = /https?:\/\/[^\s/]+\/[a-z-]+\?token=[A-Za-z0-9_-]{43}/;
const MAIL_WAIT_MS = 10_000;

/** The links of the mail the test SMTP server received, each checked to point at `publicUrl` (the app's configured public URL). */
export function mailedLinks(smtp: TestSmtpServer, publicUrl: string): MailedLink {
  return async (to, subject, nth = 1) => {
    const matching = () => smtp.messages.filter((m) => m.to.includes(to) && subject.test(m.subject));
    await smtp.waitFor(() => matching().length >= nth, MAIL_WAIT_MS);
    const link = MAILED_LINK.exec(matching()[nth - 1]?.text ?? '')?.[0];
    assert.ok(link !== undefined, `mail ${nth} to ${to} carries a link`);
    assert.ok(link.startsWith(`${publicUrl}/`), `links use the configured public URL (${link})`);
    return link;
  };
}

/** The token a mailed link carries. */
export function tokenOf(link: string): string {
  return new URL(link).searchParams.get('token') ?? assert.fail(`no token in ${link}`);
}

/** The path and query of a mailed link, as a page client requests it. */
export function pathOf(link: string): string {
  const url = new URL(link);
  return `${url.pathname}${url.search}`;
}

const CONFIRM = /confirm/i;

/** JSON API: registers a new account (201); its address is not confirmed yet. */
export async function register(client: Client, input: Partial<NewUser> = {}): Promise<NewUser & TestUser> {
  const user = newUser(input, 'api');
  const registered = await client.post('/api/auth/register', { name: user.name, email: user.email, password: user.password });
  assert.equal(registered.statusCode, 201, registered.body);
  return { ...user, id: json<{ id: string }>(registered).id };
}

/** JSON API: registers and confirms through the mailed link; the client is not signed in. */
export async function registerAndVerify(client: Client, mailedLink: MailedLink, input: Partial<NewUser> = {}): Promise<TestUser> {
  const { id, email, password } = await register(client, input);
  const verified = await client.post('/api/auth/verify-email', { token: tokenOf(await mailedLink(email, CONFIRM)) });
  assert.equal(verified.statusCode, 200, verified.body);
  return { id, email, password };
}

/** JSON API: signs `client` in with `credentials`, and with a TOTP code when the user has enrolled one. */
export async function signIn(client: Client, credentials: Credentials & { readonly totpSecret?: string }): Promise<void> {
  const res = await client.post('/api/auth/login', { email: credentials.email, password: credentials.password });
  if (credentials.totpSecret === undefined) {
    assert.equal(res.statusCode, 200, res.body);
    return;
  }
  assert.equal(res.statusCode, 401, res.body);
  const { challenge } = json<{ code: string; challenge: string }>(res);
  const second = await client.post('/api/auth/login/second-factor', { challenge, code: await totpCodeFor(credentials.totpSecret, () => client.app.clock()) });
  assert.equal(second.statusCode, 200, second.body);
}

/** Pages: registers and confirms through the forms and the mailed link; the client is not signed in. */
export async function registerThroughPages(client: PageClient, mailedLink: MailedLink, input: Partial<NewUser> = {}): Promise<NewUser> {
  const user = newUser(input, 'page');
  const done = await client.submit('/register', '/register', { name: user.name, email: user.email, password: user.password });
  assert.equal(done.statusCode, 303, done.body);
  assert.equal(done.headers.location, '/register?done=sent', 'POST/redirect/GET: a reload never registers again');
  assert.match((await client.page('/register?done=sent')).body, /Check your email/);
  const mailed = await mailedLink(user.email, CONFIRM);
  const link = pathOf(mailed);
  assert.match(link, /^\/verify-email\?token=/);
  assert.equal((await client.page(link)).statusCode, 200);
  const verified = await client.submit(link, '/verify-email', { token: tokenOf(mailed) });
  assert.equal(verified.statusCode, 303);
  assert.equal(verified.headers.location, '/login?done=verified');
  return user;
}

/** Pages: signs `client` in through the sign-in form. */
export async function signInThroughPages(client: PageClient, credentials: Credentials & { readonly totpSecret?: string }): Promise<void> {
  const login = await client.submit('/login', '/login', { email: credentials.email, password: credentials.password });
  if (credentials.totpSecret === undefined) {
    assert.equal(login.statusCode, 303, login.body);
    return;
  }
  // The second-factor page, with the pending sign-in's challenge in its form.
  assert.equal(login.statusCode, 200, login.body);
  const challenge = /name="challenge" value="([^"]+)"/.exec(login.body)?.[1] ?? assert.fail('the second-factor page carries the challenge');
  const second = await client.post('/login/second-factor', new URLSearchParams({ _csrf: csrfField(login.body), challenge, code: await totpCodeFor(credentials.totpSecret, () => client.app.clock()) }).toString(), {
    csrf: false,
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
  });
  assert.equal(second.statusCode, 303, second.body);
}

/** A verified user of `role`, signed in through the login API on a client of its own. */
export async function signedIn(app: FastifyInstance, role: Role = 'author'): Promise<Actor> {
  const user = await createVerifiedUser(app, role);
  const client = new Client(app);
  await signIn(client, user);
  // Administrators must have a second factor before their first admin action (RAMPART_MFA_REQUIRED=admins).
  return { user: role === 'admin' ? await enrolTotp(client, user, () => app.clock()) : user, client };
}

/** A verified user of `role`, signed in through the sign-in page on a page client of its own. */
export async function signedInThroughPages(app: FastifyInstance, role: Role = 'author', userAgent?: string): Promise<Actor<PageClient>> {
  const user = await createVerifiedUser(app, role);
  const client = new PageClient(app, undefined, userAgent);
  await signInThroughPages(client, user);
  return { user: role === 'admin' ? await enrolTotp(client, user, () => app.clock()) : user, client };
}

/**
 * A client holding a session the app's session manager started for `userId` directly, with no
 * login request: for tests of what happens to a session afterwards, not of how it began.
 */
export async function clientWithSession(rampart: Pick<BuildResult, 'app' | 'config'>, userId: string, meta: { ip: string; userAgent: string }, options: { readonly steppedUp?: boolean } = {}): Promise<Client> {
  const { token } = await rampart.app.sessions.create(userId, meta);
  // A sign-in would also have given the session a fresh step-up proof; without `steppedUp` it has none.
  if (options.steppedUp === true) await rampart.app.stepUp.record(token);
  const client = new Client(rampart.app);
  client.cookies.set(rampart.config.sessions.cookieName, token);
  return client;
}

/** The same signed-in actor on a fresh client IP, so a long corpus respects the per-IP rate limit instead of switching it off. */
export function onFreshIp(actor: Actor): Client {
  return actor.client.onFreshIp();
}

/** Browser: clicks the button named `name`, or fails with what the page shows instead (an error page names its code and trace id). */
export async function click(page: Page, name: string): Promise<void> {
  const button = page.getByRole('button', { name, exact: true }).first();
  try {
    await button.waitFor({ timeout: 15_000 });
  } catch {
    throw new Error(`no "${name}" button on ${page.url()}: ${((await page.textContent('main')) ?? '').replace(/\s+/g, ' ').slice(0, 500)}`);
  }
  await button.click();
}

/** Browser: fills and sends the registration form at `base`; the answer is a redirect to the "check your email" page. */
export async function registerInBrowser(page: Page, base: string, input: Partial<NewUser> = {}): Promise<NewUser> {
  const user = newUser(input, 'browser');
  await page.goto(`${base}/register`);
  await page.getByLabel('Name').fill(user.name);
  await page.getByLabel('Email').fill(user.email);
  await page.getByLabel('Password').fill(user.password);
  await click(page, 'Create account');
  await page.getByRole('heading', { name: 'Check your email' }).waitFor({ timeout: 15_000 });
  assert.equal(page.url(), `${base}/register?done=sent`, 'redirected after the POST: a reload does not register again');
  return user;
}

/** Browser: opens a mailed confirmation link and confirms; the page then offers to sign in. */
export async function confirmInBrowser(page: Page, link: string): Promise<void> {
  await page.goto(link);
  await click(page, 'Confirm my email address');
  await page.getByText('Your email address is confirmed').waitFor();
}

/** Browser: registers at `base` and confirms through the mailed link; the page is left at sign-in. */
export async function signUpInBrowser(page: Page, base: string, mailedLink: MailedLink, input: Partial<NewUser> = {}): Promise<NewUser> {
  const user = await registerInBrowser(page, base, input);
  await confirmInBrowser(page, await mailedLink(user.email, CONFIRM));
  assert.ok(page.url().startsWith(`${base}/login`), `confirming leads to sign-in (${page.url()})`);
  return user;
}

/** Browser: fills the sign-in form on the page and sends it. */
export async function signInInBrowser(page: Page, credentials: Credentials): Promise<void> {
  await page.getByLabel('Email').fill(credentials.email);
  await page.getByLabel('Password').fill(credentials.password);
  await click(page, 'Sign in');
}

/**
 * Browser: enrols an authenticator on the security page of the signed-in `page` (its QR code
 * must load under the page CSP), activates it with a code computed from the secret the page
 * shows, and returns that secret once the recovery codes are shown.
 */
export async function enrolInBrowser(page: Page, base: string): Promise<string> {
  await page.goto(`${base}/account/security`);
  await click(page, 'Set up an authenticator app');
  const qr = page.locator('img[alt^="QR code"]');
  await qr.waitFor();
  assert.ok(await qr.evaluate((img) => (img as HTMLImageElement).complete && (img as HTMLImageElement).naturalWidth > 0), 'the QR code image loads under the page CSP');
  const secret = ((await page.locator('#totp-secret').textContent()) ?? '').trim();
  assert.match(secret, /^[A-Z2-7]{32}$/);
  await page.getByLabel('Code from the app').fill(await totpCodeFor(secret));
  await click(page, 'Activate');
  await page.getByRole('heading', { name: 'Your recovery codes' }).waitFor();
  return secret;
}

/** Browser: on the second-factor page a sign-in leads to, enters a fresh code for `secret` and sends it. */
export async function secondFactorInBrowser(page: Page, secret: string): Promise<void> {
  await page.getByRole('heading', { name: 'Two-step verification' }).waitFor();
  await page.getByLabel('Code', { exact: true }).fill(await totpCodeFor(secret));
  await click(page, 'Verify');
}
