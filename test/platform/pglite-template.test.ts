import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { sql } from 'kysely';
import { createPgliteTemplate, openDatabase } from '../../src/platform/database.js';
import { DB_ERR_INVALID_OPTIONS } from '../../src/platform/errors.js';
import { rampartMigrations } from '../../src/app.js';

// The test suite gives every embedded app a copy of one migrated PGlite (test/helpers/build.ts).
// A copy must be the migrated schema, and copies must never share rows.
describe('PGlite template', () => {
  it('opens copies that are fully migrated and independent of each other and of the template', async () => {
    const template = await createPgliteTemplate({ migrations: rampartMigrations() });
    const first = await openDatabase({ dataDir: 'memory://', template });
    const second = await openDatabase({ dataDir: 'memory://', template });
    try {
      const expected = rampartMigrations().map((m) => m.name);
      assert.deepEqual((await first.migrate(rampartMigrations())).applied, [], 'nothing left to migrate');
      const applied = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(first.db);
      assert.deepEqual(applied.rows.map((r) => r.name), expected.sort());

      await sql`create table copy_marker (v text)`.execute(first.db);
      await sql`insert into copy_marker values ('first')`.execute(first.db);
      const seen = await sql<{ n: number }>`select count(*)::int as n from pg_tables where tablename = 'copy_marker'`.execute(second.db);
      assert.equal(seen.rows[0]?.n, 0, 'a write in one copy never reaches another');
      const third = await openDatabase({ dataDir: 'memory://', template });
      try {
        const again = await sql<{ n: number }>`select count(*)::int as n from pg_tables where tablename = 'copy_marker'`.execute(third.db);
        assert.equal(again.rows[0]?.n, 0, 'nor the template');
      } finally {
        await third.close();
      }
      // The bigint parser survives the copy: both twins return int8 as a string.
      const big = await sql<{ v: unknown }>`select 9007199254740993::int8 as v`.execute(second.db);
      assert.equal(big.rows[0]?.v, '9007199254740993');
    } finally {
      await first.close();
      await second.close();
    }
  });

  it('refuses a template for anything but an in-memory PGlite', async () => {
    const template = { dataDir: new Blob([]) };
    await assert.rejects(openDatabase({ dataDir: 'data/pglite', template }), (err: unknown) => err instanceof DB_ERR_INVALID_OPTIONS);
    await assert.rejects(openDatabase({ url: 'postgres://127.0.0.1/x', template }), (err: unknown) => err instanceof DB_ERR_INVALID_OPTIONS);
  });
});
