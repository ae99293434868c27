import { sql, type Kysely } from 'kysely';
import type { KernelSchema } from '../../platform/database-schema.js';

// One pruning run at a time across instances: a transaction-scoped advisory lock per batch.
// The value is arbitrary; it only has to differ from the other advisory locks' ids.
const RETENTION_LOCK_ID = 7_220_551_837_015_901;

export interface PruneResult {
  /** Rows whose client IP was erased. */
  readonly erased: number;
  /** False when another instance held the lock and this run did nothing. */
  readonly ran: boolean;
}

/**
 * Erases `client_ip` of security events that occurred before `before`, in batches of
 * `batchSize` rows, each its own short transaction (so a large backlog never holds a long lock
 * or one huge write). The event rows themselves stay: the log is append-only, and the
 * application role may update this one column only (database-privileges.ts).
 */
export async function pruneEventAddresses(db: Kysely<Pick<KernelSchema, 'security_events'>>, options: { readonly before: Date; readonly batchSize?: number; readonly maxBatches?: number }): Promise<PruneResult> {
  const { before, batchSize = 1_000, maxBatches = 1_000 } = options;
  let erased = 0;
  for (let batch = 0; batch < maxBatches; batch += 1) {
    const result = await db.transaction().execute(async (trx) => {
      const { rows } = await sql<{ locked: boolean }>`select pg_try_advisory_xact_lock(${sql.lit(RETENTION_LOCK_ID)}) as locked`.execute(trx);
      if (rows[0]?.locked !== true) return null;
      const updated = await trx.updateTable('security_events')
        .set({ client_ip: null })
        .where('id', 'in', (eb) => eb.selectFrom('security_events').select('id')
          .where('occurred_at', '<', before).where('client_ip', 'is not', null).orderBy('id').limit(batchSize))
        .executeTakeFirst();
      return Number(updated.numUpdatedRows);
    });
    if (result === null) return { erased, ran: batch > 0 };
    erased += result;
    if (result < batchSize) break;
  }
  return { erased, ran: true };
}
