import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { isDatabaseUnavailable, openDatabase } from '../../src/platform/database.js';
import type { Database, DatabaseLogger, DatabaseOptions } from '../../src/platform/database.js';
import { testTarget } from '../helpers/target.js';
import { rampartMigrations } from '../../src/app.js';
import { targetDatabaseOptions } from '../helpers/stores.js';

const ALL_MIGRATIONS = rampartMigrations().map((m) => m.name);

const target = testTarget();

/** Records log calls so a test can wait for one instead of sleeping. */
function recordingLogger(): DatabaseLogger & { entries: { level: string; obj: object; msg: string }[]; next(level: string): Promise<object> } {
  const entries: { level: string; obj: object; msg: string }[] = [];
  const waiters: { level: string; resolve: (obj: object) => void }[] = [];
  const log = (level: string) => (obj: object, msg: string) => {
    entries.push({ level, obj, msg });
    for (const waiter of waiters.filter((w) => w.level === level)) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve(obj);
    }
  };
  return {
    entries,
    info: log('info'),
    warn: log('warn'),
    error: log('error'),
    next: (level) => new Promise((resolve) => waiters.push({ level, resolve })),
  };
}

describe(`database platform (${target.kind})`, () => {
  // Scratch databases for tests that need an unmigrated one; the run's own database may
  // already have been migrated by another test file.
  const scratch: string[] = [];
  let admin: Database | undefined;
  // One migrated instance for the tests that only read and write rows (a PGlite instance
  // takes seconds to start).
  let shared: Database;

  before(async () => {
    if (target.kind === 'real') admin = await openDatabase({ url: target.adminDatabaseUrl, poolMax: 2 });
    shared = await openDatabase(sharedOptions());
    await shared.migrate(rampartMigrations());
  });

  after(async () => {
    await shared.close();
    if (admin === undefined) return;
    for (const name of scratch) await sql`drop database if exists ${sql.id(name)} with (force)`.execute(admin.db);
    await admin.close();
  });

  /** Options for the run's shared database. */
  function sharedOptions(extra: Partial<DatabaseOptions> = {}): DatabaseOptions {
    return targetDatabaseOptions(extra);
  }

  /** Options for a database no migration has touched. */
  async function freshOptions(extra: Partial<DatabaseOptions> = {}): Promise<DatabaseOptions> {
    if (target.kind === 'embedded' || admin === undefined) return { dataDir: 'memory://', ...extra };
    const name = `rampart_${target.runId}_db_${randomBytes(4).toString('hex')}`;
    await sql`create database ${sql.id(name)}`.execute(admin.db);
    scratch.push(name);
    const url = new URL(target.adminDatabaseUrl);
    url.pathname = `/${name}`;
    return { url: url.toString(), ...extra };
  }

  it('applies every migration on the first migrate and nothing on the second', async () => {
    const database = await openDatabase(await freshOptions());
    try {
      assert.deepEqual(await database.migrate(rampartMigrations()), { applied: ALL_MIGRATIONS });
      assert.deepEqual(await database.migrate(rampartMigrations()), { applied: [] });
      const { rows } = await sql<{ n: string }>`select count(*)::text as n from security_events`.execute(database.db);
      assert.equal(rows[0]?.n, '0');
    } finally {
      await database.close();
    }
  });

  it('lets two concurrent migrate() calls both succeed, applying each migration once', async () => {
    const database = await openDatabase(await freshOptions());
    try {
      const results = await Promise.all([database.migrate(rampartMigrations()), database.migrate(rampartMigrations())]);
      assert.deepEqual(results.flatMap((result) => result.applied).sort(), [...ALL_MIGRATIONS].sort());
    } finally {
      await database.close();
    }
  });

  if (target.kind === 'real') {
    it('lets two instances migrate the same database at once, applying each migration once', async () => {
      const options = await freshOptions();
      const first = await openDatabase(options);
      const second = await openDatabase(options);
      try {
        const results = await Promise.all([first.migrate(rampartMigrations()), second.migrate(rampartMigrations()), first.migrate(rampartMigrations()), second.migrate(rampartMigrations())]);
        assert.deepEqual(results.flatMap((result) => result.applied).sort(), [...ALL_MIGRATIONS].sort());
      } finally {
        await Promise.all([first.close(), second.close()]);
      }
    });

    it('warns that privileges are not separated when migrating without a migration URL', async () => {
      const logger = recordingLogger();
      const database = await openDatabase(sharedOptions({ logger }));
      try {
        await database.migrate(rampartMigrations());
        assert.ok(logger.entries.some((entry) => entry.level === 'warn' && /privileges/.test(entry.msg)));
      } finally {
        await database.close();
      }
    });

    it('sets application_name and statement_timeout on every connection', async () => {
      const database = await openDatabase(sharedOptions({ statementTimeoutMs: 200 }));
      try {
        const { rows } = await sql<{ name: string; timeout: string }>`
          select current_setting('application_name') as name, current_setting('statement_timeout') as timeout`.execute(database.db);
        assert.deepEqual(rows[0], { name: 'rampart', timeout: '200ms' });
        // 57014: query_canceled, raised by statement_timeout.
        await assert.rejects(sql`select pg_sleep(2)`.execute(database.db), { code: '57014' });
      } finally {
        await database.close();
      }
    });

    it('logs an idle connection that the server terminates instead of crashing', async () => {
      const logger = recordingLogger();
      const database = await openDatabase(sharedOptions({ logger }));
      try {
        const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(database.db);
        const logged = logger.next('error');
        await sql`select pg_terminate_backend(${rows[0]?.pid})`.execute(admin!.db);
        await logged;
        await database.ping();
      } finally {
        await database.close();
      }
    });
    it('survives a connection terminated while lent out to a transaction: the statement fails as unavailable, the pool recovers', async () => {
      const logger = recordingLogger();
      const database = await openDatabase(sharedOptions({ logger }));
      try {
        const failure = await database.db.transaction().execute(async (trx) => {
          const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(trx);
          // Between two statements the client is checked out and the pool does not watch it:
          // without a listener of its own, this 'error' event would end the process.
          const logged = logger.next('warn');
          await sql`select pg_terminate_backend(${rows[0]?.pid})`.execute(admin!.db);
          await logged;
          return sql`select 1`.execute(trx).then(() => null, (err: unknown) => err);
        }).catch((err: unknown) => err);
        assert.ok(failure !== null, 'the statement after the termination failed');
        assert.equal(isDatabaseUnavailable(failure), true, `a lost connection is classed as an outage: ${inspect(failure)}`);
        await database.ping();
      } finally {
        await database.close();
      }
    });

    it('classes connection failures as unavailable and query faults as not', async () => {
      await assert.rejects(sql`select 1 from no_such_table`.execute(shared.db), (err: unknown) => !isDatabaseUnavailable(err));
      await assert.rejects(sql`select 1/0`.execute(shared.db), (err: unknown) => !isDatabaseUnavailable(err));
      const url = new URL(target.databaseUrl);
      url.port = '1';
      const refused = await openDatabase({ url: url.toString() }).then(() => null, (err: unknown) => err);
      assert.equal(isDatabaseUnavailable(refused), true, 'connection refused (DB_ERR_UNAVAILABLE wrapping ECONNREFUSED)');
      assert.equal(isDatabaseUnavailable((refused as { cause?: unknown } | null)?.cause), true, 'the raw ECONNREFUSED too');
    });
  }

  it('round-trips a security event with jsonb details and a string bigint id', async () => {
    const details = { reason: 'bad password', attempts: 3, nested: { ok: false, list: ['a', 'ü'] } };
    const inserted = await shared.db
      .insertInto('security_events')
      .values({ event: 'authn_login_fail', severity: 'warn', actor: 'user:42', client_ip: '2001:db8::1', request_id: 'req-1', details: JSON.stringify(details) })
      .returning(['id', 'occurred_at'])
      .executeTakeFirstOrThrow();
    assert.equal(typeof inserted.id, 'string');
    assert.ok(inserted.occurred_at instanceof Date);

    const row = await shared.db.selectFrom('security_events').selectAll().where('id', '=', inserted.id).executeTakeFirstOrThrow();
    assert.deepEqual(row, {
      id: inserted.id,
      occurred_at: inserted.occurred_at,
      event: 'authn_login_fail',
      severity: 'warn',
      actor: 'user:42',
      client_ip: '2001:db8::1',
      request_id: 'req-1',
      details,
      // Written straight to the table, outside the recorder: no audit-chain link.
      chain_prev: null,
      chain_mac: null,
    });
  });

  it('rejects security events outside the table constraints (23514)', async () => {
    const insert = (values: { event: string; severity: string; details: string }) =>
      shared.db.insertInto('security_events').values(values).execute();
    await assert.rejects(insert({ event: 'authz_fail', severity: 'debug', details: '{}' }), { code: '23514' });
    await assert.rejects(insert({ event: '', severity: 'info', details: '{}' }), { code: '23514' });
    await assert.rejects(insert({ event: 'x'.repeat(129), severity: 'info', details: '{}' }), { code: '23514' });
    await assert.rejects(insert({ event: 'authz_fail', severity: 'info', details: '[1]' }), { code: '23514' });
  });

  it('pings an open database', async () => {
    await shared.ping();
  });

  it('closes idempotently; a ping after close rejects with DB_ERR_UNAVAILABLE', async () => {
    const database = await openDatabase(sharedOptions());
    await Promise.all([database.close(), database.close()]);
    await database.close();
    await assert.rejects(database.ping(), { code: 'DB_ERR_UNAVAILABLE', statusCode: 503 });
  });

  it('rejects an unreachable PostgreSQL URL with DB_ERR_UNAVAILABLE and never reveals the password', async () => {
    const password = `pw-${randomBytes(12).toString('hex')}`;
    const error = await openDatabase({ url: `postgres://rampart:${password}@127.0.0.1:1/rampart` }).then(
      () => assert.fail('openDatabase resolved'),
      (err: unknown) => err,
    );
    assert.ok(error instanceof Error);
    assert.equal((error as Error & { code?: string }).code, 'DB_ERR_UNAVAILABLE');
    assert.equal((error as Error & { statusCode?: number }).statusCode, 503);
    assert.match(error.message, /127\.0\.0\.1:1 \(connection refused\)/);
    // The whole error, cause and stack included, as a logger would print it.
    assert.ok(!inspect(error, { depth: 10 }).includes(password));
  });

  it('refuses invalid options without echoing a URL', async () => {
    const password = `pw-${randomBytes(12).toString('hex')}`;
    const refusals: DatabaseOptions[] = [
      { url: `mysql://rampart:${password}@127.0.0.1/rampart` },
      { url: `postgres://rampart:${password}@[not a url` },
      { migrationUrl: `postgres://owner:${password}@127.0.0.1/rampart` },
      { url: `postgres://rampart:${password}@127.0.0.1/rampart`, dataDir: 'data' },
      { dataDir: 'memory://', poolMax: 0 },
      { dataDir: 'memory://', statementTimeoutMs: 0 },
    ];
    for (const options of refusals) {
      const error = await openDatabase(options).then(
        () => assert.fail('openDatabase resolved'),
        (err: unknown) => err,
      );
      assert.equal((error as { code?: string }).code, 'DB_ERR_INVALID_OPTIONS');
      assert.ok(!inspect(error).includes(password));
    }
  });

  if (target.kind === 'embedded') {
    it('creates the PGlite directory with mode 0700 and keeps data across reopening', async () => {
      const root = await mkdtemp(join(tmpdir(), 'rampart-pglite-'));
      const dataDir = join(root, 'nested', 'pglite');
      try {
        const first = await openDatabase({ dataDir });
        assert.equal(first.kind, 'pglite');
        assert.equal((await stat(dataDir)).mode & 0o777, 0o700);
        assert.deepEqual(await first.migrate(rampartMigrations()), { applied: ALL_MIGRATIONS });
        await first.db.insertInto('security_events').values({ event: 'session_created', severity: 'info', details: '{}' }).execute();
        await first.close();

        const second = await openDatabase({ dataDir });
        try {
          assert.deepEqual(await second.migrate(rampartMigrations()), { applied: [] });
          const rows = await second.db.selectFrom('security_events').select('event').execute();
          assert.deepEqual(rows, [{ event: 'session_created' }]);
        } finally {
          await second.close();
        }
      } finally {
        await rm(root, { recursive: true, force: true });
      }
    });
  }
});
