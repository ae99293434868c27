import { sql, type Kysely } from 'kysely';
import type { AccountsTables } from './tables.js';

const UNIQUE_VIOLATION = '23505';
/** Devices remembered per user; the least recently seen go first. */
export const MAX_KNOWN_DEVICES = 50;

function isUniqueViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && 'code' in err && err.code === UNIQUE_VIOLATION;
}

export type EmailChangePurpose = 'confirm' | 'undo';

/** A new email-change link as stored. */
export interface EmailChangeRow {
  readonly id: string;
  readonly tokenHash: string;
  readonly userId: string;
  readonly purpose: EmailChangePurpose;
  readonly emailCiphertext: string;
  readonly emailIndex: string;
  readonly expiresAt: Date;
}

/** A redeemed email-change link: its row id (the ciphertext's AAD), its user and the address it carries, still encrypted. */
export interface EmailChangeRecord {
  readonly id: string;
  readonly userId: string;
  readonly emailCiphertext: string;
  readonly emailIndex: string;
}

/**
 * The lifecycle's persistence: email-change links and known devices, through Kysely builders
 * only. The email change itself (the new ciphertext and blind index, and the link that undoes
 * it) is one transaction.
 */
/**
 * The partial unique index's predicate, as a literal: PostgreSQL matches an ON CONFLICT target
 * to a partial index only when the predicates agree as constants, which a bound parameter is
 * not under a generic plan (prepared statements, some poolers).
 */
const ONE_PENDING_PREDICATE = sql<boolean>`purpose = 'confirm'`;

export function createLifecycleRepository(db: Kysely<AccountsTables>) {
  return {
    /**
     * Stores a confirmation link as the account's only pending change: one statement replaces
     * an earlier link (its token stops working), so concurrent requests leave exactly one.
     */
    async replacePendingEmailChange(row: EmailChangeRow & { readonly purpose: 'confirm' }): Promise<void> {
      const values = {
        id: row.id, token_hash: row.tokenHash, user_id: row.userId, purpose: row.purpose,
        email_ciphertext: row.emailCiphertext, email_index: row.emailIndex, expires_at: row.expiresAt,
      };
      await db.insertInto('email_change_tokens').values(values)
        .onConflict((oc) => oc.column('user_id').where(ONE_PENDING_PREDICATE).doUpdateSet({
          id: values.id, token_hash: values.token_hash, email_ciphertext: values.email_ciphertext,
          email_index: values.email_index, expires_at: values.expires_at,
        }))
        .execute();
    },

    async deleteEmailChanges(userId: string, purpose?: EmailChangePurpose): Promise<void> {
      let query = db.deleteFrom('email_change_tokens').where('user_id', '=', userId);
      if (purpose !== undefined) query = query.where('purpose', '=', purpose);
      await query.execute();
    },

    /**
     * Redeems a link: deletes it and returns it when it exists, has this purpose and is live.
     * DELETE … RETURNING makes it single-use even under concurrent requests.
     */
    async consumeEmailChange(tokenHash: string, purpose: EmailChangePurpose, now: Date): Promise<EmailChangeRecord | null> {
      const row = await db.deleteFrom('email_change_tokens').where('token_hash', '=', tokenHash).where('purpose', '=', purpose)
        .returning(['id', 'user_id', 'email_ciphertext', 'email_index', 'expires_at']).executeTakeFirst();
      if (row === undefined || row.expires_at.getTime() <= now.getTime()) return null;
      return { id: row.id, userId: row.user_id, emailCiphertext: row.email_ciphertext, emailIndex: row.email_index };
    },

    /** True while an undo link holds `emailIndex` for its former owner: nobody else (`requester`) may take the address meanwhile. */
    async isReserved(emailIndex: string, requester: string, now: Date): Promise<boolean> {
      const row = await db.selectFrom('email_change_tokens').select('id').where('email_index', '=', emailIndex).where('purpose', '=', 'undo')
        .where('user_id', '!=', requester).where('expires_at', '>', now).limit(1).executeTakeFirst();
      return row !== undefined;
    },

    /**
     * Moves a user to another address in one transaction: the encrypted address and its blind
     * index change together (the unique index refuses an address taken meanwhile: false), and,
     * with `undo`, the link that restores the previous address is stored in the same commit.
     * `passwordHash` replaces the hash too (an undo locks the password until a reset).
     */
    async changeEmail(change: { userId: string; emailCiphertext: string; emailIndex: string; passwordHash?: string; undo?: EmailChangeRow }): Promise<boolean> {
      try {
        await db.transaction().execute(async (trx) => {
          const now = new Date();
          await trx.updateTable('users').set({
            email_ciphertext: change.emailCiphertext, email_index: change.emailIndex, email_verified_at: now, updated_at: now,
            ...(change.passwordHash === undefined ? {} : { password_hash: change.passwordHash }),
          }).where('id', '=', change.userId).execute();
          // Links mailed to an address the account no longer has must not act on it.
          await trx.deleteFrom('account_tokens').where('user_id', '=', change.userId).execute();
          await trx.deleteFrom('email_change_tokens').where('user_id', '=', change.userId).where('purpose', '=', 'confirm').execute();
          if (change.undo !== undefined) {
            const undo = change.undo;
            await trx.insertInto('email_change_tokens').values({
              id: undo.id, token_hash: undo.tokenHash, user_id: undo.userId, purpose: undo.purpose,
              email_ciphertext: undo.emailCiphertext, email_index: undo.emailIndex, expires_at: undo.expiresAt,
            }).execute();
          }
        });
        return true;
      } catch (err) {
        if (isUniqueViolation(err)) return false;
        throw err;
      }
    },

    async updateName(userId: string, name: string): Promise<boolean> {
      const result = await db.updateTable('users').set({ name, updated_at: new Date() }).where('id', '=', userId).where('disabled_at', 'is', null).executeTakeFirst();
      return result.numUpdatedRows > 0n;
    },

    /**
     * Remembers a device; true when it was not known yet. `firstEver` says whether the user had
     * no device at all before (a first sign-in is not news to its owner). The oldest devices
     * beyond {@link MAX_KNOWN_DEVICES} are forgotten.
     */
    async rememberDevice(userId: string, deviceHash: string, kind: 'cookie' | 'client'): Promise<{ readonly isNew: boolean; readonly firstEver: boolean }> {
      const now = new Date();
      const updated = await db.updateTable('known_devices').set({ last_seen_at: now }).where('user_id', '=', userId).where('device_hash', '=', deviceHash).executeTakeFirst();
      if (updated.numUpdatedRows > 0n) return { isNew: false, firstEver: false };
      const known = await db.selectFrom('known_devices').select('device_hash').where('user_id', '=', userId).limit(1).executeTakeFirst();
      const inserted = await db.insertInto('known_devices').values({ user_id: userId, device_hash: deviceHash, kind, last_seen_at: now })
        .onConflict((oc) => oc.columns(['user_id', 'device_hash']).doNothing()).executeTakeFirst();
      // A parallel sign-in from the same device inserted it first: that one reports it.
      if ((inserted.numInsertedOrUpdatedRows ?? 0n) === 0n) return { isNew: false, firstEver: false };
      const stale = await db.selectFrom('known_devices').select('device_hash').where('user_id', '=', userId).orderBy('last_seen_at', 'desc').offset(MAX_KNOWN_DEVICES).limit(100).execute();
      if (stale.length > 0) await db.deleteFrom('known_devices').where('user_id', '=', userId).where('device_hash', 'in', stale.map((s) => s.device_hash)).execute();
      return { isNew: true, firstEver: known === undefined };
    },

    async listDevices(userId: string): Promise<{ kind: string; firstSeenAt: Date; lastSeenAt: Date }[]> {
      const rows = await db.selectFrom('known_devices').select(['kind', 'first_seen_at', 'last_seen_at']).where('user_id', '=', userId).orderBy('last_seen_at', 'desc').execute();
      return rows.map((row) => ({ kind: row.kind, firstSeenAt: row.first_seen_at, lastSeenAt: row.last_seen_at }));
    },
  };
}

export type LifecycleRepository = ReturnType<typeof createLifecycleRepository>;
