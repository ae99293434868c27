import { randomBytes } from 'node:crypto';
import { crc32 } from 'node:zlib';

/**
 * Personal access tokens look like `rpat_<32 random base62><6 base62 CRC32>`. The prefix lets
 * secret scanners (GitHub's, gitleaks, trufflehog) find a leaked token with a tight pattern,
 * and the checksum lets them, and Rampart, tell a real token from a random string without a
 * database lookup. The checksum is not a secret and protects nothing: 190 random bits do.
 */
export const PERSONAL_TOKEN_PREFIX = 'rpat_';
const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const RANDOM_LENGTH = 32;
const CHECKSUM_LENGTH = 6;
export const PERSONAL_TOKEN = /^rpat_[0-9A-Za-z]{38}$/;

/** `length` base62 characters from the CSPRNG; bytes ≥ 248 are dropped so every character is equally likely. */
function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length)) {
      if (byte < 248 && out.length < length) out += ALPHABET.charAt(byte % 62);
    }
  }
  return out;
}

function checksum(body: string): string {
  let value = crc32(body);
  let out = '';
  for (let i = 0; i < CHECKSUM_LENGTH; i++) {
    out = ALPHABET.charAt(value % 62) + out;
    value = Math.floor(value / 62);
  }
  return out;
}

export function generatePersonalToken(): string {
  const body = PERSONAL_TOKEN_PREFIX + randomBase62(RANDOM_LENGTH);
  return body + checksum(body);
}

/** Shape and checksum only; whether the token exists is the database's answer. */
export function isWellFormedPersonalToken(token: string): boolean {
  if (!PERSONAL_TOKEN.test(token)) return false;
  const body = token.slice(0, -CHECKSUM_LENGTH);
  return checksum(body) === token.slice(-CHECKSUM_LENGTH);
}
