import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { tables } from '../helpers/build.js';
import type { BrowserContext, Page } from 'playwright-core';
import { type AttackerSite, RESULTS_DIR, startAttackerSite, suiteBrowserTarget } from '../helpers/browser.js';
import { click, createEnrolledAdmin, createVerifiedUser, type NewUser, secondFactorInBrowser, signInInBrowser, signUpInBrowser } from '../helpers/users.js';

const PAYLOADS = (JSON.parse(readFileSync(new URL('../fixtures/xss-payloads.json', import.meta.url), 'utf8')) as { category: string; payload: string }[]).map((p) => p.payload)
  // Payloads with control characters are refused by the post schema before rendering (tested in the API); the browser gets the rest.
  // eslint-disable-next-line no-control-regex
  .filter((p) => !/[\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]/.test(p));

/** Observes a page for what injected code would do: dialogs, uncaught errors, console errors and requests. */
interface Watch {
  readonly dialogs: string[];
  readonly errors: string[];
  readonly consoleErrors: string[];
  readonly requests: string[];
}

describe('publishing through the pages in a real browser (chromium)', () => {
  const target = suiteBrowserTarget();
  const { rampart } = target;
  let attacker: AttackerSite;
  // The payloads, pointed at the attacker's origin wherever they name a remote host.
  let hostile: string[];

  before(async () => {
    attacker = await startAttackerSite({});
    const host = attacker.origin.slice('http://'.length);
    hostile = [
      ...PAYLOADS.map((p) => p.replaceAll('https://evil.example', attacker.origin).replaceAll('evil.example', host)),
      `<img src=x onerror="fetch('${attacker.origin}/onerror')">`,
      `<img src="${attacker.origin}/pixel.png">`,
      `![pixel](${attacker.origin}/markdown-pixel.png)`,
      `[click me](javascript:fetch('${attacker.origin}/js-link'))`,
      `<a href="javascript:alert(document.domain)">javascript link</a>`,
      `<a href="${attacker.origin}/plain-link">a plain link (allowed, never followed by itself)</a>`,
      `<svg onload="fetch('${attacker.origin}/svg')"></svg>`,
      `<iframe src="${attacker.origin}/frame"></iframe>`,
      `<form action="${attacker.origin}/form"><button>go</button></form>`,
    ];
  });

  after(async () => {
    await attacker.close();
  });

  async function fresh(): Promise<{ context: BrowserContext; page: Page; watch: Watch }> {
    const { context, page } = await target.newPage();
    const watch: Watch = { dialogs: [], errors: [], consoleErrors: [], requests: [] };
    // Nothing leaves the machine: requests to any other host are aborted (and still recorded).
    await context.route(/^https?:\/\/(?!localhost[:/]|127\.0\.0\.1[:/])/, (route) => route.abort());
    page.on('dialog', (dialog) => {
      watch.dialogs.push(`${dialog.type()}: ${dialog.message()}`);
      void dialog.dismiss();
    });
    page.on('pageerror', (err) => watch.errors.push(err.message));
    page.on('console', (message) => {
      if (message.type() === 'error') watch.consoleErrors.push(message.text());
    });
    page.on('request', (request) => watch.requests.push(request.url()));
    return { context, page, watch };
  }

  /** Registers and confirms from the mail through the pages; signing in is the caller's. */
  async function signUp(page: Page): Promise<NewUser> {
    return signUpInBrowser(page, target.base, target.mailedLink);
  }

  /** Only network failures of aborted or missing resources are acceptable console errors: nothing injected ran. */
  function injectedConsoleErrors(watch: Watch): string[] {
    return watch.consoleErrors.filter((text) => !/^Failed to load resource/.test(text));
  }

  it('write, preview, publish, comment and sign out through the pages; hostile content runs nothing for a reader', async () => {
    // The author: a signed-out visitor to the editor is sent to sign in, and comes back to it.
    const author = await fresh();
    const authorAccount = await signUp(author.page);
    await author.page.goto(`${target.base}/posts/new`);
    await author.page.waitForURL(`${target.base}/login?next=%2Fposts%2Fnew`);
    await signInInBrowser(author.page, authorAccount);
    await author.page.waitForURL(`${target.base}/posts/new`);

    const title = `Field notes ${randomBytes(3).toString('hex')}`;
    const body = `Some **bold** words.\n\n${hostile.join('\n\n')}`;
    assert.ok(Buffer.byteLength(body) < 64 * 1024, 'the post fits the body limit');
    await author.page.getByLabel('Title').fill(title);
    await author.page.getByLabel('Tags').fill('notes, Security');
    // First an ordinary post, previewed (the editor screenshot), then the hostile one.
    await author.page.getByLabel('Body').fill('Some **bold** words, a [link](https://example.com/) and a list:\n\n- `code`\n- *emphasis*\n\n> A quotation.');
    // The live preview: the server renders and sanitizes as the author types (same-origin script, page CSP).
    await author.page.locator('#live-preview [data-preview-output] strong', { hasText: 'bold' }).waitFor({ timeout: 15_000 });
    await click(author.page, 'Preview');
    await author.page.getByRole('heading', { name: 'Preview' }).waitFor({ timeout: 15_000 }).catch(async () => {
      throw new Error(`no preview: ${((await author.page.textContent('main')) ?? '').replace(/\s+/g, ' ').slice(0, 600)}`);
    });
    assert.equal(await author.page.locator('.preview .post-body strong').first().textContent(), 'bold');
    await author.page.screenshot({ path: join(RESULTS_DIR, 'editor.png'), fullPage: true });
    await author.page.getByLabel('Body').fill(body);
    await click(author.page, 'Preview');
    await author.page.getByRole('heading', { name: 'Preview' }).waitFor();
    assert.equal(await author.page.locator('.preview .post-body script, .preview .post-body [onerror], .preview .post-body a[href^="javascript"]').count(), 0);
    assert.deepEqual(author.watch.dialogs, [], 'the preview ran nothing');
    await click(author.page, 'Save draft');
    await author.page.waitForURL(/\/posts\/[0-9a-f-]{36}\/edit\?done=created$/);
    const postId = /\/posts\/([0-9a-f-]{36})\//.exec(author.page.url())?.[1] ?? '';
    await click(author.page, 'Publish');
    await author.page.waitForURL(`${target.base}/posts/${postId}?done=published`);
    await author.page.goto(`${target.base}/`);
    await author.page.getByRole('link', { name: title }).waitFor();
    await author.page.screenshot({ path: join(RESULTS_DIR, 'home.png'), fullPage: false });

    // A second user comments with hostile text.
    const commenter = await fresh();
    const commenterAccount = await signUp(commenter.page);
    await signInInBrowser(commenter.page, commenterAccount);
    await commenter.page.waitForURL(`${target.base}/account`);
    await commenter.page.goto(`${target.base}/posts/${postId}`);
    let comment = '';
    for (const payload of hostile.filter((p) => /onerror|javascript:|127\.0\.0\.1/i.test(p))) {
      if (comment.length + payload.length + 1 > 3900) break;
      comment += `${payload}\n`;
    }
    await commenter.page.getByLabel('Your comment').fill(comment);
    await click(commenter.page, 'Post comment');
    await commenter.page.waitForURL(`${target.base}/posts/${postId}?done=commented#comments`);
    await commenter.page.getByText('Your comment is posted.').waitFor();

    // A third user reads the post and the comments: nothing injected runs or calls out.
    const reader = await fresh();
    await signInInBrowser(reader.page, await (async () => {
      const account = await signUp(reader.page);
      return account;
    })());
    await reader.page.waitForURL(`${target.base}/account`);
    const hitsBefore = attacker.hits.length;
    await reader.page.goto(`${target.base}/posts/${postId}`);
    await reader.page.waitForLoadState('load');
    await reader.page.getByRole('heading', { name: title }).waitFor();
    // Give onerror handlers and lazy loads their chance to fire.
    await reader.page.waitForTimeout(1000);
    const commentText = (await reader.page.locator('#comments .comment-body').first().textContent()) ?? '';
    assert.ok(commentText.includes('<img src=x onerror='), 'the comment shows its markup as text');
    assert.deepEqual(reader.watch.dialogs, [], 'no dialog opened');
    assert.deepEqual(reader.watch.errors, [], 'no uncaught error');
    assert.deepEqual(injectedConsoleErrors(reader.watch), [], 'no console error from injected code');
    assert.deepEqual(reader.watch.requests.filter((url) => url.startsWith(attacker.origin)), [], 'no request to the attacker origin');
    assert.equal(attacker.hits.length, hitsBefore, 'the attacker server saw nothing');
    assert.equal(await reader.page.locator('.post-body script, .post-body iframe, .post-body svg, .post-body form, .post-body [onerror], .post-body a[href^="javascript"]').count(), 0);
    // The author and the commenter saw the same content without anything running either.
    for (const watch of [author.watch, commenter.watch]) {
      assert.deepEqual(watch.dialogs, []);
      assert.deepEqual(watch.errors, []);
      assert.deepEqual(watch.requests.filter((url) => url.startsWith(attacker.origin)), []);
    }

    // Signing out through the layout's form.
    await click(commenter.page, 'Sign out');
    await commenter.page.waitForURL(`${target.base}/login?done=signed-out`);
    await commenter.page.goto(`${target.base}/posts/${postId}`);
    assert.equal(await commenter.page.getByRole('button', { name: 'Post comment' }).count(), 0, 'signed out: no comment form');
    for (const party of [author, commenter, reader]) await party.context.close();
  });

  it('the admin page in the browser: sign in to it through next=, change a role, filter events', async () => {
    const { context, page, watch } = await fresh();
    // Administrators must have a second factor (RAMPART_MFA_REQUIRED=admins): this one has TOTP.
    const admin = await createEnrolledAdmin(rampart.app);
    const memberName = `Aaron ${randomBytes(3).toString('hex')}`;
    const member = await createVerifiedUser(rampart.app, 'author', { name: memberName });
    await page.goto(`${target.base}/admin`);
    await page.waitForURL(`${target.base}/login?next=%2Fadmin`);
    await signInInBrowser(page, admin);
    await secondFactorInBrowser(page, admin.totpSecret ?? '');
    await page.waitForURL(`${target.base}/admin`);
    await page.getByRole('heading', { name: 'Security events' }).waitFor();
    await page.getByLabel(`Role of ${memberName}`).selectOption('moderator');
    const row = page.locator('tr', { has: page.getByLabel(`Role of ${memberName}`) });
    await row.getByRole('button', { name: 'Set role' }).click();
    await page.waitForURL(`${target.base}/admin?done=changed`);
    const role = await tables(rampart.app).selectFrom('users').select('role').where('id', '=', member.id).executeTakeFirstOrThrow();
    assert.equal(role.role, 'moderator');
    await page.getByLabel('Event', { exact: true }).selectOption('privilege_permissions_changed');
    await click(page, 'Filter');
    await page.waitForURL(/event=privilege_permissions_changed/);
    await page.getByRole('cell', { name: 'privilege_permissions_changed' }).first().waitFor();
    await page.screenshot({ path: join(RESULTS_DIR, 'admin.png'), fullPage: false });
    assert.deepEqual(watch.errors, []);
    assert.deepEqual(watch.dialogs, []);
    await context.close();
  });
});
