import type { ColumnType } from 'kysely';

/** Refresh tokens, stored only as SHA-256; one-time use within a family. */
export interface RefreshTokensTable {
  token_hash: string;
  family_id: string;
  user_id: string;
  scope: string;
  expires_at: Date;
  used_at: Date | null;
  created_at: ColumnType<Date, Date | undefined, never>;
}

/** Personal access tokens, stored only as SHA-256. */
export interface PersonalAccessTokensTable {
  id: string;
  user_id: string;
  name: string;
  token_hash: string;
  scope: string;
  expires_at: Date;
  created_at: ColumnType<Date, Date | undefined, never>;
}

/** The tokens module's tables. */
export interface TokensTables {
  refresh_tokens: RefreshTokensTable;
  personal_access_tokens: PersonalAccessTokensTable;
}
