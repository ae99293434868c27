import { DEFAULT_MIGRATION_LOCK_TABLE, DEFAULT_MIGRATION_TABLE, sql } from 'kysely';
import type { Kysely, RawBuilder } from 'kysely';
import { DB_ERR_PRIVILEGE_SEPARATION } from './errors.js';

// Serializes concurrent privilege updates: two GRANTs on the same object at once fail with
// "tuple concurrently updated". The value is arbitrary; it only has to differ from Kysely's
// migration lock id.
const PRIVILEGES_LOCK_ID = 7_220_551_837_015_771;

const SCHEMA = 'public';
const APPEND_ONLY_TABLES = ['security_events'] as const;
/** Columns of append-only tables the application may still overwrite (with NULL, by the retention job). */
const ERASABLE_COLUMNS: Readonly<Record<(typeof APPEND_ONLY_TABLES)[number], readonly string[]>> = { security_events: ['client_ip'] };
// Read-only to the application: Kysely's migration tables, and the audit chain's genesis (an
// application that could move it could declare edited rows "from before the chain").
const MIGRATION_TABLES = [DEFAULT_MIGRATION_TABLE, DEFAULT_MIGRATION_LOCK_TABLE, 'security_events_chain'] as const;

/** What PostgreSQL says about the role a connection runs as. */
export interface RoleInfo {
  readonly name: string;
  readonly superuser: boolean;
  readonly createRole: boolean;
}

/** The role a connection acts as (`current_user`) and the attributes that defeat separation. */
export async function currentRole<DB>(db: Kysely<DB>): Promise<RoleInfo> {
  const { rows } = await sql<{ name: string; superuser: boolean; create_role: boolean }>`
    select rolname as name, rolsuper as superuser, rolcreaterole as create_role
    from pg_roles where rolname = current_user`.execute(db);
  const row = rows[0];
  if (row === undefined) throw new Error('current_user has no pg_roles row');
  return { name: row.name, superuser: row.superuser, createRole: row.create_role };
}

/** The two roles whose privileges are separated. */
export interface RoleSeparation {
  readonly applicationRole: string;
  readonly ownerRole: string;
}

/**
 * Checks, before anything is migrated, that the application role can be held to row
 * privileges: it must not be the owner, a superuser, able to create roles (it could grant
 * itself the owner's membership) or a member of the owner (it would inherit ownership).
 * Throws DB_ERR_PRIVILEGE_SEPARATION naming the problem and the fix.
 */
export async function checkRoleSeparation<DB>(options: {
  readonly application: Kysely<DB>;
  readonly owner: Kysely<DB>;
}): Promise<RoleSeparation> {
  const application = await currentRole(options.application);
  const owner = await currentRole(options.owner);
  const refuse = (reason: string): never => {
    throw new DB_ERR_PRIVILEGE_SEPARATION(reason);
  };
  if (application.name === owner.name) {
    refuse(`the application and migration URLs both log in as "${application.name}"; the migration URL must use the role that owns the schema, the application URL a separate role`);
  }
  if (application.superuser) {
    refuse(`the application role "${application.name}" is a superuser, which bypasses every privilege; connect as a role created with NOSUPERUSER`);
  }
  if (application.createRole) {
    refuse(`the application role "${application.name}" has CREATEROLE and could grant itself the owner's privileges; ALTER ROLE ... NOCREATEROLE`);
  }
  const { rows } = await sql<{ member: boolean; owned: string }>`
    select
      pg_has_role(${application.name}, current_user, 'MEMBER') as member,
      (select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = ${SCHEMA} and c.relowner = (select oid from pg_roles where rolname = ${application.name}))::text as owned`.execute(
    options.owner,
  );
  const row = rows[0];
  if (row === undefined) throw new Error('the role membership query returned no row');
  if (row.member) {
    refuse(`the application role "${application.name}" is a member of the owner role "${owner.name}" and inherits its privileges; REVOKE the membership`);
  }
  if (row.owned !== '0') {
    refuse(`the application role "${application.name}" owns ${row.owned} relations in schema ${SCHEMA}, and ownership carries every privilege; as a superuser run REASSIGN OWNED BY "${application.name}" TO "${owner.name}"`);
  }
  return { applicationRole: application.name, ownerRole: owner.name };
}

/**
 * Run as the owner after migrating: leaves the application role with row privileges only.
 * Every run revokes and grants again, in one transaction, so the result is the same whatever
 * state earlier versions or manual grants left behind, and tables added by later migrations
 * are covered.
 *
 * - SELECT, INSERT, UPDATE, DELETE on the tables; USAGE, SELECT on the sequences (no setval).
 * - The security event log is append-only: no UPDATE, DELETE or TRUNCATE, except UPDATE of its
 *   `client_ip` column, which the retention job erases after the retention period (the audit
 *   chain does not cover that column).
 * - Kysely's migration tables and the audit chain's genesis are read-only, so the application
 *   cannot fake or block a migration, nor move where the chain begins.
 * - No CREATE in schema public or in the database: the application runs no DDL.
 */
export async function applyApplicationPrivileges<DB>(options: {
  readonly owner: Kysely<DB>;
  readonly applicationRole: string;
}): Promise<void> {
  const role = sql.id(options.applicationRole);
  const schema = sql.id(SCHEMA);
  await options.owner.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(${sql.lit(PRIVILEGES_LOCK_ID)})`.execute(trx);
    // PostgreSQL before 15 let PUBLIC create in schema public. A non-owner's REVOKE is only
    // a warning, so this never fails; the check below decides.
    await sql`revoke create on schema ${schema} from public`.execute(trx);
    await sql`revoke all on schema ${schema} from ${role}`.execute(trx);
    await sql`grant usage on schema ${schema} to ${role}`.execute(trx);

    await sql`revoke all on all tables in schema ${schema} from ${role}`.execute(trx);
    await sql`grant select, insert, update, delete on all tables in schema ${schema} to ${role}`.execute(trx);
    await sql`revoke all on all sequences in schema ${schema} from ${role}`.execute(trx);
    await sql`grant usage, select on all sequences in schema ${schema} to ${role}`.execute(trx);

    for (const table of APPEND_ONLY_TABLES) {
      await sql`revoke update, delete, truncate on ${sql.table(`${SCHEMA}.${table}`)} from ${role}`.execute(trx);
    }
    // The one exception: the retention job erases old events' client IP (a column the audit
    // chain leaves out), so the application may update that column and no other.
    for (const table of APPEND_ONLY_TABLES) {
      for (const column of ERASABLE_COLUMNS[table]) await sql`grant update (${sql.id(column)}) on ${sql.table(`${SCHEMA}.${table}`)} to ${role}`.execute(trx);
    }
    for (const table of MIGRATION_TABLES) {
      await sql`revoke all on ${sql.table(`${SCHEMA}.${table}`)} from ${role}`.execute(trx);
      await sql`grant select on ${sql.table(`${SCHEMA}.${table}`)} to ${role}`.execute(trx);
    }

    const { rows } = await sql<{ database: string }>`select current_database() as database`.execute(trx);
    const database = rows[0]?.database ?? '';
    await sql`revoke create on database ${sql.id(database)} from ${role}`.execute(trx);

    // Grants are not the whole story (PUBLIC, role memberships such as pg_write_all_data),
    // so check what the role can actually do and refuse if the outcome is not least privilege.
    const leftover = await excessPrivileges(trx, options.applicationRole);
    if (leftover.length > 0) {
      throw new DB_ERR_PRIVILEGE_SEPARATION(
        `the application role "${options.applicationRole}" still has ${leftover.join(', ')}; remove the grant or membership that gives it (for CREATE on schema ${SCHEMA}, as a superuser: REVOKE CREATE ON SCHEMA ${SCHEMA} FROM PUBLIC)`,
      );
    }
  });
}

async function excessPrivileges<DB>(db: Kysely<DB>, applicationRole: string): Promise<string[]> {
  const checks: readonly (readonly [label: string, granted: RawBuilder<boolean>])[] = [
    [`CREATE on schema ${SCHEMA}`, sql`has_schema_privilege(${applicationRole}, ${SCHEMA}, 'CREATE')`],
    ['CREATE on the database', sql`has_database_privilege(${applicationRole}, current_database(), 'CREATE')`],
    ...APPEND_ONLY_TABLES.map(
      (table) =>
        [
          `UPDATE, DELETE or TRUNCATE on ${table}`,
          sql<boolean>`has_table_privilege(${applicationRole}, ${`${SCHEMA}.${table}`}, 'UPDATE, DELETE, TRUNCATE')`,
        ] as const,
    ),
    ...APPEND_ONLY_TABLES.map(
      (table) =>
        [
          `UPDATE on a column of ${table} other than the erasable ones`,
          sql<boolean>`exists (select 1 from pg_attribute a where a.attrelid = ${`${SCHEMA}.${table}`}::regclass and a.attnum > 0 and not a.attisdropped
            and a.attname <> all (${sql.val(ERASABLE_COLUMNS[table])}::text[])
            and has_column_privilege(${applicationRole}, a.attrelid, a.attnum, 'UPDATE'))`,
        ] as const,
    ),
    ...MIGRATION_TABLES.map(
      (table) =>
        [
          `write access to ${table}`,
          sql<boolean>`has_table_privilege(${applicationRole}, ${`${SCHEMA}.${table}`}, 'INSERT, UPDATE, DELETE, TRUNCATE')`,
        ] as const,
    ),
  ];
  const { rows } = await sql<{ granted: boolean[] }>`
    select array[${sql.join(checks.map(([, granted]) => granted))}] as granted`.execute(db);
  const granted = rows[0]?.granted ?? [];
  return checks.filter((_, index) => granted[index] !== false).map(([label]) => label);
}
