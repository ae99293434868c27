import { randomBytes } from 'node:crypto';
import { isIPv4 } from 'node:net';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { clientKey } from '../../security/client-ip.js';
import type { Keyring } from '../../security/keyring.js';
import type { LifecycleRepository } from './lifecycle-repository.js';
import type { Notify } from './notifications.js';

const DEVICE_TOKEN = /^[A-Za-z0-9_-]{43}$/;
// A year: long enough to know a returning browser, short of Chrome's 400-day cap.
const DEVICE_COOKIE_MAX_AGE_SECONDS = 365 * 24 * 60 * 60;

/** The network a client is in: its IPv4 /24 or its IPv6 /64 (a home router or a phone's prefix changes less than its address). */
export function networkOf(ip: string): string {
  return isIPv4(ip) ? `${ip.split('.').slice(0, 3).join('.')}.0/24` : clientKey(ip);
}

/**
 * "A device not seen before", for the new sign-in notice. A browser (a cookie sign-in) is
 * known by a random device cookie (`__Host-rampart_device`, a year, HttpOnly): it identifies
 * nothing but itself and holds no account data. A client that keeps no cookies (the token
 * endpoint, a script) is known by its User-Agent and network (/24, /64). Only a keyed hash
 * (the keyring's blind index) of either is stored, per user. The first device a user ever
 * signs in from is remembered without a notice: that sign-in is no news to its owner.
 */
export function createDeviceRecognizer(options: { readonly lifecycle: LifecycleRepository; readonly keyring: Keyring; readonly notify: Notify; readonly secureCookies: boolean }) {
  const { lifecycle, keyring, notify } = options;
  const cookieName = options.secureCookies ? '__Host-rampart_device' : 'rampart_device';
  const cookieOptions = { path: '/', httpOnly: true, secure: options.secureCookies, sameSite: 'lax', maxAge: DEVICE_COOKIE_MAX_AGE_SECONDS } as const;

  return {
    cookieName,
    /** The user's remembered devices (kind and dates only: the hash identifies nothing outside this table). */
    list: (userId: string) => lifecycle.listDevices(userId),
    /**
     * Called after a successful sign-in. With `reply` (a cookie sign-in) the browser keeps (or
     * gets) its device cookie; without, the client's User-Agent and network stand for it.
     */
    async signedIn(request: FastifyRequest, reply: FastifyReply | null, userId: string, via: 'password' | 'token'): Promise<void> {
      const userAgent = (request.headers['user-agent'] ?? '').slice(0, 256);
      let deviceHash: string;
      let kind: 'cookie' | 'client';
      if (reply === null) {
        kind = 'client';
        deviceHash = keyring.blindIndex(`${userAgent}\n${networkOf(request.ip)}`, 'known_devices.client');
      } else {
        const presented = request.cookies[cookieName];
        const token = presented !== undefined && DEVICE_TOKEN.test(presented) ? presented : randomBytes(32).toString('base64url');
        // Not a secret comparison: whether the browser sent a well-formed cookie decides only whether to set one.
        if (presented === undefined || !DEVICE_TOKEN.test(presented)) reply.setCookie(cookieName, token, cookieOptions);
        kind = 'cookie';
        deviceHash = keyring.blindIndex(token, 'known_devices.cookie');
      }
      const seen = await lifecycle.rememberDevice(userId, deviceHash, kind);
      if (seen.isNew && !seen.firstEver) notify(userId, 'new_sign_in', { ip: request.ip, userAgent, via });
    },
  };
}

export type DeviceRecognizer = ReturnType<typeof createDeviceRecognizer>;
