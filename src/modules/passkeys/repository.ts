import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { PasskeysTables } from './tables.js';

export interface PasskeyRecord {
  readonly id: string;
  readonly userId: string;
  readonly credentialId: string;
  readonly publicKey: Uint8Array<ArrayBuffer>;
  readonly counter: number;
  readonly transports: readonly string[];
  readonly deviceType: 'singleDevice' | 'multiDevice';
  readonly backedUp: boolean;
  readonly name: string;
  readonly createdAt: Date;
  readonly lastUsedAt: Date | null;
}

/** Passkeys one account may keep (each is listed in every registration's `excludeCredentials`). */
export const MAX_PASSKEYS = 20;

const columns = ['id', 'user_id', 'credential_id', 'public_key', 'counter', 'transports', 'device_type', 'backed_up', 'name', 'created_at', 'last_used_at'] as const;
type Row = { id: string; user_id: string; credential_id: string; public_key: Uint8Array; counter: string; transports: string; device_type: 'singleDevice' | 'multiDevice'; backed_up: boolean; name: string; created_at: Date; last_used_at: Date | null };
const toRecord = (row: Row): PasskeyRecord => ({
  id: row.id,
  userId: row.user_id,
  credentialId: row.credential_id,
  publicKey: new Uint8Array(row.public_key),
  counter: Number(row.counter),
  transports: row.transports === '' ? [] : row.transports.split(','),
  deviceType: row.device_type,
  backedUp: row.backed_up,
  name: row.name,
  createdAt: row.created_at,
  lastUsedAt: row.last_used_at,
});

/** Parameterized queries only (Kysely); every read is by owner, by id or by credential id. */
export function createPasskeysRepository(db: Kysely<PasskeysTables>) {
  return {
    async listForUser(userId: string): Promise<PasskeyRecord[]> {
      const rows = await db.selectFrom('passkeys').select(columns).where('user_id', '=', userId).orderBy('created_at', 'asc').orderBy('id', 'asc').limit(MAX_PASSKEYS).execute();
      return rows.map(toRecord);
    },

    async find(id: string): Promise<PasskeyRecord | null> {
      const row = await db.selectFrom('passkeys').select(columns).where('id', '=', id).executeTakeFirst();
      return row === undefined ? null : toRecord(row);
    },

    async findByCredentialId(credentialId: string): Promise<PasskeyRecord | null> {
      const row = await db.selectFrom('passkeys').select(columns).where('credential_id', '=', credentialId).executeTakeFirst();
      return row === undefined ? null : toRecord(row);
    },

    /**
     * The new passkey; `limit` when the user already keeps {@link MAX_PASSKEYS} (counted under a
     * lock on the user), `duplicate` when the credential is registered already (to anyone).
     */
    async insert(input: Omit<PasskeyRecord, 'id' | 'createdAt' | 'lastUsedAt'>): Promise<PasskeyRecord | 'limit' | 'duplicate'> {
      return db.transaction().execute(async (trx) => {
        await sql`select pg_advisory_xact_lock(hashtext(${`passkeys:${input.userId}`}))`.execute(trx);
        const { count } = await trx.selectFrom('passkeys').select((eb) => eb.fn.countAll<string>().as('count')).where('user_id', '=', input.userId).executeTakeFirstOrThrow();
        if (Number(count) >= MAX_PASSKEYS) return 'limit' as const;
        const row = await trx.insertInto('passkeys').values({
          id: randomUUID(),
          user_id: input.userId,
          credential_id: input.credentialId,
          public_key: Buffer.from(input.publicKey),
          counter: input.counter,
          transports: input.transports.join(','),
          device_type: input.deviceType,
          backed_up: input.backedUp,
          name: input.name,
        }).onConflict((oc) => oc.column('credential_id').doNothing()).returning(columns).executeTakeFirst();
        return row === undefined ? 'duplicate' as const : toRecord(row);
      });
    },

    /**
     * Records a verified use: the new counter, backup state and time, only if the stored counter
     * is still `expected` (a concurrent use of the same credential makes this one lose).
     */
    async recordUse(id: string, expected: number, update: { counter: number; backedUp: boolean }): Promise<boolean> {
      const result = await db.updateTable('passkeys')
        .set({ counter: update.counter, backed_up: update.backedUp, last_used_at: new Date() })
        .where('id', '=', id)
        .where('counter', '=', String(expected))
        .executeTakeFirst();
      return result.numUpdatedRows === 1n;
    },

    /** Renames `userId`'s passkey `id`; null when `userId` has no such passkey (the owner is part of the query). */
    async rename(userId: string, id: string, name: string): Promise<PasskeyRecord | null> {
      const row = await db.updateTable('passkeys').set({ name }).where('id', '=', id).where('user_id', '=', userId).returning(columns).executeTakeFirst();
      return row === undefined ? null : toRecord(row);
    },

    /** Deletes `userId`'s passkey `id`; false when `userId` has no such passkey. */
    async delete(userId: string, id: string): Promise<boolean> {
      const result = await db.deleteFrom('passkeys').where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
      return result.numDeletedRows === 1n;
    },
  };
}

export type PasskeysRepository = ReturnType<typeof createPasskeysRepository>;
