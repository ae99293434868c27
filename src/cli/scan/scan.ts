import { checkCookies } from './cookie-checks.js';
import { checkCors } from './cors-checks.js';
import { type Category, Findings, type ScanFinding } from './findings.js';
import { checkCaching, checkHeaders, responseKind } from './header-checks.js';
import { bareHostname, header, type ProbeRequest, type ProbeResponse, ScanHttpClient, type SentRequest } from './http-client.js';
import { checkLeaks, checkServerError } from './leak-checks.js';
import { buildPlan, isLoopback, type ScanPlan, type ScanSettings } from './plan.js';
import { checkSecurityTxt } from './security-txt-checks.js';
import { checkCertificate, handshake, type HandshakeResult, VERSIONS, WEAK_CIPHERS } from './tls-checks.js';

export interface ScanResult {
  readonly target: string;
  readonly scannedAt: string;
  readonly findings: ScanFinding[];
  /** Categories the scan could test (the others are reported as not tested). */
  readonly tested: ReadonlySet<Category>;
  /** What the scan saw that is not a finding, per category (a throttled login, an untestable cipher family). */
  readonly notes: ReadonlyMap<Category, string[]>;
  readonly requests: readonly SentRequest[];
  readonly handshakes: readonly string[];
}

/** The target did not answer the first request: there is nothing to audit. */
export class TargetUnreachableError extends Error {}

const MAX_REDIRECTS = 3;
const MAX_SHED_RETRIES = 2;
const MAX_SHED_WAIT_EACH_MS = 10_000;
const MAX_SHED_WAIT_MS = 60_000;

/** Retry-After (seconds or an HTTP date) as a wait in ms, clamped to 1–10 s; null when absent or unreadable. */
export function retryAfterMs(value: string | undefined, now: Date): number | null {
  if (value === undefined) return null;
  const seconds = /^\d{1,9}$/.test(value.trim()) ? Number(value.trim()) : (Date.parse(value) - now.getTime()) / 1000;
  if (Number.isNaN(seconds)) return null;
  return Math.min(Math.max(seconds * 1000, 1000), MAX_SHED_WAIT_EACH_MS);
}

function describe(probe: ProbeRequest): string {
  const path = probe.path.length > 60 ? `${probe.path.slice(0, 40)}…(${probe.path.length} chars)` : probe.path;
  return `${probe.method} ${probe.origin === undefined ? '' : probe.origin}${path}`;
}

/** Audits one deployment; sends only the requests of {@link buildPlan} and the steps of `dynamicSteps`. */
export async function runScan(settings: ScanSettings): Promise<ScanResult> {
  const findings = new Findings();
  const notes = new Map<Category, string[]>();
  const note = (category: Category, text: string) => notes.set(category, [...(notes.get(category) ?? []), text]);
  const tested = new Set<Category>(['headers', 'cookies', 'errors', 'cors', 'security.txt']);
  const client = new ScanHttpClient({ target: settings.target, timeoutMs: settings.timeoutMs, maxBodyBytes: settings.maxBodyBytes, maxRequests: settings.maxRequests });
  const plan = buildPlan(settings);
  const https = settings.target.protocol === 'https:';
  const handshakes: string[] = [];
  let cookiesSeen = 0;

  let shedWaitMs = 0;
  /**
   * Sends one request; a missing answer becomes an SX finding and null. A 503 with Retry-After
   * (the target shedding load) says nothing about the check, so like any client honouring it
   * the scan waits and retries, within bounds; a target that keeps shedding gets SX04.
   */
  const send = async (probe: ProbeRequest): Promise<ProbeResponse | null> => {
    for (let attempt = 0; ; attempt += 1) {
      const result = await client.send(probe);
      if (result === null) {
        findings.add('RAMPART-SX03', 'requests', `budget of ${settings.maxRequests} requests reached`, describe(probe));
        return null;
      }
      if (!result.ok) {
        findings.add('RAMPART-SX02', describe(probe), result.error, describe(probe));
        return null;
      }
      const waitMs = result.response.status === 503 ? retryAfterMs(header(result.response.headers, 'retry-after'), new Date()) : null;
      if (waitMs === null) return result.response;
      if (attempt === MAX_SHED_RETRIES || shedWaitMs + waitMs > MAX_SHED_WAIT_MS) {
        findings.add('RAMPART-SX04', describe(probe), `HTTP 503, Retry-After: ${header(result.response.headers, 'retry-after') ?? ''} (${attempt + 1} attempts)`, describe(probe));
        return null;
      }
      shedWaitMs += waitMs;
      await new Promise((resolve) => setTimeout(resolve, waitMs));
    }
  };

  /** The response's cookies, and (unless the answer may come from a parser or proxy) its headers. */
  const audit = (response: ProbeResponse, where: string, options: { headers: boolean }) => {
    if (options.headers) checkHeaders(findings, response, { https, where });
    else checkCaching(findings, response, responseKind(response), where);
    cookiesSeen += response.setCookies.length;
    checkCookies(findings, response.setCookies, where);
    if (response.status >= 400) checkLeaks(findings, response, where);
  };

  /** GET with same-origin redirects followed (each hop audited); another origin is reported, never contacted. */
  const fetchFollowing = async (probe: ProbeRequest): Promise<{ response: ProbeResponse; url: URL } | null> => {
    let current = probe;
    for (let hop = 0; ; hop += 1) {
      const response = await send(current);
      if (response === null) return null;
      audit(response, describe(current), { headers: true });
      const url = new URL(current.path, settings.target.origin);
      const location = header(response.headers, 'location');
      if (response.status < 300 || response.status > 399 || location === undefined || hop === MAX_REDIRECTS) return { response, url };
      const next = new URL(location, url);
      if (next.origin !== settings.target.origin) {
        findings.add('RAMPART-SX01', next.origin, `HTTP ${response.status} Location: ${location}`, describe(current));
        return { response, url };
      }
      current = { ...current, path: `${next.pathname}${next.search}`, purpose: `redirect from ${current.path}` };
    }
  };

  const home = await fetchFollowing(plan.home);
  if (home === null) throw new TargetUnreachableError(`${settings.target.origin} did not answer ${describe(plan.home)}: ${client.sent[0]?.outcome ?? 'no request was sent'}`);
  await fetchFollowing(plan.notFound);
  await fetchFollowing(plan.apiNotFound);
  const staticPath = responseKind(home.response) === 'page' ? firstStaticAsset(home.response.body, home.url) : null;
  await fetchFollowing({ method: 'GET', path: staticPath ?? '/favicon.ico', purpose: 'a static file' });
  for (const probe of plan.paths) await fetchFollowing(probe);

  const securityTxt = await fetchFollowing(plan.securityTxt);
  if (securityTxt !== null) checkSecurityTxt(findings, securityTxt.response, securityTxt.url.href, settings.now, describe(plan.securityTxt));

  await runErrorProbes(plan, send, findings, audit);
  for (const { request, origin } of plan.cors) {
    const response = await send(request);
    if (response !== null) checkCors(findings, response, origin, describe(request));
  }

  if (https) {
    tested.add('tls');
    await runTlsChecks(settings, findings, handshakes, note);
    if (plan.httpRedirect === null) findings.add('RAMPART-ST19', 'http://', `https:// target on port ${settings.target.port}: the plain HTTP port is unknown`, 'scan');
    else await checkHttpRedirect(plan.httpRedirect, settings, send, findings, note);
  } else if (isLoopback(settings.target)) {
    findings.add('RAMPART-ST02', settings.target.origin, `the target is ${settings.target.origin}`, 'scan');
  } else {
    tested.add('tls');
    findings.add('RAMPART-ST01', settings.target.origin, `the target is ${settings.target.origin}`, 'scan');
  }

  if (plan.login !== null) {
    tested.add('rate-limit');
    await probeRateLimit(plan.login, settings.rateLimitAttempts, send, findings, note);
  }
  if (cookiesSeen === 0) note('cookies', 'no response the scan reached set a cookie (add --path for a login page)');
  return { target: settings.target.href, scannedAt: settings.now.toISOString(), findings: findings.list(), tested, notes, requests: client.sent, handshakes };
}

/** The first same-origin script or stylesheet a page links to. */
export function firstStaticAsset(html: string, base: URL): string | null {
  const candidates = [
    ...html.matchAll(/<script\b[^>]{0,500}?\bsrc\s*=\s*["']([^"'<>\s]{1,500})["']/gi),
    ...html.matchAll(/<link\b[^>]{0,500}?\bhref\s*=\s*["']([^"'<>\s]{1,500})["']/gi),
  ];
  for (const match of candidates) {
    const value = match[1];
    if (value === undefined) continue;
    try {
      const url = new URL(value, base);
      if (url.origin === base.origin && /\.(js|mjs|css)$/i.test(url.pathname)) return `${url.pathname}${url.search}`;
    } catch {
      continue;
    }
  }
  return null;
}

type Send = (probe: ProbeRequest) => Promise<ProbeResponse | null>;
type Audit = (response: ProbeResponse, where: string, options: { headers: boolean }) => void;
type Note = (category: Category, text: string) => void;

async function runErrorProbes(plan: ScanPlan, send: Send, findings: Findings, audit: Audit): Promise<void> {
  for (const probe of plan.errorProbes) {
    const response = await send(probe);
    if (response === null) continue;
    const where = describe(probe);
    // A malformed JSON body is answered by the application: its headers count. An over-long
    // URL or an unknown method may be answered by the HTTP parser or a proxy before it.
    audit(response, where, { headers: probe.body !== undefined });
    // audit() reads error bodies; a 2xx or 3xx answer to these probes is read too.
    if (response.status < 400) checkLeaks(findings, response, where);
    checkServerError(findings, response, where);
  }
}

async function runTlsChecks(settings: ScanSettings, findings: Findings, handshakes: string[], note: Note): Promise<void> {
  const options = { host: bareHostname(settings.target), port: settings.target.port === '' ? 443 : Number(settings.target.port), timeoutMs: settings.timeoutMs, ca: settings.ca };
  findings.add('RAMPART-ST03', 'SSLv3', 'Node.js\'s OpenSSL 3 has no SSLv3 at all', 'TLS handshake');
  let best: Extract<HandshakeResult, { kind: 'accepted' }> | null = null;
  const offered = new Set<string>();
  for (const { version, label } of VERSIONS) {
    const result = await handshake(options, { minVersion: version, maxVersion: version });
    handshakes.push(`${label}: ${result.kind === 'accepted' ? `accepted (${result.cipher})` : `${result.kind} (${result.error})`}`);
    if (result.kind === 'accepted') {
      offered.add(version);
      best = result;
      if (version === 'TLSv1') findings.add('RAMPART-ST04', label, `handshake completed with ${result.protocol}, ${result.cipher}`, `TLS handshake offering only ${label}`);
      if (version === 'TLSv1.1') findings.add('RAMPART-ST05', label, `handshake completed with ${result.protocol}, ${result.cipher}`, `TLS handshake offering only ${label}`);
    } else if (result.kind === 'untestable') findings.add('RAMPART-ST03', label, result.error, `TLS handshake offering only ${label}`);
  }
  if (best === null) {
    findings.add('RAMPART-SX02', 'TLS', handshakes.join('; '), 'TLS handshakes');
    return;
  }
  if (!offered.has('TLSv1.2') && !offered.has('TLSv1.3')) findings.add('RAMPART-ST06', 'TLS 1.2, TLS 1.3', handshakes.join('; '), 'TLS handshakes');
  checkCertificate(findings, best, bareHostname(settings.target), settings.now, `TLS handshake (${best.protocol})`);
  if (!['TLSv1', 'TLSv1.1', 'TLSv1.2'].some((v) => offered.has(v))) {
    note('tls', 'weak cipher suites not tried: only TLS 1.3 is offered, whose suites are all strong');
    return;
  }
  for (const family of WEAK_CIPHERS) {
    const result = await handshake(options, { minVersion: 'TLSv1', maxVersion: 'TLSv1.2', ciphers: family.ciphers });
    handshakes.push(`${family.label} suites: ${result.kind === 'accepted' ? `accepted (${result.cipher})` : `${result.kind} (${result.error})`}`);
    if (result.kind === 'accepted') findings.add(family.id, result.cipher, `handshake completed with ${result.protocol}, ${result.cipher}`, `TLS handshake offering only ${family.label} suites`);
    else if (result.kind === 'untestable') findings.add('RAMPART-ST03', `${family.label} suites`, result.error, `TLS handshake offering only ${family.label} suites`);
  }
}

async function checkHttpRedirect(probe: ProbeRequest, settings: ScanSettings, send: Send, findings: Findings, note: Note): Promise<void> {
  const response = await send(probe);
  const where = describe(probe);
  if (response === null) {
    note('tls', `${probe.origin ?? 'plain HTTP'} did not answer: nothing is served over plain HTTP there`);
    return;
  }
  const location = header(response.headers, 'location');
  if (response.status < 300 || response.status > 399 || location === undefined) {
    findings.add('RAMPART-ST16', probe.origin ?? 'http://', `HTTP ${response.status} with no redirect`, where);
    return;
  }
  const next = new URL(location, `${probe.origin ?? ''}${probe.path}`);
  if (next.protocol !== 'https:' || next.hostname !== settings.target.hostname) {
    findings.add('RAMPART-ST18', probe.origin ?? 'http://', `HTTP ${response.status} Location: ${location}`, where);
    return;
  }
  if (response.status !== 301 && response.status !== 308) findings.add('RAMPART-ST17', probe.origin ?? 'http://', `HTTP ${response.status} Location: ${location}`, where);
  else note('tls', `${probe.origin ?? 'plain HTTP'} redirects with ${response.status} to ${next.origin}`);
}

const FAILED_LOGIN = new Set([400, 401, 422]);

async function probeRateLimit(login: ProbeRequest, attempts: number, send: Send, findings: Findings, note: Note): Promise<void> {
  const statuses: number[] = [];
  for (let i = 0; i < attempts; i += 1) {
    const response = await send(login);
    if (response === null) break;
    statuses.push(response.status);
    const retryAfter = header(response.headers, 'retry-after');
    if (response.status === 429 || retryAfter !== undefined) {
      note('rate-limit', `throttled after ${i + 1} failed login(s): HTTP ${response.status}${retryAfter === undefined ? '' : `, Retry-After: ${retryAfter}`}`);
      return;
    }
  }
  const where = `${login.method} ${login.path} ×${statuses.length}`;
  if (statuses.length === attempts && statuses.every((s) => FAILED_LOGIN.has(s))) {
    findings.add('RAMPART-SR01', login.path, `${attempts} failed logins in a row, answers: ${statuses.join(' ')}; no 429 and no Retry-After`, where);
  } else {
    findings.add('RAMPART-SR02', login.path, `answers: ${statuses.join(' ') || '(none)'}`, where);
  }
}
