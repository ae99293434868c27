import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import type { RawBuilder } from 'kysely';
import { openDatabase } from '../../src/platform/database.js';
import type { Database } from '../../src/platform/database.js';
import { testTarget } from '../helpers/target.js';
import { rampartMigrations } from '../../src/app.js';

const ALL_MIGRATIONS = rampartMigrations().map((m) => m.name);

const target = testTarget();

// Roles are a PostgreSQL server feature: PGlite runs everything as one superuser, so the
// embedded target has nothing to test here.
if (target.kind === 'real') {
  const { runId, adminDatabaseUrl } = target;
  const suffix = randomBytes(4).toString('hex');
  const ownerRole = `rampart_${runId}_owner_${suffix}`;
  const appRole = `rampart_${runId}_app_${suffix}`;
  const memberRole = `rampart_${runId}_member_${suffix}`;
  const writerRole = `rampart_${runId}_writer_${suffix}`;
  const databaseName = `rampart_${runId}_priv_${suffix}`;

  /** The admin URL with only the role and the database changed (the server trusts local roles). */
  function urlFor(role: string | undefined): string {
    const url = new URL(adminDatabaseUrl);
    if (role !== undefined) url.username = role;
    url.pathname = `/${databaseName}`;
    return url.toString();
  }

  describe('database least privilege (real)', () => {
    let admin: Database;
    let app: Database;
    let firstMigration: { applied: string[] };

    before(async () => {
      admin = await openDatabase({ url: adminDatabaseUrl, poolMax: 1 });
      await sql`create role ${sql.id(ownerRole)} login`.execute(admin.db);
      await sql`create role ${sql.id(appRole)} login`.execute(admin.db);
      await sql`create role ${sql.id(memberRole)} login in role ${sql.id(ownerRole)}`.execute(admin.db);
      await sql`create role ${sql.id(writerRole)} login in role pg_write_all_data`.execute(admin.db);
      await sql`create database ${sql.id(databaseName)} owner ${sql.id(ownerRole)}`.execute(admin.db);
      app = await openDatabase({ url: urlFor(appRole), migrationUrl: urlFor(ownerRole) });
      firstMigration = await app.migrate(rampartMigrations());
    });

    after(async () => {
      await app.close();
      await sql`drop database if exists ${sql.id(databaseName)} with (force)`.execute(admin.db);
      for (const role of [writerRole, memberRole, appRole, ownerRole]) await sql`drop role if exists ${sql.id(role)}`.execute(admin.db);
      await admin.close();
    });

    it('migrates as the owner, then again with nothing to apply', async () => {
      assert.deepEqual(firstMigration, { applied: ALL_MIGRATIONS });
      assert.deepEqual(await app.migrate(rampartMigrations()), { applied: [] });
      const { rows } = await sql<{ owner: string }>`
        select tableowner as owner from pg_tables where schemaname = 'public' and tablename = 'security_events'`.execute(app.db);
      assert.deepEqual(rows, [{ owner: ownerRole }]);
    });

    it('lets the application role INSERT and SELECT security events', async () => {
      const { id } = await app.db
        .insertInto('security_events')
        .values({ event: 'authz_fail', severity: 'warn', actor: 'user:7', details: JSON.stringify({ route: '/admin' }) })
        .returning('id')
        .executeTakeFirstOrThrow();
      const row = await app.db.selectFrom('security_events').select(['event', 'details']).where('id', '=', id).executeTakeFirstOrThrow();
      assert.deepEqual(row, { event: 'authz_fail', details: { route: '/admin' } });
    });

    it('lets the application role read the migration table', async () => {
      const { rows } = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(app.db);
      assert.deepEqual(rows, [...ALL_MIGRATIONS].sort().map((name) => ({ name })));
    });

    // 42501: insufficient_privilege. Each statement is one the application must never run.
    const refused: readonly (readonly [string, RawBuilder<unknown>])[] = [
      ['DROP TABLE', sql`drop table security_events`],
      ['ALTER TABLE', sql`alter table security_events add column forged text`],
      ['TRUNCATE', sql`truncate security_events`],
      ['CREATE TABLE', sql`create table planted (id int)`],
      ['UPDATE security_events', sql`update security_events set severity = 'info'`],
      ['UPDATE security_events (details)', sql`update security_events set details = '{}'::jsonb`],
      ['UPDATE security_events (client_ip and event together)', sql`update security_events set client_ip = null, event = 'forged'`],
      ['DELETE FROM security_events', sql`delete from security_events`],
      ['INSERT INTO kysely_migration', sql`insert into kysely_migration (name, timestamp) values ('9999-forged', now()::text)`],
      ['UPDATE kysely_migration_lock', sql`update kysely_migration_lock set is_locked = 1`],
      ['DELETE FROM kysely_migration', sql`delete from kysely_migration`],
    ];
    for (const [label, statement] of refused) {
      it(`refuses ${label} to the application role (42501)`, async () => {
        await assert.rejects(statement.execute(app.db), { code: '42501' });
      });
    }

    it('lets the application role erase client_ip (the retention job) and nothing else of an event', async () => {
      const { id } = await app.db
        .insertInto('security_events')
        .values({ event: 'authn_login_fail', severity: 'warn', client_ip: '10.9.8.7', details: JSON.stringify({}) })
        .returning('id')
        .executeTakeFirstOrThrow();
      await app.db.updateTable('security_events').set({ client_ip: null }).where('id', '=', id).execute();
      const row = await app.db.selectFrom('security_events').select(['event', 'client_ip']).where('id', '=', id).executeTakeFirstOrThrow();
      assert.deepEqual(row, { event: 'authn_login_fail', client_ip: null });
    });

    it('keeps the application role out of CREATE in schema public after concurrent migrations', async () => {
      await Promise.all([app.migrate(rampartMigrations()), app.migrate(rampartMigrations())]);
      await assert.rejects(sql`create table planted (id int)`.execute(app.db), { code: '42501' });
    });

    it('refuses a migration URL that logs in as the application role', async () => {
      const same = await openDatabase({ url: urlFor(appRole), migrationUrl: urlFor(appRole) });
      try {
        await assert.rejects(same.migrate(rampartMigrations()), { code: 'DB_ERR_PRIVILEGE_SEPARATION', message: /both log in as/ });
      } finally {
        await same.close();
      }
    });

    it('refuses a superuser application role', async () => {
      const superuser = await openDatabase({ url: urlFor(undefined), migrationUrl: urlFor(ownerRole) });
      try {
        await assert.rejects(superuser.migrate(rampartMigrations()), { code: 'DB_ERR_PRIVILEGE_SEPARATION', message: /superuser/ });
      } finally {
        await superuser.close();
      }
    });

    it('refuses an application role that is a member of the owner role', async () => {
      const member = await openDatabase({ url: urlFor(memberRole), migrationUrl: urlFor(ownerRole) });
      try {
        await assert.rejects(member.migrate(rampartMigrations()), { code: 'DB_ERR_PRIVILEGE_SEPARATION', message: /member of the owner/ });
      } finally {
        await member.close();
      }
    });

    it('refuses an application role that can write every table through pg_write_all_data', async () => {
      const writer = await openDatabase({ url: urlFor(writerRole), migrationUrl: urlFor(ownerRole) });
      try {
        await assert.rejects(writer.migrate(rampartMigrations()), { code: 'DB_ERR_PRIVILEGE_SEPARATION', message: /UPDATE, DELETE or TRUNCATE on security_events/ });
      } finally {
        await writer.close();
      }
    });
  });
}
