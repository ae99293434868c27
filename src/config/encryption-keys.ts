import type { Finding } from './findings.js';
import { randomBytes } from 'node:crypto';

/** One AES-256 data key and the id stored beside every ciphertext it writes. */
export interface EncryptionKeyMaterial {
  /** Matches `/^[A-Za-z0-9_-]{1,32}$/`; public (it appears in every envelope), never secret. */
  readonly id: string;
  /** Exactly 32 bytes. */
  readonly key: Buffer;
}

const KEY_BYTES = 32;
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;
const BASE64_ANY = /^[A-Za-z0-9+/_-]+={0,2}$/;

function assertKeyId(id: unknown, label: string): asserts id is string {
  if (typeof id !== 'string' || !KEY_ID.test(id)) throw new TypeError(`${label} must match ${KEY_ID.source}`);
}

/**
 * Parses `RAMPART_ENCRYPTION_KEYS`-style text: comma-separated `id:key` entries, the key being
 * 32 bytes in base64 or base64url (padding optional); the first entry is the active key.
 * Throws a TypeError naming the entry and the problem, never echoing key material.
 */
export function parseEncryptionKeys(text: string): EncryptionKeyMaterial[] {
  if (typeof text !== 'string' || text.trim() === '') {
    throw new TypeError('encryption keys are empty: expected comma-separated id:base64url-key entries');
  }
  const keys: EncryptionKeyMaterial[] = [];
  const seen = new Map<string, number>();
  for (const [index, raw] of text.split(',').entries()) {
    const position = index + 1;
    const entry = raw.trim();
    if (entry === '') throw new TypeError(`encryption key entry ${position} is empty`);
    const colon = entry.indexOf(':');
    // The text before a colon may itself be key material pasted in the wrong place, so an
    // invalid id is described, never quoted.
    if (colon === -1) throw new TypeError(`encryption key entry ${position} is not in the form id:key`);
    const id = entry.slice(0, colon);
    if (!KEY_ID.test(id)) {
      throw new TypeError(`encryption key entry ${position} has an invalid id: it must match ${KEY_ID.source}`);
    }
    const earlier = seen.get(id);
    if (earlier !== undefined) {
      throw new TypeError(`encryption key entry ${position} repeats the id "${id}" of entry ${earlier}`);
    }
    seen.set(id, position);
    keys.push({ id, key: decodeKeyText(entry.slice(colon + 1), `encryption key entry ${position} ("${id}")`) });
  }
  return keys;
}

/** A fresh random key in {@link parseEncryptionKeys} format (`id:base64url`), for `rampart keys generate` and dev secrets. */
export function generateEncryptionKeyText(id: string): string {
  assertKeyId(id, 'key id');
  return `${id}:${randomBytes(KEY_BYTES).toString('base64url')}`;
}

function decodeKeyText(text: string, label: string): Buffer {
  if (!BASE64_ANY.test(text)) throw new TypeError(`${label} is not valid base64 or base64url`);
  const canonical = text.replaceAll('+', '-').replaceAll('/', '_').replace(/=+$/, '');
  const key = Buffer.from(canonical, 'base64url');
  if (key.toString('base64url') !== canonical) throw new TypeError(`${label} is not valid base64 or base64url`);
  if (key.length !== KEY_BYTES) throw new TypeError(`${label} must decode to ${KEY_BYTES} bytes, got ${key.length}`);
  return key;
}


/**
 * RAMPART-E080: rows are sealed under encryption keys that are no longer configured, so they
 * would fail to decrypt. Key ids are public (every envelope carries one); anything that is not
 * a well-formed id is described, never quoted, since a value that is not an envelope may be plaintext.
 */
export function missingEncryptionKeyFinding(columns: readonly { readonly column: string; readonly rows: number; readonly firstRow: string; readonly keyIds: readonly string[] }[]): Finding {
  const described = columns.map(({ column, rows, firstRow, keyIds }) => {
    const ids = keyIds.map((id) => (KEY_ID.test(id) ? `"${id}"` : '(not an envelope)'));
    return `${column}: ${rows} row(s) under ${[...new Set(ids)].join(', ')}, first row ${firstRow}`;
  });
  return {
    id: 'RAMPART-E080',
    severity: 'error',
    setting: 'RAMPART_ENCRYPTION_KEYS',
    reason: `rows still need encryption keys that are not configured: ${described.join('; ')}`,
    fix: 'Put the missing key back in RAMPART_ENCRYPTION_KEYS (after the active one), run `rampart keys rotate-encryption` until it reports nothing left, then remove it.',
  };
}
