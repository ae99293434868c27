import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { type AttackerSite, startAttackerSite, suiteBrowserTarget } from '../helpers/browser.js';
import { randomIp, securityEventRows, tables } from '../helpers/build.js';
import { Client, json } from '../helpers/client.js';
import { PageClient } from '../helpers/pages.js';
import { click, createVerifiedUser, signedIn, signInInBrowser, type Actor } from '../helpers/users.js';
import { relyingParty } from '../../src/modules/passkeys/service.js';
import { addVirtualAuthenticator, createIn, getIn, type VirtualAuthenticator } from '../helpers/webauthn.js';

interface PasskeyView { id: string; name: string; deviceType: string; backedUp: boolean; createdAt: string; lastUsedAt: string | null }
type Json = Record<string, unknown>;

const b64url = (bytes: number) => randomBytes(bytes).toString('base64url');

/**
 * Passkeys against real authenticator responses: Chromium's WebAuthn code with a DevTools
 * virtual authenticator (real keys, signatures, counters) produces every credential; the
 * server sees only what a browser would send. Each person gets a browser context (a tab with
 * an authenticator of its own) and an API client of their own.
 */
describe('passkeys (WebAuthn)', () => {
  // The clock step-up proofs are dated by; one test moves it past a proof's 10 minutes.
  let offset = 0;
  const target = suiteBrowserTarget({ clock: () => Date.now() + offset });
  const app = () => target.rampart.app;
  let attacker: AttackerSite;
  const contexts: BrowserContext[] = [];

  before(async () => {
    // passkeys.js itself, served by another origin of the same host name (another port of
    // localhost): the RP ID `localhost` is valid there, only the origin differs.
    const login = await app().inject({ method: 'GET', url: '/login' });
    const script = /src="(\/static\/passkeys\.[0-9a-f]{16}\.js)"/.exec(login.body)?.[1];
    assert.ok(script, 'the sign-in page loads passkeys.js');
    const source = (await app().inject({ method: 'GET', url: script })).body;
    attacker = await startAttackerSite({ '/': `<!doctype html><html><head><script>${source}</script></head><body>elsewhere</body></html>` });
  });
  after(async () => {
    await attacker.close();
    for (const context of contexts) await context.close();
  });

  /** A tab on Rampart's sign-in page (which loads passkeys.js) with an authenticator of its own. */
  async function authenticatorTab(): Promise<{ page: Page; authenticator: VirtualAuthenticator }> {
    const { context, page } = await target.newPage();
    contexts.push(context);
    const authenticator = await addVirtualAuthenticator(page);
    await page.goto(`${target.base}/login`);
    return { page, authenticator };
  }

  const attackerOrigin = () => attacker.origin.replace('127.0.0.1', 'localhost');

  async function registrationOptions(client: Client): Promise<Json> {
    const options = await client.post('/api/account/passkeys/registration/options', {});
    assert.equal(options.statusCode, 200, options.body);
    return json(options);
  }

  /** `actor` registers a passkey made by `page`'s authenticator; the stored passkey. */
  async function registerPasskey(actor: Actor, page: Page, name = 'Laptop'): Promise<PasskeyView> {
    const response = await createIn(page, await registrationOptions(actor.client));
    const created = await actor.client.post('/api/account/passkeys', { name, response });
    assert.equal(created.statusCode, 201, created.body);
    return json<PasskeyView>(created);
  }

  /** A signed-out client that asked for sign-in options (its pre-session holds the challenge). */
  async function signInOptions(client = new Client(app())): Promise<{ client: Client; options: Json }> {
    const options = await client.post('/api/auth/passkey/options', {});
    assert.equal(options.statusCode, 200, options.body);
    return { client, options: json(options) };
  }

  it('registers a passkey for a signed-in user and signs in with it, with no password', async () => {
    const alice = await signedIn(app());
    const { page } = await authenticatorTab();
    const options = await registrationOptions(alice.client);
    assert.equal((options.rp as Json).id, 'localhost', 'the RP ID is the public URL\'s host');
    assert.deepEqual(options.authenticatorSelection, { residentKey: 'required', userVerification: 'required', requireResidentKey: true });
    assert.equal(options.attestation, 'none');
    const response = await createIn(page, options);
    const created = await alice.client.post('/api/account/passkeys', { name: '  Work laptop ', response });
    assert.equal(created.statusCode, 201, created.body);
    const passkey = json<PasskeyView>(created);
    assert.equal(passkey.name, 'Work laptop');
    assert.equal(passkey.lastUsedAt, null);
    assert.deepEqual(json<{ passkeys: PasskeyView[] }>(await alice.client.get('/api/account/passkeys')).passkeys.map((p) => p.id), [passkey.id]);

    const { client, options: request } = await signInOptions();
    assert.equal(request.rpId, 'localhost');
    assert.equal(request.userVerification, 'required');
    assert.equal(request.allowCredentials, undefined, 'sign-in asks for a discoverable credential');
    const assertion = await getIn(page, request);
    const signIn = await client.post('/api/auth/passkey', { response: assertion });
    assert.equal(signIn.statusCode, 200, signIn.body);
    assert.equal(json(signIn).status, 'signed-in');
    const me = await client.get('/api/me');
    assert.equal(me.statusCode, 200);
    assert.equal(json<{ user: { id: string } }>(me).user.id, alice.user.id);
    const events = await securityEventRows(app(), client.ip);
    assert.ok(events.some((e) => e.event === 'authn_login_success' && e.actor === alice.user.id && e.details.method === 'passkey'));
    assert.ok(events.some((e) => e.event === 'session_created' && e.actor === alice.user.id));
    const used = json<{ passkeys: PasskeyView[] }>(await alice.client.get('/api/account/passkeys')).passkeys[0];
    assert.ok(used?.lastUsedAt !== null, 'the use is recorded');
  });

  it('refuses a registration and an assertion made on another origin, even one of the same host name', async () => {
    const alice = await signedIn(app());
    const { page } = await authenticatorTab();
    const elsewhere = await authenticatorTab();
    // Another tab (its own authenticator) on another origin answers Rampart's challenge.
    await elsewhere.page.goto(`${attackerOrigin()}/`);
    const foreignCreation = await createIn(elsewhere.page, await registrationOptions(alice.client));
    const refused = await alice.client.post('/api/account/passkeys', { name: 'Elsewhere', response: foreignCreation });
    assert.equal(refused.statusCode, 400);
    assert.equal(json(refused).code, 'PASSKEY_ERR_REGISTRATION_FAILED');
    assert.deepEqual(json<{ passkeys: PasskeyView[] }>(await alice.client.get('/api/account/passkeys')).passkeys, [], 'nothing stored');

    // A passkey registered at Rampart, used by the same tab (the same authenticator) on the other origin.
    await registerPasskey(alice, page);
    await page.goto(`${attackerOrigin()}/`);
    const { client, options } = await signInOptions();
    const foreignAssertion = await getIn(page, options);
    const signIn = await client.post('/api/auth/passkey', { response: foreignAssertion });
    assert.equal(signIn.statusCode, 401);
    assert.equal(json(signIn).code, 'PASSKEY_ERR_INVALID');
    assert.equal((await client.get('/api/me')).statusCode, 401, 'no session');
    const events = await securityEventRows(app(), client.ip);
    assert.ok(events.some((e) => e.event === 'authn_login_fail' && e.details.method === 'passkey' && e.details.reason === 'invalid'));
  });

  it('takes each challenge once: a registration or an assertion sent twice is refused the second time', async () => {
    const alice = await signedIn(app());
    const { page } = await authenticatorTab();
    const response = await createIn(page, await registrationOptions(alice.client));
    assert.equal((await alice.client.post('/api/account/passkeys', { name: 'Once', response })).statusCode, 201);
    const again = await alice.client.post('/api/account/passkeys', { name: 'Twice', response });
    assert.equal(again.statusCode, 400);
    assert.equal(json(again).code, 'PASSKEY_ERR_REGISTRATION_FAILED');

    const { client, options } = await signInOptions();
    const assertion = await getIn(page, options);
    assert.equal((await client.post('/api/auth/passkey', { response: assertion })).statusCode, 200);
    // Replayed by the same browser, by another one with a challenge of its own, and after a new challenge.
    const replayed = await client.post('/api/auth/passkey', { response: assertion });
    assert.equal(replayed.statusCode, 401);
    assert.equal(json(replayed).code, 'PASSKEY_ERR_INVALID');
    const { client: other } = await signInOptions();
    assert.equal((await other.post('/api/auth/passkey', { response: assertion })).statusCode, 401);
    assert.equal((await other.get('/api/me')).statusCode, 401);
    const events = await securityEventRows(app(), other.ip);
    assert.ok(events.some((e) => e.event === 'authn_login_fail' && e.details.reason === 'invalid'), 'a challenge mismatch fails verification');
  });

  it('binds a challenge to the browser that asked for it: another pre-session cannot answer it', async () => {
    const alice = await signedIn(app());
    const { page } = await authenticatorTab();
    await registerPasskey(alice, page);
    const { options } = await signInOptions();
    const assertion = await getIn(page, options);
    // The thief holds the answer, but its own pre-session was issued no challenge.
    const thief = new Client(app());
    const stolen = await thief.post('/api/auth/passkey', { response: assertion });
    assert.equal(stolen.statusCode, 401);
    const events = await securityEventRows(app(), thief.ip);
    assert.ok(events.some((e) => e.event === 'authn_login_fail' && e.details.reason === 'no_challenge'));
  });

  it('keeps each user\'s passkeys to themselves: a second user cannot list, rename, remove or use them', async () => {
    const alice = await signedIn(app());
    const mallory = await signedIn(app());
    const { page } = await authenticatorTab();
    const passkey = await registerPasskey(alice, page, 'Alice phone');

    assert.deepEqual(json<{ passkeys: PasskeyView[] }>(await mallory.client.get('/api/account/passkeys')).passkeys, []);
    const rename = await mallory.client.patch(`/api/account/passkeys/${passkey.id}`, { name: 'Mine now' });
    assert.equal(rename.statusCode, 404);
    assert.equal(json(rename).code, 'PASSKEY_ERR_NOT_FOUND');
    const remove = await mallory.client.delete(`/api/account/passkeys/${passkey.id}`);
    assert.equal(remove.statusCode, 404);
    assert.equal(json(remove).code, 'PASSKEY_ERR_NOT_FOUND');
    assert.equal((await mallory.client.delete(`/api/account/passkeys/${randomUUID()}`)).statusCode, 404, 'the same answer as for one that does not exist');
    const stays = json<{ passkeys: PasskeyView[] }>(await alice.client.get('/api/account/passkeys')).passkeys;
    assert.deepEqual(stays.map((p) => [p.id, p.name]), [[passkey.id, 'Alice phone']]);
    const events = await securityEventRows(app(), mallory.client.ip);
    assert.ok(events.some((e) => e.event === 'authz_fail'), 'the attempt is recorded');

    // Mallory cannot make Alice's passkey prove Mallory (a second factor or a step-up for her).
    const challenge = await app().passkeys.issueChallenge('step-up', `test:${randomUUID()}`);
    const assertion = await getIn(page, await app().passkeys.authenticationOptions('step-up', `test:${randomUUID()}`, alice.user.id).then((o) => ({ ...o, challenge })));
    const asMallory = await app().passkeys.verifyAssertion({ userId: mallory.user.id, response: assertion as never, expectedChallenge: challenge });
    assert.deepEqual(asMallory, { ok: false, reason: 'other_user' });
  });

  it('verifyAssertion proves a known user\'s passkey for a second factor or step-up, once', async () => {
    const alice = await signedIn(app());
    const { page } = await authenticatorTab();
    const passkey = await registerPasskey(alice, page);
    const binding = `session:${randomUUID()}`;
    const options = await app().passkeys.authenticationOptions('step-up', binding, alice.user.id);
    assert.deepEqual((options.allowCredentials ?? []).length, 1, 'a known user\'s passkeys are listed');
    const assertion = await getIn(page, options);
    const challenge = await app().passkeys.takeChallenge('step-up', binding);
    assert.ok(challenge !== null);
    assert.equal(await app().passkeys.takeChallenge('step-up', binding), null, 'the challenge is single-use');
    const proved = await app().passkeys.verifyAssertion({ userId: alice.user.id, response: assertion as never, expectedChallenge: challenge });
    assert.deepEqual(proved, { ok: true, userId: alice.user.id, passkeyId: passkey.id });
    const again = await app().passkeys.verifyAssertion({ userId: alice.user.id, response: assertion as never, expectedChallenge: challenge });
    assert.deepEqual(again, { ok: false, reason: 'counter' }, 'the same signed answer again does not advance the counter');
  });

  it('refuses a cloned authenticator whose counter went backwards, and records it', async () => {
    const alice = await signedIn(app());
    const original = await authenticatorTab();
    await registerPasskey(alice, original.page);
    for (let i = 0; i < 2; i += 1) {
      const { client, options } = await signInOptions();
      assert.equal((await client.post('/api/auth/passkey', { response: await getIn(original.page, options) })).statusCode, 200);
    }
    const [credential] = await original.authenticator.credentials();
    assert.ok(credential !== undefined && credential.signCount >= 2, `the authenticator counts its signatures (${String(credential?.signCount)})`);
    const clone = await authenticatorTab();
    await clone.authenticator.addCredential({ ...credential, signCount: 0 });

    const { client, options } = await signInOptions();
    const cloned = await client.post('/api/auth/passkey', { response: await getIn(clone.page, options) });
    assert.equal(cloned.statusCode, 401);
    assert.equal(json(cloned).code, 'PASSKEY_ERR_INVALID');
    assert.equal((await client.get('/api/me')).statusCode, 401);
    const events = await securityEventRows(app(), client.ip);
    assert.ok(events.some((e) => e.event === 'authn_passkey_counter_regression' && e.actor === alice.user.id));
    // The genuine authenticator still works.
    const genuine = await signInOptions();
    assert.equal((await genuine.client.post('/api/auth/passkey', { response: await getIn(original.page, genuine.options) })).statusCode, 200);
  });

  it('refuses passkey sign-in to a disabled account like password sign-in does', async () => {
    const alice = await signedIn(app());
    const { page } = await authenticatorTab();
    await registerPasskey(alice, page);
    const admin = await signedIn(app(), 'admin');
    const disabled = await admin.client.patch(`/api/admin/users/${alice.user.id}`, { disabled: true });
    assert.equal(disabled.statusCode, 200, disabled.body);
    const { client, options } = await signInOptions();
    const signIn = await client.post('/api/auth/passkey', { response: await getIn(page, options) });
    assert.equal(signIn.statusCode, 401);
    assert.equal(json(signIn).code, 'PASSKEY_ERR_INVALID', 'the same answer as any other failure');
    assert.equal((await client.get('/api/me')).statusCode, 401);
    const events = await securityEventRows(app(), client.ip);
    assert.ok(events.some((e) => e.event === 'authn_login_fail' && e.details.reason === 'inactive_user'));
  });

  /** `user`'s password step on `client`: the pending sign-in's challenge, and the methods it offers. */
  async function passwordStep(client: Client, user: { email: string; password: string }): Promise<{ challenge: string; methods: string[] }> {
    const login = await client.post('/api/auth/login', { email: user.email, password: user.password });
    assert.equal(login.statusCode, 401, login.body);
    const body = json<{ code: string; challenge: string; methods: string[] }>(login);
    assert.equal(body.code, 'AUTH_ERR_SECOND_FACTOR_REQUIRED');
    return body;
  }

  it('is a second factor: the password becomes the first step, finished by that user\'s own passkey, once', async () => {
    const alice = await signedIn(app());
    const bob = await signedIn(app());
    const { page: alicePage } = await authenticatorTab();
    const { page: bobPage } = await authenticatorTab();
    const passkey = await registerPasskey(alice, alicePage);
    await registerPasskey(bob, bobPage);
    const added = await target.smtp.waitFor((m) => m.to.includes(alice.user.email) && m.subject === 'A second factor was added to your account', 10_000);
    assert.match(added.text, /How: passkey/);

    const client = new Client(app());
    const { challenge, methods } = await passwordStep(client, alice.user);
    assert.deepEqual(methods, ['passkey'], 'no authenticator app: the passkey is the only method');
    assert.equal((await client.get('/api/account/sessions')).statusCode, 401, 'no session after the password alone');

    // The options list only Alice's passkey; Bob's authenticator, made to sign them anyway, is refused.
    const options = json(await client.post('/api/auth/login/second-factor/passkey/options', { challenge }));
    assert.equal((options.allowCredentials as Json[]).length, 1, 'only Alice\'s own passkey is offered');
    const bobs = await getIn(bobPage, { ...options, allowCredentials: [] });
    const foreign = await client.post('/api/auth/login/second-factor/passkey', { challenge, response: bobs });
    assert.equal(foreign.statusCode, 401);
    assert.equal(json(foreign).code, 'MFA_ERR_PASSKEY_FAILED');
    // The ceremony was spent by that attempt: Alice's own answer to it is refused too.
    const spent = await getIn(alicePage, options);
    assert.equal(json(await client.post('/api/auth/login/second-factor/passkey', { challenge, response: spent })).code, 'MFA_ERR_PASSKEY_FAILED');

    const fresh = json(await client.post('/api/auth/login/second-factor/passkey/options', { challenge }));
    const response = await getIn(alicePage, fresh);
    const done = await client.post('/api/auth/login/second-factor/passkey', { challenge, response });
    assert.equal(done.statusCode, 200, done.body);
    assert.equal(json<{ user: { id: string } }>(done).user.id, alice.user.id);
    assert.equal((await client.get('/api/account/sessions')).statusCode, 200);
    // Replayed, or on another client: the pending sign-in is gone.
    const replay = await new Client(app()).post('/api/auth/login/second-factor/passkey', { challenge, response });
    assert.equal(replay.statusCode, 401);
    assert.equal(json(replay).code, 'MFA_ERR_PASSKEY_FAILED');
    // Options for a challenge that names no pending sign-in: the same refusal.
    const unknown = await new Client(app()).post('/api/auth/login/second-factor/passkey/options', { challenge: b64url(32) });
    assert.equal(json(unknown).code, 'MFA_ERR_PASSKEY_FAILED');
    const events = await securityEventRows(app(), client.ip);
    assert.ok(events.some((e) => e.event === 'authn_mfa_success' && e.details.method === 'passkey'));
    assert.ok(events.some((e) => e.event === 'authn_mfa_fail' && e.details.reason === 'other_user'));
    assert.equal(passkey.name, 'Laptop');
    // Passwordless sign-in with a user-verified passkey stays one step (the passkey is itself two factors).
    const { client: passwordless, options: passwordlessOptions } = await signInOptions();
    const signedInByPasskey = await passwordless.post('/api/auth/passkey', { response: await getIn(alicePage, passwordlessOptions) });
    assert.equal(signedInByPasskey.statusCode, 200, signedInByPasskey.body);
  });

  it('is a step-up proof; adding or removing a passkey needs a fresh proof (an expired one: AUTH_ERR_STEP_UP_REQUIRED)', async () => {
    const alice = await signedIn(app());
    const bob = await signedIn(app());
    const { page } = await authenticatorTab();
    const { page: bobPage } = await authenticatorTab();
    // Signing in recorded a proof: a freshly signed-in client registers at once.
    const passkey = await registerPasskey(alice, page);
    await registerPasskey(bob, bobPage);
    offset += 11 * 60_000;
    try {
      for (const [method, url] of [['POST', '/api/account/passkeys/registration/options'], ['POST', '/api/account/passkeys'], ['DELETE', `/api/account/passkeys/${passkey.id}`]] as const) {
        const refused = await alice.client.send({ method, url, payload: method === 'POST' ? {} : undefined });
        assert.equal(refused.statusCode, 401, `${method} ${url}`);
        assert.equal(json(refused).code, 'AUTH_ERR_STEP_UP_REQUIRED');
      }
      // Bob's passkey cannot confirm Alice's presence, nor can a replayed answer.
      const options = await alice.client.post('/api/auth/step-up/passkey/options', {});
      assert.equal(options.statusCode, 200, options.body);
      const bobs = await getIn(bobPage, { ...json<Json>(options), allowCredentials: [] });
      const foreign = await alice.client.post('/api/auth/step-up', { passkey: bobs });
      assert.equal(foreign.statusCode, 401);
      assert.equal(json(foreign).code, 'MFA_ERR_PASSKEY_FAILED');
      const response = await getIn(page, json(await alice.client.post('/api/auth/step-up/passkey/options', {})));
      const proved = await alice.client.post('/api/auth/step-up', { passkey: response });
      assert.equal(proved.statusCode, 200, proved.body);
      assert.equal(json(await alice.client.post('/api/auth/step-up', { passkey: response })).code, 'MFA_ERR_PASSKEY_FAILED', 'an answer works once');
      // Bob's session cannot use Alice's step-up options (bound to her session), and has no proof from hers.
      assert.equal(json(await bob.client.post('/api/account/passkeys/registration/options', {})).code, 'AUTH_ERR_STEP_UP_REQUIRED');

      const removed = await alice.client.delete(`/api/account/passkeys/${passkey.id}`);
      assert.equal(removed.statusCode, 204, removed.body);
      const event = await securityEventRows(app(), alice.client.ip);
      assert.ok(event.some((e) => e.event === 'authn_step_up_granted' && e.details.method === 'passkey'));
      assert.ok(event.some((e) => e.event === 'authn_mfa_disabled' && e.details.method === 'passkey' && e.details.role === 'author'), 'the last passkey removed');
      const mail = await target.smtp.waitFor((m) => m.to.includes(alice.user.email) && m.subject === 'A second factor was removed from your account', 10_000);
      assert.match(mail.text, /How: passkey/);
      // No passkey left: no passkey step-up.
      assert.equal(json(await alice.client.post('/api/auth/step-up/passkey/options', {})).code, 'MFA_ERR_NO_PASSKEY');
    } finally {
      offset = 0;
    }
  });

  it('renames and removes a passkey; a removed passkey no longer signs in', async () => {
    const alice = await signedIn(app());
    const { page } = await authenticatorTab();
    const passkey = await registerPasskey(alice, page);
    const renamed = await alice.client.patch(`/api/account/passkeys/${passkey.id}`, { name: 'Old laptop' });
    assert.equal(renamed.statusCode, 200, renamed.body);
    assert.equal(json<PasskeyView>(renamed).name, 'Old laptop');
    assert.equal((await alice.client.delete(`/api/account/passkeys/${passkey.id}`)).statusCode, 204);
    assert.deepEqual(json<{ passkeys: PasskeyView[] }>(await alice.client.get('/api/account/passkeys')).passkeys, []);
    const { client, options } = await signInOptions();
    const signIn = await client.post('/api/auth/passkey', { response: await getIn(page, options) });
    assert.equal(signIn.statusCode, 401);
    assert.equal(json(signIn).code, 'PASSKEY_ERR_INVALID');
  });

  describe('pages', () => {
    it('adds a named passkey on the account page and signs in with "Sign in with a passkey", under the page CSP', async () => {
      const user = await createVerifiedUser(app());
      const { page } = await authenticatorTab();
      const problems: string[] = [];
      page.on('console', (message) => {
        if (message.type() === 'error') problems.push(message.text());
      });
      page.on('pageerror', (error) => problems.push(error.message));
      await signInInBrowser(page, user);
      await page.waitForURL(`${target.base}/account`);
      await page.getByLabel('New passkey name').fill('Test laptop');
      await click(page, 'Add a passkey');
      await page.waitForURL(`${target.base}/account?done=passkey-added`);
      await page.getByText('The passkey was added').waitFor();
      assert.equal(await page.getByLabel('Name of passkey Test laptop').inputValue(), 'Test laptop');

      await click(page, 'Sign out');
      await page.goto(`${target.base}/login?next=%2Fposts%2Fmine`);
      await click(page, 'Sign in with a passkey');
      await page.waitForURL(`${target.base}/posts/mine`);
      assert.deepEqual(problems, [], 'no script error and no CSP violation');
    });

    it('signs in with password then "Use a passkey" on the second-factor page, and confirms a step-up with a passkey', async () => {
      const user = await createVerifiedUser(app());
      const { page } = await authenticatorTab();
      const problems: string[] = [];
      page.on('pageerror', (error) => problems.push(error.message));
      page.on('console', (message) => {
        if (message.type() === 'error') problems.push(message.text());
      });
      await signInInBrowser(page, user);
      await page.waitForURL(`${target.base}/account`);
      await page.getByLabel('New passkey name').fill('Phone');
      await click(page, 'Add a passkey');
      await page.waitForURL(`${target.base}/account?done=passkey-added`);

      await click(page, 'Sign out');
      await page.goto(`${target.base}/login?next=%2Fposts%2Fmine`);
      await signInInBrowser(page, user);
      await page.getByRole('heading', { name: 'Two-step verification' }).waitFor();
      await click(page, 'Use a passkey');
      await page.waitForURL(`${target.base}/posts/mine`);

      await page.goto(`${target.base}/account/confirm?next=%2Faccount`);
      await click(page, 'Use a passkey');
      await page.waitForURL(`${target.base}/account`);
      await app().securityEvents.flush();
      const granted = await tables(app()).selectFrom('security_events').select('details').where('actor', '=', user.id).where('event', '=', 'authn_step_up_granted').execute();
      assert.ok(granted.some((e) => (e.details as Json).method === 'passkey'), 'the step-up was proved by the passkey');
      assert.deepEqual(problems, [], 'no script error and no CSP violation');
    });

    it('renames and removes through forms; another user\'s passkey is "No such passkey"', async () => {
      const alice = await signedIn(app());
      const { page } = await authenticatorTab();
      const passkey = await registerPasskey(alice, page);
      const mallory = new PageClient(app());
      const malloryUser = await createVerifiedUser(app());
      assert.equal((await mallory.submit('/login', '/login', { email: malloryUser.email, password: malloryUser.password })).statusCode, 303);
      const rename = await mallory.submit('/account', '/account/passkeys/rename', { id: passkey.id, name: 'Taken' });
      assert.equal(rename.statusCode, 404);
      assert.match(rename.body, /No such passkey/);
      assert.equal((await mallory.submit('/account', '/account/passkeys/remove', { id: passkey.id })).statusCode, 404);
      assert.equal(json<{ passkeys: PasskeyView[] }>(await alice.client.get('/api/account/passkeys')).passkeys[0]?.name, 'Laptop');

      // Alice has a passkey now: the password is the first of two steps, the passkey the second.
      const owner = new PageClient(app());
      const ownerUser = alice.user;
      const step = await owner.submit('/login', '/login', { email: ownerUser.email, password: ownerUser.password });
      assert.equal(step.statusCode, 200);
      assert.match(step.body, /Use a passkey/);
      const challenge = /data-challenge="([A-Za-z0-9_-]{43})"/.exec(step.body)?.[1] ?? assert.fail('the second-factor page names its challenge');
      const options = await owner.post('/api/auth/login/second-factor/passkey/options', { challenge });
      assert.equal(options.statusCode, 200, options.body);
      const second = await owner.post('/api/auth/login/second-factor/passkey', { challenge, response: await getIn(page, json(options)) });
      assert.equal(second.statusCode, 200, second.body);
      const renamed = await owner.submit('/account', '/account/passkeys/rename', { id: passkey.id, name: 'Desk key' });
      assert.equal(renamed.statusCode, 303);
      assert.equal(json<{ passkeys: PasskeyView[] }>(await alice.client.get('/api/account/passkeys')).passkeys[0]?.name, 'Desk key');
      const removed = await owner.submit('/account', '/account/passkeys/remove', { id: passkey.id });
      assert.equal(removed.statusCode, 303);
      assert.deepEqual(json<{ passkeys: PasskeyView[] }>(await alice.client.get('/api/account/passkeys')).passkeys, []);
    });

    it('cannot use passkeys at a loopback IP address: WebAuthn refuses an IP as the relying party', async () => {
      const alice = await signedIn(app());
      const { page } = await authenticatorTab();
      await page.goto(target.base.replace('localhost', '127.0.0.1') + '/login');
      const options = await registrationOptions(alice.client);
      const error = await page.evaluate(async (o) => {
        try {
          await (window as unknown as { rampartPasskeys: { create(o: unknown): Promise<unknown> } }).rampartPasskeys.create(o);
          return 'created';
        } catch (e) {
          return (e as Error).name;
        }
      }, options);
      assert.equal(error, 'SecurityError');
    });
  });

  describe('forged and malformed answers', () => {
    const forgedAssertion = (id = b64url(32)) => ({
      id, rawId: id, type: 'public-key', clientExtensionResults: {},
      response: {
        clientDataJSON: Buffer.from(JSON.stringify({ type: 'webauthn.get', challenge: b64url(32), origin: target.base })).toString('base64url'),
        authenticatorData: b64url(37), signature: b64url(70),
      },
    });

    it('answers a forged assertion 401, for an unknown and for a registered credential, never 500', async () => {
      const alice = await signedIn(app());
      const { page, authenticator } = await authenticatorTab();
      await registerPasskey(alice, page);
      const [credential] = await authenticator.credentials();
      assert.ok(credential !== undefined);
      const registeredId = Buffer.from(credential.credentialId, 'base64').toString('base64url');
      for (const response of [forgedAssertion(), forgedAssertion(registeredId), { ...forgedAssertion(registeredId), response: { ...forgedAssertion().response, authenticatorData: 'AAAA', signature: 'AAAA' } }]) {
        const { client } = await signInOptions(new Client(app(), randomIp()));
        const answer = await client.post('/api/auth/passkey', { response });
        assert.equal(answer.statusCode, 401, answer.body);
        assert.equal(answer.headers['content-type'], 'application/problem+json; charset=utf-8');
        assert.equal(json(answer).code, 'PASSKEY_ERR_INVALID');
      }
    });

    it('answers a forged registration 400 and stores nothing, never 500', async () => {
      const alice = await signedIn(app());
      const garbage = [
        b64url(64),
        Buffer.from([0xa3, 0x63, 0x66, 0x6d, 0x74, 0x64, 0x6e, 0x6f, 0x6e, 0x65]).toString('base64url'),
        Buffer.from([0xbf, 0xff, 0xff, 0xff]).toString('base64url'),
      ];
      for (const attestationObject of garbage) {
        await registrationOptions(alice.client);
        const id = b64url(32);
        const clientDataJSON = Buffer.from(JSON.stringify({ type: 'webauthn.create', challenge: b64url(32), origin: target.base })).toString('base64url');
        const answer = await alice.client.post('/api/account/passkeys', { name: 'Forged', response: { id, rawId: id, type: 'public-key', clientExtensionResults: {}, response: { clientDataJSON, attestationObject } } });
        assert.equal(answer.statusCode, 400, answer.body);
        assert.equal(json(answer).code, 'PASSKEY_ERR_REGISTRATION_FAILED');
      }
      assert.deepEqual(json<{ passkeys: PasskeyView[] }>(await alice.client.get('/api/account/passkeys')).passkeys, []);
    });

    it('refuses malformed bodies with a 400 problem before any ceremony', async () => {
      const alice = await signedIn(app());
      const valid = forgedAssertion();
      const bodies: unknown[] = [
        {},
        { response: null },
        { response: 'x' },
        { response: { ...valid, id: 'not base64url!' } },
        { response: { ...valid, type: 'password' } },
        { response: { ...valid, response: { ...valid.response, signature: 'A'.repeat(5000) } } },
        { response: { ...valid, clientExtensionResults: { appid: true, evil: 1 } } },
        { response: { ...valid, $where: '1' } },
        JSON.parse(`{"response": ${JSON.stringify(valid)}, "__proto__": {"admin": true}}`),
        { response: valid, extra: 1 },
      ];
      for (const body of bodies) {
        const { client } = await signInOptions(new Client(app(), randomIp()));
        const answer = await client.post('/api/auth/passkey', body);
        assert.equal(answer.statusCode, 400, `${JSON.stringify(body).slice(0, 80)}: ${answer.body}`);
        assert.equal(answer.headers['content-type'], 'application/problem+json; charset=utf-8');
      }
      for (const body of [{ name: '', response: {} }, { name: 'x'.repeat(101), response: valid }, { name: 'ok\u0000', response: valid }]) {
        const answer = await alice.client.post('/api/account/passkeys', body);
        assert.equal(answer.statusCode, 400, answer.body);
      }
      const rename = await alice.client.patch('/api/account/passkeys/not-a-uuid', { name: 'x' });
      assert.equal(rename.statusCode, 400);
    });

    it('answers a guest 401 on the management routes and requires the CSRF token on every ceremony', async () => {
      const guest = new Client(app());
      assert.equal((await guest.get('/api/account/passkeys')).statusCode, 401);
      assert.equal((await guest.post('/api/account/passkeys/registration/options', {})).statusCode, 401);
      assert.equal((await guest.post('/api/auth/passkey/options', {}, { csrf: false })).statusCode, 403);
      const alice = await signedIn(app());
      const foreign = await alice.client.post('/api/account/passkeys/registration/options', {}, { headers: { origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' } });
      assert.equal(foreign.statusCode, 403);
    });

    it('throttles failed passkey sign-ins per client like password sign-in, with Retry-After', async () => {
      const ip = randomIp();
      const id = b64url(32);
      let last = 0;
      for (let i = 0; i < 6; i += 1) {
        const { client } = await signInOptions(new Client(app(), ip));
        const answer = await client.post('/api/auth/passkey', { response: forgedAssertion(id) });
        last = answer.statusCode;
        if (answer.statusCode === 429) {
          assert.equal(json(answer).code, 'PASSKEY_ERR_LOCKED');
          assert.match(String(answer.headers['retry-after']), /^[1-9][0-9]*$/);
          break;
        }
        assert.equal(answer.statusCode, 401);
      }
      assert.equal(last, 429, 'the sixth attempt of a (credential, client) pair is refused before any verification');
      const events = await securityEventRows(app(), ip);
      assert.ok(events.some((e) => e.event === 'authn_login_lock' && e.details.method === 'passkey'));
    });
  });
});

describe('passkeys: the relying party', () => {
  it('uses the public URL\'s host as RP ID and accepts only origins of that host name', () => {
    assert.deepEqual(relyingParty('http://localhost:3000', ['http://127.0.0.1:3000', 'http://[::1]:3000', 'http://localhost:4000']), {
      id: 'localhost',
      origins: ['http://localhost:3000', 'http://localhost:4000'],
    });
    assert.deepEqual(relyingParty('https://rampart.example.com', []), { id: 'rampart.example.com', origins: ['https://rampart.example.com'] });
    // Development with a real host name: the loopback origins could never produce a valid answer for it.
    assert.deepEqual(relyingParty('https://dev.example.com', ['https://127.0.0.1:8443', 'https://localhost:8443']).origins, ['https://dev.example.com']);
  });
});
