import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { suiteBrowserTarget } from '../helpers/browser.js';
import { click, createVerifiedUser, enrolInBrowser, secondFactorInBrowser, signInInBrowser } from '../helpers/users.js';

describe('two-step verification in a real browser (chromium)', () => {
  const target = suiteBrowserTarget();

  it('enrols an authenticator from the QR page, then signs in through the second-factor page; step-up pages confirm and come back', async () => {
    const { base, rampart } = target;
    const user = await createVerifiedUser(rampart.app);
    const { context, page } = await target.newPage();
    const violations: string[] = [];
    page.on('console', (message) => {
      if (/Content Security Policy/i.test(message.text())) violations.push(message.text());
    });
    await page.goto(`${base}/login`);
    await signInInBrowser(page, user);
    await page.waitForURL(`${base}/account`);
    const secret = await enrolInBrowser(page, base);
    assert.equal(await page.locator('ul.codes li').count(), 10, 'ten recovery codes, shown once');

    // A new browser: the password leads to the second-factor page, and only the code signs in.
    await context.clearCookies();
    await page.goto(`${base}/login`);
    await signInInBrowser(page, user);
    await page.getByRole('heading', { name: 'Two-step verification' }).waitFor();
    assert.equal((await context.cookies()).some((c) => c.name === rampart.config.sessions.cookieName), false, 'no session before the code');
    await page.getByLabel('Code', { exact: true }).fill('ABCD-EFGH');
    await click(page, 'Verify');
    await page.getByText(/The code is incorrect/).waitFor();
    await secondFactorInBrowser(page, secret);
    await page.waitForURL(`${base}/account`);

    // A sensitive form once the sign-in's proof has gone (removed from the store, as its
    // 10-minute expiry would): the browser confirms first, then comes back to the form's page.
    const session = (await context.cookies()).find((c) => c.name === rampart.config.sessions.cookieName)?.value ?? assert.fail('a session cookie');
    await rampart.app.store.delete(`stepup:${createHash('sha256').update(session, 'utf8').digest('hex')}`);
    await page.goto(`${base}/account/security`);
    await click(page, 'Make new recovery codes');
    await page.waitForURL(`${base}/account/confirm?next=%2Faccount%2Fsecurity`);
    await page.getByLabel('Password').fill(user.password);
    await click(page, 'Confirm');
    await page.waitForURL(`${base}/account/security`);
    await click(page, 'Make new recovery codes');
    await page.getByRole('heading', { name: 'Your recovery codes' }).waitFor();
    assert.deepEqual(violations, [], 'no CSP violation on these pages');
    await context.close();
  });
});
