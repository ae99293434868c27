import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql, type Migration } from 'kysely';
import { rampartMigrations } from '../../src/app.js';
import { openDatabase, type Database, type NamedMigration } from '../../src/platform/database.js';
import { privateDatabase } from '../helpers/build.js';
import { testTarget } from '../helpers/target.js';

/** The migrations Rampart released before modules owned their tables, and which of today's each became. */
const RELEASED: readonly (readonly [string, readonly string[]])[] = [
  ['0001-foundation', ['kernel/0001-security-events']],
  ['0002-accounts', ['accounts/0001-accounts']],
  ['0003-api-tokens', ['kernel/0002-signing-keys', 'tokens/0001-api-tokens']],
  ['0004-publishing', ['posts/0001-posts', 'comments/0001-comments']],
  ['0005-token-revocations', ['kernel/0003-token-revocations']],
];

async function open(t: Parameters<typeof privateDatabase>[0]): Promise<Database> {
  const settings = await privateDatabase(t);
  const url = settings.DATABASE_URL;
  return openDatabase(testTarget().kind === 'embedded' || url === undefined ? { dataDir: 'memory://' } : { url });
}

async function recorded(database: Database): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(database.db);
  return rows.map((row) => row.name);
}

describe('migrations of the kernel and the modules', () => {
  it('upgrades a database migrated under the released names without running anything twice', async (t) => {
    const database = await open(t);
    try {
      // The schema as the released migrations left it, with their names recorded as Kysely did.
      const all = rampartMigrations();
      const byName = new Map(all.map((m) => [m.name, m.migration]));
      await database.db.transaction().execute(async (trx) => {
        await sql`create table kysely_migration (name varchar(255) primary key, timestamp varchar(255) not null)`.execute(trx);
        for (const [released, successors] of RELEASED) {
          for (const name of successors) await byName.get(name)?.up(trx);
          await sql`insert into kysely_migration (name, timestamp) values (${released}, ${new Date().toISOString()})`.execute(trx);
        }
      });
      const { applied } = await database.migrate(all);
      assert.deepEqual(applied, all.map((m) => m.name).filter((name) => !RELEASED.some(([, successors]) => successors.includes(name))), 'only what no released migration created runs');
      assert.ok(applied.includes('bookmarks/0001-bookmarks'));
      assert.deepEqual(await recorded(database), all.map((m) => m.name).sort());
      assert.deepEqual((await database.migrate(all)).applied, []);
    } finally {
      await database.close();
    }
  });

  it('runs in the list\'s order, not the names\' (a module\'s table may reference an earlier module\'s)', async (t) => {
    const database = await open(t);
    try {
      const order: string[] = [];
      const step = (name: string): NamedMigration => ({ name, migration: { up: () => { order.push(name); return Promise.resolve(); } } satisfies Migration });
      await database.migrate([step('kernel/0001-a'), step('zeta/0001-b'), step('alpha/0001-c')]);
      assert.deepEqual(order, ['kernel/0001-a', 'zeta/0001-b', 'alpha/0001-c']);
    } finally {
      await database.close();
    }
  });

  it('refuses a list that drops an applied migration or puts a pending one before an applied one of the same owner', async (t) => {
    const database = await open(t);
    try {
      const noop: Migration = { up: () => Promise.resolve() };
      await database.migrate([{ name: 'kernel/0001-a', migration: noop }, { name: 'demo/0002-b', migration: noop }]);
      await assert.rejects(database.migrate([{ name: 'kernel/0001-a', migration: noop }]), { code: 'DB_ERR_MIGRATION_FAILED', message: /demo\/0002-b, which no registered module lists/ });
      await assert.rejects(
        database.migrate([{ name: 'kernel/0001-a', migration: noop }, { name: 'demo/0001-late', migration: noop }, { name: 'demo/0002-b', migration: noop }]),
        { code: 'DB_ERR_MIGRATION_FAILED', message: /demo\/0001-late is pending but demo\/0002-b, listed after it, is applied/ },
      );
      await assert.rejects(database.migrate([{ name: 'kernel/0001-a', migration: noop }, { name: 'kernel/0001-a', migration: noop }]), { code: 'DB_ERR_INVALID_OPTIONS' });
    } finally {
      await database.close();
    }
  });

  it('rolls the whole run back when one migration fails', async (t) => {
    const database = await open(t);
    try {
      const create: Migration = { up: async (db) => { await sql`create table rollback_probe (id int)`.execute(db); } };
      const fail: Migration = { up: () => Promise.reject(new Error('boom')) };
      await assert.rejects(database.migrate([{ name: 'demo/0001-create', migration: create }, { name: 'demo/0002-fail', migration: fail }]), { code: 'DB_ERR_MIGRATION_FAILED', message: /demo\/0002-fail failed and the run was rolled back/ });
      const { rows } = await sql<{ present: boolean }>`select to_regclass('rollback_probe') is not null as present`.execute(database.db);
      assert.equal(rows[0]?.present, false);
    } finally {
      await database.close();
    }
  });
});
