import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import type { ProbeRequest } from './http-client.js';
import { bareHostname } from './http-client.js';
import { VERSIONS, WEAK_CIPHERS } from './tls-checks.js';

/** Everything a scan is told, validated by the command. */
export interface ScanSettings {
  readonly target: URL;
  /** Extra same-origin paths to audit (GET only). */
  readonly paths: readonly string[];
  /** Where plain HTTP is served, for the redirect check of an https:// target (null: not tested). */
  readonly httpPort: number | null;
  readonly probeRateLimit: boolean;
  readonly loginPath: string;
  readonly rateLimitAttempts: number;
  readonly timeoutMs: number;
  readonly maxRequests: number;
  readonly maxBodyBytes: number;
  /** Extra trust anchors for the certificate chain check (PEM). */
  readonly ca: readonly string[];
  /** Random per run: names the paths that cannot exist and the attacker origin. */
  readonly scanId: string;
  readonly now: Date;
}

export const newScanId = (): string => randomBytes(6).toString('hex');

/** localhost, 127.0.0.0/8 and ::1: the only hosts the rate-limit probe runs against without --i-own-this-host. */
export function isLoopback(url: URL): boolean {
  const host = bareHostname(url).toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1' || host === '0:0:0:0:0:0:0:1';
}

const OVERLONG_PATH_CHARS = 9000;
const PAGE_ACCEPT = 'text/html,application/xhtml+xml;q=0.9,*/*;q=0.8';

/** The fixed requests of a scan. Conditional ones (redirects, the static file) are described by {@link dynamicSteps}. */
export interface ScanPlan {
  readonly home: ProbeRequest;
  readonly notFound: ProbeRequest;
  readonly apiNotFound: ProbeRequest;
  readonly securityTxt: ProbeRequest;
  readonly paths: readonly ProbeRequest[];
  readonly errorProbes: readonly ProbeRequest[];
  readonly cors: readonly { readonly request: ProbeRequest; readonly origin: string }[];
  readonly httpRedirect: ProbeRequest | null;
  /** Sent up to `rateLimitAttempts` times, stopping at the first throttled answer. */
  readonly login: ProbeRequest | null;
}

export function buildPlan(settings: ScanSettings): ScanPlan {
  const id = settings.scanId;
  const home = `${settings.target.pathname}${settings.target.search}`;
  const attacker = `https://attacker-${id}.invalid`;
  const corsPath = settings.paths[0] ?? home;
  const cors: ScanPlan['cors'] = [
    { origin: attacker, request: { method: 'GET', path: corsPath, headers: { origin: attacker }, purpose: 'CORS: is an arbitrary Origin reflected?' } },
    { origin: 'null', request: { method: 'GET', path: corsPath, headers: { origin: 'null' }, purpose: 'CORS: is Origin: null allowed?' } },
    { origin: attacker, request: { method: 'OPTIONS', path: corsPath, headers: { origin: attacker, 'access-control-request-method': 'PUT' }, purpose: 'CORS preflight from an arbitrary Origin (OPTIONS changes nothing)' } },
    { origin: attacker, request: { method: 'GET', path: `/api/rampart-scan-${id}`, headers: { origin: attacker, accept: 'application/json' }, purpose: 'CORS on the API path prefix' } },
  ];
  const errorProbes: ProbeRequest[] = [
    {
      method: 'POST', path: `/rampart-scan-${id}`, headers: { 'content-type': 'application/json' }, body: '{"rampart-scan":',
      purpose: 'error leakage: malformed JSON (truncated, so no handler can act on it) to a path that cannot exist',
    },
    {
      method: 'POST', path: `/api/rampart-scan-${id}`, headers: { 'content-type': 'application/json', accept: 'application/json' }, body: '{"rampart-scan":',
      purpose: 'error leakage: the same malformed JSON under /api/',
    },
    { method: 'GET', path: `/rampart-scan-${id}/${'a'.repeat(OVERLONG_PATH_CHARS)}`, purpose: `error leakage: a ${OVERLONG_PATH_CHARS}-character URL` },
    { method: 'RAMPARTSCAN', path: `/rampart-scan-${id}`, purpose: 'error leakage: an unknown method (no server gives it a meaning)' },
  ];
  let httpRedirect: ProbeRequest | null = null;
  if (settings.target.protocol === 'https:' && settings.httpPort !== null) {
    const origin = `http://${settings.target.host.replace(/:\d+$/, '')}${settings.httpPort === 80 ? '' : `:${settings.httpPort}`}`;
    httpRedirect = { method: 'GET', path: home, origin, purpose: 'does plain HTTP redirect to HTTPS (301/308)?' };
  }
  const login = settings.probeRateLimit
    ? {
        method: 'POST', path: settings.loginPath,
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        // An address under .invalid (RFC 2606) cannot belong to any account, so no real user is locked out.
        body: JSON.stringify({ email: `rampart-scan-${id}@example.invalid`, password: `rampart-scan-${id}-${randomBytes(9).toString('base64url')}` }),
        purpose: `rate limiting: a failed login for an address that cannot exist, up to ${settings.rateLimitAttempts} times`,
      }
    : null;
  return {
    home: { method: 'GET', path: home, headers: { accept: PAGE_ACCEPT }, purpose: 'the home page: headers, CSP, cookies' },
    notFound: { method: 'GET', path: `/rampart-scan-${id}.html`, headers: { accept: PAGE_ACCEPT }, purpose: 'a page that cannot exist: the 404 answer\'s headers and body' },
    apiNotFound: { method: 'GET', path: `/api/rampart-scan-${id}`, headers: { accept: 'application/json' }, purpose: 'an API path that cannot exist: the API 404 answer' },
    securityTxt: { method: 'GET', path: '/.well-known/security.txt', headers: { accept: 'text/plain' }, purpose: 'security.txt (RFC 9116)' },
    paths: settings.paths.map((path) => ({ method: 'GET', path, headers: { accept: PAGE_ACCEPT }, purpose: 'a path given with --path' })),
    errorProbes,
    cors,
    httpRedirect,
    login,
  };
}

/** The requests that depend on an answer, and the TLS handshakes, in words (for --dry-run). */
export function dynamicSteps(settings: ScanSettings): { conditional: string[]; handshakes: string[] } {
  const conditional = [
    'GET <Location>: a redirect from the home page, a 404 probe, a --path or security.txt is followed within the same origin only, at most 3 times each',
    'GET <static file>: the first same-origin script or stylesheet the home page links to, else /favicon.ico',
  ];
  const handshakes: string[] = [];
  if (settings.target.protocol === 'https:') {
    const where = `${bareHostname(settings.target)}:${settings.target.port === '' ? 443 : settings.target.port}`;
    for (const { label } of VERSIONS) handshakes.push(`${where} offering only ${label}`);
    for (const { label } of WEAK_CIPHERS) handshakes.push(`${where} offering only ${label} suites, TLS 1.0 to 1.2 (skipped when only TLS 1.3 is offered)`);
  }
  return { conditional, handshakes };
}

/** Every fixed request of the plan, in the order the scan sends them. */
export function planRequests(plan: ScanPlan): ProbeRequest[] {
  return [
    plan.home, plan.notFound, plan.apiNotFound, plan.securityTxt, ...plan.paths,
    ...plan.errorProbes, ...plan.cors.map((c) => c.request),
    ...(plan.httpRedirect === null ? [] : [plan.httpRedirect]),
    ...(plan.login === null ? [] : [plan.login]),
  ];
}
