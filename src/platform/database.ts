import { readFileSync } from 'node:fs';
import { chmod, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, resolve } from 'node:path';
import { PGlite, types } from '@electric-sql/pglite';
import { Kysely, PostgresDialect, sql, type LogEvent, type Migration } from 'kysely';
import { PGliteDialect } from 'kysely-pglite-dialect';
import pg from 'pg';
import { databaseLockedFinding, dataDirectoryFinding } from '../config/data-directory.js';
import { ConfigError } from '../config/findings.js';
import { applyApplicationPrivileges, checkRoleSeparation } from './database-privileges.js';
import { DB_ERR_INVALID_OPTIONS, DB_ERR_MIGRATION_FAILED, DB_ERR_UNAVAILABLE } from './errors.js';
import type { KernelSchema } from './database-schema.js';

/** PostgreSQL's answer when a referenced row is gone (SQLSTATE 23503), for a repository to turn into "not found". */
export function isForeignKeyViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && 'code' in err && err.code === '23503';
}

/**
 * A typed view of the same connection with only the tables `T` names: a module passes its own
 * tables (plus those it reads of others), and nothing else type-checks, the kernel's included.
 * Kysely's types are invariant in the schema, so this is the one place a view is narrowed.
 */
export function tablesOf<T>(source: Database | { readonly isTransaction: boolean }): Kysely<T> {
  return ('db' in source ? source.db : source) as unknown as Kysely<T>;
}

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
  /**
   * A migrated database to start from (see {@link createPgliteTemplate}); only with
   * `memory://`. Test runs build hundreds of apps per process: copying one migrated data
   * directory costs a fraction of creating and migrating each.
   */
  readonly template?: PgliteTemplate;
  /** Most connections in the pool (default 10). */
  readonly poolMax?: number;
  /** `statement_timeout` on every PostgreSQL connection, in ms (default 10 000). */
  readonly statementTimeoutMs?: number;
  readonly logger?: DatabaseLogger;
}

/**
 * One migration of the kernel or a module, as `<owner>/NNNN-name` (see kernel/module.ts). The
 * list runs in its own order: the kernel's first, then each module's in registration order.
 */
export interface NamedMigration {
  readonly name: string;
  readonly migration: Migration;
  /**
   * The name the same migration was recorded under before modules owned their tables. A
   * database migrated then has that name in its migration table: it is renamed, so nothing
   * runs twice. One old migration may be replaced by several (it created several owners' tables).
   */
  readonly replaces?: string;
}

/** A migrated PGlite data directory, as PGlite's own uncompressed dump. */
export interface PgliteTemplate {
  readonly dataDir: Blob;
}

/** An open database: the Kysely instance plus its lifecycle. */
export interface Database {
  readonly kind: 'postgres' | 'pglite';
  readonly db: Kysely<KernelSchema>;
  /**
   * Applies pending migrations and returns their names (empty when up to date). Kysely's
   * migration lock serializes concurrent callers, across processes too; the pending
   * migrations run in one transaction, so a failure leaves the schema as it was. With a
   * `migrationUrl`, also reapplies the application role's privileges.
   */
  migrate(migrations: readonly NamedMigration[]): Promise<{ applied: string[] }>;
  /** Resolves when a query round-trips; rejects with DB_ERR_UNAVAILABLE. */
  ping(): Promise<void>;
  /** Closes the pool or the PGlite instance. Safe to call more than once. */
  close(): Promise<void>;
  /**
   * Calls `listener` after every query with its round-trip time and whether it failed (for
   * metrics; never the SQL or its parameters). Returns the function that stops it.
   */
  observeQueries(listener: QueryListener): () => void;
}

/** Told after each query: its round-trip time in milliseconds, and whether it failed. */
export type QueryListener = (durationMs: number, failed: boolean) => void;

/** The query listeners of one database, fed by Kysely's `log` hook. */
function createQueryListeners(): { readonly listeners: Set<QueryListener>; readonly log: (event: LogEvent) => void } {
  const listeners = new Set<QueryListener>();
  return {
    listeners,
    log(event) {
      for (const listener of listeners) listener(event.queryDurationMillis, event.level === 'error');
    },
  };
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
  if (settings.url === undefined) return openPglite(settings.dataDir, logger, options.template);

  const queries = createQueryListeners();
  const db = createPostgresKysely(settings.url, settings, logger, queries.log);
  await pingOrClose(db, settings.url);
  const migrationUrl = settings.migrationUrl;
  return createDatabase({
    kind: 'postgres',
    db,
    listeners: queries.listeners,
    migrate: (migrations) =>
      migrationUrl === undefined ? migrateWithoutSeparation(db, migrations, logger) : migrateAsOwner(db, migrationUrl, migrations, settings, logger),
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
  if (options.template !== undefined && dataDir !== MEMORY) {
    throw new DB_ERR_INVALID_OPTIONS('template is only for an in-memory PGlite (dataDir memory://)');
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
  log?: (event: LogEvent) => void,
): Kysely<KernelSchema> {
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
  // A client lent out (to a query, or to a transaction between its statements) is no longer
  // watched by the pool: it removes its own 'error' listener while the client is checked
  // out, and an 'error' event with no listener crashes the process. This listener stays for
  // the client's life. The query in flight fails on its own (the request answers 503), and
  // the pool discards the broken client when it is released.
  pool.on('connect', (client) => {
    client.on('error', (err) => {
      logger.warn({ err: describeFailure(err) }, 'A PostgreSQL connection in use failed; its query fails and the pool replaces it');
    });
  });
  return new Kysely<KernelSchema>({ dialect: new PostgresDialect({ pool }), ...(log === undefined ? {} : { log }) });
}

async function pingOrClose(db: Kysely<KernelSchema>, url: string): Promise<void> {
  try {
    await sql`select 1`.execute(db);
  } catch (err) {
    await db.destroy();
    throw new DB_ERR_UNAVAILABLE(`could not connect to ${describeHost(url)} (${describeFailure(err)})`, { cause: err });
  }
}

// pg returns bigint as a string; PGlite would return a number, silently losing precision
// above 2^53. Both twins must return the same types.
const PGLITE_PARSERS = Object.freeze({ [types.INT8]: (value: string) => value });

/**
 * Creates an in-memory PGlite, migrates it and dumps its data directory, for
 * `DatabaseOptions.template`. The dump holds only the schema and what migrations insert.
 */
export async function createPgliteTemplate(options: { readonly migrations: readonly NamedMigration[]; readonly logger?: DatabaseLogger }): Promise<PgliteTemplate> {
  const pglite = await PGlite.create({ parsers: { ...PGLITE_PARSERS } });
  const db = new Kysely<KernelSchema>({ dialect: new PGliteDialect(pglite) });
  try {
    await runMigrations(db, options.migrations, options.logger ?? silentLogger);
    return { dataDir: await pglite.dumpDataDir('none') };
  } finally {
    // The dialect closes PGlite, unless no query ever ran.
    await db.destroy();
    if (!pglite.closed) await pglite.close();
  }
}

async function openPglite(dataDir: string, logger: DatabaseLogger, template: PgliteTemplate | undefined): Promise<Database> {
  const parsers = { ...PGLITE_PARSERS };
  let pglite: PGlite;
  let unlock: () => Promise<void> = () => Promise.resolve();
  if (dataDir === MEMORY) {
    pglite = await PGlite.create(template === undefined ? { parsers } : { parsers, loadDataDir: template.dataDir });
  } else {
    try {
      await createPrivateDirectory(dataDir);
      unlock = await lockDatabaseDirectory(dataDir);
    } catch (err) {
      if (err instanceof ConfigError) throw err;
      throw new ConfigError([dataDirectoryFinding(dataDir, err)]);
    }
    try {
      pglite = await PGlite.create({ dataDir, parsers });
    } catch (err) {
      await unlock();
      // A full disk reaches us as PGlite's `ErrnoError { errno: 51 }`: name the cause, the path and the fix.
      throw new ConfigError([dataDirectoryFinding(dataDir, err)]);
    }
  }
  if (dataDir === MEMORY) logger.warn({}, 'PGlite runs in memory: nothing is persisted');
  // PGlite is one backend in this process: the dialect hands out a single connection and
  // queues the rest, so queries and transactions are serialized.
  const queries = createQueryListeners();
  const db = new Kysely<KernelSchema>({ dialect: new PGliteDialect(pglite), log: queries.log });
  // Also a necessity, not only a check: Kysely's destroy() skips a driver that never ran a
  // query, which would leave PGlite open after close().
  try {
    await sql`select 1`.execute(db);
  } catch (err) {
    await pglite.close();
    await unlock();
    throw new DB_ERR_UNAVAILABLE('PGlite did not answer a query', { cause: err });
  }
  return createDatabase({ kind: 'pglite', db, listeners: queries.listeners, migrate: (migrations) => runMigrations(db, migrations, logger), afterClose: unlock });
}

// Lock files this process holds. A lock naming this process's pid but absent here was left by
// an earlier process that had the same pid (a container's pid 1 after a restart): it is stale.
const heldLocks = new Set<string>();

interface LockHolder { readonly pid: number; readonly host: string; readonly command: string; readonly since: string }

/**
 * Takes `<dataDir>.lock` for this process, or refuses with RAMPART-E072 naming the holder.
 * PGlite is PostgreSQL in one process: a second process opening the same directory works on
 * its own copy of the shared state, and one of the two overwrites the other's writes. A lock
 * whose holder no longer runs (on this host) is stale and taken over. Resolves with the release.
 */
async function lockDatabaseDirectory(dataDir: string): Promise<() => Promise<void>> {
  const path = `${resolve(dataDir)}.lock`;
  const mine: LockHolder = { pid: process.pid, host: hostname(), command: describeCommand(), since: new Date().toISOString() };
  for (let attempt = 0; attempt < 3; attempt += 1) {
    try {
      // eslint-disable-next-line security/detect-non-literal-fs-filename -- the path comes from validated configuration
      await writeFile(path, `${JSON.stringify(mine)}\n`, { flag: 'wx', mode: 0o600 });
      heldLocks.add(path);
      return async () => {
        if (!heldLocks.delete(path)) return;
        const holder = await readLockHolder(path);
         
        if (holder?.pid === mine.pid && holder.since === mine.since) await rm(path, { force: true });
      };
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'EEXIST') throw err;
    }
    const holder = await readLockHolder(path);
    if (holder !== null && holderIsAlive(holder, path)) throw new ConfigError([databaseLockedFinding(dataDir, holder)]);
    // Stale (its process is gone) or unreadable (a crash while writing it): take it over.
     
    await rm(path, { force: true });
  }
  const holder = await readLockHolder(path);
  throw new ConfigError([databaseLockedFinding(dataDir, holder ?? { pid: 0, host: '', command: 'unknown', since: 'unknown' })]);
}

async function readLockHolder(path: string): Promise<LockHolder | null> {
  try {
    // eslint-disable-next-line security/detect-non-literal-fs-filename -- the path comes from validated configuration
    const parsed = JSON.parse(await readFile(path, 'utf8')) as Partial<LockHolder>;
    if (!Number.isInteger(parsed.pid) || typeof parsed.host !== 'string') return null;
    return { pid: Number(parsed.pid), host: parsed.host, command: typeof parsed.command === 'string' ? parsed.command.slice(0, 200) : 'unknown', since: typeof parsed.since === 'string' ? parsed.since.slice(0, 40) : 'unknown' };
  } catch {
    return null;
  }
}

function holderIsAlive(holder: LockHolder, path: string): boolean {
  // Another host's process cannot be checked from here: it is taken to be alive.
  if (holder.host !== hostname()) return true;
  if (holder.pid === process.pid) return heldLocks.has(path);
  try {
    process.kill(holder.pid, 0);
  } catch (err) {
    // EPERM: the process exists but belongs to another user.
    return (err as { code?: unknown }).code === 'EPERM';
  }
  return runsNode(holder.pid);
}

/** After a reboot the pid may belong to something else: where /proc tells, only a Node.js process can be the holder. */
function runsNode(pid: number): boolean {
  try {
    // eslint-disable-next-line security/detect-non-literal-fs-filename -- an integer pid read from our own lock file
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes('node');
  } catch {
    return true;
  }
}

/** What the holder runs, for the refusal message: the script's name, never its arguments (they may carry a password). */
function describeCommand(): string {
  const script = process.argv[1];
  return script === undefined ? 'node' : `node ${basename(script)}`;
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
  readonly db: Kysely<KernelSchema>;
  readonly migrate: Database['migrate'];
  readonly listeners: Set<QueryListener>;
  readonly afterClose?: () => Promise<void>;
}): Database {
  const { kind, db, migrate, afterClose, listeners } = parts;
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
      closing ??= db.destroy().then(afterClose);
      return closing;
    },
    observeQueries(listener: QueryListener) {
      listeners.add(listener);
      return () => {
        listeners.delete(listener);
      };
    },
  });
}

async function migrateWithoutSeparation(db: Kysely<KernelSchema>, migrations: readonly NamedMigration[], logger: DatabaseLogger): Promise<{ applied: string[] }> {
  logger.warn(
    {},
    'Migrations run as the application role, so it keeps DDL rights and can alter the security event log; set a migration URL for the owner role to separate privileges',
  );
  return runMigrations(db, migrations, logger);
}

async function migrateAsOwner(
  application: Kysely<KernelSchema>,
  migrationUrl: string,
  migrations: readonly NamedMigration[],
  settings: Settings,
  logger: DatabaseLogger,
): Promise<{ applied: string[] }> {
  // A pool of its own, opened per run: the owner's connection exists only while migrating.
  const owner = createPostgresKysely(migrationUrl, { ...settings, poolMax: MIGRATION_POOL_MAX }, logger);
  await pingOrClose(owner, migrationUrl);
  try {
    // Checked before migrating, so a misconfiguration changes nothing.
    const roles = await checkRoleSeparation({ application, owner });
    const result = await runMigrations(owner, migrations, logger);
    await applyApplicationPrivileges({ owner, applicationRole: roles.applicationRole });
    logger.info(roles, 'The application role is limited to row privileges');
    return result;
  } finally {
    await owner.destroy();
  }
}

const MIGRATION_TABLE = 'kysely_migration';
const MIGRATION_LOCK_TABLE = 'kysely_migration_lock';
// Serializes migration runs across processes and instances (arbitrary; distinct from the privileges lock).
const MIGRATION_LOCK_ID = 7_220_551_837_015_770;

type MigrationRows = Record<typeof MIGRATION_TABLE, { name: string; timestamp: string }>;

/**
 * Applies the pending migrations in the list's own order (the kernel's, then each module's as
 * registered), all in one transaction under an advisory lock: concurrent callers, in other
 * processes too, wait and then find nothing left; a failure rolls the whole run back. The
 * bookkeeping is Kysely's own table (`kysely_migration`: name, timestamp), but not Kysely's
 * Migrator, which orders migrations by name alone: modules need registration order.
 */
async function runMigrations(db: Kysely<KernelSchema>, migrations: readonly NamedMigration[], logger: DatabaseLogger): Promise<{ applied: string[] }> {
  const names = migrations.map((m) => m.name);
  const duplicate = names.find((name, i) => names.indexOf(name) !== i);
  if (duplicate !== undefined) throw new DB_ERR_INVALID_OPTIONS(`the migration ${duplicate} is listed twice`);
  let failed: string | undefined;
  try {
    const applied = await db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(${sql.lit(MIGRATION_LOCK_ID)})`.execute(trx);
      await trx.schema.createTable(MIGRATION_TABLE).ifNotExists()
        .addColumn('name', 'varchar(255)', (col) => col.notNull().primaryKey())
        .addColumn('timestamp', 'varchar(255)', (col) => col.notNull())
        .execute();
      // Kept for the privileges check, which holds the application role to reading both tables.
      await trx.schema.createTable(MIGRATION_LOCK_TABLE).ifNotExists()
        .addColumn('id', 'varchar(255)', (col) => col.notNull().primaryKey())
        .addColumn('is_locked', 'integer', (col) => col.notNull().defaultTo(0))
        .execute();
      const rows = tablesOf<MigrationRows>(trx);
      await renameReplaced(rows, migrations);
      const done = new Set((await rows.selectFrom(MIGRATION_TABLE).select('name').execute()).map((row) => row.name));
      checkApplied(names, done);
      const ran: string[] = [];
      for (const { name, migration } of migrations) {
        if (done.has(name)) continue;
        failed = name;
        await migration.up(trx);
        await rows.insertInto(MIGRATION_TABLE).values({ name, timestamp: new Date().toISOString() }).execute();
        ran.push(name);
      }
      failed = undefined;
      return ran;
    });
    for (const migration of applied) logger.info({ migration }, 'Database migration applied');
    return { applied };
  } catch (error) {
    if (error instanceof Error && (error as { code?: unknown }).code === DB_ERR_MIGRATION_FAILED.code) throw error;
    const reason = failed === undefined ? 'the migration tables could not be prepared' : `${failed} failed and the run was rolled back`;
    logger.error({ err: error, migration: failed }, 'Database migration failed');
    throw new DB_ERR_MIGRATION_FAILED(reason, { cause: error });
  }
}

/** What a database migrated before modules owned their tables recorded under an old name is renamed, so nothing runs twice. */
async function renameReplaced(rows: Kysely<MigrationRows>, migrations: readonly NamedMigration[]): Promise<void> {
  const replaced = migrations.filter((m) => m.replaces !== undefined);
  if (replaced.length === 0) return;
  const old = await rows.selectFrom(MIGRATION_TABLE).select(['name', 'timestamp']).where('name', 'in', [...new Set(replaced.map((m) => m.replaces ?? ''))]).execute();
  for (const row of old) {
    const successors = replaced.filter((m) => m.replaces === row.name).map((m) => ({ name: m.name, timestamp: row.timestamp }));
    await rows.insertInto(MIGRATION_TABLE).values(successors).onConflict((oc) => oc.column('name').doNothing()).execute();
    await rows.deleteFrom(MIGRATION_TABLE).where('name', '=', row.name).execute();
  }
}

/** Every applied migration is still listed, and within one owner none is pending before an applied one (a renamed or reordered release). */
function checkApplied(names: readonly string[], applied: ReadonlySet<string>): void {
  const missing = [...applied].find((name) => !names.includes(name));
  if (missing !== undefined) throw new DB_ERR_MIGRATION_FAILED(`the database has the migration ${missing}, which no registered module lists`);
  const owners = new Map<string, string[]>();
  for (const name of names) {
    const owner = name.slice(0, name.indexOf('/'));
    owners.set(owner, [...(owners.get(owner) ?? []), name]);
  }
  for (const list of owners.values()) {
    const firstPending = list.findIndex((name) => !applied.has(name));
    const late = firstPending < 0 ? undefined : list.slice(firstPending).find((name) => applied.has(name));
    if (late !== undefined) throw new DB_ERR_MIGRATION_FAILED(`${list[firstPending] ?? ''} is pending but ${late}, listed after it, is applied: a released migration was renamed or reordered`);
  }
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

// Network failures on the way to the server: the request did not get an answer from it.
const CONNECTION_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
// SQLSTATEs of a server that is going away, not yet up, or full: 57P01 admin_shutdown
// (pg_terminate_backend, a restart), 57P02 crash_shutdown, 57P03 cannot_connect_now (starting
// up or recovering), 53300 too_many_connections; class 08 is "connection exception".
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);
// pg and pg-pool report a lost or unobtainable connection with these messages and no code.
const CONNECTION_MESSAGES = [
  'Connection terminated unexpectedly',
  'Connection terminated due to connection timeout',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error and is not queryable',
  'Client was closed and is not queryable',
  'Cannot use a pool after calling end on the pool',
];
const MAX_CAUSE_DEPTH = 5;

/**
 * True when `err` (or an error in its `cause` chain) says the database could not be reached
 * or dropped the connection: a transient outage a retry may get past, not a bad query. Such
 * a request is answered 503 with Retry-After, never 500.
 */
export function isDatabaseUnavailable(err: unknown): boolean {
  let current: unknown = err;
  for (let depth = 0; depth < MAX_CAUSE_DEPTH && typeof current === 'object' && current !== null; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && (code === DB_ERR_UNAVAILABLE.code || CONNECTION_CODES.has(code) || UNAVAILABLE_SQLSTATES.has(code) || /^08[0-9A-Z]{3}$/.test(code))) return true;
    if (current instanceof Error && CONNECTION_MESSAGES.includes(current.message)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}
