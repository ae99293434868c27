import { z } from 'zod';

/**
 * Schema building blocks shared by every route, so that the same input is bounded the same way
 * everywhere: ids, page sizes and cursors, plain-text fields.
 */

/**
 * A UUID, in the lowercase form PostgreSQL returns: `1 OR 1=1` or `../x` never reaches a query,
 * and an uppercase spelling of an id compares equal to it in code (self-checks, store keys) as
 * it does in the database.
 */
export const uuidSchema = z.uuid().transform((id) => id.toLowerCase());

/** Path parameters of a route about one object. */
export const idParams = z.strictObject({ id: uuidSchema });

/** `?limit=`: decimal digits only (no `1e3`, no signs, no spaces), 1–`max`, `fallback` when absent. */
export function limitSchema(max: number, fallback: number) {
  return z.string().regex(/^[1-9][0-9]{0,3}$/, 'a whole number').transform(Number).pipe(z.number().int().min(1).max(max)).default(fallback);
}

/** `?cursor=`: an opaque cursor as Rampart issued it; its signature is checked by the cursor codec. */
export const cursorSchema = z.string().min(1).max(1024).regex(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/, 'a cursor from a previous page');

const ANY_CONTROL = /\p{Cc}/u;
const CONTROL_EXCEPT_TAB_NEWLINE = /(?![\t\n])\p{Cc}/u;

/** C0 and C1 control characters never belong in text people write; multi-line text may keep tabs and newlines. */
export function hasControlCharacters(value: string, options: { readonly multiline: boolean }): boolean {
  return (options.multiline ? CONTROL_EXCEPT_TAB_NEWLINE : ANY_CONTROL).test(value);
}

/** Single-line plain text: NFC, trimmed, no control characters, `min`–`max` characters. */
export function lineSchema(min: number, max: number) {
  return z.string().max(max * 4).transform((value) => value.normalize('NFC').trim()).pipe(
    z.string().min(min).max(max).refine((value) => !hasControlCharacters(value, { multiline: false }), 'must be a single line without control characters'),
  );
}

/** Multi-line plain text: NFC, CRLF as LF, trailing space trimmed, no control characters other than tab and newline. */
export function textSchema(min: number, max: number) {
  return z.string().max(max * 4).transform((value) => value.normalize('NFC').replace(/\r\n?/g, '\n').trimEnd()).pipe(
    z.string().min(min).max(max).refine((value) => !hasControlCharacters(value, { multiline: true }), 'must not contain control characters'),
  );
}

/** An ISO 8601 date-time with an offset (`2026-01-01T00:00:00Z`), as a Date. */
export const dateTimeSchema = z.iso.datetime({ offset: true }).transform((value) => new Date(value));
