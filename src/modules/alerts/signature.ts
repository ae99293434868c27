import { createHmac, timingSafeEqual } from 'node:crypto';

/** The header carrying an alert webhook's signature: `t=<unix seconds>,v1=<hex HMAC-SHA256>`. */
export const SIGNATURE_HEADER = 'rampart-signature';
/** A delivery older (or further in the future) than this is refused as a replay. */
export const REPLAY_WINDOW_SECONDS = 300;

/** HMAC-SHA256 over `timestamp.body`, the scheme Stripe's webhooks use: the timestamp is signed with the body, so neither can be swapped. */
function mac(secret: string, timestamp: number, body: string): Buffer {
  return createHmac('sha256', secret).update(`${timestamp}.${body}`, 'utf8').digest();
}

/** The signature header value for `body`, sent at `timestamp` (unix seconds). */
export function signAlert(secret: string, body: string, timestamp: number): string {
  return `t=${timestamp},v1=${mac(secret, timestamp, body).toString('hex')}`;
}

export type SignatureCheck = { readonly ok: true; readonly timestamp: number } | { readonly ok: false; readonly reason: 'malformed' | 'forged' | 'replayed' };

/**
 * What a webhook receiver runs before trusting a delivery (the README shows it): the raw body,
 * exactly as received, must carry a `v1` HMAC of `timestamp.body` under the shared secret
 * (compared in constant time), and the timestamp must be within the replay window of the
 * receiver's clock. A receiver that also remembers delivery ids (`id` in the body) for the
 * window refuses an exact replay inside it too.
 */
export function verifyAlertSignature(options: { readonly secret: string; readonly header: string | undefined; readonly body: string; readonly nowSeconds?: number; readonly toleranceSeconds?: number }): SignatureCheck {
  const { secret, header, body, nowSeconds = Math.floor(Date.now() / 1000), toleranceSeconds = REPLAY_WINDOW_SECONDS } = options;
  if (header === undefined || header.length > 512) return { ok: false, reason: 'malformed' };
  let timestamp: number | undefined;
  const signatures: Buffer[] = [];
  for (const part of header.split(',')) {
    const [name, value = ''] = part.trim().split('=', 2);
    if (name === 't' && /^\d{1,12}$/.test(value)) timestamp = Number(value);
    else if (name === 'v1' && /^[0-9a-f]{64}$/.test(value)) signatures.push(Buffer.from(value, 'hex'));
  }
  if (timestamp === undefined || signatures.length === 0) return { ok: false, reason: 'malformed' };
  const expected = mac(secret, timestamp, body);
  // Several v1 values may be sent while a secret is being rotated; one must match.
  if (!signatures.some((candidate) => timingSafeEqual(candidate, expected))) return { ok: false, reason: 'forged' };
  if (Math.abs(nowSeconds - timestamp) > toleranceSeconds) return { ok: false, reason: 'replayed' };
  return { ok: true, timestamp };
}
