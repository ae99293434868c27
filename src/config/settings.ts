/**
 * Every environment variable Rampart reads, with its default and meaning. This list is the
 * source of truth for the unknown-variable check and for the README's configuration table
 * (a test keeps the two in step).
 */
export interface SettingSpec {
  readonly name: string;
  readonly default: string;
  readonly description: string;
  /** Secrets may also come from `NAME_FILE`, and are never printed. */
  readonly secret?: boolean;
}

export const SETTINGS: readonly SettingSpec[] = [
  { name: 'NODE_ENV', default: 'development', description: '`production` turns on the deploy checks that refuse an insecure start; `test` is for the test suite.' },
  { name: 'RAMPART_HOST', default: '127.0.0.1', description: 'Address to listen on.' },
  { name: 'RAMPART_PORT', default: '3000', description: 'Port to listen on.' },
  { name: 'RAMPART_PUBLIC_URL', default: 'http://localhost:<port>', description: 'The URL people use to reach Rampart; links and mail use it, never the Host header. Required in production.' },
  { name: 'RAMPART_DATA_DIR', default: './data', description: 'Embedded database and generated development secrets live here.' },
  { name: 'RAMPART_LOG_LEVEL', default: 'info', description: 'pino level: fatal, error, warn, info, debug, trace, silent.' },
  { name: 'DATABASE_URL', default: '(embedded PGlite)', description: 'PostgreSQL URL of the application role (row privileges only).', secret: true },
  { name: 'DATABASE_MIGRATION_URL', default: '(DATABASE_URL)', description: 'PostgreSQL URL of the owner role that runs migrations; with it the application role is granted row privileges only.', secret: true },
  { name: 'RAMPART_EMBEDDED_DATABASE', default: 'false', description: 'Set `true` to accept the embedded database in production.' },
  { name: 'REDIS_URL', default: '(in-memory store)', description: 'Redis URL for sessions, counters and tokens shared by all instances.', secret: true },
  { name: 'RAMPART_REDIS_PREFIX', default: 'rampart:', description: 'Prefix of every Redis key Rampart writes.' },
  { name: 'RAMPART_SINGLE_INSTANCE', default: 'false', description: 'Set `true` to accept the in-memory store in production (only one process may run).' },
  { name: 'RAMPART_SECRET_KEY', default: '(generated in development)', description: 'Root secret, at least 32 random bytes (hex or base64); HMAC and blind-index keys are derived from it with HKDF.', secret: true },
  { name: 'RAMPART_SECRET_KEY_FALLBACKS', default: '(none)', description: 'Earlier values of RAMPART_SECRET_KEY, comma-separated, newest first, while a secret rotation is under way: CSRF tokens, cursors, signing-key MACs, audit-chain MACs and email blind indexes made under them still verify; nothing new uses them. See "Rotating the root secret".', secret: true },
  { name: 'RAMPART_ENCRYPTION_KEYS', default: '(generated in development)', description: 'Comma-separated `id:base64key` AES-256 keys for data at rest; the first encrypts, all decrypt.', secret: true },
  { name: 'RAMPART_TRUST_PROXY', default: '(none)', description: 'Proxies whose X-Forwarded-* headers count: comma-separated addresses/CIDRs (or `loopback`, `linklocal`, `uniquelocal`). Blanket trust, ranges wider than /8 (IPv4) or /7 (IPv6), and hop counts are refused.' },
  { name: 'RAMPART_TLS_CERT_FILE', default: '(none)', description: 'PEM certificate chain; with the key file Rampart serves HTTPS itself.' },
  { name: 'RAMPART_TLS_KEY_FILE', default: '(none)', description: 'PEM private key for RAMPART_TLS_CERT_FILE. Both files are read again on SIGHUP.' },
  { name: 'RAMPART_HTTP_REDIRECT_PORT', default: '(none)', description: 'With TLS: also listen on this plain-HTTP port and answer every request there with 308 to the same path on RAMPART_PUBLIC_URL.' },
  { name: 'RAMPART_HSTS_PRELOAD', default: 'false', description: 'Add `preload` to Strict-Transport-Security (for the browsers\' preload list; hard to undo). Needs an https public URL.' },
  { name: 'RAMPART_ALLOWED_HOSTS', default: '(the public URL\'s host)', description: 'Further exact `host` or `host:port` values the Host header may carry (e.g. the address a health probe uses); any other Host gets 400. Development and test also accept localhost, 127.0.0.1 and [::1] on any port.' },
  { name: 'RAMPART_CSRF_TRUSTED_ORIGINS', default: '(none)', description: 'Further exact origins of the same site allowed to send unsafe cookie-authenticated requests (`Sec-Fetch-Site: same-site`).' },
  { name: 'RAMPART_MFA_REQUIRED', default: 'admins', description: 'Who must enrol a second factor (an authenticator app) before acting: `admins` (before their first admin action), `all` (every user, before anything beyond enrolment and sign-out) or `off`.' },
  { name: 'RAMPART_CORS_ORIGINS', default: '(none: CORS off)', description: 'Comma-separated exact origins allowed to call the API cross-origin.' },
  { name: 'RAMPART_CORS_CREDENTIALS', default: 'false', description: 'Allow credentialed cross-origin requests from RAMPART_CORS_ORIGINS.' },
  { name: 'RAMPART_CSP_REPORT_ONLY', default: 'false', description: 'Set `true` to send the page CSP a second time as Content-Security-Policy-Report-Only, alongside the enforced one (violations are reported to /csp-report either way).' },
  { name: 'RAMPART_BODY_LIMIT_BYTES', default: '10240', description: 'Largest request body; routes may declare more.' },
  { name: 'RAMPART_RATE_LIMIT_POINTS', default: '300', description: 'Requests one client IP (IPv6: one /64) may make per window.' },
  { name: 'RAMPART_RATE_LIMIT_WINDOW_SECONDS', default: '60', description: 'The global rate-limit window.' },
  { name: 'RAMPART_HEADERS_TIMEOUT_MS', default: '10000', description: 'Time a client has to send all request headers.' },
  { name: 'RAMPART_REQUEST_TIMEOUT_MS', default: '30000', description: 'Time a client has to send the whole request.' },
  { name: 'RAMPART_KEEP_ALIVE_TIMEOUT_MS', default: '5000', description: 'Idle time before a keep-alive connection is closed.' },
  { name: 'RAMPART_CONNECTION_TIMEOUT_MS', default: '60000', description: 'Socket inactivity timeout.' },
  { name: 'RAMPART_MAX_HEADER_BYTES', default: '16384', description: 'Largest total size of request headers.' },
  { name: 'RAMPART_MAX_REQUESTS_PER_SOCKET', default: '1000', description: 'Requests served on one keep-alive connection before it is closed.' },
  { name: 'RAMPART_MAX_EVENT_LOOP_DELAY_MS', default: '1000', description: 'Event-loop delay above which requests are shed with 503.' },
  { name: 'RAMPART_MAX_HEAP_USED_RATIO', default: '0.9', description: 'Share of the V8 heap limit above which requests are shed with 503.' },
  { name: 'RAMPART_SHUTDOWN_GRACE_MS', default: '10000', description: 'Time in-flight requests get to finish after SIGTERM.' },
  { name: 'RAMPART_SMTP_URL', default: '(outbox files in development)', description: 'SMTP server for account mail (`smtps://user:pass@host:465` or `smtp://…` with STARTTLS). Without it, development writes each message as an .eml file under `<data dir>/outbox/`; production requires it.', secret: true },
  { name: 'RAMPART_MAIL_FROM', default: 'Rampart <no-reply@<public host>>', description: 'Sender of account mail.' },
  { name: 'RAMPART_SESSION_COOKIE', default: '__Host-rampart_session', description: 'Session cookie name. The `__Host-` prefix is dropped (with a warning) only when the public URL is plain http on a host other than localhost.' },
  { name: 'RAMPART_SESSION_IDLE_MINUTES', default: '30', description: 'A session unused this long ends (enforced server-side).' },
  { name: 'RAMPART_SESSION_ABSOLUTE_HOURS', default: '8', description: 'A session ends this long after login, used or not.' },
  { name: 'RAMPART_ACCESS_TOKEN_MINUTES', default: '10', description: 'Lifetime of an API access token (EdDSA JWT); at most 60, boot refuses more.' },
  { name: 'RAMPART_REFRESH_TOKEN_DAYS', default: '30', description: 'Lifetime of an API refresh token (one-time use, rotated on every refresh); at most 90.' },
  { name: 'RAMPART_PASSWORD_MIN_LENGTH', default: '15', description: 'Shortest accepted password (NIST SP 800-63B; never below 8).' },
  { name: 'RAMPART_ARGON2_MEMORY_KIB', default: '19456', description: 'Argon2id memory cost; may only be raised.' },
  { name: 'RAMPART_ARGON2_TIME_COST', default: '2', description: 'Argon2id iterations; may only be raised.' },
  { name: 'RAMPART_ARGON2_PARALLELISM', default: '1', description: 'Argon2id lanes; may only be raised.' },
  { name: 'RAMPART_PASSWORD_HASH_CONCURRENCY', default: 'CPUs − 1 (at least 1)', description: 'Password hashes computed at once, off the event loop; further requests queue (64 at most, then 503), so a login flood cannot exhaust memory. The default leaves one core to the event loop.' },
  { name: 'RAMPART_METRICS_PORT', default: '(none: no metrics listener)', description: 'Serve Prometheus metrics at `/metrics` on this separate port (nothing else is served there).' },
  { name: 'RAMPART_METRICS_HOST', default: '127.0.0.1', description: 'Address of the metrics listener. Anything but loopback without RAMPART_METRICS_TOKEN is deploy warning RAMPART-W031.' },
  { name: 'RAMPART_METRICS_TOKEN', default: '(none)', description: 'Bearer token a scraper must send (`Authorization: Bearer …`, compared in constant time), at least 32 random bytes. Set, it also serves `/metrics` on the main port; on the metrics listener it is required too.', secret: true },
  { name: 'RAMPART_SECURITY_CONTACT', default: 'mailto:security@<public host>', description: 'Contact(s) in /.well-known/security.txt, comma-separated URIs; alerts are also mailed to its mailto: addresses (when set).' },
  { name: 'RAMPART_EVENT_COALESCE_SECONDS', default: '60', description: 'Window in which repeated identical security events (same name, actor, IP and details) are coalesced: the first rows are written, the rest counted in one appended summary row.' },
  { name: 'RAMPART_EVENT_COALESCE_ROWS', default: '10', description: 'Identical events written as rows per window before the rest are only counted.' },
  { name: 'RAMPART_EVENT_RETENTION_DAYS', default: '90', description: 'Security events older than this lose their client IP (erased in batches hourly, and by `rampart events prune`).' },
  { name: 'RAMPART_ALERT_WEBHOOK_URL', default: '(none: no webhook)', description: 'Where alerts are POSTed, signed (`Rampart-Signature: t=…,v1=…`); https in production, no redirects followed.', secret: true },
  { name: 'RAMPART_ALERT_WEBHOOK_SECRET', default: '(none)', description: 'HMAC-SHA256 key of the webhook signature, at least 32 characters; required with the URL.', secret: true },
  { name: 'RAMPART_ALERT_WEBHOOK_ATTEMPTS', default: '6', description: 'Webhook attempts per alert (exponential back-off) before it is dead-lettered.' },
  { name: 'RAMPART_ALERT_RETRY_BASE_MS', default: '2000', description: 'First wait before a webhook retry; it doubles each attempt.' },
  { name: 'RAMPART_ALERT_DEDUP_SECONDS', default: '900', description: 'One alert per rule and key within this window; later events add to its count.' },
  { name: 'RAMPART_ALERT_LOGIN_FAILURES_PER_ACCOUNT', default: '10/300', description: 'Alert at this many failed logins for one account within the seconds given (`count/seconds`).' },
  { name: 'RAMPART_ALERT_LOGIN_FAILURES_PER_IP', default: '30/300', description: 'Alert at this many failed logins from one IP (`count/seconds`).' },
  { name: 'RAMPART_ALERT_ACCOUNTS_PER_IP', default: '5/600', description: 'Credential stuffing: alert when one IP fails logins on this many distinct accounts (`count/seconds`).' },
  { name: 'RAMPART_ALERT_CSP_VIOLATIONS', default: '50/300', description: 'Alert at this many CSP violation reports site-wide (`count/seconds`).' },
  { name: 'RAMPART_SECURITY_TXT_EXPIRES', default: '(start + 180 days)', description: 'Expires date of security.txt (ISO 8601, at most a year ahead).' },
];

const SECRET_FILE_SUFFIX = '_FILE';

/** Names accepted in the environment: every setting, and NAME_FILE for secrets. */
export function knownVariableNames(): string[] {
  return SETTINGS.flatMap((s) => (s.secret ? [s.name, s.name + SECRET_FILE_SUFFIX] : [s.name]));
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j] ?? 0;
      row[j] = Math.min(current + 1, (row[j - 1] ?? 0) + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length] ?? 0;
}

/** The known variable closest to a misspelled one. */
export function closestVariable(name: string): string {
  let best = '';
  let bestDistance = Infinity;
  for (const known of knownVariableNames()) {
    const distance = editDistance(name, known);
    if (distance < bestDistance) {
      best = known;
      bestDistance = distance;
    }
  }
  return best;
}
