import type { EncryptionKeyMaterial } from '../config/encryption-keys.js';
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createSecretKey,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
  type KeyObject,
} from 'node:crypto';

/** One AES-256 data key and its id; parsed from configuration by {@link parseEncryptionKeys}. */
export type EncryptionKey = EncryptionKeyMaterial;
export { generateEncryptionKeyText, parseEncryptionKeys } from '../config/encryption-keys.js';

/** Where a ciphertext lives. It is authenticated with the ciphertext, so a value copied to another row, column or table no longer decrypts. */
export interface AssociatedData {
  readonly table: string;
  readonly column: string;
  readonly rowId: string;
}

/** Why an envelope did not decrypt: it could not be parsed, names a key the keyring lacks, or failed GCM authentication (tampered, moved, or wrong key bytes). */
export type DecryptFailureReason = 'malformed' | 'unknown_key' | 'authentication_failed';

/** What `onDecryptFailure` receives: the reason and where the value came from, never key material or plaintext. */
export interface DecryptFailure {
  readonly reason: DecryptFailureReason;
  /** The envelope's key id when it is syntactically valid, otherwise `null`. */
  readonly keyId: string | null;
  readonly table: string;
  readonly column: string;
  readonly rowId: string;
}

/** Options for {@link createKeyring}. */
export interface KeyringOptions {
  /** At least 32 bytes; the root of every HKDF-derived key (blind indexes, {@link Keyring.deriveKey}). Must not be one of the encryption keys. */
  readonly secretKey: Buffer;
  /**
   * Earlier root secrets (`RAMPART_SECRET_KEY_FALLBACKS`), newest first: values derived from
   * them (CSRF tokens, cursors, blind indexes, MACs) still verify through
   * {@link Keyring.deriveKeys} and {@link Keyring.blindIndexes}; nothing new is made with them.
   */
  readonly secretKeyFallbacks?: readonly Buffer[];
  /** The first key is active (encrypts); every key decrypts, so old data stays readable during rotation. */
  readonly encryptionKeys: readonly EncryptionKey[];
  /** Called exactly once per failed decryption, before `null` is returned; meant for a security event. An exception it throws propagates. */
  readonly onDecryptFailure?: (failure: DecryptFailure) => void;
}

/**
 * Authenticated encryption of column values with key ids, plus keyed hashing for lookups.
 *
 * Envelope format: `v1.<keyId>.<iv>.<ciphertext||tag>`, where `iv` is the 12-byte random GCM
 * nonce and `ciphertext||tag` the AES-256-GCM output followed by its 16-byte tag, both
 * unpadded base64url. The GCM additional data is the JSON array
 * `["v1", keyId, table, column, rowId]`, so the version, the key-id header and the value's
 * location are all authenticated.
 */
export interface Keyring {
  /** The id of the key new envelopes are sealed with. */
  readonly activeKeyId: string;
  /** Every configured key id, the active one first. */
  readonly keyIds: readonly string[];
  /** True when earlier root secrets are configured (a secret rotation is under way). */
  readonly hasFallbacks: boolean;
  /** Seals `plaintext` (a string is encoded as UTF-8) under the active key, bound to `aad`. */
  encrypt(plaintext: string | Buffer, aad: AssociatedData): string;
  /** Opens an envelope sealed for `aad`; `null` on any failure, after calling `onDecryptFailure` once. */
  decrypt(envelope: string, aad: AssociatedData): Buffer | null;
  /** {@link Keyring.decrypt}, decoded as UTF-8. */
  decryptString(envelope: string, aad: AssociatedData): string | null;
  /** True unless `envelope` is a well-formed envelope under the active key id. Reads the header only; it does not authenticate. */
  needsReencryption(envelope: string): boolean;
  /** Opens the envelope and seals its plaintext again under the active key; `null` (after `onDecryptFailure`) when it does not open. */
  reencrypt(envelope: string, aad: AssociatedData): string | null;
  /**
   * Deterministic keyed hash for looking up an encrypted value (HMAC-SHA256, 43 base64url
   * characters). The key is `deriveKey('blind-index/' + purpose)`, so each purpose has its own
   * index and none equals a key handed out for another use. `value` is hashed as given:
   * callers normalize (case, Unicode form) before calling.
   */
  blindIndex(value: string, purpose: string): string;
  /**
   * The blind index under the current secret, then under each fallback secret (distinct values
   * only): a lookup matches any of them while `rampart keys rebuild-index` rewrites old rows.
   */
  blindIndexes(value: string, purpose: string): readonly string[];
  /** HKDF-SHA256 from `secretKey` with Rampart's fixed salt and info `'rampart/v1/' + purpose`; `length` bytes, 32 by default. */
  deriveKey(purpose: string, length?: number): Buffer;
  /**
   * {@link Keyring.deriveKey} under the current secret, then under each fallback: make with the
   * first, accept what any of them verifies.
   */
  deriveKeys(purpose: string, length?: number): readonly Buffer[];
}

const VERSION = 'v1';
const ALGORITHM = 'aes-256-gcm';
const KEY_BYTES = 32;
// 96-bit nonces are GCM's native size; random ones are safe for about 2^32 messages per key.
const IV_BYTES = 12;
// The full 128-bit tag: shorter tags make forgeries cheaper and are refused on decrypt.
const TAG_BYTES = 16;
const MIN_SECRET_BYTES = 32;
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;
const PURPOSE = /^[A-Za-z0-9._:/-]{1,128}$/;
const BASE64URL = /^[A-Za-z0-9_-]*$/;
// A fixed, public salt: HKDF only needs it to be independent of the input key (RFC 5869 §3.1).
// Changing it changes every derived key and blind index, so it is versioned, never edited.
const HKDF_SALT = Buffer.from('rampart/hkdf-salt/v1', 'utf8');
const HKDF_INFO_PREFIX = 'rampart/v1/';
const HKDF_MAX_BYTES = 255 * 32;
// Purposes are code constants, so a handful are cached; past the cap a key is derived per call
// rather than letting a caller that passes dynamic purposes grow memory without bound.
const BLIND_INDEX_CACHE_MAX = 64;
// Lone surrogates would be replaced by U+FFFD when encoded, so they could never round-trip.
const LONE_SURROGATE = /\p{Cs}/u;

/** Creates a keyring, validating every option; throws a TypeError whose message never contains key bytes. */
export function createKeyring(options: KeyringOptions): Keyring {
  const { secretKey, secretKeyFallbacks, encryptionKeys, active, onDecryptFailure } = validateOptions(options);

  // KeyObjects copy the bytes, so a caller reusing or zeroing its buffers cannot change the keys,
  // and an inspected or logged KeyObject shows no key material.
  const root = createSecretKey(secretKey);
  const fallbackRoots = secretKeyFallbacks.map((fallback) => createSecretKey(fallback));
  const keys = new Map<string, KeyObject>();
  for (const { id, key } of encryptionKeys) keys.set(id, createSecretKey(key));
  const activeKeyId = active.id;
  const activeKey = createSecretKey(active.key);
  const blindIndexKeys = new Map<string, readonly KeyObject[]>();

  function hkdf(info: string, length: number, from: KeyObject = root): Buffer {
    return Buffer.from(hkdfSync('sha256', from, HKDF_SALT, HKDF_INFO_PREFIX + info, length));
  }

  function checkDerivation(purpose: string, length: number): void {
    assertPurpose(purpose);
    if (!Number.isInteger(length) || length < 1 || length > HKDF_MAX_BYTES) {
      throw new RangeError(`deriveKey length must be an integer from 1 to ${HKDF_MAX_BYTES}`);
    }
  }

  function deriveKey(purpose: string, length: number = KEY_BYTES): Buffer {
    checkDerivation(purpose, length);
    return hkdf(purpose, length);
  }

  function deriveKeys(purpose: string, length: number = KEY_BYTES): Buffer[] {
    checkDerivation(purpose, length);
    return [root, ...fallbackRoots].map((from) => hkdf(purpose, length, from));
  }

  /** The index keys of `purpose`: the current secret's first, then each fallback's. */
  function blindIndexKeysOf(purpose: string): readonly KeyObject[] {
    const cached = blindIndexKeys.get(purpose);
    if (cached !== undefined) return cached;
    assertPurpose(purpose);
    // A prefix no deriveKey caller can reach by accident keeps index keys apart from other keys.
    const keysOf = [root, ...fallbackRoots].map((from) => createSecretKey(hkdf(`blind-index/${purpose}`, KEY_BYTES, from)));
    if (blindIndexKeys.size < BLIND_INDEX_CACHE_MAX) blindIndexKeys.set(purpose, keysOf);
    return keysOf;
  }

  function indexWith(key: KeyObject, value: string): string {
    if (typeof value !== 'string') throw new TypeError('blindIndex value must be a string');
    return createHmac('sha256', key).update(value, 'utf8').digest('base64url');
  }

  function encrypt(plaintext: string | Buffer, aad: AssociatedData): string {
    assertAssociatedData(aad);
    const data = encodePlaintext(plaintext);
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(ALGORITHM, activeKey, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(additionalData(activeKeyId, aad));
    const body = Buffer.concat([cipher.update(data), cipher.final(), cipher.getAuthTag()]);
    return `${VERSION}.${activeKeyId}.${iv.toString('base64url')}.${body.toString('base64url')}`;
  }

  function fail(reason: DecryptFailureReason, keyId: string | null, aad: AssociatedData): null {
    onDecryptFailure?.(Object.freeze({ reason, keyId, table: aad.table, column: aad.column, rowId: aad.rowId }));
    return null;
  }

  function decrypt(envelope: string, aad: AssociatedData): Buffer | null {
    const parsed = parseEnvelope(envelope);
    if (!parsed.ok) return fail('malformed', parsed.keyId, aad);
    const key = keys.get(parsed.keyId);
    if (key === undefined) return fail('unknown_key', parsed.keyId, aad);
    const ciphertext = parsed.body.subarray(0, parsed.body.length - TAG_BYTES);
    const tag = parsed.body.subarray(parsed.body.length - TAG_BYTES);
    try {
      // authTagLength pins the tag size so a truncated tag cannot be accepted.
      const decipher = createDecipheriv(ALGORITHM, key, parsed.iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(additionalData(parsed.keyId, aad));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(ciphertext), decipher.final()]);
    } catch {
      // GCM only says "not authentic"; which of key, location or bytes was wrong is not knowable.
      return fail('authentication_failed', parsed.keyId, aad);
    }
  }

  return Object.freeze({
    activeKeyId,
    keyIds: Object.freeze(encryptionKeys.map((key) => key.id)),
    hasFallbacks: fallbackRoots.length > 0,
    encrypt,
    decrypt,
    decryptString(envelope: string, aad: AssociatedData): string | null {
      return decrypt(envelope, aad)?.toString('utf8') ?? null;
    },
    needsReencryption(envelope: string): boolean {
      // Anything unparseable counts too, so a rotation job reaches it and reports the failure
      // instead of silently leaving data no key can open.
      const parsed = parseEnvelope(envelope);
      return !parsed.ok || parsed.keyId !== activeKeyId;
    },
    reencrypt(envelope: string, aad: AssociatedData): string | null {
      const plaintext = decrypt(envelope, aad);
      return plaintext === null ? null : encrypt(plaintext, aad);
    },
    blindIndex(value: string, purpose: string): string {
      const [current] = blindIndexKeysOf(purpose);
      return indexWith(current as KeyObject, value);
    },
    blindIndexes(value: string, purpose: string): readonly string[] {
      return [...new Set(blindIndexKeysOf(purpose).map((key) => indexWith(key, value)))];
    },
    deriveKey,
    deriveKeys,
  });
}

type ParsedEnvelope =
  | { readonly ok: true; readonly keyId: string; readonly iv: Buffer; readonly body: Buffer }
  | { readonly ok: false; readonly keyId: string | null };

function parseEnvelope(envelope: unknown): ParsedEnvelope {
  if (typeof envelope !== 'string') return { ok: false, keyId: null };
  // The limit keeps a string full of dots from allocating one array slot per dot.
  const parts = envelope.split('.', 5);
  const [version, id, ivText, bodyText] = parts;
  const keyId = id !== undefined && KEY_ID.test(id) ? id : null;
  if (parts.length !== 4 || version !== VERSION || keyId === null) return { ok: false, keyId };
  const iv = decodeBase64url(ivText ?? '');
  const body = decodeBase64url(bodyText ?? '');
  if (iv?.length !== IV_BYTES || body === null || body.length < TAG_BYTES) return { ok: false, keyId };
  return { ok: true, keyId, iv, body };
}

/**
 * Strict base64url: Node's decoder skips invalid characters and ignores unused trailing bits,
 * so without the round-trip check several distinct envelopes would open to the same value.
 */
function decodeBase64url(text: string): Buffer | null {
  if (!BASE64URL.test(text)) return null;
  const bytes = Buffer.from(text, 'base64url');
  return bytes.toString('base64url') === text ? bytes : null;
}

// JSON of an array of strings is injective, so no two (key id, table, column, rowId) tuples
// share additional data; lone surrogates are escaped rather than replaced.
function additionalData(keyId: string, aad: AssociatedData): Buffer {
  return Buffer.from(JSON.stringify([VERSION, keyId, aad.table, aad.column, aad.rowId]), 'utf8');
}

function encodePlaintext(plaintext: string | Buffer): Buffer {
  if (Buffer.isBuffer(plaintext)) return plaintext;
  if (typeof plaintext !== 'string') throw new TypeError('plaintext must be a string or a Buffer');
  if (LONE_SURROGATE.test(plaintext)) {
    throw new TypeError('plaintext is not well-formed Unicode (it contains a lone surrogate)');
  }
  return Buffer.from(plaintext, 'utf8');
}

function assertAssociatedData(aad: AssociatedData): void {
  // An empty location would bind every such value to the same place, defeating the binding.
  for (const field of ['table', 'column', 'rowId'] as const) {
    const value: unknown = (aad as Partial<AssociatedData> | undefined)?.[field];
    if (typeof value !== 'string' || value === '') {
      throw new TypeError(`associated data ${field} must be a non-empty string`);
    }
  }
}

function assertPurpose(purpose: string): void {
  if (typeof purpose !== 'string' || !PURPOSE.test(purpose)) {
    throw new TypeError(`key purpose must match ${PURPOSE.source}`);
  }
}

function assertKeyId(id: unknown, label: string): asserts id is string {
  if (typeof id !== 'string' || !KEY_ID.test(id)) throw new TypeError(`${label} must match ${KEY_ID.source}`);
}

interface ValidOptions {
  readonly secretKey: Buffer;
  readonly secretKeyFallbacks: readonly Buffer[];
  readonly encryptionKeys: readonly EncryptionKey[];
  readonly active: EncryptionKey;
  readonly onDecryptFailure: ((failure: DecryptFailure) => void) | undefined;
}

function validateOptions(options: KeyringOptions): ValidOptions {
  if (typeof options !== 'object' || (options as unknown) === null) {
    throw new TypeError('createKeyring needs an options object');
  }
  const { secretKey, encryptionKeys, onDecryptFailure } = options;
  const secretKeyFallbacks: unknown = options.secretKeyFallbacks ?? [];
  if (!Buffer.isBuffer(secretKey) || secretKey.length < MIN_SECRET_BYTES) {
    const got = Buffer.isBuffer(secretKey) ? `${secretKey.length} bytes` : 'not a Buffer';
    throw new TypeError(`secretKey must be a Buffer of at least ${MIN_SECRET_BYTES} bytes (got ${got})`);
  }
  if (!Array.isArray(secretKeyFallbacks)) throw new TypeError('secretKeyFallbacks must be an array of Buffers');
  for (const [index, fallback] of (secretKeyFallbacks as unknown[]).entries()) {
    if (!Buffer.isBuffer(fallback) || fallback.length < MIN_SECRET_BYTES) {
      throw new TypeError(`secretKeyFallbacks[${index}] must be a Buffer of at least ${MIN_SECRET_BYTES} bytes`);
    }
  }
  const fallbacks = secretKeyFallbacks as readonly Buffer[];
  const allSecrets = [secretKey, ...fallbacks];
  const active: unknown = Array.isArray(encryptionKeys) ? encryptionKeys[0] : undefined;
  if (active === undefined) throw new TypeError('encryptionKeys must contain at least one key');
  if (onDecryptFailure !== undefined && typeof onDecryptFailure !== 'function') {
    throw new TypeError('onDecryptFailure must be a function');
  }
  const ids = new Set<string>();
  for (const [index, entry] of (encryptionKeys as readonly (EncryptionKey | undefined)[]).entries()) {
    const label = `encryptionKeys[${index}]`;
    assertKeyId(entry?.id, `${label}.id`);
    if (ids.has(entry.id)) throw new TypeError(`${label}.id "${entry.id}" is already used by another key`);
    ids.add(entry.id);
    if (!Buffer.isBuffer(entry.key) || entry.key.length !== KEY_BYTES) {
      const got = Buffer.isBuffer(entry.key) ? `${entry.key.length} bytes` : 'not a Buffer';
      throw new TypeError(`${label}.key must be a Buffer of exactly ${KEY_BYTES} bytes (got ${got})`);
    }
    // Key separation: the HKDF root must never double as a cipher key.
    if (allSecrets.some((secret) => secret.length === KEY_BYTES && timingSafeEqual(secret, entry.key))) {
      throw new TypeError(`${label}.key must not be the same bytes as secretKey or a fallback`);
    }
  }
  return { secretKey, secretKeyFallbacks: fallbacks, encryptionKeys, active: active as EncryptionKey, onDecryptFailure };
}
