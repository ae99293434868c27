import { randomInt } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import QRCode from 'qrcode';

/** RFC 6238 as every authenticator app implements it: SHA-1, 6 digits, 30-second steps. */
export const TOTP_PERIOD_SECONDS = 30;
export const TOTP_DIGITS = 6;
/** Codes of the step before and after the current one are accepted too (clock drift, typing time). */
export const TOTP_WINDOW = 1;
/** 160-bit secrets, RFC 4226's recommended length. */
const SECRET_BYTES = 20;

/** A new random secret in base32 (what the QR code carries and a person may type). */
export function newTotpSecret(): string {
  return new Secret({ size: SECRET_BYTES }).base32;
}

function totpFor(secretBase32: string, label: string, issuer: string): TOTP {
  return new TOTP({ issuer, label, algorithm: 'SHA1', digits: TOTP_DIGITS, period: TOTP_PERIOD_SECONDS, secret: Secret.fromBase32(secretBase32) });
}

/** The otpauth:// URI an authenticator app reads from the QR code. */
export function otpauthUri(secretBase32: string, label: string, issuer: string): string {
  return totpFor(secretBase32, label, issuer).toString();
}

/** The QR code of `uri` as an SVG document, rendered here (no outside service sees the secret). */
export async function qrSvg(uri: string): Promise<string> {
  return QRCode.toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
}

/**
 * The time step a code belongs to when it is valid at `timestamp` (within ±{@link TOTP_WINDOW}
 * steps), else null. The library compares in constant time.
 */
export function matchingStep(secretBase32: string, code: string, timestamp: number): number | null {
  if (!/^\d{6}$/.test(code)) return null;
  const totp = totpFor(secretBase32, 'x', 'x');
  const delta = totp.validate({ token: code, timestamp, window: TOTP_WINDOW });
  return delta === null ? null : totp.counter({ timestamp }) + delta;
}

/** The code of `secretBase32` at `timestamp` (tests and the CLI helper). */
export function totpCode(secretBase32: string, timestamp: number): string {
  return totpFor(secretBase32, 'x', 'x').generate({ timestamp });
}

// No 0/O, 1/I/L: codes are read off paper and typed by hand.
const RECOVERY_ALPHABET = 'ABCDEFGHJKMNPQRSTUVWXYZ23456789';
const RECOVERY_LENGTH = 12;
// The same alphabet and length as a pattern.
const RECOVERY_CODE = /^[ABCDEFGHJKMNPQRSTUVWXYZ2-9]{12}$/;

/** A recovery code: 12 characters of a 31-letter alphabet (59 bits), shown as XXXX-XXXX-XXXX. */
export function newRecoveryCode(): string {
  let code = '';
  for (let i = 0; i < RECOVERY_LENGTH; i++) code += RECOVERY_ALPHABET[randomInt(RECOVERY_ALPHABET.length)] ?? '';
  return `${code.slice(0, 4)}-${code.slice(4, 8)}-${code.slice(8)}`;
}

/** A typed recovery code in its stored form: upper case, without separators or spaces; null when it cannot be one. */
export function normalizeRecoveryCode(input: string): string | null {
  const code = input.replace(/[\s-]/g, '').toUpperCase();
  return RECOVERY_CODE.test(code) ? code : null;
}
