import type { Kysely } from 'kysely';
import { tablesOf } from '../../platform/database.js';
import type { KernelSchema } from '../../platform/database-schema.js';
import type { AccountsTables } from '../accounts/tables.js';
import type { TokensTables } from '../tokens/tables.js';
import { writeTokensNotBefore } from '../../security/user-states.js';
import type { Role } from '../../security/authorization.js';
import { createTokensRepository } from '../tokens/repository.js';

/** The tables this repository reads and writes. */
export type AdminDatabase = KernelSchema & AccountsTables & TokensTables;

export interface AdminUserRecord {
  readonly id: string;
  readonly name: string;
  readonly emailCiphertext: string;
  readonly role: Role;
  readonly disabled: boolean;
  readonly emailVerified: boolean;
  readonly createdAt: Date;
}

/** What an administrator's change did: the target before and after, or why nothing changed. */
export type UserChange =
  | { readonly ok: true; readonly before: AdminUserRecord; readonly after: AdminUserRecord }
  | { readonly ok: false; readonly reason: 'not_found' | 'last_admin' };

export interface EventFilter {
  readonly event?: string | undefined;
  readonly actor?: string | undefined;
  readonly from?: Date | undefined;
  readonly to?: Date | undefined;
  readonly beforeId?: string | undefined;
  readonly limit: number;
}

/** One keyset page: the rows shown, and the last of them when another page follows (the next page starts after it). */
export interface KeysetPage<T> {
  readonly items: readonly T[];
  readonly continueAfter: T | undefined;
}

// The query asks for one row more than the page shows: that row tells whether another page follows, without a count.
function keysetPage<T>(rows: readonly T[], limit: number): KeysetPage<T> {
  const items = rows.slice(0, limit);
  return { items, continueAfter: rows.length > limit ? items.at(-1) : undefined };
}

// The users.id column is a uuid: anything else in an actor column would make PostgreSQL refuse the whole query.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** User administration and the security event log, through Kysely builders only. */
export function createAdminRepository(db: Kysely<AdminDatabase>) {
  const columns = ['id', 'name', 'email_ciphertext', 'role', 'disabled_at', 'email_verified_at', 'created_at'] as const;
  const toRecord = (row: { id: string; name: string; email_ciphertext: string; role: string; disabled_at: Date | null; email_verified_at: Date | null; created_at: Date }): AdminUserRecord => ({
    id: row.id,
    name: row.name,
    emailCiphertext: row.email_ciphertext,
    role: row.role as Role,
    disabled: row.disabled_at !== null,
    emailVerified: row.email_verified_at !== null,
    createdAt: row.created_at,
  });

  return {
    /** A page of `limit` users by name, then id (keyset). */
    async listUsers(options: { role?: Role | undefined; after?: { name: string; id: string } | undefined; limit: number }): Promise<KeysetPage<AdminUserRecord>> {
      let query = db.selectFrom('users').select(columns);
      if (options.role !== undefined) query = query.where('role', '=', options.role);
      const { after } = options;
      if (after !== undefined) {
        query = query.where((eb) => eb.or([eb('name', '>', after.name), eb.and([eb('name', '=', after.name), eb('id', '>', after.id)])]));
      }
      const rows = await query.orderBy('name', 'asc').orderBy('id', 'asc').limit(options.limit + 1).execute();
      return keysetPage(rows.map(toRecord), options.limit);
    },

    /**
     * Changes a user's role or disabled state in one transaction that locks every active
     * administrator's row first: two administrators demoting each other at once are
     * serialized, so the second sees that only one is left and is refused.
     *
     * A real change also ends, in the same transaction, every API credential the user held
     * under the old privileges: refresh families and personal tokens are deleted and access
     * tokens issued until `now` are refused. So no failure after the commit (the shared store
     * down) can leave them alive; only the store's part (sessions, the version marker) is left
     * to the caller, which can repeat it.
     */
    async changeUser(id: string, change: { role?: Role | undefined; disabled?: boolean | undefined }, now: Date): Promise<UserChange> {
      return db.transaction().execute(async (trx) => {
        const admins = await trx.selectFrom('users').select('id').where('role', '=', 'admin').where('disabled_at', 'is', null).orderBy('id').forUpdate().execute();
        const row = await trx.selectFrom('users').select(columns).where('id', '=', id).forUpdate().executeTakeFirst();
        if (row === undefined) return { ok: false, reason: 'not_found' } as const;
        const before = toRecord(row);
        const wasActiveAdmin = before.role === 'admin' && !before.disabled;
        const role = change.role ?? before.role;
        const disabled = change.disabled ?? before.disabled;
        const staysActiveAdmin = role === 'admin' && !disabled;
        if (wasActiveAdmin && !staysActiveAdmin && admins.length <= 1) return { ok: false, reason: 'last_admin' } as const;
        const updated = await trx.updateTable('users')
          .set({ role, disabled_at: disabled ? (row.disabled_at ?? now) : null, updated_at: now })
          .where('id', '=', id)
          .returning(columns)
          .executeTakeFirstOrThrow();
        const after = toRecord(updated);
        if (after.role !== before.role || after.disabled !== before.disabled) {
          const tokens = createTokensRepository(tablesOf<TokensTables>(trx));
          await tokens.deleteRefreshTokensOfUser(id);
          await tokens.deletePersonalTokensOfUser(id);
          await writeTokensNotBefore(tablesOf<KernelSchema>(trx), id, now);
        }
        return { ok: true, before, after } as const;
      });
    },

    /** The names of the users among `ids` (ids that are not UUIDs, or name no user, are left out). */
    async userNames(ids: readonly string[]): Promise<Map<string, string>> {
      const wanted = [...new Set(ids.filter((id) => UUID.test(id)))];
      if (wanted.length === 0) return new Map();
      const rows = await db.selectFrom('users').select(['id', 'name']).where('id', 'in', wanted).execute();
      return new Map(rows.map((row) => [row.id, row.name]));
    },

    /** A page of `filter.limit` security events, newest first, by id (keyset). */
    async listEvents(filter: EventFilter) {
      let query = db.selectFrom('security_events').select(['id', 'occurred_at', 'event', 'severity', 'actor', 'client_ip', 'request_id', 'details']);
      if (filter.event !== undefined) query = query.where('event', '=', filter.event);
      if (filter.actor !== undefined) query = query.where('actor', '=', filter.actor);
      if (filter.from !== undefined) query = query.where('occurred_at', '>=', filter.from);
      if (filter.to !== undefined) query = query.where('occurred_at', '<', filter.to);
      if (filter.beforeId !== undefined) query = query.where('id', '<', filter.beforeId);
      return keysetPage(await query.orderBy('id', 'desc').limit(filter.limit + 1).execute(), filter.limit);
    },
  };
}

export type AdminRepository = ReturnType<typeof createAdminRepository>;
