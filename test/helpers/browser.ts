import { existsSync, mkdirSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { after, before } from 'node:test';
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions, type Page } from 'playwright-core';
import { type BuildResult, type BuildTestOptions, suiteAppWithMail } from './build.js';
import type { TestSmtpServer } from './smtp-server.js';
import { type MailedLink, mailedLinks } from './users.js';

/** Debian's chromium: the tests never download a browser (playwright-core has no download step). */
export const CHROMIUM = '/usr/bin/chromium';

/** Where screenshots go (gitignored; CI keeps them as artifacts). */
export const RESULTS_DIR = 'test-results';

/**
 * Headless chromium with a fresh profile (playwright makes a new user-data-dir per launch) and
 * nothing that phones home. `--short-reporting-delay` makes the Reporting API deliver CSP
 * reports within a second instead of batching them for a minute.
 */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium); .ci/run does.`);
  mkdirSync(RESULTS_DIR, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    chromiumSandbox: false,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--short-reporting-delay'],
  });
}

/** Chromium for the tests of the enclosing `describe`: launched before the first, closed after the last (read `browser` in tests and hooks). */
export function suiteBrowser(): { readonly browser: Browser } {
  let launched: Browser | undefined;
  before(async () => {
    launched = await launchChromium();
  });
  after(async () => {
    await launched?.close();
    launched = undefined;
  });
  return {
    get browser(): Browser {
      if (launched === undefined) throw new Error('the browser is launched by the suite\'s before hook');
      return launched;
    },
  };
}

/** A Rampart listening at `base` (a free port of localhost) with its mail going to `smtp`, and a browser to use it with. */
export interface BrowserTarget {
  readonly base: string;
  readonly rampart: BuildResult;
  readonly smtp: TestSmtpServer;
  readonly browser: Browser;
  /** The links of the mail `smtp` received, each checked to point at `base`. */
  readonly mailedLink: MailedLink;
  /** A page in a new browser context: its own cookies and storage, as another person's browser. */
  newPage(options?: BrowserContextOptions): Promise<{ context: BrowserContext; page: Page }>;
}

/**
 * The browser harness: Rampart (every protection on) on a free port with its public URL set to
 * the address the browser uses, a test SMTP server for its mail, and Debian's chromium; started
 * before the tests of the enclosing `describe` and closed after them.
 */
export function suiteBrowserTarget(options: BuildTestOptions = {}): BrowserTarget {
  // The browser first: its hooks run first, so it is closed before the app it is connected to.
  const chromium = suiteBrowser();
  const served = suiteAppWithMail({ ...options, listen: true });
  return {
    get base() {
      return served.base;
    },
    rampart: served.rampart,
    smtp: served.smtp,
    get browser() {
      return chromium.browser;
    },
    mailedLink: (to, subject, nth) => mailedLinks(served.smtp, served.base)(to, subject, nth),
    async newPage(contextOptions: BrowserContextOptions = {}) {
      const context = await chromium.browser.newContext(contextOptions);
      return { context, page: await context.newPage() };
    },
  };
}

/** A second origin (`http://127.0.0.1:<port>`, cross-site to `http://localhost:…`) serving fixed HTML per path. */
export interface AttackerSite {
  readonly origin: string;
  /** Paths requested so far, so a test can tell whether injected code called home. */
  readonly hits: string[];
  close(): Promise<void>;
}

export async function startAttackerSite(pages: Readonly<Record<string, string>>): Promise<AttackerSite> {
  const hits: string[] = [];
  const server: Server = createHttpServer((request, response) => {
    hits.push(request.url ?? '');
    const html = pages[request.url ?? ''];
    response.writeHead(html === undefined ? 404 : 200, { 'content-type': 'text/html; charset=utf-8' });
    response.end(html ?? 'not found');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return {
    origin: `http://127.0.0.1:${address.port}`,
    hits,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => { resolve(); });
    }),
  };
}
