import { chmod, mkdir } from 'node:fs/promises';
import { PGlite, types } from '@electric-sql/pglite';
import createError from '@fastify/error';
import { Kysely, Migrator, PostgresDialect, sql } from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';
import pg from 'pg';
import { applyApplicationPrivileges, checkRoleSeparation } from './database-privileges.js';
import type { DatabaseSchema } from './database-schema.js';
import { migrationProvider } from './migrations/index.js';

/** The database cannot be reached. The message names the host and a reason, never the URL or password. */
export const DB_ERR_UNAVAILABLE = createError<'DB_ERR_UNAVAILABLE', 503, [reason: string, options?: { cause: unknown }]>(
  'DB_ERR_UNAVAILABLE',
  'The database is unavailable: %s',
  503,
);

/** `openDatabase` was given options it cannot use. */
export const DB_ERR_INVALID_OPTIONS = createError<'DB_ERR_INVALID_OPTIONS', 500, [reason: string]>(
  'DB_ERR_INVALID_OPTIONS',
  'Invalid database options: %s',
  500,
);

/** A migration failed; the whole run was rolled back. The cause carries the database error. */
export const DB_ERR_MIGRATION_FAILED = createError<'DB_ERR_MIGRATION_FAILED', 500, [reason: string, options?: { cause: unknown }]>(
  'DB_ERR_MIGRATION_FAILED',
  'Database migration failed: %s',
  500,
);

/** The subset of a pino logger the database layer writes to. */
export interface DatabaseLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** How to reach the database. */
export interface DatabaseOptions {
  /** A `postgres://` URL: use PostgreSQL through `pg`. Absent: embedded PGlite. */
  readonly url?: string;
  /**
   * The schema owner's URL (PostgreSQL only). Migrations run as this role, and the role in
   * `url` is then limited to row privileges. Without it migrations run as the `url` role.
   */
  readonly migrationUrl?: string;
  /** PGlite's directory, created with mode 0700; `memory://` for a throwaway instance. Default `data/pglite`. */
  readonly dataDir?: string;
  /** Most connections in the pool (default 10). */
  readonly poolMax?: number;
  /** `statement_timeout` on every PostgreSQL connection, in ms (default 10 000). */
  readonly statementTimeoutMs?: number;
  readonly logger?: DatabaseLogger;
}

/** An open database: the Kysely instance plus its lifecycle. */
export interface Database {
  readonly kind: 'postgres' | 'pglite';
  readonly db: Kysely<DatabaseSchema>;
  /**
   * Applies pending migrations and returns their names (empty when up to date). Kysely's
   * migration lock serializes concurrent callers, across processes too; the pending
   * migrations run in one transaction, so a failure leaves the schema as it was. With a
   * `migrationUrl`, also reapplies the application role's privileges.
   */
  migrate(): Promise<{ applied: string[] }>;
  /** Resolves when a query round-trips; rejects with DB_ERR_UNAVAILABLE. */
  ping(): Promise<void>;
  /** Closes the pool or the PGlite instance. Safe to call more than once. */
  close(): Promise<void>;
}

const MEMORY = 'memory://';
const DEFAULT_DATA_DIR = 'data/pglite';
const DEFAULT_POOL_MAX = 10;
const DEFAULT_STATEMENT_TIMEOUT_MS = 10_000;
// A client idle this long is closed so a quiet instance does not hold server slots.
const IDLE_TIMEOUT_MS = 30_000;
// Without a bound, a request waits forever for a connection to an unreachable server.
const CONNECTION_TIMEOUT_MS = 5_000;
// An abandoned transaction holds locks and a pool slot; the server ends it.
const IDLE_IN_TRANSACTION_TIMEOUT_MS = 60_000;
// Migrations need one connection for the lock and the transaction; the second is slack.
const MIGRATION_POOL_MAX = 2;

const silentLogger: DatabaseLogger = Object.freeze({
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
});

/**
 * Opens PostgreSQL (when `url` is set) or PGlite, and proves the connection with one query.
 * Rejects with DB_ERR_INVALID_OPTIONS or DB_ERR_UNAVAILABLE; an unreachable server is
 * reported by host and reason, with the password never in the message.
 */
export async function openDatabase(options: DatabaseOptions): Promise<Database> {
  const settings = validateOptions(options);
  const logger = options.logger ?? silentLogger;
  if (settings.url === undefined) return openPglite(settings.dataDir, logger);

  const db = createPostgresKysely(settings.url, settings, logger);
  await pingOrClose(db, settings.url);
  const migrationUrl = settings.migrationUrl;
  return createDatabase({
    kind: 'postgres',
    db,
    migrate: () =>
      migrationUrl === undefined ? migrateWithoutSeparation(db, logger) : migrateAsOwner(db, migrationUrl, settings, logger),
  });
}

interface Settings {
  readonly url: string | undefined;
  readonly migrationUrl: string | undefined;
  readonly dataDir: string;
  readonly poolMax: number;
  readonly statementTimeoutMs: number;
}

function validateOptions(options: DatabaseOptions): Settings {
  const { url, migrationUrl, dataDir, poolMax = DEFAULT_POOL_MAX, statementTimeoutMs = DEFAULT_STATEMENT_TIMEOUT_MS } = options;
  // Messages name the setting, never its value: a URL may carry a password.
  if (url !== undefined) assertPostgresUrl(url, 'url');
  if (migrationUrl !== undefined) {
    if (url === undefined) throw new DB_ERR_INVALID_OPTIONS('migrationUrl needs url: PGlite has no roles to separate');
    assertPostgresUrl(migrationUrl, 'migrationUrl');
  }
  if (dataDir !== undefined) {
    if (url !== undefined) throw new DB_ERR_INVALID_OPTIONS('dataDir is for PGlite and cannot be combined with url');
    if (dataDir.trim() === '') throw new DB_ERR_INVALID_OPTIONS('dataDir must not be empty');
  }
  if (!Number.isInteger(poolMax) || poolMax < 1 || poolMax > 1000) {
    throw new DB_ERR_INVALID_OPTIONS('poolMax must be an integer from 1 to 1000');
  }
  // 0 would switch the timeout off; a runaway query must always be cancelled.
  if (!Number.isInteger(statementTimeoutMs) || statementTimeoutMs < 1) {
    throw new DB_ERR_INVALID_OPTIONS('statementTimeoutMs must be a positive integer');
  }
  return { url, migrationUrl, dataDir: dataDir ?? DEFAULT_DATA_DIR, poolMax, statementTimeoutMs };
}

function assertPostgresUrl(value: string, name: string): void {
  let protocol: string;
  try {
    protocol = new URL(value).protocol;
  } catch {
    throw new DB_ERR_INVALID_OPTIONS(`${name} is not a valid URL`);
  }
  if (protocol !== 'postgres:' && protocol !== 'postgresql:') {
    throw new DB_ERR_INVALID_OPTIONS(`${name} must be a postgres:// or postgresql:// URL`);
  }
}

function createPostgresKysely(
  url: string,
  settings: { readonly poolMax: number; readonly statementTimeoutMs: number },
  logger: DatabaseLogger,
): Kysely<DatabaseSchema> {
  const pool = new pg.Pool({
    connectionString: url,
    max: settings.poolMax,
    application_name: 'rampart',
    statement_timeout: settings.statementTimeoutMs,
    idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_TIMEOUT_MS,
    idleTimeoutMillis: IDLE_TIMEOUT_MS,
    connectionTimeoutMillis: CONNECTION_TIMEOUT_MS,
  });
  // An idle client that loses its server (restart, failover, pg_terminate_backend) emits
  // 'error' on the pool; unhandled, that event would crash the process. The pool drops the
  // client and opens a new one on demand.
  pool.on('error', (err) => {
    logger.error({ err }, 'An idle PostgreSQL connection failed; the pool replaced it');
  });
  return new Kysely<DatabaseSchema>({ dialect: new PostgresDialect({ pool }) });
}

async function pingOrClose(db: Kysely<DatabaseSchema>, url: string): Promise<void> {
  try {
    await sql`select 1`.execute(db);
  } catch (err) {
    await db.destroy();
    throw new DB_ERR_UNAVAILABLE(`could not connect to ${describeHost(url)} (${describeFailure(err)})`, { cause: err });
  }
}

async function openPglite(dataDir: string, logger: DatabaseLogger): Promise<Database> {
  // pg returns bigint as a string; PGlite would return a number, silently losing precision
  // above 2^53. Both twins must return the same types.
  const parsers = { [types.INT8]: (value: string) => value };
  let pglite: PGlite;
  try {
    if (dataDir === MEMORY) {
      pglite = await PGlite.create({ parsers });
    } else {
      await createPrivateDirectory(dataDir);
      pglite = await PGlite.create({ dataDir, parsers });
    }
  } catch (err) {
    throw new DB_ERR_UNAVAILABLE('PGlite could not open its data directory', { cause: err });
  }
  if (dataDir === MEMORY) logger.warn({}, 'PGlite runs in memory: nothing is persisted');
  // PGlite is one backend in this process: the dialect hands out a single connection and
  // queues the rest, so queries and transactions are serialized.
  const db = new Kysely<DatabaseSchema>({ dialect: new PGliteDialect(pglite) });
  // Also a necessity, not only a check: Kysely's destroy() skips a driver that never ran a
  // query, which would leave PGlite open after close().
  try {
    await sql`select 1`.execute(db);
  } catch (err) {
    await pglite.close();
    throw new DB_ERR_UNAVAILABLE('PGlite did not answer a query', { cause: err });
  }
  return createDatabase({ kind: 'pglite', db, migrate: () => runMigrations(db, logger) });
}

async function createPrivateDirectory(dir: string): Promise<void> {
  // The database files hold accounts and sessions: other local users must not read them.
  // mkdir's mode applies only to directories it creates, so an existing one is tightened too.
  // eslint-disable-next-line security/detect-non-literal-fs-filename -- the path comes from validated configuration, never from a request
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // eslint-disable-next-line security/detect-non-literal-fs-filename -- as above
  await chmod(dir, 0o700);
}

function createDatabase(parts: {
  readonly kind: Database['kind'];
  readonly db: Kysely<DatabaseSchema>;
  readonly migrate: () => Promise<{ applied: string[] }>;
}): Database {
  const { kind, db, migrate } = parts;
  let closing: Promise<void> | undefined;
  return Object.freeze({
    kind,
    db,
    migrate,
    async ping() {
      try {
        await sql`select 1`.execute(db);
      } catch (err) {
        throw new DB_ERR_UNAVAILABLE(`ping failed (${describeFailure(err)})`, { cause: err });
      }
    },
    close() {
      closing ??= db.destroy();
      return closing;
    },
  });
}

async function migrateWithoutSeparation(db: Kysely<DatabaseSchema>, logger: DatabaseLogger): Promise<{ applied: string[] }> {
  logger.warn(
    {},
    'Migrations run as the application role, so it keeps DDL rights and can alter the security event log; set a migration URL for the owner role to separate privileges',
  );
  return runMigrations(db, logger);
}

async function migrateAsOwner(
  application: Kysely<DatabaseSchema>,
  migrationUrl: string,
  settings: Settings,
  logger: DatabaseLogger,
): Promise<{ applied: string[] }> {
  // A pool of its own, opened per run: the owner's connection exists only while migrating.
  const owner = createPostgresKysely(migrationUrl, { ...settings, poolMax: MIGRATION_POOL_MAX }, logger);
  await pingOrClose(owner, migrationUrl);
  try {
    // Checked before migrating, so a misconfiguration changes nothing.
    const roles = await checkRoleSeparation({ application, owner });
    const result = await runMigrations(owner, logger);
    await applyApplicationPrivileges({ owner, applicationRole: roles.applicationRole });
    logger.info(roles, 'The application role is limited to row privileges');
    return result;
  } finally {
    await owner.destroy();
  }
}

async function runMigrations(db: Kysely<DatabaseSchema>, logger: DatabaseLogger): Promise<{ applied: string[] }> {
  const migrator = new Migrator({ db, provider: migrationProvider });
  const { error, results = [] } = await migrator.migrateToLatest();
  if (error !== undefined) {
    const failed = results.find((result) => result.status === 'Error')?.migrationName;
    const reason = failed === undefined ? 'the migration tables could not be prepared' : `${failed} failed and the run was rolled back`;
    logger.error({ err: error, migration: failed }, 'Database migration failed');
    throw new DB_ERR_MIGRATION_FAILED(reason, { cause: error });
  }
  const applied = results.filter((result) => result.status === 'Success').map((result) => result.migrationName);
  for (const migration of applied) logger.info({ migration }, 'Database migration applied');
  return { applied };
}

function describeHost(url: string): string {
  const { hostname, port } = new URL(url);
  // Without a host, pg connects through the local Unix socket.
  return hostname === '' ? 'the local PostgreSQL socket' : `${hostname}:${port === '' ? '5432' : port}`;
}

const FAILURE_REASONS: Readonly<Record<string, string>> = Object.freeze({
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  '28P01': 'password authentication failed',
  '28000': 'the server rejected the role',
  '3D000': 'the database does not exist',
  '57P01': 'the server terminated the connection',
  '57P03': 'the server is not accepting connections yet',
  '53300': 'too many connections',
});

/** A reason built only from error codes: a foreign message is never copied into ours. */
function describeFailure(err: unknown): string {
  const code = typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
  if (code !== undefined && /^[A-Z0-9_]{1,32}$/.test(code)) return FAILURE_REASONS[code] ?? `error ${code}`;
  if (err instanceof Error && /timeout/i.test(err.message)) return 'connection timed out';
  return 'connection failed';
}
