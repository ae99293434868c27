import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { BrowserContext, Page } from 'playwright-core';
import { z } from 'zod';
import { securityEventRows, tables } from '../helpers/build.js';
import { type AttackerSite, RESULTS_DIR, startAttackerSite, suiteBrowserTarget } from '../helpers/browser.js';
import { click, type NewUser, signInInBrowser, signUpInBrowser } from '../helpers/users.js';

const BROWSER_IP = '127.0.0.1';
const stolenName = `stolen-${randomBytes(4).toString('hex')}`;
const NONCE_POLICY = /^default-src 'self'; script-src 'nonce-([A-Za-z0-9+/]{22}==)' 'strict-dynamic'; style-src 'self'; img-src 'self' https: data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'; report-uri \/csp-report; report-to csp-endpoint$/;

/**
 * Test only: a page whose markup carries injected code, as if an escaping bug let it through:
 * an inline script without the nonce and an event-handler attribute. The CSP must stop both
 * and the browser must report the violation.
 */
const injectedPage: FastifyPluginAsyncZod<{ attacker: () => string }> = async (app, { attacker }) => {
  await Promise.resolve();
  app.get('/test/injected', { config: { access: 'public', page: true }, schema: { querystring: z.strictObject({}), response: { 200: z.string() } } }, async (request, reply) => {
    const home = `${attacker()}/stolen`;
    // Headless chromium here never delivered Reporting API (report-to) batches, even with
    // --short-reporting-delay and after 70 s, and it ignores report-uri while report-to is
    // present. This page alone drops report-to, so the browser reports through report-uri;
    // everything else is the real page policy.
    const policy = reply.getHeader('content-security-policy');
    if (typeof policy === 'string') reply.header('content-security-policy', policy.replace('; report-to csp-endpoint', ''));
    return reply.type('text/html; charset=utf-8').send(`<!doctype html><html lang="en"><head><title>Injected</title>
<script nonce="${request.cspNonce}">window.legit = true;</script></head><body><main>
<p>comment: <script>window.injected = true; fetch(${JSON.stringify(home)});</script></p>
<p><img src="data:," alt="" onload="window.injectedAttribute = true; fetch(${JSON.stringify(home)})"></p>
</main></body></html>`);
  });
};

describe('the pages in a real browser (chromium)', () => {
  let attackerOrigin = '';
  const target = suiteBrowserTarget({ plugins: [async (app) => app.register(injectedPage, { attacker: () => attackerOrigin })] });
  const { rampart } = target;
  let attacker: AttackerSite;

  before(async () => {
    const { base } = target;
    attacker = await startAttackerSite({
      // A cross-site form that posts itself as soon as the page loads, and a credentialed fetch.
      '/csrf': `<!doctype html><html><body>
<form id="f" method="post" action="${base}/account/tokens"><input name="name" value="${stolenName}"><input name="expiresInDays" value="365"><input name="scope_account_write" value="on"></form>
<script>
fetch(${JSON.stringify(`${base}/logout`)}, { method: 'POST', credentials: 'include', mode: 'no-cors', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '_csrf=guess' })
  .finally(() => { document.title = 'fetched'; document.getElementById('f').submit(); });
</script></body></html>`,
      '/frame': `<!doctype html><html><body><iframe id="victim" src="${base}/login" title="victim"></iframe></body></html>`,
    });
    attackerOrigin = attacker.origin;
  });

  after(async () => {
    await attacker.close();
  });

  async function fresh(): Promise<{ context: BrowserContext; page: Page; errors: string[] }> {
    const { context, page } = await target.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    return { context, page, errors };
  }

  /** Registers, confirms from the mail and signs in, all through the pages. */
  async function signUpAndSignIn(page: Page, screenshots = false): Promise<NewUser> {
    const user = await signUpInBrowser(page, target.base, target.mailedLink, { name: `Katherine ${randomBytes(3).toString('hex')}` });
    if (screenshots) await page.screenshot({ path: join(RESULTS_DIR, 'login.png'), fullPage: true });
    await signInInBrowser(page, user);
    await page.waitForURL(`${target.base}/account`);
    return user;
  }

  it('register, verify, sign in and sign out through the pages; Back after sign-out shows nothing signed-in', async () => {
    const { context, page, errors } = await fresh();
    const { name } = await signUpAndSignIn(page, true);
    assert.ok((await page.textContent('main'))?.includes(name), 'the account page shows the user');
    await page.screenshot({ path: join(RESULTS_DIR, 'account.png'), fullPage: true });
    // The stylesheet loaded under style-src 'self' (no inline styles): the header is dark.
    assert.equal(await page.evaluate("getComputedStyle(document.querySelector('.site-header')).backgroundColor"), 'rgb(29, 35, 48)');
    await click(page, 'Sign out');
    await page.waitForURL(`${target.base}/login?done=signed-out`);
    await page.getByText('You are signed out.').waitFor();
    await page.goBack();
    await page.waitForLoadState('load');
    const text = (await page.textContent('body')) ?? '';
    assert.ok(!text.includes(name), 'Back shows no signed-in content');
    assert.ok(!text.includes('Your account'), 'Back shows no account page');
    assert.ok(page.url().startsWith(`${target.base}/login`), `Back lands on the sign-in page (${page.url()})`);
    assert.deepEqual(errors, []);
    await context.close();
  });

  it('every page has the exact nonce policy, a new nonce per load, and runs with no CSP violation', async () => {
    const { context, page, errors } = await fresh();
    const violations: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
    });
    const nonces = new Set<string>();
    for (const path of ['/', '/login', '/register', '/forgot-password', '/login', '/no-such-page']) {
      const response = await page.goto(`${target.base}${path}`);
      assert.ok(response !== null);
      const header = (await response.allHeaders())['content-security-policy'] ?? '';
      const nonce = NONCE_POLICY.exec(header)?.[1];
      assert.ok(nonce !== undefined, `${path}: ${header}`);
      assert.ok(!nonces.has(nonce), 'a fresh nonce per load');
      nonces.add(nonce);
    }
    assert.deepEqual(violations, []);
    assert.deepEqual(errors, []);
    await context.close();
  });

  it('a cross-site page auto-submitting a form and a credentialed fetch changes nothing', async () => {
    const { context, page } = await fresh();
    await signUpAndSignIn(page);
    const tokensNamed = () => tables(rampart.app).selectFrom('personal_access_tokens').select('id').where('name', '=', stolenName).execute();
    const before = await securityEventRows(rampart.app, BROWSER_IP);
    const attack = await context.newPage();
    await attack.goto(`${attacker.origin}/csrf`);
    await attack.waitForURL((url) => url.origin === target.base, { timeout: 10_000 });
    await attack.waitForLoadState('load');
    // The form's POST reached Rampart without the session (SameSite=Lax), so it was not signed in.
    assert.ok(!(await attack.textContent('body'))?.includes('Your new token'), 'no token was created');
    assert.deepEqual(await tokensNamed(), [], 'no token in the database');
    // The fetch to /logout was refused by the CSRF guard (Sec-Fetch-Site: cross-site), so the session lives on.
    await page.goto(`${target.base}/account`);
    assert.equal(page.url(), `${target.base}/account`, 'still signed in');
    assert.match((await page.textContent('main')) ?? '', /No personal access tokens/);
    const events = (await securityEventRows(rampart.app, BROWSER_IP)).slice(before.length);
    assert.ok(events.some((e) => e.event === 'malicious_csrf' && e.details.reason === 'cross_site' && e.details.route === '/logout'), JSON.stringify(events.map((e) => [e.event, e.details])));
    await context.close();
  });

  it('a second origin cannot frame Rampart', async () => {
    const { context, page } = await fresh();
    const refusals: string[] = [];
    page.on('console', (message) => {
      if (/frame-ancestors|X-Frame-Options/i.test(message.text())) refusals.push(message.text());
    });
    await page.goto(`${attacker.origin}/frame`);
    await page.waitForLoadState('load');
    await delay(500);
    const framed = page.frames().filter((frame) => frame !== page.mainFrame());
    assert.equal(framed.length, 1);
    const inside = await framed[0]!.$('form[action="/login"]').catch(() => null);
    assert.equal(inside, null, 'the sign-in form did not render inside the frame');
    assert.ok(!framed[0]!.url().startsWith(target.base), `the frame shows the browser's error page (${framed[0]!.url()})`);
    await context.close();
  });

  it('injected inline code does not run, calls nowhere, and the violation is reported to /csp-report', async () => {
    const { context, page } = await fresh();
    const blockedConsole: string[] = [];
    page.on('console', (message) => blockedConsole.push(message.text()));
    await page.goto(`${target.base}/test/injected`);
    await page.waitForLoadState('load');
    assert.equal(await page.evaluate('window.legit'), true, 'the nonce script ran');
    assert.equal(await page.evaluate('window.injected'), undefined, 'the injected script did not');
    assert.equal(await page.evaluate('window.injectedAttribute'), undefined, 'the injected attribute did not');
    let reported: Record<string, unknown>[] = [];
    for (let i = 0; i < 40 && reported.length === 0; i += 1) {
      await delay(250);
      reported = (await securityEventRows(rampart.app, BROWSER_IP)).filter((e) => e.event === 'malicious_csp_violation' && e.details.document_path === '/test/injected').map((e) => e.details);
    }
    assert.ok(reported.length > 0, 'a CSP report arrived');
    assert.ok(reported.some((d) => String(d.directive).startsWith('script-src')), JSON.stringify(reported));
    assert.deepEqual(attacker.hits.filter((hit) => hit === '/stolen'), [], 'no request reached the injected URL');
    await context.close();
  });
});
