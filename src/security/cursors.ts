import { createHmac, timingSafeEqual } from 'node:crypto';
import type { z } from 'zod';
import type { Keyring } from './keyring.js';

/** Encodes and decodes opaque pagination cursors. */
export interface CursorCodec {
  /** An opaque, signed cursor for `position` (at most ~512 characters for small positions). */
  encode(position: Readonly<Record<string, string>>): string;
  /** The position in a cursor this codec signed for the same `kind`, checked against `schema`; null for anything else. */
  decode<T>(cursor: string, schema: z.ZodType<T>): T | null;
}

export interface CursorCodecOptions {
  /** At least 32 bytes of key material (the keyring's `deriveKey('pagination-cursor')`). */
  readonly key: Buffer;
  /** Keys derived from earlier root secrets (`deriveKeys(...).slice(1)`): cursors they signed still decode. */
  readonly fallbackKeys?: readonly Buffer[];
  /** What the cursor pages through (`posts`, `comments`, …): a cursor from one list is refused by another. */
  readonly kind: string;
}

/** The keyring's cursor keys: the current secret's, and the fallback secrets' so cursors handed out before a secret rotation keep working. */
export function cursorKeys(keyring: Keyring): { readonly key: Buffer; readonly fallbackKeys: readonly Buffer[] } {
  const [key, ...fallbackKeys] = keyring.deriveKeys('pagination-cursor');
  if (key === undefined) throw new Error('the keyring derived no cursor key');
  return { key, fallbackKeys };
}

const MAC_BYTES = 32;
const MAX_CURSOR = 1024;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/**
 * Keyset-pagination cursors: the position (a sort key and an id) as base64url JSON, followed by
 * an HMAC-SHA256 over the kind and the position. A client cannot forge or edit a cursor to jump
 * into rows it should not page through or to smuggle values into the query: a cursor that does
 * not verify, or whose contents do not match the list's schema, is simply refused (400).
 */
export function createCursorCodec({ key, kind, fallbackKeys = [] }: CursorCodecOptions): CursorCodec {
  for (const candidate of [key, ...fallbackKeys]) if (!Buffer.isBuffer(candidate) || candidate.length < 32) throw new TypeError('cursors: key must be at least 32 bytes');
  if (typeof kind !== 'string' || !/^[a-z][a-z0-9-]{0,31}$/.test(kind)) throw new TypeError('cursors: kind must be a short lowercase name');
  const macWith = (with_: Buffer, body: string): Buffer => createHmac('sha256', with_).update(`${kind}\n${body}`).digest();
  const mac = (body: string): Buffer => macWith(key, body);
  return {
    encode(position) {
      const body = Buffer.from(JSON.stringify(position), 'utf8').toString('base64url');
      return `${body}.${mac(body).toString('base64url')}`;
    },
    decode(cursor, schema) {
      if (typeof cursor !== 'string' || cursor.length > MAX_CURSOR) return null;
      const [body, signature, extra] = cursor.split('.');
      if (body === undefined || signature === undefined || extra !== undefined || !BASE64URL.test(body) || !BASE64URL.test(signature)) return null;
      const given = Buffer.from(signature, 'base64url');
      // Only the canonical spelling: base64url's last character carries unused bits, so an
      // edited character could otherwise decode to the same MAC and pass as untouched.
      if (given.length !== MAC_BYTES || given.toString('base64url') !== signature) return null;
      if (!timingSafeEqual(given, mac(body)) && !fallbackKeys.some((fallback) => timingSafeEqual(given, macWith(fallback, body)))) return null;
      let value: unknown;
      try {
        value = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
      } catch {
        return null;
      }
      const parsed = schema.safeParse(value);
      return parsed.success ? parsed.data : null;
    },
  };
}
