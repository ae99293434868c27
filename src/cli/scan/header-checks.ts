import type { Findings } from './findings.js';
import { header, type ProbeResponse } from './http-client.js';

/** What a response is, as far as the header rules go. */
export type ResponseKind = 'page' | 'api' | 'other';

export function responseKind(response: ProbeResponse): ResponseKind {
  const type = (header(response.headers, 'content-type') ?? '').toLowerCase();
  if (type.startsWith('text/html') || type.startsWith('application/xhtml')) return 'page';
  if (type.startsWith('application/') && /[/+]json\b/.test(type)) return 'api';
  return 'other';
}

type Policy = ReadonlyMap<string, readonly string[]>;

/** `a b; c d` → {a: [b], c: [d]}; a header holding several policies (comma-joined) gives several maps. */
export function parseCsp(value: string): Policy[] {
  return value.split(',').map((text) => {
    const policy = new Map<string, string[]>();
    for (const part of text.split(';')) {
      const [name, ...tokens] = part.trim().split(/\s+/);
      // The first occurrence of a directive wins (CSP3 §2.2.1); later ones are ignored.
      if (name !== undefined && name !== '' && !policy.has(name.toLowerCase())) policy.set(name.toLowerCase(), tokens.map((t) => t.toLowerCase()));
    }
    return policy;
  });
}

const scriptSources = (policy: Policy) => policy.get('script-src') ?? policy.get('default-src');
const hasNonceOrHash = (sources: readonly string[]) => sources.some((s) => /^'(nonce-|sha256-|sha384-|sha512-)/.test(s));
const ANY_HOST = new Set(['*', 'http:', 'https:', 'data:']);

/** CSP findings for an HTML page; every rule holds when at least one enforced policy satisfies it (browsers apply them all). */
function checkCsp(findings: Findings, response: ProbeResponse, where: string): void {
  const enforced = header(response.headers, 'content-security-policy');
  if (enforced === undefined) {
    if (header(response.headers, 'content-security-policy-report-only') !== undefined) findings.add('RAMPART-SH11', 'Content-Security-Policy', `only Content-Security-Policy-Report-Only: ${header(response.headers, 'content-security-policy-report-only') ?? ''}`, where);
    else findings.add('RAMPART-SH05', 'Content-Security-Policy', 'no Content-Security-Policy header on a text/html response', where);
    return;
  }
  const policies = parseCsp(enforced);
  const some = (rule: (policy: Policy) => boolean) => policies.some(rule);
  const evidence = `Content-Security-Policy: ${enforced}`;
  if (!some((p) => scriptSources(p) !== undefined)) {
    findings.add('RAMPART-SH26', 'script-src', `${evidence} (no script-src or default-src: scripts are not restricted)`, where);
  } else {
    if (!some((p) => { const s = scriptSources(p); return s !== undefined && (!s.includes("'unsafe-inline'") || hasNonceOrHash(s) || s.includes("'strict-dynamic'")); })) {
      findings.add('RAMPART-SH06', 'script-src', evidence, where);
    }
    if (!some((p) => { const s = scriptSources(p); return s !== undefined && !s.includes("'unsafe-eval'"); })) findings.add('RAMPART-SH07', 'script-src', evidence, where);
    if (!some((p) => { const s = scriptSources(p); return s !== undefined && (s.includes("'strict-dynamic'") || !s.some((token) => ANY_HOST.has(token))); })) {
      findings.add('RAMPART-SH26', 'script-src', evidence, where);
    }
  }
  if (!some((p) => { const o = p.get('object-src') ?? p.get('default-src'); return o !== undefined && o.length === 1 && o[0] === "'none'"; })) findings.add('RAMPART-SH08', 'object-src', evidence, where);
  if (!some((p) => p.has('base-uri'))) findings.add('RAMPART-SH09', 'base-uri', evidence, where);
  if (!some((p) => p.has('report-uri') || p.has('report-to'))) findings.add('RAMPART-SH10', 'report-uri', evidence, where);
}

/** A page may be framed unless CSP frame-ancestors or X-Frame-Options says otherwise. */
function checkFraming(findings: Findings, response: ProbeResponse, where: string): void {
  const csp = header(response.headers, 'content-security-policy');
  if (csp !== undefined && parseCsp(csp).some((p) => p.has('frame-ancestors'))) return;
  if (header(response.headers, 'x-frame-options') !== undefined) return;
  findings.add('RAMPART-SH12', 'frame-ancestors', `Content-Security-Policy: ${csp ?? '(absent)'}; X-Frame-Options: (absent)`, where);
}

const UNSAFE_REFERRER = new Set(['unsafe-url', 'no-referrer-when-downgrade', 'origin-when-cross-origin']);
const ONE_YEAR_SECONDS = 31_536_000;

function maxAge(value: string, name: 'max-age' | 's-maxage'): number | undefined {
  // The name is one of two literals, never outside input.
  // eslint-disable-next-line security/detect-non-literal-regexp
  const match = new RegExp(`(?:^|[,;\\s])${name}\\s*=\\s*"?(\\d{1,12})`, 'i').exec(value);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/** Whether a shared cache (CDN, proxy) may store the response, by RFC 9111's rules. */
export function sharedCacheable(response: ProbeResponse): boolean {
  const cacheControl = (header(response.headers, 'cache-control') ?? '').toLowerCase();
  if (/\b(no-store|private)\b/.test(cacheControl)) return false;
  if (/\bpublic\b/.test(cacheControl)) return true;
  const seconds = maxAge(cacheControl, 's-maxage') ?? maxAge(cacheControl, 'max-age');
  if (seconds !== undefined) return seconds > 0;
  if (/\bno-cache\b/.test(cacheControl)) return false;
  const expires = header(response.headers, 'expires');
  return expires !== undefined && Date.parse(expires) > Date.now();
}

export interface HeaderContext {
  /** The response came over HTTPS. */
  readonly https: boolean;
  /** `GET /` and the like, for the report. */
  readonly where: string;
}

/** Every header rule for one response. */
export function checkHeaders(findings: Findings, response: ProbeResponse, context: HeaderContext): void {
  const { where } = context;
  const kind = responseKind(response);
  const get = (name: string) => header(response.headers, name);

  const hsts = get('strict-transport-security');
  if (context.https) {
    if (hsts === undefined) findings.add('RAMPART-SH01', 'Strict-Transport-Security', 'no Strict-Transport-Security header on an HTTPS response', where);
    else {
      const age = maxAge(hsts, 'max-age') ?? 0;
      if (age < ONE_YEAR_SECONDS) findings.add('RAMPART-SH02', 'Strict-Transport-Security', `Strict-Transport-Security: ${hsts}`, where);
      if (!/includesubdomains/i.test(hsts)) findings.add('RAMPART-SH03', 'Strict-Transport-Security', `Strict-Transport-Security: ${hsts}`, where);
    }
  } else if (hsts !== undefined) findings.add('RAMPART-SH04', 'Strict-Transport-Security', `Strict-Transport-Security: ${hsts} over http://`, where);

  if (kind === 'page') {
    checkCsp(findings, response, where);
    checkFraming(findings, response, where);
    const referrer = get('referrer-policy');
    if (referrer === undefined) findings.add('RAMPART-SH15', 'Referrer-Policy', 'no Referrer-Policy header on a page', where);
    else {
      // The last policy a browser understands wins; judge that one.
      const last = referrer.split(',').map((p) => p.trim().toLowerCase()).filter((p) => p !== '').at(-1) ?? '';
      if (UNSAFE_REFERRER.has(last)) findings.add('RAMPART-SH14', 'Referrer-Policy', `Referrer-Policy: ${referrer}`, where);
    }
    if (get('cross-origin-opener-policy') === undefined) findings.add('RAMPART-SH16', 'Cross-Origin-Opener-Policy', 'no Cross-Origin-Opener-Policy header on a page', where);
    if (get('permissions-policy') === undefined) findings.add('RAMPART-SH18', 'Permissions-Policy', 'no Permissions-Policy header on a page', where);
  }
  if (get('x-content-type-options')?.trim().toLowerCase() !== 'nosniff') findings.add('RAMPART-SH13', 'X-Content-Type-Options', `X-Content-Type-Options: ${get('x-content-type-options') ?? '(absent)'}`, where);
  if (get('cross-origin-resource-policy') === undefined) findings.add('RAMPART-SH17', 'Cross-Origin-Resource-Policy', 'no Cross-Origin-Resource-Policy header', where);
  const xss = get('x-xss-protection');
  if (xss !== undefined && xss.trim().startsWith('1')) findings.add('RAMPART-SH19', 'X-XSS-Protection', `X-XSS-Protection: ${xss}`, where);
  const poweredBy = get('x-powered-by');
  if (poweredBy !== undefined) findings.add('RAMPART-SH20', 'X-Powered-By', `X-Powered-By: ${poweredBy}`, where);
  const server = get('server');
  if (server !== undefined) findings.add(/\d/.test(server) ? 'RAMPART-SH21' : 'RAMPART-SH22', 'Server', `Server: ${server}`, where);

  checkCaching(findings, response, kind, where);
}

/** Caching rules only: for responses whose other headers may come from a proxy or the parser (the malformed-request probes). */
export function checkCaching(findings: Findings, response: ProbeResponse, kind: ResponseKind, where: string): void {
  const cacheControl = header(response.headers, 'cache-control');
  const evidence = `HTTP ${response.status}, Cache-Control: ${cacheControl ?? '(absent)'}`;
  if (response.setCookies.length > 0 && sharedCacheable(response)) findings.add('RAMPART-SH23', 'Cache-Control', `${evidence}, with Set-Cookie`, where);
  if (response.status >= 400 && sharedCacheable(response)) findings.add('RAMPART-SH24', 'Cache-Control', evidence, where);
  if (kind === 'api' && response.status < 300 && !/\b(no-store|private)\b/i.test(cacheControl ?? '')) findings.add('RAMPART-SH25', 'Cache-Control', evidence, where);
}
