import type { ColumnType } from 'kysely';

/** A user's TOTP authenticator: the secret only encrypted; enabled once a first code proved the app has it. */
export interface MfaTotpTable {
  user_id: string;
  secret_ciphertext: string;
  enabled_at: Date | null;
  /** The last RFC 6238 time step accepted (a bigint: the driver returns it as a string). */
  last_step: ColumnType<string | null, number | null | undefined, number | null>;
  created_at: ColumnType<Date, Date | undefined, never>;
}

/** Single-use recovery codes, only as keyed hashes; a used one is deleted. */
export interface MfaRecoveryCodesTable {
  user_id: string;
  code_hash: string;
  created_at: ColumnType<Date, Date | undefined, never>;
}

/** The mfa module's tables. */
export interface MfaTables {
  mfa_totp: MfaTotpTable;
  mfa_recovery_codes: MfaRecoveryCodesTable;
}
