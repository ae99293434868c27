import { randomBytes } from 'node:crypto';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import helmet, { type HelmetOptions } from 'helmet';
import { isPageRequest } from './pages.js';

/**
 * Browser features no Rampart page uses are denied (`=()`), so an injected script or a framed
 * page cannot reach them either. Passkeys (WebAuthn's `navigator.credentials.create` and `.get`)
 * are allowed to Rampart's own origin only (`=(self)`): no other origin, framed or not, may ask.
 */
export const PERMISSIONS_POLICY = [
  ...[
    'accelerometer', 'autoplay', 'camera', 'display-capture', 'encrypted-media', 'fullscreen', 'geolocation',
    'gyroscope', 'hid', 'idle-detection', 'magnetometer', 'microphone', 'midi', 'payment', 'picture-in-picture',
    'screen-wake-lock', 'serial', 'usb', 'xr-spatial-tracking',
  ].map((feature) => `${feature}=()`),
  'publickey-credentials-create=(self)',
  'publickey-credentials-get=(self)',
].join(', ');

/** Two years, per the HSTS preload list's minimum; sent only over HTTPS (RFC 6797 §7.2). */
export const HSTS_VALUE = 'max-age=63072000; includeSubDomains';

declare module 'fastify' {
  interface FastifyRequest {
    /** This page response's CSP nonce (base64 of 16 random bytes); `''` on API responses, which run no script. */
    cspNonce: string;
  }
}

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
 * Pages' Referrer-Policy. Under `no-referrer` (the API's) browsers send `Origin: null` with the
 * site's own form posts, which the CSRF Origin check must refuse; `same-origin` gives them the
 * real origin while a URL (and any token in its query) still never reaches another site.
 */
export const PAGE_REFERRER_POLICY = 'same-origin';

/** Where browsers send CSP violation reports (`report-uri`, and the `report-to` group's endpoint). */
export const CSP_REPORT_PATH = '/csp-report';
/** The Reporting API group name the page policy's `report-to` names (see `Reporting-Endpoints`). */
export const CSP_REPORT_GROUP = 'csp-endpoint';

export interface PageCspOptions {
  /** The site's own origin; `Reporting-Endpoints` needs an absolute URL. */
  readonly publicOrigin: string;
  /** Also send the policy as `Content-Security-Policy-Report-Only` (RAMPART_CSP_REPORT_ONLY). */
  readonly reportOnly: boolean;
}

/**
 * The page profile's policy around its nonce, computed once: scripts run only with this
 * response's nonce (and what they load, `'strict-dynamic'`), so an injected `<script>` or
 * event-handler attribute does not run; styles and everything else come from this origin;
 * nothing may frame the page, change its base URL or post a form elsewhere.
 * `upgrade-insecure-requests` is added over HTTPS only (over plain HTTP it would break the site).
 */
export function pageCspTemplate(): { readonly policy: (nonce: string, https: boolean) => string } {
  const before = "default-src 'self'; script-src 'nonce-";
  const after = [
    "' 'strict-dynamic'",
    "style-src 'self'",
    "img-src 'self' https: data:",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "form-action 'self'",
    `report-uri ${CSP_REPORT_PATH}`,
    `report-to ${CSP_REPORT_GROUP}`,
  ].join('; ');
  const afterHttps = `${after}; upgrade-insecure-requests`;
  return { policy: (nonce, https) => `${before}${nonce}${https ? afterHttps : after}` };
}

/**
 * Headers for responses written outside Fastify's lifecycle (a malformed request rejected by
 * Node's parser): the API profile (see {@link API_HELMET_OPTIONS}), so even those carry it.
 */
export const RAW_RESPONSE_HEADERS: Readonly<Record<string, string>> = {
  'content-type': 'application/problem+json; charset=utf-8',
  'content-security-policy': API_CSP,
  'cross-origin-resource-policy': 'same-origin',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'cache-control': 'no-store',
  connection: 'close',
};

// helmet's options for pages: the full browser set. Values helmet would get wrong for Rampart
// are set here: the page CSP is Rampart's own (with its nonce, below), and HSTS waits for HTTPS.
const PAGE_HELMET_OPTIONS: Readonly<HelmetOptions> = {
  // A placeholder, replaced by the page policy with its nonce on every page response.
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
 * helmet's options for everything that is not a page (JSON, problem+json, static files): the
 * OWASP REST Security Cheat Sheet's set for a response no browser renders as a document. CSP
 * `default-src 'none'; frame-ancestors 'none'` (an API answer opened in a tab runs and embeds
 * nothing and cannot be framed), `nosniff`, `X-Frame-Options` for browsers without
 * frame-ancestors, and CORP `same-origin`, so no other site can load it as a resource; with
 * `Cache-Control: no-store` and HSTS over HTTPS (added below). The browser-feature headers
 * (Permissions-Policy, COOP, Origin-Agent-Cluster, Referrer-Policy and the legacy X-* ones)
 * govern a document and what it loads: they are sent with pages, where they apply, and would
 * only add about 600 bytes to every API answer.
 */
const API_HELMET_OPTIONS: Readonly<HelmetOptions> = {
  contentSecurityPolicy: { useDefaults: false, directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] } },
  crossOriginEmbedderPolicy: false,
  crossOriginOpenerPolicy: false,
  crossOriginResourcePolicy: { policy: 'same-origin' },
  originAgentCluster: false,
  referrerPolicy: false,
  strictTransportSecurity: false,
  xContentTypeOptions: true,
  xDnsPrefetchControl: false,
  xDownloadOptions: false,
  xFrameOptions: { action: 'deny' },
  xPermittedCrossDomainPolicies: false,
  xPoweredBy: true,
  xXssProtection: false,
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

/** The headers of one kind of response, as one object for `reply.headers()`. */
type HeaderSet = Readonly<Record<string, string>>;

/** An API answer's headers, in the order they are set; HSTS is added over HTTPS only. */
function apiHeaders(): HeaderSet {
  return Object.freeze(Object.fromEntries([...helmetHeaders(API_HELMET_OPTIONS), ['cache-control', 'no-store']]));
}

/** A page's headers before its own values (CSP with the nonce, Referrer-Policy, Reporting-Endpoints). */
function pageBaseHeaders(): HeaderSet {
  return Object.freeze(Object.fromEntries([...helmetHeaders(PAGE_HELMET_OPTIONS), ['permissions-policy', PERMISSIONS_POLICY], ['cache-control', 'no-store']]));
}

/**
 * The security header baseline on every response, errors and 404s included. Every set is
 * computed once here, one object per kind of response and scheme; the per-request work is one
 * onRequest hook passing the right one to `reply.headers()`.
 *
 * API answers (JSON, problem+json, static files) get the API profile (the OWASP REST set, see
 * {@link API_HELMET_OPTIONS}). Page requests (see {@link isPageRequest}) get the page profile:
 * helmet's full browser set with Permissions-Policy, the page Referrer-Policy and
 * `Reporting-Endpoints` for `report-to`, and the page CSP completed with a fresh 128-bit nonce
 * from `randomBytes(16)`, kept in `request.cspNonce` for the templates (never written into
 * HTML afterwards): the nonce is the only per-request value.
 */
export const securityHeadersPlugin = fp<{ readonly pageCsp?: PageCspOptions } & SecurityHeadersOptions>(
  (app: FastifyInstance, options, done: (err?: Error) => void) => {
    const preload: unknown = options.hstsPreload ?? false;
    if (typeof preload !== 'boolean') throw new TypeError('security headers: hstsPreload must be a boolean');
    // includeSubDomains is always part of the value, as the preload list requires.
    const hsts = preload ? `${HSTS_VALUE}; preload` : HSTS_VALUE;
    const api = apiHeaders();
    const apiHttps: HeaderSet = Object.freeze({ ...api, 'strict-transport-security': hsts });
    const pageBase = pageBaseHeaders();
    const pageBaseHttps: HeaderSet = Object.freeze({ ...pageBase, 'strict-transport-security': hsts });
    const pageCsp = options.pageCsp;
    if (pageCsp !== undefined) {
      if (typeof pageCsp.reportOnly !== 'boolean') throw new TypeError('security headers: pageCsp.reportOnly must be a boolean');
      if (typeof pageCsp.publicOrigin !== 'string' || new URL(pageCsp.publicOrigin).origin !== pageCsp.publicOrigin) throw new TypeError('security headers: pageCsp.publicOrigin must be an origin such as https://rampart.example.com');
    }
    const template = pageCspTemplate();
    const reportOnly = pageCsp?.reportOnly === true;
    const endpoints = `${CSP_REPORT_GROUP}="${pageCsp?.publicOrigin ?? ''}${CSP_REPORT_PATH}"`;
    // The page set keeps helmet's order; the policies are placeholders that each response
    // fills with its own nonce (a key set again keeps its place).
    const pageHeaders = (base: HeaderSet): HeaderSet => Object.freeze({
      ...base,
      ...(reportOnly ? { 'content-security-policy-report-only': '' } : {}),
      'reporting-endpoints': endpoints,
      'referrer-policy': PAGE_REFERRER_POLICY,
    });
    const page = pageHeaders(pageBase);
    const pageHttps = pageHeaders(pageBaseHttps);
    app.decorateRequest('cspNonce', '');
    app.addHook('onRequest', (request, reply, next) => {
      // request.protocol says https over TLS, or when a trusted proxy's X-Forwarded-Proto says so.
      const https = request.protocol === 'https';
      if (pageCsp === undefined || !isPageRequest(request)) {
        reply.headers(https ? apiHttps : api);
        next();
        return;
      }
      const nonce = randomBytes(16).toString('base64');
      request.cspNonce = nonce;
      const policy = template.policy(nonce, https);
      reply.headers(https ? pageHttps : page);
      reply.header('content-security-policy', policy);
      if (reportOnly) reply.header('content-security-policy-report-only', policy);
      next();
    });
    done();
  },
  { name: 'rampart-security-headers' },
);
