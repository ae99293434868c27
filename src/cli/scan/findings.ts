/**
 * Every finding `rampart scan` can report, in one registry (like the deploy checks' ids and
 * fastify's coded errors): a stable id, the category, a fixed severity, what is wrong and the
 * fix. Ids are never reused; a check that goes away leaves a gap.
 */
export const SEVERITIES = ['info', 'low', 'medium', 'high'] as const;
export type Severity = (typeof SEVERITIES)[number];

export const CATEGORIES = ['headers', 'cookies', 'tls', 'errors', 'cors', 'security.txt', 'rate-limit', 'scan'] as const;
export type Category = (typeof CATEGORIES)[number];

export interface FindingDefinition {
  readonly category: Category;
  readonly severity: Severity;
  readonly reason: string;
  readonly fix: string;
}

const d = (category: Category, severity: Severity, reason: string, fix: string): FindingDefinition => ({ category, severity, reason, fix });

export const FINDINGS = {
  'RAMPART-SH01': d('headers', 'medium', 'no Strict-Transport-Security over HTTPS: a first visit or a typed http:// link can be downgraded', 'Send Strict-Transport-Security: max-age=63072000; includeSubDomains on every HTTPS response.'),
  'RAMPART-SH02': d('headers', 'low', 'HSTS max-age is under one year', 'Use max-age=63072000 (two years); the preload list asks for at least one year.'),
  'RAMPART-SH03': d('headers', 'low', 'HSTS without includeSubDomains: a subdomain can still be reached over HTTP and set cookies for the parent', 'Add includeSubDomains once every subdomain serves HTTPS.'),
  'RAMPART-SH04': d('headers', 'info', 'HSTS sent over plain HTTP, where browsers ignore it', 'Send HSTS only on HTTPS responses.'),
  'RAMPART-SH05': d('headers', 'medium', 'an HTML page without Content-Security-Policy: any injected script runs', "Send a CSP such as script-src 'nonce-…' 'strict-dynamic'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'."),
  'RAMPART-SH06': d('headers', 'medium', "CSP script-src allows 'unsafe-inline' without a nonce, hash or 'strict-dynamic': it does not stop injected inline script", "Use a per-response nonce with 'strict-dynamic' and drop 'unsafe-inline'."),
  'RAMPART-SH07': d('headers', 'medium', "CSP allows 'unsafe-eval': strings become code (eval, new Function, string timers)", "Remove 'unsafe-eval'; replace eval-based code."),
  'RAMPART-SH08': d('headers', 'low', "CSP does not set object-src 'none' (nor default-src 'none'): plugins can run content", "Add object-src 'none'."),
  'RAMPART-SH09': d('headers', 'low', 'CSP has no base-uri: an injected <base> tag can redirect relative script URLs, even with nonces', "Add base-uri 'none' (or 'self')."),
  'RAMPART-SH10': d('headers', 'info', 'CSP has no report-uri or report-to: violations (attacks and breakage) go unseen', 'Add a report endpoint (report-to, with report-uri as the fallback).'),
  'RAMPART-SH11': d('headers', 'medium', 'CSP is only sent as Content-Security-Policy-Report-Only: nothing is enforced', 'Send the policy as Content-Security-Policy once its reports are clean.'),
  'RAMPART-SH12': d('headers', 'medium', 'no framing protection (neither CSP frame-ancestors nor X-Frame-Options): the page can be framed for clickjacking', "Send CSP frame-ancestors 'none' (and X-Frame-Options: DENY for old browsers)."),
  'RAMPART-SH13': d('headers', 'low', 'no X-Content-Type-Options: nosniff: browsers may guess a script or style type from content', 'Send X-Content-Type-Options: nosniff on every response.'),
  'RAMPART-SH14': d('headers', 'low', 'Referrer-Policy sends full URLs (paths and query strings) to other sites', 'Use Referrer-Policy: no-referrer, same-origin or strict-origin-when-cross-origin.'),
  'RAMPART-SH15': d('headers', 'info', 'no Referrer-Policy: the browser default (strict-origin-when-cross-origin) applies', 'Send Referrer-Policy explicitly (no-referrer or same-origin).'),
  'RAMPART-SH16': d('headers', 'low', 'an HTML page without Cross-Origin-Opener-Policy: a page it opens, or that opens it, keeps a handle to it (XS-Leaks)', 'Send Cross-Origin-Opener-Policy: same-origin.'),
  'RAMPART-SH17': d('headers', 'info', 'no Cross-Origin-Resource-Policy: other sites may embed the response (Spectre-style reads)', 'Send Cross-Origin-Resource-Policy: same-origin (same-site if a sibling origin embeds it).'),
  'RAMPART-SH18': d('headers', 'low', 'an HTML page without Permissions-Policy: injected or framed content may ask for camera, microphone, location', 'Send a Permissions-Policy that denies the features the site does not use, e.g. camera=(), microphone=(), geolocation=().'),
  'RAMPART-SH19': d('headers', 'low', 'X-XSS-Protection turns on the legacy XSS filter, which itself leaked data across origins', 'Send X-XSS-Protection: 0 (or nothing) and rely on CSP.'),
  'RAMPART-SH20': d('headers', 'low', 'X-Powered-By names the framework or runtime', 'Remove the X-Powered-By header.'),
  'RAMPART-SH21': d('headers', 'low', 'the Server header names a product version, which tells an attacker which exploits to try', 'Remove the Server header, or at least its version (nginx: server_tokens off).'),
  'RAMPART-SH22': d('headers', 'info', 'the Server header names the product', 'Remove the Server header.'),
  'RAMPART-SH23': d('headers', 'medium', 'a response that sets a cookie is cacheable by shared caches: one visitor\'s session can be served to another', 'Send Cache-Control: no-store (or private) on every response that sets a cookie or depends on one.'),
  'RAMPART-SH24': d('headers', 'low', 'an error response is cacheable: a cache can keep serving a transient error, or one user\'s error page, to others', 'Send Cache-Control: no-store on error responses.'),
  'RAMPART-SH25': d('headers', 'info', 'a JSON (API) response without Cache-Control: no-store or private', 'Send Cache-Control: no-store on API responses that carry user data.'),
  'RAMPART-SH26': d('headers', 'medium', "CSP lets scripts load from any host (*, http:, https: or data:) without 'strict-dynamic'", "Use nonces with 'strict-dynamic', or list exact script hosts."),

  'RAMPART-SC01': d('cookies', 'medium', 'a cookie without Secure is sent over plain HTTP, where anyone on the network reads it', 'Add Secure to every cookie (and serve the site over HTTPS only).'),
  'RAMPART-SC02': d('cookies', 'medium', 'a session-like cookie without HttpOnly can be read by any script, injected ones included', 'Add HttpOnly to session and authentication cookies.'),
  'RAMPART-SC03': d('cookies', 'low', 'a cookie without SameSite relies on the browser default, which differs between browsers', 'Set SameSite=Lax (or Strict) explicitly.'),
  'RAMPART-SC04': d('cookies', 'low', 'a cookie with SameSite=None is sent on cross-site requests (CSRF exposure)', 'Use SameSite=Lax unless the cookie must work inside cross-site frames.'),
  'RAMPART-SC05': d('cookies', 'low', 'a session-like cookie without the __Host- prefix can be set or overwritten by a subdomain or over HTTP', 'Name it __Host-… with Secure, Path=/ and no Domain.'),
  'RAMPART-SC06': d('cookies', 'low', 'a framework\'s default session cookie name tells an attacker the stack', 'Give the session cookie a name of your own (with the __Host- prefix).'),
  'RAMPART-SC07': d('cookies', 'medium', 'a __Host- cookie breaks the prefix rules (needs Secure, Path=/ and no Domain), so browsers drop it', 'Set Secure and Path=/, and remove Domain.'),
  'RAMPART-SC08': d('cookies', 'low', 'a session-like cookie with a Domain attribute is sent to every subdomain', 'Remove Domain so the cookie stays on this host.'),

  'RAMPART-ST01': d('tls', 'high', 'served over plain HTTP: everything, cookies and passwords included, crosses the network readable and writable', 'Serve HTTPS (Rampart: `rampart tls init`, or a TLS-terminating proxy) and redirect HTTP to it.'),
  'RAMPART-ST02': d('tls', 'info', 'plain HTTP on a loopback address: no TLS checks run', 'Scan the public https:// address of the deployment to check TLS.'),
  'RAMPART-ST03': d('tls', 'info', 'this client cannot test it: its OpenSSL build cannot offer it, so nothing is known either way', 'Test it with a client that still speaks it (for example `openssl s_client` from an older build, or testssl.sh).'),
  'RAMPART-ST04': d('tls', 'medium', 'TLS 1.0 is offered (deprecated by RFC 8996; BEAST-era CBC, SHA-1 handshake)', 'Offer TLS 1.2 and 1.3 only (Node: minVersion TLSv1.2, the default).'),
  'RAMPART-ST05': d('tls', 'medium', 'TLS 1.1 is offered (deprecated by RFC 8996)', 'Offer TLS 1.2 and 1.3 only.'),
  'RAMPART-ST06': d('tls', 'high', 'neither TLS 1.2 nor TLS 1.3 is offered', 'Enable TLS 1.2 and 1.3.'),
  'RAMPART-ST07': d('tls', 'high', 'a broken cipher suite is accepted (no encryption, no authentication, export-grade or RC4)', 'Use the Mozilla "intermediate" cipher list (the Node default at security level 2 excludes these).'),
  'RAMPART-ST08': d('tls', 'medium', 'a 3DES or DES cipher suite is accepted (64-bit blocks: Sweet32)', 'Remove DES and 3DES suites.'),
  'RAMPART-ST09': d('tls', 'low', 'static RSA key exchange is accepted: no forward secrecy, a stolen key decrypts recorded traffic', 'Offer only ECDHE (and DHE) key exchange.'),
  'RAMPART-ST10': d('tls', 'high', 'the certificate is self-signed: browsers refuse it, and clients told to ignore that can be intercepted', 'Use a certificate from a public CA (ACME / Let\'s Encrypt) or your organisation\'s CA.'),
  'RAMPART-ST11': d('tls', 'high', 'the certificate chain does not verify (unknown issuer or missing intermediate)', 'Serve the full chain, leaf first, issued by a trusted CA (pass --ca for a private CA).'),
  'RAMPART-ST12': d('tls', 'high', 'the certificate is expired or not yet valid', 'Renew the certificate, and automate renewal.'),
  'RAMPART-ST13': d('tls', 'medium', 'the certificate expires within 30 days', 'Renew it now, and automate renewal (ACME renews at 30 days).'),
  'RAMPART-ST14': d('tls', 'high', 'the certificate does not name the host scanned', 'Issue a certificate whose subjectAltName lists the host.'),
  'RAMPART-ST15': d('tls', 'medium', 'the certificate\'s RSA key is shorter than 2048 bits', 'Use RSA 2048+ or ECDSA P-256.'),
  'RAMPART-ST16': d('tls', 'medium', 'plain HTTP answers without redirecting to HTTPS', 'Answer every http:// request with 301 or 308 to the same URL on https://.'),
  'RAMPART-ST17': d('tls', 'low', 'HTTP redirects to HTTPS with a temporary status (302/303/307): browsers do not remember it', 'Use 301 or 308.'),
  'RAMPART-ST18': d('tls', 'medium', 'plain HTTP redirects somewhere other than HTTPS on the same host', 'Redirect http://host/path to https://host/path.'),
  'RAMPART-ST19': d('tls', 'info', 'the HTTP to HTTPS redirect was not tested', 'Pass --http-port when plain HTTP is served on a port other than 80.'),

  'RAMPART-SE01': d('errors', 'medium', 'a response shows a stack trace: code structure, library versions, sometimes data', 'Answer errors with a generic body (problem+json with a code); log the detail server-side only.'),
  'RAMPART-SE02': d('errors', 'medium', 'a response shows a server file path', 'Never put file paths in responses; log them.'),
  'RAMPART-SE03': d('errors', 'high', 'a response shows a database error: a strong hint of SQL injection and of the schema', 'Use bound parameters everywhere and answer database errors with a generic 500.'),
  'RAMPART-SE04': d('errors', 'low', 'an error response names the framework, parser or runtime', 'Replace the framework\'s default error body with your own.'),
  'RAMPART-SE05': d('errors', 'low', 'a malformed request is answered with a server error (5xx) instead of a 4xx', 'Validate input at the edge and answer bad requests with 400, 405, 414 or 431.'),

  'RAMPART-SO01': d('cors', 'high', 'any Origin is reflected in Access-Control-Allow-Origin with credentials: every site can read signed-in users\' data', 'Allow an exact list of origins; never echo the request\'s Origin.'),
  'RAMPART-SO02': d('cors', 'high', 'Origin: null is allowed with credentials (sandboxed frames and file: pages send it)', 'Never allow the null origin.'),
  'RAMPART-SO03': d('cors', 'low', 'any Origin is reflected in Access-Control-Allow-Origin (without credentials)', 'Allow an exact list of origins, or * for truly public data.'),
  'RAMPART-SO04': d('cors', 'low', 'Origin: null is allowed (without credentials)', 'Never allow the null origin.'),
  'RAMPART-SO05': d('cors', 'info', 'Access-Control-Allow-Origin: * with Allow-Credentials: true (browsers refuse the pair, but it shows the intent)', 'Allow an exact list of origins if credentials are needed.'),

  'RAMPART-SS01': d('security.txt', 'low', 'no /.well-known/security.txt: researchers have no published way to report a vulnerability', 'Publish one (RFC 9116) with Contact and Expires.'),
  'RAMPART-SS02': d('security.txt', 'low', 'security.txt has no Contact field (required by RFC 9116)', 'Add Contact: mailto:security@your.domain'),
  'RAMPART-SS03': d('security.txt', 'low', 'security.txt has no valid Expires field (required by RFC 9116)', 'Add Expires: with an ISO 8601 date under a year away.'),
  'RAMPART-SS04': d('security.txt', 'medium', 'security.txt has expired: readers must treat it as stale', 'Set a new Expires date under a year away.'),
  'RAMPART-SS05': d('security.txt', 'info', 'security.txt expires more than a year ahead (RFC 9116 advises less)', 'Set Expires under a year away and renew it.'),
  'RAMPART-SS06': d('security.txt', 'low', 'security.txt\'s Canonical does not list the URL it was served from', 'List every URL the file is served at in Canonical.'),
  'RAMPART-SS07': d('security.txt', 'low', 'security.txt is not served as text/plain', 'Serve it with Content-Type: text/plain; charset=utf-8.'),
  'RAMPART-SS08': d('security.txt', 'info', 'security.txt has no Canonical field', 'Add Canonical: https://your.host/.well-known/security.txt'),

  'RAMPART-SR01': d('rate-limit', 'medium', 'repeated failed logins were never throttled: passwords can be guessed at full speed', 'Count failures per account and IP in a shared store and answer 429 with Retry-After (Rampart does this by default).'),
  'RAMPART-SR02': d('rate-limit', 'info', 'the login probe was inconclusive: the answers were not failed logins', 'Point --login-path at an endpoint taking a JSON {email, password} body without a CSRF token (Rampart: /api/auth/token).'),

  'RAMPART-SX01': d('scan', 'info', 'a redirect to another origin was not followed (the scan stays on the target)', 'Scan the other origin separately if it is yours.'),
  'RAMPART-SX02': d('scan', 'info', 'a probe got no answer (timeout, reset or refused), so its checks did not run', 'Check that the target is reachable, or raise --timeout.'),
  'RAMPART-SX03': d('scan', 'info', 'the request budget ran out, so some checks did not run', 'Raise --max-requests.'),
  'RAMPART-SX04': d('scan', 'info', 'the target kept shedding load (503 with Retry-After) after the scan waited and retried, so this probe\'s checks did not run', 'Scan again when the target is less loaded.'),
} as const satisfies Record<string, FindingDefinition>;

export type FindingId = keyof typeof FINDINGS;

/** One finding in a scan report: the registry entry plus what was seen and where. */
export interface ScanFinding extends FindingDefinition {
  readonly id: FindingId;
  /** What the finding is about: a header, a cookie name, a protocol version, a path. */
  readonly subject: string;
  /** What the scanner saw, quoted from the answer (bounded). */
  readonly evidence: string;
  /** The requests (or handshakes) it was seen on. */
  readonly where: string[];
}

export function severityRank(severity: Severity): number {
  return SEVERITIES.indexOf(severity);
}

const MAX_EVIDENCE = 300;

/** Collects findings, merging repeats of the same id and subject into one with every place it was seen. */
export class Findings {
  readonly #byKey = new Map<string, ScanFinding>();

  add(id: FindingId, subject: string, evidence: string, where: string): void {
    const key = `${id}\u0000${subject}`;
    const existing = this.#byKey.get(key);
    if (existing !== undefined) {
      if (!existing.where.includes(where)) existing.where.push(where);
      return;
    }
    const clipped = evidence.length > MAX_EVIDENCE ? `${evidence.slice(0, MAX_EVIDENCE)}…` : evidence;
    this.#byKey.set(key, { id, ...FINDINGS[id], subject, evidence: clipped, where: [where] });
  }

  list(): ScanFinding[] {
    return [...this.#byKey.values()].sort((a, b) => severityRank(b.severity) - severityRank(a.severity) || a.id.localeCompare(b.id) || a.subject.localeCompare(b.subject));
  }
}
