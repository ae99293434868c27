import type { Kysely } from 'kysely';
import type { DatabaseSchema } from '../../platform/database-schema.js';
import type { Role } from '../accounts/repository.js';

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
  readonly event?: string;
  readonly actor?: string;
  readonly from?: Date;
  readonly to?: Date;
  readonly beforeId?: string;
  readonly limit: number;
}

/** User administration and the security event log, through Kysely builders only. */
export function createAdminRepository(db: Kysely<DatabaseSchema>) {
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
    /** Users by name, then id (keyset). */
    async listUsers(options: { role?: Role; after?: { name: string; id: string }; limit: number }): Promise<AdminUserRecord[]> {
      let query = db.selectFrom('users').select(columns);
      if (options.role !== undefined) query = query.where('role', '=', options.role);
      const { after } = options;
      if (after !== undefined) {
        query = query.where((eb) => eb.or([eb('name', '>', after.name), eb.and([eb('name', '=', after.name), eb('id', '>', after.id)])]));
      }
      const rows = await query.orderBy('name', 'asc').orderBy('id', 'asc').limit(options.limit).execute();
      return rows.map(toRecord);
    },

    /**
     * Changes a user's role or disabled state in one transaction that locks every active
     * administrator's row first: two administrators demoting each other at once are
     * serialized, so the second sees that only one is left and is refused.
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
        return { ok: true, before, after: toRecord(updated) } as const;
      });
    },

    /** Security events, newest first, by id (keyset). */
    async listEvents(filter: EventFilter) {
      let query = db.selectFrom('security_events').select(['id', 'occurred_at', 'event', 'severity', 'actor', 'client_ip', 'request_id', 'details']);
      if (filter.event !== undefined) query = query.where('event', '=', filter.event);
      if (filter.actor !== undefined) query = query.where('actor', '=', filter.actor);
      if (filter.from !== undefined) query = query.where('occurred_at', '>=', filter.from);
      if (filter.to !== undefined) query = query.where('occurred_at', '<', filter.to);
      if (filter.beforeId !== undefined) query = query.where('id', '<', filter.beforeId);
      return query.orderBy('id', 'desc').limit(filter.limit).execute();
    },
  };
}

export type AdminRepository = ReturnType<typeof createAdminRepository>;
