import type { Kysely } from 'kysely';
import type { TokensTables } from './tables.js';

/** The tables this repository reads and writes. */
export type TokensDatabase = TokensTables;

export interface RefreshTokenRecord {
  readonly familyId: string;
  readonly userId: string;
  readonly scope: string;
  /** When the token expires; a family's tokens never outlive its first one. */
  readonly expiresAt: Date;
}

export interface PersonalTokenRecord {
  readonly id: string;
  readonly name: string;
  readonly scope: string;
  readonly createdAt: Date;
  readonly expiresAt: Date;
}

/** Refresh and personal access tokens, by SHA-256 only, through Kysely builders. */
export function createTokensRepository(db: Kysely<TokensDatabase>) {
  return {
    async insertRefreshToken(token: { tokenHash: string; familyId: string; userId: string; scope: string; expiresAt: Date }): Promise<void> {
      await db.insertInto('refresh_tokens').values({ token_hash: token.tokenHash, family_id: token.familyId, user_id: token.userId, scope: token.scope, expires_at: token.expiresAt, used_at: null }).execute();
    },

    /**
     * Spends a refresh token: marks it used and returns it when it was unused and live. The
     * conditional UPDATE makes this atomic, so of two concurrent refreshes exactly one wins.
     */
    async useRefreshToken(tokenHash: string, now: Date): Promise<RefreshTokenRecord | null> {
      const row = await db.updateTable('refresh_tokens').set({ used_at: now })
        .where('token_hash', '=', tokenHash).where('used_at', 'is', null).where('expires_at', '>', now)
        .returning(['family_id', 'user_id', 'scope', 'expires_at']).executeTakeFirst();
      return row === undefined ? null : { familyId: row.family_id, userId: row.user_id, scope: row.scope, expiresAt: row.expires_at };
    },

    /** The family of a token that was already used (a replay), or null. */
    async findUsedRefreshToken(tokenHash: string): Promise<{ familyId: string; userId: string } | null> {
      const row = await db.selectFrom('refresh_tokens').select(['family_id', 'user_id']).where('token_hash', '=', tokenHash).where('used_at', 'is not', null).executeTakeFirst();
      return row === undefined ? null : { familyId: row.family_id, userId: row.user_id };
    },

    async findRefreshToken(tokenHash: string): Promise<{ familyId: string; userId: string } | null> {
      const row = await db.selectFrom('refresh_tokens').select(['family_id', 'user_id']).where('token_hash', '=', tokenHash).executeTakeFirst();
      return row === undefined ? null : { familyId: row.family_id, userId: row.user_id };
    },

    async deleteRefreshFamily(familyId: string): Promise<number> {
      const result = await db.deleteFrom('refresh_tokens').where('family_id', '=', familyId).executeTakeFirst();
      return Number(result.numDeletedRows);
    },

    async deleteRefreshTokensOfUser(userId: string): Promise<void> {
      await db.deleteFrom('refresh_tokens').where('user_id', '=', userId).execute();
    },

    /** Drops the user's expired rows; used rows are kept until then, for reuse detection. */
    async deleteExpiredRefreshTokens(userId: string, now: Date): Promise<void> {
      await db.deleteFrom('refresh_tokens').where('user_id', '=', userId).where('expires_at', '<=', now).execute();
    },

    async insertPersonalToken(token: { id: string; userId: string; name: string; tokenHash: string; scope: string; expiresAt: Date }): Promise<void> {
      await db.insertInto('personal_access_tokens').values({ id: token.id, user_id: token.userId, name: token.name, token_hash: token.tokenHash, scope: token.scope, expires_at: token.expiresAt }).execute();
    },

    async countPersonalTokens(userId: string): Promise<number> {
      const row = await db.selectFrom('personal_access_tokens').select((eb) => eb.fn.countAll<string>().as('count')).where('user_id', '=', userId).executeTakeFirst();
      return Number(row?.count ?? 0);
    },

    async listPersonalTokens(userId: string, now: Date): Promise<PersonalTokenRecord[]> {
      const rows = await db.selectFrom('personal_access_tokens').select(['id', 'name', 'scope', 'created_at', 'expires_at'])
        .where('user_id', '=', userId).where('expires_at', '>', now).orderBy('created_at', 'desc').execute();
      return rows.map((row) => ({ id: row.id, name: row.name, scope: row.scope, createdAt: row.created_at, expiresAt: row.expires_at }));
    },

    async findPersonalToken(tokenHash: string, now: Date): Promise<{ userId: string; scope: string } | null> {
      const row = await db.selectFrom('personal_access_tokens').select(['user_id', 'scope']).where('token_hash', '=', tokenHash).where('expires_at', '>', now).executeTakeFirst();
      return row === undefined ? null : { userId: row.user_id, scope: row.scope };
    },

    /** Deletes one of the user's tokens; only the user's own rows can match. */
    async deletePersonalToken(userId: string, id: string): Promise<boolean> {
      const result = await db.deleteFrom('personal_access_tokens').where('user_id', '=', userId).where('id', '=', id).executeTakeFirst();
      return result.numDeletedRows > 0n;
    },

    async deletePersonalTokenByHash(tokenHash: string): Promise<string | null> {
      const row = await db.deleteFrom('personal_access_tokens').where('token_hash', '=', tokenHash).returning('user_id').executeTakeFirst();
      return row?.user_id ?? null;
    },

    async deletePersonalTokensOfUser(userId: string): Promise<void> {
      await db.deleteFrom('personal_access_tokens').where('user_id', '=', userId).execute();
    },
  };
}

export type TokensRepository = ReturnType<typeof createTokensRepository>;
