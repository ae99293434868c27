import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import helmet, { type HelmetOptions } from 'helmet';

/**
 * Browser features no Rampart page uses; denying them means an injected script or a framed
 * page cannot reach them either.
 */
export const PERMISSIONS_POLICY = [
  'accelerometer', 'autoplay', 'camera', 'display-capture', 'encrypted-media', 'fullscreen', 'geolocation',
  'gyroscope', 'hid', 'idle-detection', 'magnetometer', 'microphone', 'midi', 'payment', 'picture-in-picture',
  'publickey-credentials-get', 'screen-wake-lock', 'serial', 'usb', 'xr-spatial-tracking',
].map((feature) => `${feature}=()`).join(', ');

/** Two years, per the HSTS preload list's minimum; sent only over HTTPS (RFC 6797 §7.2). */
export const HSTS_VALUE = 'max-age=63072000; includeSubDomains';

export interface SecurityHeadersOptions {
  /**
   * Add `preload` to HSTS, asking to be listed in the browsers' preload list. Opt-in: once
   * listed, the domain and every subdomain are HTTPS-only in browsers for months after removal.
   */
  readonly hstsPreload?: boolean;
}

/** The API profile's CSP: an API response is data, never a document that may run or embed anything. */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'";

/**
 * Headers for responses written outside Fastify's lifecycle (a malformed request rejected by
 * Node's parser), so even those carry the baseline.
 */
export const RAW_RESPONSE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'application/problem+json; charset=utf-8',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'content-security-policy': API_CSP,
  'cache-control': 'no-store',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
  'cross-origin-opener-policy': 'same-origin',
  'x-xss-protection': '0',
  'permissions-policy': PERMISSIONS_POLICY,
  connection: 'close',
};

// helmet's options for every response. Values helmet would get wrong for Rampart are set here:
// an API answer is data (CSP `default-src 'none'`), and HSTS waits for HTTPS (below).
const HELMET_OPTIONS: Readonly<HelmetOptions> = {
  contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
  crossOriginEmbedderPolicy: false,
  crossOriginOpenerPolicy: { policy: 'same-origin' },
  crossOriginResourcePolicy: { policy: 'same-origin' },
  originAgentCluster: true,
  referrerPolicy: { policy: 'no-referrer' },
  // HSTS over plain HTTP is ignored by browsers and misleading in tests; set per request below.
  strictTransportSecurity: false,
  xContentTypeOptions: true,
  xDnsPrefetchControl: { allow: false },
  xDownloadOptions: true,
  xFrameOptions: { action: 'deny' },
  xPermittedCrossDomainPolicies: { permittedPolicies: 'none' },
  // A removal; neither Node nor Fastify sets X-Powered-By, and nothing in Rampart does.
  xPoweredBy: true,
  // `0` disables the legacy XSS auditor, whose blocking mode itself leaked data across origins.
  xXssProtection: true,
};

/**
 * Runs helmet once against a detached response and returns the headers it set: helmet stays
 * the source of every value, and a request costs only the assignments. helmet's middleware
 * with static directives is synchronous and reads nothing from the request.
 */
function helmetHeaders(options: Readonly<HelmetOptions>): [string, string][] {
  const req = new IncomingMessage(new Socket());
  const res = new ServerResponse(req);
  // Widened: TypeScript cannot see the callback below assign it.
  let finished = false as boolean;
  helmet(options)(req, res, (err) => {
    if (err !== undefined && err !== null) throw new Error('helmet refused the header options', { cause: err });
    finished = true;
  });
  if (!finished) throw new Error('helmet did not set its headers synchronously');
  return Object.entries(res.getHeaders()).map(([name, value]) => {
    if (typeof value !== 'string') throw new TypeError(`helmet set ${name} to a non-string value`);
    return [name, value];
  });
}

/** The baseline every response carries, in the order it is set; HSTS is added over HTTPS only. */
function baselineHeaders(): readonly (readonly [string, string])[] {
  const headers: [string, string][] = [...helmetHeaders(HELMET_OPTIONS), ['permissions-policy', PERMISSIONS_POLICY], ['cache-control', 'no-store']];
  return Object.freeze(headers.map((header) => Object.freeze(header)));
}

/**
 * The security header baseline on every response, errors and 404s included. Values are
 * computed once here; the per-request work is one onRequest hook setting them.
 *
 * Pages, when they come, need a fresh CSP nonce per response: their policy belongs here as a
 * second precomputed profile selected by route config, completed with `randomBytes(16)` in this
 * hook, never by building helmet per request.
 */
export const securityHeadersPlugin = fp(
  (app: FastifyInstance, options: SecurityHeadersOptions, done: (err?: Error) => void) => {
    const preload: unknown = options.hstsPreload ?? false;
    if (typeof preload !== 'boolean') throw new TypeError('security headers: hstsPreload must be a boolean');
    const headers = baselineHeaders();
    // includeSubDomains is always part of the value, as the preload list requires.
    const hsts = preload ? `${HSTS_VALUE}; preload` : HSTS_VALUE;
    app.addHook('onRequest', (request, reply, next) => {
      for (const [name, value] of headers) reply.header(name, value);
      // request.protocol says https over TLS, or when a trusted proxy's X-Forwarded-Proto says so.
      if (request.protocol === 'https') reply.header('strict-transport-security', hsts);
      next();
    });
    done();
  },
  { name: 'rampart-security-headers' },
);
