import { sql, type Kysely } from 'kysely';
import type { Keyring } from './keyring.js';

/**
 * A column holding keyring ciphertext, declared by its owner (the kernel, or a module's
 * `encryptedColumns`) so that re-encryption, the blind-index rebuild and the boot check reach
 * every encrypted value, including those of modules added later.
 */
export interface EncryptedColumn {
  /** The SQL table. */
  readonly table: string;
  /** The row's key column; its value as text is the associated data's `rowId`. */
  readonly keyColumn: string;
  /** The column holding the envelope (null allowed: nothing to re-encrypt). */
  readonly column: string;
  /** The table and column names bound into the ciphertext's associated data (what the owner passes to `encrypt`). */
  readonly aad: { readonly table: string; readonly column: string };
  /** A blind index of the plaintext kept beside it, rebuilt after a root-secret rotation. */
  readonly blindIndex?: { readonly column: string; readonly purpose: string };
}

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;

/** Checks a declaration at once, so a typo fails at boot naming its owner. */
export function checkEncryptedColumn(owner: string, column: EncryptedColumn): void {
  for (const name of [column.table, column.keyColumn, column.column, ...(column.blindIndex === undefined ? [] : [column.blindIndex.column])]) {
    if (typeof name !== 'string' || !IDENTIFIER.test(name)) throw new TypeError(`${owner}: encrypted column identifier "${name}" must be a lowercase SQL name`);
  }
  // Declarations may come from plain JavaScript: checked as unknown.
  const aad = column.aad as { table?: unknown; column?: unknown } | undefined;
  if (typeof aad?.table !== 'string' || aad.table === '' || typeof aad.column !== 'string' || aad.column === '') {
    throw new TypeError(`${owner}: encrypted column ${column.table}.${column.column} needs its associated data table and column`);
  }
}

/** `table.column`, as progress lines and messages name a column. */
export const columnLabel = (column: EncryptedColumn): string => `${column.table}.${column.column}`;

/** Where a job stands: `done` of `total` rows of one column. */
export interface Progress {
  readonly job: 'rotate-encryption' | 'rebuild-index';
  readonly column: string;
  readonly done: number;
  readonly total: number;
}

/** What a job did to one column; `failed` names rows that did not decrypt (tampered, or under an unconfigured key). */
export interface ColumnOutcome {
  readonly column: string;
  readonly changed: number;
  readonly failed: readonly string[];
  /** Rebuild only: rows whose new index another row already has (two accounts of one address). */
  readonly conflicts: readonly string[];
}

export interface JobOptions {
  readonly batchSize?: number;
  readonly onProgress?: (progress: Progress) => void;
}

const DEFAULT_BATCH = 500;
const UNIQUE_VIOLATION = '23505';

function sqlParts(column: EncryptedColumn) {
  return { table: sql.table(column.table), key: sql.ref(column.keyColumn), value: sql.ref(column.column) };
}

/** Rows whose envelope is not under `activeKeyId` (a prefix test: `v1.<id>.`). */
function staleFilter(column: EncryptedColumn, activeKeyId: string) {
  const { value } = sqlParts(column);
  const prefix = `v1.${activeKeyId}.`;
  return sql`${value} is not null and left(${value}, ${prefix.length}) <> ${prefix}`;
}

/** How many rows of the column are not under the active key. */
export async function countStale<DB>(db: Kysely<DB>, column: EncryptedColumn, activeKeyId: string): Promise<number> {
  const { table } = sqlParts(column);
  const { rows } = await sql<{ count: string }>`select count(*)::text as count from ${table} where ${staleFilter(column, activeKeyId)}`.execute(db);
  return Number(rows[0]?.count ?? 0);
}

/**
 * Re-encrypts every value of the column that is not under the keyring's active key, in batches
 * (one transaction each). Resumable by construction: a run stopped anywhere is simply started
 * again, and rows already under the active key are not selected. A row changed by the
 * application meanwhile is left as the application wrote it (compare-and-set on the old value).
 */
export async function reencryptColumn<DB>(db: Kysely<DB>, keyring: Keyring, column: EncryptedColumn, options: JobOptions = {}): Promise<ColumnOutcome> {
  const batchSize = options.batchSize ?? DEFAULT_BATCH;
  const { table, key, value } = sqlParts(column);
  const total = await countStale(db, column, keyring.activeKeyId);
  const failed: string[] = [];
  let changed = 0;
  let done = 0;
  let after: string | null = null;
  options.onProgress?.({ job: 'rotate-encryption', column: columnLabel(column), done, total });
  for (;;) {
    const from: string | null = after;
    const { rows } = await sql<{ id: string; value: string }>`
      select ${key}::text as id, ${value} as value from ${table}
      where ${staleFilter(column, keyring.activeKeyId)} ${from === null ? sql`` : sql`and ${key} > ${from}`}
      order by ${key} limit ${batchSize}`.execute(db);
    if (rows.length === 0) break;
    await db.transaction().execute(async (trx) => {
      for (const row of rows) {
        const next = keyring.reencrypt(row.value, { table: column.aad.table, column: column.aad.column, rowId: row.id });
        if (next === null) {
          failed.push(row.id);
          continue;
        }
        const result = await sql`update ${table} set ${value} = ${next} where ${key} = ${row.id} and ${value} = ${row.value}`.execute(trx);
        changed += Number(result.numAffectedRows ?? 0);
      }
    });
    done += rows.length;
    after = rows.at(-1)?.id ?? null;
    options.onProgress?.({ job: 'rotate-encryption', column: columnLabel(column), done: Math.min(done, Math.max(total, done)), total: Math.max(total, done) });
  }
  return { column: columnLabel(column), changed, failed, conflicts: [] };
}

/**
 * Rewrites the column's blind index under the current root secret, in batches, for every row
 * whose stored index differs (made under a fallback secret). Lookups try the fallback
 * secrets' indexes meanwhile, so nobody is locked out while it runs; run it again after an
 * interruption (rows already rebuilt are only read). A row whose new index another row holds
 * (the same address registered twice during the rotation) is reported, not changed.
 */
export async function rebuildBlindIndex<DB>(db: Kysely<DB>, keyring: Keyring, column: EncryptedColumn, options: JobOptions = {}): Promise<ColumnOutcome> {
  const index = column.blindIndex;
  if (index === undefined) return { column: columnLabel(column), changed: 0, failed: [], conflicts: [] };
  const batchSize = options.batchSize ?? DEFAULT_BATCH;
  const { table, key, value } = sqlParts(column);
  const indexRef = sql.ref(index.column);
  const { rows: counted } = await sql<{ count: string }>`select count(*)::text as count from ${table} where ${value} is not null`.execute(db);
  const total = Number(counted[0]?.count ?? 0);
  const failed: string[] = [];
  const conflicts: string[] = [];
  let changed = 0;
  let done = 0;
  let after: string | null = null;
  options.onProgress?.({ job: 'rebuild-index', column: `${column.table}.${index.column}`, done, total });
  for (;;) {
    const from: string | null = after;
    const { rows } = await sql<{ id: string; value: string; indexed: string | null }>`
      select ${key}::text as id, ${value} as value, ${indexRef} as indexed from ${table}
      where ${value} is not null ${from === null ? sql`` : sql`and ${key} > ${from}`}
      order by ${key} limit ${batchSize}`.execute(db);
    if (rows.length === 0) break;
    for (const row of rows) {
      const plaintext = keyring.decryptString(row.value, { table: column.aad.table, column: column.aad.column, rowId: row.id });
      if (plaintext === null) {
        failed.push(row.id);
        continue;
      }
      const next = keyring.blindIndex(plaintext, index.purpose);
      if (next === row.indexed) continue;
      try {
        const result = await sql`update ${table} set ${indexRef} = ${next} where ${key} = ${row.id} and ${indexRef} is not distinct from ${row.indexed}`.execute(db);
        changed += Number(result.numAffectedRows ?? 0);
      } catch (err) {
        if (typeof err === 'object' && err !== null && 'code' in err && err.code === UNIQUE_VIOLATION) conflicts.push(row.id);
        else throw err;
      }
    }
    done += rows.length;
    after = rows.at(-1)?.id ?? null;
    options.onProgress?.({ job: 'rebuild-index', column: `${column.table}.${index.column}`, done, total: Math.max(total, done) });
  }
  return { column: `${column.table}.${index.column}`, changed, failed, conflicts };
}

/** A column with rows sealed under keys the keyring does not have. */
export interface MissingKeyRows {
  readonly column: string;
  readonly rows: number;
  /** The first such row's key. */
  readonly firstRow: string;
  /** The unconfigured key ids found (at most 5). */
  readonly keyIds: readonly string[];
}

/**
 * Every declared column with rows whose envelope names a key id outside `keyIds` (or no valid
 * envelope at all): what would fail to decrypt. Boot refuses to start on any (RAMPART-E080).
 */
export async function findMissingKeyRows<DB>(db: Kysely<DB>, columns: readonly EncryptedColumn[], keyIds: readonly string[]): Promise<MissingKeyRows[]> {
  const missing: MissingKeyRows[] = [];
  for (const column of columns) {
    const { table, key, value } = sqlParts(column);
    const { rows } = await sql<{ count: string; first: string | null; ids: string[] | null }>`
      select count(*)::text as count, min(${key}::text) as first,
        (array_agg(distinct split_part(${value}, '.', 2)))[1:5] as ids
      from ${table}
      where ${value} is not null and split_part(${value}, '.', 2) not in (${sql.join(keyIds.map((id) => sql`${id}`))})`.execute(db);
    const row = rows[0];
    if (row === undefined || row.count === '0') continue;
    missing.push({ column: columnLabel(column), rows: Number(row.count), firstRow: row.first ?? '', keyIds: row.ids ?? [] });
  }
  return missing;
}
