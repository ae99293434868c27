import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createNetServer } from 'node:net';
import { Writable } from 'node:stream';
import { after, before, type TestContext } from 'node:test';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { Kysely } from 'kysely';
import { buildRampart, type BuildOptions } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config/config.js';
import { tablesOf, type Database, type PgliteTemplate } from '../../src/platform/database.js';
import type { KernelSchema } from '../../src/platform/database-schema.js';
import type { AccountsTables } from '../../src/modules/accounts/tables.js';
import type { BookmarksTables } from '../../src/modules/bookmarks/tables.js';
import type { CommentsTables } from '../../src/modules/comments/tables.js';
import type { PasskeysTables } from '../../src/modules/passkeys/tables.js';
import type { PostsTables } from '../../src/modules/posts/tables.js';
import type { TokensTables } from '../../src/modules/tokens/tables.js';
import type { MfaTables } from '../../src/modules/mfa/tables.js';
import type { LoadSheddingOptions } from '../../src/security/load-shedding.js';
import pg from 'pg';
import { migratedTemplate } from './pglite-template.js';
import { retryShedRequests } from './shed.js';
import { startSmtpServer, type TestSmtpServer } from './smtp-server.js';
import { targetServiceEnvironment } from './stores.js';
import { testTarget } from './target.js';

/** Every log line an app wrote, parsed, plus the raw text for secret scans. */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') this.lines.push(line);
    callback();
  }
  entries(): Record<string, unknown>[] {
    return this.lines.map((line) => JSON.parse(line) as Record<string, unknown>);
  }
  text(): string {
    return this.lines.join('\n');
  }
}

/** The environment a test app runs with: fresh random secrets (the run's secrets on the real target) and the run's target services. */
export function testEnvironment(overrides: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {
    NODE_ENV: 'test',
    RAMPART_LOG_LEVEL: 'info',
    RAMPART_SECRET_KEY: randomBytes(32).toString('base64url'),
    RAMPART_ENCRYPTION_KEYS: `test-1:${randomBytes(32).toString('base64url')}`,
    RAMPART_PUBLIC_URL: 'http://localhost:3000',
    // The development outbox (when a test sets no SMTP server) goes here, never into the checkout.
    RAMPART_DATA_DIR: join(tmpdir(), `rampart-test-${process.pid}`),
  };
  return { ...env, ...targetServiceEnvironment('app'), ...overrides };
}

export interface BuildResult {
  readonly app: FastifyInstance;
  readonly config: Config;
  readonly logs: LogCapture;
}

export interface BuildTestOptions {
  readonly env?: Record<string, string>;
  readonly plugins?: readonly FastifyPluginAsync[];
  readonly loadShedding?: Partial<LoadSheddingOptions>;
  /** Open resources several apps share (see BuildOptions.shared); the test closes them. */
  readonly shared?: BuildOptions['shared'];
  /** The clock API tokens and signing keys run on. */
  readonly clock?: () => number;
  /** Wait until the new instance stops shedding load after boot (default true); load-shedding tests turn it off. */
  readonly settle?: boolean;
}

const SETTLE_LIMIT_MS = 20_000;

/** Every table of the kernel and the built-in modules, for tests that look at rows directly. */
export type AllTables = KernelSchema & AccountsTables & TokensTables & MfaTables & PostsTables & CommentsTables & BookmarksTables & PasskeysTables;

/** The database of an app (or an open database) with every table typed. */
export function tables(source: { readonly database: Database } | Database): Kysely<AllTables> {
  return tablesOf<AllTables>('migrate' in source ? source : source.database);
}

// One migrated PGlite per run, copied into every embedded app: creating and migrating PGlite
// for each app was most of the embedded target's run time (see ./pglite-template.ts).
function embeddedTemplate(config: Config): Promise<PgliteTemplate> | undefined {
  if (config.database.url !== null) return undefined;
  return migratedTemplate();
}

/**
 * Waits, as a load balancer's readiness probe would, until the new instance stops shedding
 * load: embedded PGlite compiles and starts on the main thread, and that stall at boot counts
 * as event-loop delay until the next sample. The protection stays on; a test that starts
 * before it settles would only measure the boot.
 */
async function settled(app: FastifyInstance): Promise<void> {
  const deadline = Date.now() + SETTLE_LIMIT_MS;
  while (app.isUnderPressure() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
}

/** A fresh Rampart with every protection on; the caller closes it (see {@link build}). */
export async function buildUnmanaged(options: BuildTestOptions = {}): Promise<BuildResult> {
  const { config } = loadConfig(testEnvironment(options.env));
  const logs = new LogCapture();
  const template = options.shared === undefined ? embeddedTemplate(config) : undefined;
  const app = await buildRampart({
    config,
    logStream: logs,
    plugins: options.plugins,
    loadShedding: options.loadShedding,
    shared: options.shared,
    clock: options.clock,
    pgliteTemplate: template === undefined ? undefined : await template,
  });
  if (options.loadShedding === undefined) retryShedRequests(app);
  if (options.settle !== false) await settled(app);
  return { app, config, logs };
}

/** A fresh Rampart with every protection on, closed when the test ends. */
export async function build(t: Pick<TestContext, 'after'>, options: BuildTestOptions = {}): Promise<BuildResult> {
  const result = await buildUnmanaged(options);
  t.after(() => result.app.close());
  return result;
}

/**
 * One Rampart for the tests of the enclosing `describe`: built before the first of them and
 * closed after the last. Its fields are there once the suite's `before` hooks have run.
 */
export function suiteApp(options: BuildTestOptions = {}): BuildResult {
  return forTheSuite(options, { mail: false, listen: false }).rampart;
}

/** A Rampart of the suite with its mail going to a test SMTP server; `base` is the URL its mail links to. */
export interface MailedSuiteApp {
  readonly rampart: BuildResult;
  readonly smtp: TestSmtpServer;
  readonly base: string;
}

/**
 * One Rampart for the tests of the enclosing `describe` that sends its mail to a test SMTP
 * server of its own (`smtp`), both started before the first test and closed after the last.
 * With `listen`, it also listens on a free port of 127.0.0.1 and its public URL (`base`) is
 * `http://localhost:<port>`, the address a browser uses.
 */
export function suiteAppWithMail(options: BuildTestOptions & { readonly listen?: boolean } = {}): MailedSuiteApp {
  return forTheSuite(options, { mail: true, listen: options.listen === true });
}

function forTheSuite(options: BuildTestOptions, { mail, listen }: { mail: boolean; listen: boolean }): MailedSuiteApp {
  // Filled in by `before`: the tests only read them once it has run.
  const rampart = {} as BuildResult;
  const smtp = {} as TestSmtpServer;
  let base = 'http://localhost:3000';
  let opened: { app?: FastifyInstance; smtp?: TestSmtpServer } = {};
  before(async () => {
    const env: Record<string, string> = {};
    if (mail) {
      opened.smtp = await startSmtpServer();
      Object.assign(smtp, opened.smtp);
      env.RAMPART_SMTP_URL = opened.smtp.url;
    }
    // Rampart's public URL (its CSRF Origin check and its mail links use it) must name the port the browser connects to.
    const port = listen ? await freePort() : undefined;
    if (port !== undefined) {
      base = `http://localhost:${port}`;
      env.RAMPART_PUBLIC_URL = base;
    }
    const built = await buildUnmanaged({ ...options, env: { ...env, ...options.env } });
    opened.app = built.app;
    Object.assign(rampart, built);
    if (port !== undefined) await built.app.listen({ host: '127.0.0.1', port });
  });
  after(async () => {
    await opened.app?.close();
    await opened.smtp?.close();
    opened = {};
  });
  return {
    rampart,
    smtp,
    get base() {
      return base;
    },
  };
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

/** A random address in 10.0.0.0/8 (or a random /64 in 2001:db8::/32), so tests never share a rate-limit budget or event rows. */
export function randomIp(family: 4 | 6 = 4): string {
  const b = randomBytes(6);
  if (family === 4) return `10.${b[0]}.${b[1]}.${b[2]}`;
  return `2001:db8:${b.readUInt16BE(0).toString(16)}:${b.readUInt16BE(2).toString(16)}::${b.readUInt16BE(4).toString(16)}`;
}

export interface EventRow { event: string; actor: string | null; client_ip: string | null; request_id: string | null; details: Record<string, unknown> }

/** Security event rows from one client IP (after flushing pending writes); the run's database is shared between test files. */
export async function securityEventRows(app: FastifyInstance, clientIp: string): Promise<EventRow[]> {
  await app.securityEvents.flush();
  return tables(app).selectFrom('security_events').select(['event', 'actor', 'client_ip', 'request_id', 'details']).where('client_ip', '=', clientIp).orderBy('id').execute();
}

/**
 * Settings giving an app a database of its own, for a test that changes what every app of the
 * run would otherwise share (the signing keys). Embedded apps always have their own PGlite; on
 * the real target a scratch database is created and dropped when the test ends.
 */
export async function privateDatabase(t: Pick<TestContext, 'after'>): Promise<Record<string, string>> {
  const target = testTarget();
  if (target.kind === 'embedded') return {};
  const name = `rampart_${target.runId}_db_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: target.adminDatabaseUrl });
  await admin.connect();
  try {
    // The name is made here from hex and the run id: no outside input reaches the statement.
    await admin.query(`create database ${name}`);
  } finally {
    await admin.end();
  }
  t.after(async () => {
    // Never WITH (FORCE): hooks may run before the app using the database has closed, and
    // terminating its connections would fail the test. A database still in use here is
    // dropped by the run's cleanup in scripts/test.mjs.
    const dropper = new pg.Client({ connectionString: target.adminDatabaseUrl });
    await dropper.connect();
    try {
      await dropper.query(`drop database if exists ${name}`).catch(() => undefined);
    } finally {
      await dropper.end();
    }
  });
  const url = new URL(target.adminDatabaseUrl);
  url.pathname = `/${name}`;
  return { DATABASE_URL: url.toString() };
}
