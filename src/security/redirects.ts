/** Where a rejected or missing `next` value sends the user. */
export const SAFE_FALLBACK = '/';
/** Longer than any path Rampart serves; a longer value is an attack or a mistake. */
export const MAX_NEXT_LENGTH = 2048;
// Percent-decoding rounds inspected; a value still changing after them is refused.
const MAX_DECODE_ROUNDS = 3;

// Printable ASCII except the backslash: anything else in a URL arrives percent-encoded, and a
// raw space, tab, newline or control character (which browsers strip or fold) is refused.
const RAW_ALLOWED = /^[\x21-\x5B\x5D-\x7E]+$/;
// After decoding: C0 and C1 controls, DEL, and characters browsers strip from URLs.
// eslint-disable-next-line no-control-regex
const DECODED_FORBIDDEN = /[\x00-\x1F\x7F-\x9F\u00AD\u200B-\u200F\u2028-\u202E\u2060-\u2064\uFEFF\\]/;

const PROBE_ORIGIN = 'https://rampart.invalid';

/**
 * True when a path-looking value would leave the origin: `//host` and `/\\host` are
 * network-path references, and `/.//host` resolves to the path `//host`, which becomes one the
 * moment anything redirects to the resolved path.
 */
function leavesOrigin(path: string): boolean {
  if (!path.startsWith('/') || path.startsWith('//') || path.startsWith('/\\')) return true;
  try {
    const resolved = new URL(path, PROBE_ORIGIN);
    return resolved.origin !== PROBE_ORIGIN || resolved.pathname.startsWith('//');
  } catch {
    return true;
  }
}

/** One form the value takes after n rounds of decoding; null when it is not valid percent-encoded UTF-8. */
function decodeOnce(value: string): string | null {
  try {
    return decodeURIComponent(value);
  } catch {
    // A broken escape or an overlong UTF-8 sequence (`%C0%AF` for `/`).
    return null;
  }
}

/**
 * The `next` target of a redirect (after login, for instance) if it is a path on this site,
 * else `/`. Accepted: a single string of printable ASCII that starts with one `/` and stays a
 * same-origin path however many times a browser, proxy or later code decodes it and however
 * Unicode compatibility folds it. Refused, with `/`: `//host`, `/\host`, `\/host`, absolute
 * URLs (`https:`, `javascript:`, `data:`), control characters, whitespace, backslashes,
 * percent-encoded variants of any of these (`/%2F%2Fhost`, `%2F%2F`, `/%5Chost`), malformed
 * or overlong escapes, and values over 2 048 characters. The value is returned unchanged, so
 * what is checked is exactly what is sent.
 */
export function safeNextPath(value: unknown): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_NEXT_LENGTH) return SAFE_FALLBACK;
  if (!RAW_ALLOWED.test(value) || leavesOrigin(value)) return SAFE_FALLBACK;
  let current = value;
  for (let round = 0; round < MAX_DECODE_ROUNDS; round++) {
    const decoded = decodeOnce(current);
    if (decoded === null || DECODED_FORBIDDEN.test(decoded)) return SAFE_FALLBACK;
    // NFKC folds look-alikes (fullwidth solidus, small reverse solidus) into the real characters.
    const folded = decoded.normalize('NFKC');
    if (leavesOrigin(decoded) || leavesOrigin(folded) || folded.includes('\\')) return SAFE_FALLBACK;
    if (decoded === current) return value;
    current = decoded;
  }
  // Still decoding after three rounds: layered encoding has no honest use in a path.
  return SAFE_FALLBACK;
}
