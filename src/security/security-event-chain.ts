import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { KernelSchema } from '../platform/database-schema.js';
import type { Keyring } from './keyring.js';

/**
 * The security event log as a hash chain. Each row's `chain_mac` is an HMAC-SHA256, under a key
 * derived from the root secret, over a canonical encoding of the row's fields and the MAC of
 * the row before it (`chain_prev`). An HMAC rather than a bare SHA-256: whoever can write the
 * table (an SQL injection, a stolen owner password) could recompute a bare hash chain after
 * editing a row, but cannot make a MAC without RAMPART_SECRET_KEY, which never reaches the
 * database.
 *
 * Covered: occurred_at, event, severity, actor, request_id, details and chain_prev. Not
 * covered: `client_ip`, which the retention job may set to NULL on old rows (personal data
 * kept only as long as needed); and `id`, which PostgreSQL assigns at insert (the links give
 * the order). Not detectable by the chain alone: removing the newest rows (nothing after them
 * links to them); the structured log line written for every event still holds them.
 */

/** Key purpose: `deriveKeys(CHAIN_PURPOSE)` gives the current secret's key, then each fallback's. */
export const CHAIN_PURPOSE = 'security-events-chain';
/** `chain_prev` of the first chained row. */
export const CHAIN_GENESIS = 'genesis';
// Every writer of every instance takes it around "read the tail, insert after it", so the chain
// stays one line however many instances write at once. Arbitrary; distinct from the other locks.
const CHAIN_LOCK_ID = 7_220_551_837_015_772;
const VERSION = 'rampart-events/v1';

/** The fields a chain MAC covers. */
export interface ChainedFields {
  readonly occurredAt: Date;
  readonly event: string;
  readonly severity: string;
  readonly actor: string | null;
  readonly requestId: string | null;
  readonly details: Readonly<Record<string, unknown>>;
}

/** JSON with object keys sorted at every level: PostgreSQL's jsonb does not keep the order they were written in. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.keys(value).sort().map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
    return `{${entries.join(',')}}`;
  }
  // JSON.stringify gives no text for undefined (and functions): encoded as null, as in arrays.
  if (value === undefined || typeof value === 'function') return 'null';
  return JSON.stringify(value);
}

/** The bytes a MAC covers: a JSON array of strings and nulls, which is injective. */
export function canonicalEncoding(prev: string, fields: ChainedFields): string {
  return JSON.stringify([VERSION, prev, fields.occurredAt.toISOString(), fields.event, fields.severity, fields.actor, fields.requestId, canonicalJson(fields.details)]);
}

/** Computes chain MACs with the current secret's key and checks them against every configured one. */
export interface ChainKeys {
  mac(prev: string, fields: ChainedFields): string;
  /** True when `given` is the MAC of the fields under the current or a fallback secret. */
  verify(given: string, prev: string, fields: ChainedFields): boolean;
}

export function createChainKeys(keyring: Pick<Keyring, 'deriveKeys'>): ChainKeys {
  const keys: KeyObject[] = keyring.deriveKeys(CHAIN_PURPOSE).map((bytes) => createSecretKey(bytes));
  const macWith = (key: KeyObject, prev: string, fields: ChainedFields): Buffer => createHmac('sha256', key).update(canonicalEncoding(prev, fields), 'utf8').digest();
  return {
    mac: (prev, fields) => macWith(keys[0] as KeyObject, prev, fields).toString('base64url'),
    verify(given, prev, fields) {
      const bytes = Buffer.from(given, 'base64url');
      if (bytes.length !== 32 || bytes.toString('base64url') !== given) return false;
      return keys.some((key) => timingSafeEqual(bytes, macWith(key, prev, fields)));
    },
  };
}

/**
 * Inside `trx`: takes the chain lock (held until the transaction ends) and returns the MAC
 * the next row must link to. Costs two statements per batch of rows, never one per event.
 */
export async function lockChainTail(trx: Transaction<KernelSchema>): Promise<string> {
  await sql`select pg_advisory_xact_lock(${sql.lit(CHAIN_LOCK_ID)})`.execute(trx);
  const tail = await trx.selectFrom('security_events').select('chain_mac')
    .where('id', '>=', (eb) => eb.selectFrom('security_events_chain').select('genesis_id').limit(1))
    .orderBy('id', 'desc').limit(1).executeTakeFirst();
  return tail?.chain_mac ?? CHAIN_GENESIS;
}

/** What `rampart events verify` found. */
export type ChainReport =
  | { readonly ok: true; readonly checked: number; readonly beforeChain: number }
  | { readonly ok: false; readonly checked: number; readonly beforeChain: number; readonly brokenRow: string; readonly reason: 'missing_mac' | 'broken_link' | 'mac_mismatch' };

const PAGE = 1000;

/**
 * Walks the log in id order and checks every row from the genesis id on: its `chain_prev` must
 * be the MAC of the row before it (a deleted or reordered row breaks this link), and its MAC
 * must verify under the current or a fallback secret (an edited field breaks this). Stops at,
 * and names, the first broken row.
 */
export async function verifyChain(db: Kysely<KernelSchema>, keys: ChainKeys, onProgress?: (checked: number) => void): Promise<ChainReport> {
  const genesis = await db.selectFrom('security_events_chain').select('genesis_id').limit(1).executeTakeFirst();
  const genesisId = genesis?.genesis_id ?? '1';
  const { rows: counted } = await sql<{ count: string }>`select count(*)::text as count from security_events where id < ${genesisId}`.execute(db);
  const beforeChain = Number(counted[0]?.count ?? 0);
  let prev = CHAIN_GENESIS;
  let checked = 0;
  let after: string | null = null;
  for (;;) {
    const from: string = after ?? String(BigInt(genesisId) - 1n);
    const rows = await db.selectFrom('security_events')
      .select(['id', 'occurred_at', 'event', 'severity', 'actor', 'request_id', 'details', 'chain_prev', 'chain_mac'])
      .where('id', '>', from).orderBy('id').limit(PAGE).execute();
    if (rows.length === 0) return { ok: true, checked, beforeChain };
    for (const row of rows) {
      const broken = (reason: 'missing_mac' | 'broken_link' | 'mac_mismatch'): ChainReport => ({ ok: false, checked, beforeChain, brokenRow: row.id, reason });
      if (row.chain_mac === null || row.chain_prev === null) return broken('missing_mac');
      if (row.chain_prev !== prev) return broken('broken_link');
      const fields: ChainedFields = { occurredAt: row.occurred_at, event: row.event, severity: row.severity, actor: row.actor, requestId: row.request_id, details: row.details };
      if (!keys.verify(row.chain_mac, row.chain_prev, fields)) return broken('mac_mismatch');
      prev = row.chain_mac;
      checked += 1;
    }
    after = rows[rows.length - 1]?.id ?? null;
    onProgress?.(checked);
  }
}
