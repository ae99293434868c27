/**
 * Judges whether a configured secret is fit for production: at least 32 bytes of key
 * material, plausibly random, and not a known placeholder. Rampart's secrets are keys for
 * HKDF and HMAC, so anything a person could type from memory is refused.
 */

export type SecretProblem = 'too_short' | 'low_entropy' | 'placeholder';

export interface SecretAssessment {
  /** The decoded key material: hex and base64/base64url are decoded, anything else is UTF-8. */
  readonly bytes: Buffer;
  readonly problems: readonly SecretProblem[];
}

export const MIN_SECRET_BYTES = 32;
const MIN_ENTROPY_BITS = 128;

// Words that mark a value copied from a tutorial or a template rather than generated.
const PLACEHOLDERS = [
  'secret', 'changeme', 'change-me', 'change_me', 'password', 'passw0rd', 'placeholder',
  'example', 'default', 'insecure', 'development', 'dummy', 'sample', 'replace', 'your-',
  'your_', 'xxxxxx', 'qwerty', 'letmein', '123456', 'abcdef',
];

export function decodeSecret(text: string): Buffer {
  if (/^[0-9a-fA-F]+$/.test(text) && text.length % 2 === 0 && text.length >= 2 * MIN_SECRET_BYTES) return Buffer.from(text, 'hex');
  if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(text) && text.length >= 43) return Buffer.from(text, 'base64');
  return Buffer.from(text, 'utf8');
}

/** Shannon entropy of the text's characters, times its length: an upper bound on what a human-chosen string carries. */
function estimatedEntropyBits(text: string): number {
  const chars = Array.from(text);
  const counts = new Map<string, number>();
  for (const c of chars) counts.set(c, (counts.get(c) ?? 0) + 1);
  let perChar = 0;
  for (const n of counts.values()) {
    const p = n / chars.length;
    perChar -= p * Math.log2(p);
  }
  return perChar * chars.length;
}

// Longer units cannot be typed from memory; the bound keeps a huge secret file cheap to judge.
const MAX_REPEATED_UNIT = 256;

/** Whether the text repeats a unit at least twice, a partial unit at the end included (`abcabcab`). */
function isRepetition(text: string): boolean {
  for (let unit = 1; unit <= Math.min(MAX_REPEATED_UNIT, text.length / 2); unit++) {
    if (text.slice(unit) === text.slice(0, text.length - unit)) return true;
  }
  return false;
}

/**
 * How many bytes of key material the text can carry. An encoded key counts by its decoded
 * size even when it is too short to be decoded above: 32 hex digits are 16 bytes, not 32.
 */
function materialBytes(text: string): number {
  if (/^[0-9a-fA-F]+$/.test(text)) return Math.floor(text.length / 2);
  if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) return Math.floor((text.replace(/=+$/, '').length * 3) / 4);
  return Buffer.byteLength(text, 'utf8');
}

export function assessSecret(text: string): SecretAssessment {
  const bytes = decodeSecret(text);
  const problems: SecretProblem[] = [];
  if (Math.min(bytes.length, materialBytes(text)) < MIN_SECRET_BYTES) problems.push('too_short');
  if (estimatedEntropyBits(text) < MIN_ENTROPY_BITS || isRepetition(text)) problems.push('low_entropy');
  const lower = text.toLowerCase();
  if (PLACEHOLDERS.some((word) => lower.includes(word))) problems.push('placeholder');
  return { bytes, problems };
}
