import { createHmac, createPrivateKey, randomBytes, createSecretKey, generateKeyPairSync, timingSafeEqual, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, importJWK } from 'jose';
import type { Kysely } from 'kysely';
import type { KernelSchema } from '../platform/database-schema.js';
import type { StateStore } from '../platform/store.js';
import type { Keyring } from './keyring.js';

/** A public key imported for jose (a WebCrypto key). */
export type VerificationKey = Exclude<Awaited<ReturnType<typeof importJWK>>, Uint8Array>;

/** A public verification key as JWKS lists it. */
export interface PublicJwk {
  readonly kty: 'OKP';
  readonly crv: 'Ed25519';
  readonly x: string;
  readonly kid: string;
  readonly alg: 'EdDSA';
  readonly use: 'sig';
}

export interface SigningKeySetOptions {
  readonly db: Kysely<KernelSchema>;
  readonly keyring: Keyring;
  /** The longest access-token lifetime any instance issues; a superseded key verifies this long (plus slack). */
  readonly tokenLifetimeSeconds: number;
  /** Clock skew accepted on `exp`/`nbf`, in seconds. */
  readonly clockToleranceSeconds: number;
  /** How long an instance trusts its cached key set before reading the table again. Default 10 s. */
  readonly refreshIntervalMs?: number;
  /** The clock, injectable so tests let time pass without sleeping. Default `Date.now`. */
  readonly now?: () => number;
  /** Called for a row whose MAC does not verify (planted or edited outside Rampart); the row is ignored. */
  readonly onTamperedKey?: (kid: string) => void;
  /**
   * The shared store, where a retirement or rotation writes a new version marker
   * ({@link SIGNING_KEYS_VERSION_KEY}); instances read it in the round trip a bearer request
   * makes anyway and reload the set when it changed. Without it only the cache interval applies.
   */
  readonly store?: StateStore;
}

/** The store key of the signing keys' version marker: a new random value after every retirement or rotation. */
export const SIGNING_KEYS_VERSION_KEY = 'signing-keys:version';

/**
 * Rampart's own Ed25519 signing keys, shared by every instance through the database. One key
 * is active (signs); a superseded key keeps verifying until every token it can have signed
 * has expired, then is retired (never read again; the row is purged a day later). Instances
 * cache the set for a short interval.
 */
export interface SigningKeySet {
  /** The active key; creates the first key when the table has none. */
  signingKey(): Promise<{ readonly kid: string; readonly privateKey: KeyObject }>;
  /** The verification key for a well-formed kid, or null when it is not in the current set. */
  verificationKey(kid: string): Promise<VerificationKey | null>;
  /** Exactly the keys that currently verify, active first. */
  jwks(): Promise<{ readonly keys: readonly PublicJwk[] }>;
  /** Adds a new active key; the previous one stops signing and verifies until `verifyUntil`. */
  rotate(): Promise<{ readonly kid: string; readonly previous: { readonly kid: string; readonly verifyUntil: Date } | null }>;
  /**
   * Retires a key at once (a compromised key): it no longer verifies anywhere, and when it was
   * the active key a new one takes its place. Every instance learns it on its next bearer
   * request through the version marker. Null when no key that still verifies has that kid.
   */
  retire(kid: string): Promise<{ readonly kid: string; readonly replacedBy: string | null } | null>;
  /**
   * After reading the version marker (`value`, null when missing): reloads the set when it is not
   * the version the cached set was loaded under. True when it reloaded.
   */
  observeVersion(value: string | null): Promise<boolean>;
  /** Rewrites every MAC made under a fallback secret with the current one (`rampart keys rebuild-index`); the number rewritten. */
  resealMacs(): Promise<number>;
}

/** A kid is the key's RFC 7638 SHA-256 thumbprint: 43 base64url characters, nothing else is looked up. */
export const KID = /^[A-Za-z0-9_-]{43}$/;

const DEFAULT_REFRESH_MS = 10_000;
// An unknown kid reloads the set at most this often, so random kids cannot hammer the database.
const MISS_RELOAD_MS = 1_000;
const UNIQUE_VIOLATION = '23505';
const PURGE_AFTER_MS = 86_400_000;
// The marker outlives any cache: when it expires, every instance reloads once.
const VERSION_TTL_MS = 7 * 86_400_000;

interface CachedKey {
  readonly jwk: PublicJwk;
  readonly publicKey: VerificationKey;
  /** Null for the active key. */
  readonly verifyUntil: number | null;
}

interface Snapshot {
  readonly loadedAt: number;
  /** The version marker observed before this load; undefined when none was observed yet. */
  readonly version: string | null | undefined;
  readonly active: { readonly kid: string; readonly privateKey: KeyObject } | null;
  readonly keys: ReadonlyMap<string, CachedKey>;
}

async function importPublicKey(jwk: PublicJwk): Promise<VerificationKey> {
  const key = await importJWK({ kty: jwk.kty, crv: jwk.crv, x: jwk.x }, 'EdDSA');
  if (key instanceof Uint8Array) throw new TypeError('an Ed25519 JWK imported as a secret key');
  return key;
}

const aad = (kid: string) => ({ table: 'signing_keys', column: 'private_key_ciphertext', rowId: kid });

/** The kernel's encrypted column: each signing key's private half (see key-maintenance.ts). */
export const SIGNING_KEY_COLUMN = { table: 'signing_keys', keyColumn: 'kid', column: 'private_key_ciphertext', aad: { table: 'signing_keys', column: 'private_key_ciphertext' } } as const;

function isUniqueViolation(err: unknown): boolean {
  return typeof err === 'object' && err !== null && 'code' in err && err.code === UNIQUE_VIOLATION;
}

/** Creates the key set; nothing is read until the first use. */
export function createSigningKeySet(options: SigningKeySetOptions): SigningKeySet {
  const { db, keyring } = options;
  const now = options.now ?? Date.now;
  const onTamperedKey = options.onTamperedKey ?? (() => undefined);
  const refreshMs = options.refreshIntervalMs ?? DEFAULT_REFRESH_MS;
  if (!Number.isSafeInteger(options.tokenLifetimeSeconds) || options.tokenLifetimeSeconds <= 0) throw new TypeError('signing keys: tokenLifetimeSeconds must be a positive integer');
  if (!Number.isSafeInteger(refreshMs) || refreshMs <= 0) throw new TypeError('signing keys: refreshIntervalMs must be a positive integer');
  // A superseded key may still be signing on an instance whose cache is up to refreshMs old,
  // so its last token expires at most lifetime + refresh after the rotation, plus clock skew.
  const overlapMs = (options.tokenLifetimeSeconds + options.clockToleranceSeconds) * 1000 + refreshMs;

  // Its own derived key. The application role can write this table, so without the MAC a
  // single SQL injection could plant a public key of the attacker's and forge any token. MACs
  // made under a fallback secret still verify, until `rampart keys rebuild-index` reseals them.
  const macKeys = keyring.deriveKeys('signing-keys-integrity').map((bytes) => createSecretKey(bytes));
  const macWith = (key: KeyObject | undefined, kid: string, publicJwk: string, verifyUntil: Date | null): string =>
    createHmac('sha256', key as KeyObject).update(JSON.stringify([kid, publicJwk, verifyUntil?.toISOString() ?? null]), 'utf8').digest('base64url');
  const mac = (kid: string, publicJwk: string, verifyUntil: Date | null): string => macWith(macKeys[0], kid, publicJwk, verifyUntil);
  type MacRow = { kid: string; public_jwk: string; verify_until: Date | null; integrity_mac: string };
  /** Which MAC key the row's MAC verifies under (0: the current secret), or -1. */
  const macKeyIndex = (row: MacRow): number => macKeys.findIndex((key) => {
    const expected = Buffer.from(macWith(key, row.kid, row.public_jwk, row.verify_until), 'utf8');
    const given = Buffer.from(row.integrity_mac, 'utf8');
    return expected.length === given.length && timingSafeEqual(expected, given);
  });
  const authentic = (row: MacRow): boolean => macKeyIndex(row) !== -1;
  const { store } = options;
  const announce = async (): Promise<void> => {
    // After the commit: an instance that reads the new marker reloads and finds the change.
    await store?.set(SIGNING_KEYS_VERSION_KEY, randomBytes(12).toString('base64url'), { ttlMs: VERSION_TTL_MS });
  };

  let snapshot: Snapshot | null = null;
  let loading: Promise<Snapshot> | null = null;
  let lastMissReload = Number.NEGATIVE_INFINITY;

  async function generate(): Promise<{ kid: string; publicJwk: string; privateCiphertext: string }> {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const exported = publicKey.export({ format: 'jwk' });
    const kid = await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: String(exported.x) }, 'sha256');
    const jwk: PublicJwk = { kty: 'OKP', crv: 'Ed25519', x: String(exported.x), kid, alg: 'EdDSA', use: 'sig' };
    // Encrypted under the keyring and bound to the key's row: a database dump holds no usable private key.
    const privateCiphertext = keyring.encrypt(privateKey.export({ format: 'der', type: 'pkcs8' }), aad(kid));
    return { kid, publicJwk: JSON.stringify(jwk), privateCiphertext };
  }

  async function insertFirstKey(): Promise<void> {
    const key = await generate();
    try {
      await db.insertInto('signing_keys').values({ kid: key.kid, algorithm: 'EdDSA', public_jwk: key.publicJwk, private_key_ciphertext: key.privateCiphertext, superseded_at: null, verify_until: null, integrity_mac: mac(key.kid, key.publicJwk, null) }).execute();
    } catch (err) {
      // Another instance created the first key at the same moment: use that one.
      if (!isUniqueViolation(err)) throw err;
    }
  }

  async function read(version: string | null | undefined): Promise<Snapshot> {
    const at = now();
    // Retirement: a key whose every token has expired is no longer read, so it never verifies
    // again; its row is purged a day later (kept that long only for the operator to inspect).
    await db.deleteFrom('signing_keys').where('verify_until', '<=', new Date(at - PURGE_AFTER_MS)).execute();
    const select = () => db.selectFrom('signing_keys').select(['kid', 'public_jwk', 'private_key_ciphertext', 'verify_until', 'integrity_mac'])
      .where((eb) => eb.or([eb('verify_until', 'is', null), eb('verify_until', '>', new Date(at))]))
      .orderBy('created_at', 'desc').execute();
    let rows = await select();
    if (!rows.some((row) => row.verify_until === null)) {
      await insertFirstKey();
      rows = await select();
    }
    const keys = new Map<string, CachedKey>();
    let active: Snapshot['active'] = null;
    for (const row of rows) {
      if (!authentic(row)) {
        onTamperedKey(row.kid);
        continue;
      }
      const jwk = JSON.parse(row.public_jwk) as PublicJwk;
      if (jwk.kid !== row.kid || !KID.test(row.kid)) continue;
      keys.set(row.kid, { jwk, publicKey: await importPublicKey(jwk), verifyUntil: row.verify_until?.getTime() ?? null });
      if (row.verify_until === null && row.private_key_ciphertext !== null) {
        // A ciphertext that does not open is recorded (crypt_decrypt_fail) and the key cannot sign.
        const der = keyring.decrypt(row.private_key_ciphertext, aad(row.kid));
        if (der !== null) active = { kid: row.kid, privateKey: createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }) };
      }
    }
    return { loadedAt: at, version, active, keys };
  }

  function reload(version: string | null | undefined = snapshot?.version): Promise<Snapshot> {
    loading ??= read(version).then(
      (fresh) => {
        snapshot = fresh;
        loading = null;
        return fresh;
      },
      (err: unknown) => {
        loading = null;
        throw err;
      },
    );
    return loading;
  }

  async function current(): Promise<Snapshot> {
    if (snapshot !== null && now() - snapshot.loadedAt < refreshMs) return snapshot;
    return reload();
  }

  const live = (key: CachedKey, at: number): boolean => key.verifyUntil === null || key.verifyUntil > at;

  return Object.freeze({
    async signingKey() {
      const { active } = await current();
      if (active === null) throw new Error('the active signing key cannot be decrypted with the configured encryption keys');
      return active;
    },

    async verificationKey(kid: string) {
      if (!KID.test(kid)) return null;
      let set = await current();
      let key = set.keys.get(kid);
      if (key === undefined && now() - lastMissReload >= MISS_RELOAD_MS) {
        // A key another instance just created; looked for at most once a second.
        lastMissReload = now();
        set = await reload();
        key = set.keys.get(kid);
      }
      // The cached expiry decides too, so a stale cache never verifies with a retired key.
      return key !== undefined && live(key, now()) ? key.publicKey : null;
    },

    async jwks() {
      const set = await current();
      const at = now();
      return { keys: [...set.keys.values()].filter((key) => live(key, at)).map((key) => key.jwk) };
    },

    async observeVersion(value: string | null) {
      // A load already under way may have read the table before the change: wait for it first.
      if (loading !== null) await loading.catch(() => undefined);
      if (snapshot !== null && snapshot.version === value) return false;
      await reload(value);
      return true;
    },

    async resealMacs() {
      const rows = await db.selectFrom('signing_keys').select(['kid', 'public_jwk', 'verify_until', 'integrity_mac']).execute();
      let resealed = 0;
      for (const row of rows) {
        // Only a row whose MAC a fallback secret made: one no configured secret made stays refused.
        if (macKeyIndex(row) <= 0) continue;
        await db.updateTable('signing_keys').set({ integrity_mac: mac(row.kid, row.public_jwk, row.verify_until) })
          .where('kid', '=', row.kid).where('integrity_mac', '=', row.integrity_mac).execute();
        resealed += 1;
      }
      if (resealed > 0) await reload();
      return resealed;
    },

    async retire(kid: string) {
      if (!KID.test(kid)) return null;
      const at = new Date(now());
      const replacement = await generate();
      const outcome = await db.transaction().execute(async (trx) => {
        const row = await trx.selectFrom('signing_keys').select(['kid', 'public_jwk', 'verify_until', 'integrity_mac', 'superseded_at']).where('kid', '=', kid)
          .where((eb) => eb.or([eb('verify_until', 'is', null), eb('verify_until', '>', at)])).forUpdate().executeTakeFirst();
        if (row === undefined || !authentic(row)) return null;
        // verify_until in the past: no instance loads the key again, and the row is purged a day later.
        await trx.updateTable('signing_keys').set({ superseded_at: row.superseded_at ?? at, verify_until: at, private_key_ciphertext: null, integrity_mac: mac(kid, row.public_jwk, at) })
          .where('kid', '=', kid).execute();
        if (row.verify_until !== null) return { kid, replacedBy: null };
        // It was the active key: a new one signs from now on.
        await trx.insertInto('signing_keys').values({ kid: replacement.kid, algorithm: 'EdDSA', public_jwk: replacement.publicJwk, private_key_ciphertext: replacement.privateCiphertext, superseded_at: null, verify_until: null, integrity_mac: mac(replacement.kid, replacement.publicJwk, null) }).execute();
        return { kid, replacedBy: replacement.kid };
      });
      if (outcome === null) return null;
      await announce();
      await reload();
      return outcome;
    },

    async rotate() {
      const at = now();
      const key = await generate();
      const previous = await db.transaction().execute(async (trx) => {
        const verifyUntil = new Date(at + overlapMs);
        // The superseded key stops signing: its private half is erased, the public half verifies on.
        const current = await trx.selectFrom('signing_keys').select(['kid', 'public_jwk']).where('superseded_at', 'is', null).forUpdate().executeTakeFirst();
        const old = current === undefined ? undefined : await trx.updateTable('signing_keys')
          .set({ superseded_at: new Date(at), verify_until: verifyUntil, private_key_ciphertext: null, integrity_mac: mac(current.kid, current.public_jwk, verifyUntil) })
          .where('kid', '=', current.kid)
          .returning('kid')
          .executeTakeFirst();
        await trx.insertInto('signing_keys').values({ kid: key.kid, algorithm: 'EdDSA', public_jwk: key.publicJwk, private_key_ciphertext: key.privateCiphertext, superseded_at: null, verify_until: null, integrity_mac: mac(key.kid, key.publicJwk, null) }).execute();
        return old === undefined ? null : { kid: old.kid, verifyUntil };
      });
      await announce();
      await reload();
      return { kid: key.kid, previous };
    },
  });
}
