import type { Kysely } from 'kysely';
import type { AccountsTables } from './tables.js';

/** The tables this repository reads and writes. */
export type AccountsDatabase = AccountsTables;

import type { Role } from '../../security/authorization.js';

export type TokenPurpose = 'verify_email' | 'reset_password';

/** A user as the service sees it; the email is still ciphertext here. */
export interface UserRecord {
  readonly id: string;
  readonly name: string;
  readonly emailCiphertext: string;
  readonly emailIndex: string;
  readonly passwordHash: string;
  readonly role: Role;
  readonly emailVerifiedAt: Date | null;
  readonly disabledAt: Date | null;
  readonly createdAt: Date;
}

const UNIQUE_VIOLATION = '23505';

function isUniqueViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && 'code' in err && err.code === UNIQUE_VIOLATION;
}

/** Account persistence through Kysely builders only: every value is a bound parameter. */
export function createAccountsRepository(db: Kysely<AccountsDatabase>) {
  const users = () => db.selectFrom('users').select(['id', 'name', 'email_ciphertext', 'email_index', 'password_hash', 'role', 'email_verified_at', 'disabled_at', 'created_at']);
  const toRecord = (row: { id: string; name: string; email_ciphertext: string; email_index: string; password_hash: string; role: string; email_verified_at: Date | null; disabled_at: Date | null; created_at: Date }): UserRecord => ({
    id: row.id,
    name: row.name,
    emailCiphertext: row.email_ciphertext,
    emailIndex: row.email_index,
    passwordHash: row.password_hash,
    role: row.role as Role,
    emailVerifiedAt: row.email_verified_at,
    disabledAt: row.disabled_at,
    createdAt: row.created_at,
  });

  return {
    async findById(id: string): Promise<UserRecord | null> {
      const row = await users().where('id', '=', id).executeTakeFirst();
      return row === undefined ? null : toRecord(row);
    },

    /** What authentication and the profile need: no password hash, no blind index. */
    async findAccess(id: string): Promise<Omit<UserRecord, 'passwordHash' | 'emailIndex'> | null> {
      const row = await db.selectFrom('users').select(['id', 'name', 'email_ciphertext', 'role', 'email_verified_at', 'disabled_at', 'created_at']).where('id', '=', id).executeTakeFirst();
      return row === undefined ? null : {
        id: row.id, name: row.name, emailCiphertext: row.email_ciphertext, role: row.role as Role,
        emailVerifiedAt: row.email_verified_at, disabledAt: row.disabled_at, createdAt: row.created_at,
      };
    },

    /**
     * The user of a blind index. Given several (the index under the current secret first, then
     * under each fallback secret while `rampart keys rebuild-index` runs), the first that
     * matches wins, in one query.
     */
    async findByEmailIndex(emailIndex: string | readonly string[]): Promise<UserRecord | null> {
      const indexes = typeof emailIndex === 'string' ? [emailIndex] : emailIndex;
      if (indexes.length === 0) return null;
      const rows = await users().where('email_index', 'in', indexes).limit(indexes.length).execute();
      const row = rows.sort((a, b) => indexes.indexOf(a.email_index) - indexes.indexOf(b.email_index))[0];
      return row === undefined ? null : toRecord(row);
    },

    /** Inserts a user; false when the email is already registered (the unique index decides, so concurrent registrations cannot both win). */
    async insertUser(user: { id: string; name: string; emailCiphertext: string; emailIndex: string; passwordHash: string; role: Role; emailVerifiedAt: Date | null }): Promise<boolean> {
      // An address its former owner may still take back (an email change's undo link) is taken.
      const reserved = await db.selectFrom('email_change_tokens').select('id').where('email_index', '=', user.emailIndex).where('purpose', '=', 'undo').where('expires_at', '>', new Date()).limit(1).executeTakeFirst();
      if (reserved !== undefined) return false;
      try {
        await db.insertInto('users').values({
          id: user.id,
          name: user.name,
          email_ciphertext: user.emailCiphertext,
          email_index: user.emailIndex,
          password_hash: user.passwordHash,
          role: user.role,
          email_verified_at: user.emailVerifiedAt,
          disabled_at: null,
        }).execute();
        return true;
      } catch (err) {
        if (isUniqueViolation(err)) return false;
        throw err;
      }
    },

    async updatePasswordHash(id: string, passwordHash: string): Promise<void> {
      await db.updateTable('users').set({ password_hash: passwordHash, updated_at: new Date() }).where('id', '=', id).execute();
    },

    async markEmailVerified(id: string): Promise<void> {
      await db.updateTable('users').set({ email_verified_at: new Date(), updated_at: new Date() }).where('id', '=', id).where('email_verified_at', 'is', null).execute();
    },

    /**
     * Deletes a user, unless they are the last active administrator: the check and the delete
     * run in one transaction that locks every administrator's row, as role changes do.
     */
    async deleteUser(id: string): Promise<'deleted' | 'last_admin'> {
      return db.transaction().execute(async (trx) => {
        const admins = await trx.selectFrom('users').select('id').where('role', '=', 'admin').where('disabled_at', 'is', null).orderBy('id').forUpdate().execute();
        if (admins.length === 1 && admins[0]?.id === id) return 'last_admin';
        await trx.deleteFrom('users').where('id', '=', id).execute();
        return 'deleted';
      });
    },

    async hasActiveAdmin(): Promise<boolean> {
      const row = await db.selectFrom('users').select('id').where('role', '=', 'admin').where('disabled_at', 'is', null).limit(1).executeTakeFirst();
      return row !== undefined;
    },

    async insertToken(token: { tokenHash: string; userId: string; purpose: TokenPurpose; expiresAt: Date }): Promise<void> {
      await db.insertInto('account_tokens').values({ token_hash: token.tokenHash, user_id: token.userId, purpose: token.purpose, expires_at: token.expiresAt }).execute();
    },

    /**
     * Redeems a one-time token: deletes it and returns its user when it exists, has this
     * purpose and has not expired. DELETE … RETURNING makes redemption atomic, so of two
     * concurrent uses exactly one succeeds; an expired token is deleted too.
     */
    async consumeToken(tokenHash: string, purpose: TokenPurpose, now: Date): Promise<string | null> {
      const row = await db.deleteFrom('account_tokens').where('token_hash', '=', tokenHash).where('purpose', '=', purpose).returning(['user_id', 'expires_at']).executeTakeFirst();
      if (row === undefined || row.expires_at.getTime() <= now.getTime()) return null;
      return row.user_id;
    },

    /** The user a live token belongs to, without spending it. */
    async peekToken(tokenHash: string, purpose: TokenPurpose, now: Date): Promise<string | null> {
      const row = await db.selectFrom('account_tokens').select('user_id').where('token_hash', '=', tokenHash).where('purpose', '=', purpose).where('expires_at', '>', now).executeTakeFirst();
      return row?.user_id ?? null;
    },

    async deleteTokens(userId: string, purpose: TokenPurpose): Promise<void> {
      await db.deleteFrom('account_tokens').where('user_id', '=', userId).where('purpose', '=', purpose).execute();
    },
  };
}

export type AccountsRepository = ReturnType<typeof createAccountsRepository>;
