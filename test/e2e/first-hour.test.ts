import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { launchChromium } from '../helpers/browser.js';
import { freePort } from '../helpers/build.js';
import { click, confirmInBrowser, enrolInBrowser, registerInBrowser, secondFactorInBrowser, signInInBrowser, strongPassword, uniqueEmail } from '../helpers/users.js';
import { childEnvironment, LoggingProcess, REPO_ROOT, SERVER_FIXTURE } from '../fixtures/processes.js';

/** Committed screenshots of the pages, shown in the README. */
const SCREENSHOTS = join(REPO_ROOT, 'docs', 'screenshots');

/**
 * The first hour, as a new user has it: `npm start`'s development server (no NODE_ENV, no
 * secrets, no SMTP: the outbox), opened at both addresses its console prints.
 */
describe('a development server at every address it prints (chromium)', () => {
  let server: LoggingProcess;
  let browser: Browser;
  let port: number;
  let dataDir: string;

  before(async () => {
    port = await freePort();
    dataDir = mkdtempSync(join(tmpdir(), 'rampart-first-hour-'));
    // What a fresh clone has, on a free port: development by default, generated secrets, the outbox.
    server = new LoggingProcess(SERVER_FIXTURE, [], childEnvironment({ RAMPART_PORT: String(port), RAMPART_DATA_DIR: dataDir }));
    const listening = await server.waitForLine((line) => typeof line.msg === 'string' && line.msg.startsWith('Rampart is listening on '), 'the listening line');
    assert.equal(listening.msg, `Rampart is listening on http://127.0.0.1:${port} (public URL http://localhost:${port})`);
    browser = await launchChromium();
  });

  after(async () => {
    await browser.close();
    await server.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  /** The link of the newest outbox mail to `email`, read from its plain-text companion as a person copies it. */
  async function mailedLink(email: string): Promise<string> {
    const outbox = join(dataDir, 'outbox');
    for (let attempt = 0; attempt < 100; attempt += 1) {
      let names: string[] = [];
      try {
        names = readdirSync(outbox).filter((name) => name.endsWith('.txt')).sort().reverse();
      } catch {
        names = [];
      }
      for (const name of names) {
        const text = readFileSync(join(outbox, name), 'utf8');
        if (!text.startsWith(`To: ${email}\n`)) continue;
        const link = /^http:\/\/localhost:\d+\/verify-email\?token=[A-Za-z0-9_-]{43}$/m.exec(text)?.[0];
        assert.ok(link !== undefined, `the companion holds the link on a line of its own:\n${text}`);
        return link;
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`no outbox mail to ${email}`);
  }

  /** Register, confirm from the outbox, sign in, write, publish and comment, all at `base`. */
  async function firstHour(base: string): Promise<{ postId: string; name: string }> {
    const context = await browser.newContext();
    const page = await context.newPage();
    const { name, email, password } = await registerInBrowser(page, base, { name: `Grace ${randomBytes(3).toString('hex')}`, email: uniqueEmail(new URL(base).hostname.replaceAll('.', '-')) });

    // The mailed link names the public URL; the person stays at the address they use.
    const link = (await mailedLink(email)).replace(`http://localhost:${port}`, base);
    await confirmInBrowser(page, link);
    assert.ok(page.url().startsWith(`${base}/login`));

    await signInInBrowser(page, { email, password });
    await page.waitForURL(`${base}/account`);

    await page.goto(`${base}/posts/new`);
    const title = `First hour at ${new URL(base).hostname} ${randomBytes(3).toString('hex')}`;
    await page.getByLabel('Title').fill(title);
    await page.getByLabel('Body').fill('Written from the address the console printed.');
    await page.getByLabel('Tags').fill('first-hour');
    await click(page, 'Save draft');
    await page.waitForURL(/\/posts\/[0-9a-f-]{36}\/edit\?done=created$/);
    const postId = /\/posts\/([0-9a-f-]{36})\//.exec(page.url())?.[1] ?? '';
    await click(page, 'Publish');
    await page.waitForURL(`${base}/posts/${postId}?done=published`);
    await page.getByLabel('Your comment').fill(`A first comment from ${base}, with a long word: ${'w'.repeat(80)}.`);
    await click(page, 'Post comment');
    await page.waitForURL(`${base}/posts/${postId}?done=commented#comments`);
    await page.getByText('Your comment is posted.').waitFor();
    await context.close();
    return { postId, name };
  }

  it('registers, confirms from the outbox, signs in, posts and comments at http://127.0.0.1:<port> and at http://localhost:<port>', async () => {
    const results = [];
    for (const base of [`http://127.0.0.1:${port}`, `http://localhost:${port}`]) results.push(await firstHour(base));
    assert.equal(results.length, 2);
    const refused = server.lines.filter((line) => (line.securityEvent as { event?: string } | undefined)?.event === 'malicious_csrf');
    assert.deepEqual(refused, [], 'no form was refused as cross-site');
  });

  it('the post page shows visible Hide and Delete buttons to an administrator, and the admin event log fits its page (screenshots)', async () => {
    mkdirSync(SCREENSHOTS, { recursive: true });
    const setupToken = /\/setup\?token=([A-Za-z0-9_-]{43})/.exec(server.stderr)?.[1];
    assert.ok(setupToken !== undefined, `the setup URL is printed:\n${server.stderr}`);
    assert.match(server.stderr, /┌─+┐\n│ No administrator exists yet/, 'in a box');
    const base = `http://localhost:${port}`;
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    const admin = { email: uniqueEmail('admin'), password: strongPassword() };
    await page.goto(`${base}/setup?token=${setupToken}`);
    await page.getByLabel('Name').fill('Ada Admin');
    await page.getByLabel('Email').fill(admin.email);
    await page.getByLabel('Password').fill(admin.password);
    await click(page, 'Create administrator');
    await page.waitForURL(/\/login\?done=admin-created$/);
    await signInInBrowser(page, admin);
    await page.waitForURL(`${base}/account`);
    // An administrator must have a second factor before the admin area opens (RAMPART_MFA_REQUIRED=admins).
    await page.goto(`${base}/admin`);
    await page.waitForURL(`${base}/account/security?next=%2Fadmin`);
    const secret = await enrolInBrowser(page, base);
    // From now on, signing in takes the code too.
    await context.clearCookies();
    await page.goto(`${base}/login`);
    await signInInBrowser(page, admin);
    await secondFactorInBrowser(page, secret);
    await page.waitForURL(`${base}/account`);

    const { postId } = await firstHour(base);
    // The administrator answers: their own comment has Delete and Hide, the author's has Hide.
    await page.goto(`${base}/posts/${postId}`);
    await page.getByLabel('Your comment').fill('Thanks for writing this up. Hide and Delete must be visible on this page.');
    await click(page, 'Post comment');
    await page.waitForURL(`${base}/posts/${postId}?done=commented#comments`);
    for (const name of ['Hide', 'Delete']) {
      const button = page.locator('#comments').getByRole('button', { name, exact: true }).first();
      await button.waitFor();
      const colours = async () => button.evaluate((element) => {
        let background = 'rgba(0, 0, 0, 0)';
        for (let node: Element | null = element; node !== null && /rgba\(0, 0, 0, 0\)|transparent/.test(background); node = node.parentElement) background = getComputedStyle(node).backgroundColor;
        return { color: getComputedStyle(element).color, background };
      });
      const still = await colours();
      assert.notEqual(still.color, still.background, `${name}: text and background differ`);
      assert.notEqual(still.color, 'rgb(255, 255, 255)', `${name} is not white text`);
      await button.hover();
      const hovered = await colours();
      assert.notEqual(hovered.color, hovered.background, `${name} on hover`);
      assert.notEqual(hovered.color, 'rgb(255, 255, 255)', `${name} is not white on hover`);
    }
    await page.locator('#comments').scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(SCREENSHOTS, 'post-comments.png'), fullPage: true });

    await page.goto(`${base}/admin`);
    await page.getByRole('heading', { name: 'Security events' }).waitFor();
    const table = page.locator('table.events');
    const fits = await table.evaluate((element) => ({ table: element.scrollWidth, wrap: element.parentElement?.clientWidth ?? 0 }));
    assert.ok(fits.table <= fits.wrap, `the events table fits its panel (${fits.table} > ${fits.wrap})`);
    const rowHeights = await table.locator('tbody tr').evaluateAll((rows) => rows.map((row) => row.getBoundingClientRect().height));
    assert.ok(rowHeights.length > 0);
    assert.ok(Math.max(...rowHeights) < 60, `one line per event (row heights ${rowHeights.join(', ')})`);
    // The admin's own sign-in is listed by name, not by id.
    await table.getByRole('link', { name: 'Ada Admin' }).first().waitFor();
    await page.screenshot({ path: join(SCREENSHOTS, 'admin.png'), fullPage: true });
    const details = table.locator('details').first();
    await details.locator('summary').click();
    assert.match((await details.locator('pre').textContent()) ?? '', /^\{\n {2}"/, 'the full details open on demand');
    assert.deepEqual(errors, []);
    await context.close();
  });
});
