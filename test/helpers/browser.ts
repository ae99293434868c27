import { existsSync, mkdirSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { chromium, type Browser } from 'playwright-core';

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

/**
 * A free TCP port of 127.0.0.1. Rampart's public URL (which its CSRF Origin check and its
 * mail links use) must name the port the browser connects to, so the port is chosen before
 * the app is configured.
 */
export async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => { resolve(); }));
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
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
