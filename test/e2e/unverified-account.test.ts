import { describe, it } from 'node:test';
import { suiteBrowserTarget } from '../helpers/browser.js';
import { click, confirmInBrowser, registerInBrowser, signInInBrowser } from '../helpers/users.js';

/** A person who never opened the registration mail finds the way out in a real browser. */
describe('an unconfirmed account in a real browser (chromium)', () => {
  const target = suiteBrowserTarget();

  /** The link of the `nth` confirmation mail to `email`, once it has arrived. */
  function confirmationLink(email: string, nth: number): Promise<string> {
    return target.mailedLink(email, /confirm your email/i, nth);
  }

  it('register, skip the mail, sign in (told what to do), ask for a new link, confirm it, sign in', async () => {
    const { context, page } = await target.newPage();
    const { email, password } = await registerInBrowser(page, target.base, { name: 'Ida Unconfirmed' });
    await confirmationLink(email, 1);

    await page.goto(`${target.base}/login`);
    await signInInBrowser(page, { email, password });
    await page.getByText('not confirmed yet').first().waitFor({ timeout: 10_000 });
    await confirmationLink(email, 2);

    await page.getByRole('link', { name: 'Send a new confirmation link' }).click();
    await page.waitForURL(`${target.base}/verify-email/resend`);
    await page.getByLabel('Email').fill(email);
    await click(page, 'Send a new link');
    await page.getByRole('heading', { name: 'Check your email' }).waitFor({ timeout: 10_000 });

    await confirmInBrowser(page, await confirmationLink(email, 3));
    await signInInBrowser(page, { email, password });
    await page.waitForURL(`${target.base}/account`);
    await context.close();
  });
});
