import type { Kysely } from 'kysely';
import type { MfaTables } from './tables.js';

export interface TotpRecord {
  readonly secretCiphertext: string;
  readonly enabled: boolean;
}

/** Second factors through Kysely builders; every check-and-spend is one conditional statement. */
export function createMfaRepository(db: Kysely<MfaTables>) {
  return {
    async findTotp(userId: string): Promise<TotpRecord | null> {
      const row = await db.selectFrom('mfa_totp').select(['secret_ciphertext', 'enabled_at']).where('user_id', '=', userId).executeTakeFirst();
      return row === undefined ? null : { secretCiphertext: row.secret_ciphertext, enabled: row.enabled_at !== null };
    },

    async isEnabled(userId: string): Promise<boolean> {
      const row = await db.selectFrom('mfa_totp').select('user_id').where('user_id', '=', userId).where('enabled_at', 'is not', null).executeTakeFirst();
      return row !== undefined;
    },

    /** A new secret waiting for its first code; replaces a pending one, never an enabled one (false then). */
    async savePendingSecret(userId: string, secretCiphertext: string): Promise<boolean> {
      const row = await db.insertInto('mfa_totp').values({ user_id: userId, secret_ciphertext: secretCiphertext, enabled_at: null, last_step: null })
        .onConflict((oc) => oc.column('user_id').doUpdateSet({ secret_ciphertext: secretCiphertext, last_step: null }).where('mfa_totp.enabled_at', 'is', null))
        .returning('user_id').executeTakeFirst();
      return row !== undefined;
    },

    /**
     * Accepts a code's time step once: true when the step is later than the last accepted one
     * (atomically, so two requests with one code cannot both pass). With `activate`, only a
     * pending secret is matched, and it is enabled; otherwise only an enabled one.
     */
    async acceptStep(userId: string, step: number, options: { readonly activate: boolean; readonly now: Date }): Promise<boolean> {
      let query = db.updateTable('mfa_totp').set(options.activate ? { last_step: step, enabled_at: options.now } : { last_step: step })
        .where('user_id', '=', userId)
        .where((eb) => eb.or([eb('last_step', 'is', null), eb('last_step', '<', step as unknown as string)]));
      query = options.activate ? query.where('enabled_at', 'is', null) : query.where('enabled_at', 'is not', null);
      const row = await query.returning('user_id').executeTakeFirst();
      return row !== undefined;
    },

    /** Removes the authenticator and the recovery codes in one transaction; false when there was none. */
    async deleteAll(userId: string): Promise<boolean> {
      return db.transaction().execute(async (trx) => {
        await trx.deleteFrom('mfa_recovery_codes').where('user_id', '=', userId).execute();
        const row = await trx.deleteFrom('mfa_totp').where('user_id', '=', userId).returning('enabled_at').executeTakeFirst();
        return row?.enabled_at != null;
      });
    },

    /** Replaces the user's recovery codes (the old set is void) in one transaction. */
    async replaceRecoveryCodes(userId: string, hashes: readonly string[]): Promise<void> {
      await db.transaction().execute(async (trx) => {
        await trx.deleteFrom('mfa_recovery_codes').where('user_id', '=', userId).execute();
        await trx.insertInto('mfa_recovery_codes').values(hashes.map((hash) => ({ user_id: userId, code_hash: hash }))).execute();
      });
    },

    /** Spends a recovery code: true for exactly one of any number of concurrent uses. */
    async useRecoveryCode(userId: string, hash: string): Promise<boolean> {
      const row = await db.deleteFrom('mfa_recovery_codes').where('user_id', '=', userId).where('code_hash', '=', hash).returning('user_id').executeTakeFirst();
      return row !== undefined;
    },

    async countRecoveryCodes(userId: string): Promise<number> {
      const row = await db.selectFrom('mfa_recovery_codes').select((eb) => eb.fn.countAll<string>().as('n')).where('user_id', '=', userId).executeTakeFirst();
      return Number(row?.n ?? 0);
    },

    /** Active administrators without an enabled authenticator (the boot-time warning). */
    /** Active administrators without an enabled TOTP (another module's factor is asked by the service). */
    async adminsWithoutTotp(): Promise<string[]> {
      const rows = await (db as unknown as Kysely<MfaTables & { users: { id: string; role: string; disabled_at: Date | null } }>)
        .selectFrom('users')
        .leftJoin('mfa_totp', (join) => join.onRef('mfa_totp.user_id', '=', 'users.id').on('mfa_totp.enabled_at', 'is not', null))
        .select('users.id as id')
        .where('users.role', '=', 'admin').where('users.disabled_at', 'is', null).where('mfa_totp.user_id', 'is', null)
        .execute();
      return rows.map((row) => row.id);
    },
  };
}

export type MfaRepository = ReturnType<typeof createMfaRepository>;
