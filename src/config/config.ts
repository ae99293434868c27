import { accessSync, chmodSync, constants, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { getHeapStatistics } from 'node:v8';
import ipaddr from 'ipaddr.js';
import { z } from 'zod';
import { deployFindings } from './deploy-checks.js';
import { type EncryptionKeyMaterial, generateEncryptionKeyText, parseEncryptionKeys } from './encryption-keys.js';
import { dataDirectoryFinding } from './data-directory.js';
import { ConfigError, type Finding } from './findings.js';
import { assessSecret, type SecretAssessment } from './secret-strength.js';
import { isHostValue } from './hosts.js';
import { closestVariable, knownVariableNames } from './settings.js';

export type Environment = 'development' | 'production' | 'test';
export type TrustProxy = false | { readonly addresses: readonly string[] };

/** The validated, frozen configuration every part of Rampart receives. */
export interface Config {
  readonly env: Environment;
  readonly isProduction: boolean;
  readonly host: string;
  readonly port: number;
  readonly publicUrl: string;
  readonly publicOrigin: string;
  readonly dataDir: string;
  readonly logLevel: string;
  readonly database: { readonly url: string | null; readonly migrationUrl: string | null; readonly embeddedOptIn: boolean };
  readonly store: { readonly redisUrl: string | null; readonly keyPrefix: string; readonly singleInstance: boolean };
  readonly secrets: {
    readonly secretKey: Buffer;
    /** Earlier root secrets, newest first: what was derived from them still verifies (see README, "Rotating the root secret"). */
    readonly secretKeyFallbacks: readonly Buffer[];
    readonly encryptionKeys: readonly EncryptionKeyMaterial[];
    /** Where the secrets came from: generated development secrets are never accepted in production. */
    readonly source: 'environment' | 'generated';
  };
  readonly trustProxy: TrustProxy;
  readonly tls: { readonly certFile: string; readonly keyFile: string } | null;
  /** A plain-HTTP port that only redirects to the public URL (TLS only). */
  readonly httpRedirectPort: number | null;
  readonly hsts: { readonly preload: boolean };
  /** Host header values accepted besides the public URL's host (lowercase `host` or `host:port`). */
  readonly allowedHosts: readonly string[];
  readonly csrf: { readonly trustedOrigins: readonly string[] };
  readonly cors: { readonly origins: readonly string[]; readonly credentials: boolean };
  /** Pages: also send the page CSP as Content-Security-Policy-Report-Only. */
  readonly cspReportOnly: boolean;
  readonly bodyLimitBytes: number;
  readonly rateLimit: { readonly points: number; readonly windowSeconds: number };
  readonly http: {
    readonly headersTimeoutMs: number;
    readonly requestTimeoutMs: number;
    readonly keepAliveTimeoutMs: number;
    readonly connectionTimeoutMs: number;
    readonly maxHeaderBytes: number;
    readonly maxRequestsPerSocket: number;
  };
  readonly loadShedding: { readonly maxEventLoopDelayMs: number; readonly maxHeapUsedBytes: number };
  readonly shutdownGraceMs: number;
  readonly securityTxt: { readonly contacts: readonly string[]; readonly expires: Date; readonly contactConfigured: boolean };
  readonly mail: { readonly smtpUrl: string | null; readonly from: string };
  /** Who must enrol a second factor before acting: every user, administrators (the default), or nobody. */
  readonly mfa: { readonly required: 'all' | 'admins' | 'off' };
  readonly sessions: { readonly cookieName: string; readonly secureCookies: boolean; readonly idleTimeoutMs: number; readonly absoluteTimeoutMs: number };
  readonly tokens: { readonly accessTtlSeconds: number; readonly refreshTtlMs: number };
  /** Security event log: coalescing of repeated identical events, and how long client IPs are kept. */
  readonly events: { readonly coalesceWindowMs: number; readonly coalesceRows: number; readonly retentionDays: number };
  /** Alert rules' thresholds and their delivery (webhook and mail to the security contact). */
  readonly alerts: {
    readonly webhook: { readonly url: string; readonly secret: string } | null;
    readonly attempts: number;
    readonly retryBaseMs: number;
    readonly dedupMs: number;
    readonly loginFailuresPerAccount: AlertThreshold;
    readonly loginFailuresPerIp: AlertThreshold;
    readonly accountsPerIp: AlertThreshold;
    readonly cspViolations: AlertThreshold;
  };
  readonly passwords: {
    readonly minLength: number;
    readonly argon2: { readonly memoryKiB: number; readonly timeCost: number; readonly parallelism: number };
    readonly hashConcurrency: number;
  };
  /**
   * Prometheus metrics: a separate listener (`port`, on `host`, loopback by default) and/or
   * `/metrics` on the main port when a bearer `token` is set. Neither: not served at all.
   */
  readonly metrics: { readonly port: number | null; readonly host: string; readonly token: string | null };
}

/** An alert fires when `count` events happen within `windowSeconds`. */
export interface AlertThreshold {
  readonly count: number;
  readonly windowSeconds: number;
}

export interface LoadOptions {
  /** Create development secrets under the data directory when none are configured (never in production). */
  readonly generateDevSecrets?: boolean;
  /** The clock, for security.txt's default expiry and the Node.js end-of-life check. */
  readonly now?: Date;
  /** The Node.js version the end-of-life check judges (default: the running one). */
  readonly nodeVersion?: string;
}

const bool = z.enum(['true', 'false']).transform((v) => v === 'true');
const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
// `count/seconds`, e.g. `10/300`: ten events within five minutes.
const threshold = z.string().regex(/^\d{1,6}\/\d{1,6}$/, 'count/seconds, e.g. 10/300').transform((v) => {
  const [count, windowSeconds] = v.split('/').map(Number) as [number, number];
  return { count, windowSeconds };
}).refine((t) => t.count >= 1 && t.windowSeconds >= 1 && t.windowSeconds <= 86_400, 'count at least 1, seconds 1–86400');
const csv = z.string().transform((v) => v.split(',').map((s) => s.trim()).filter((s) => s.length > 0));

const schema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  RAMPART_HOST: z.string().min(1).default('127.0.0.1'),
  RAMPART_PORT: int(0, 65535).default(3000),
  RAMPART_PUBLIC_URL: z.string().optional(),
  RAMPART_DATA_DIR: z.string().min(1).default('./data'),
  RAMPART_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  RAMPART_EMBEDDED_DATABASE: bool.default(false),
  RAMPART_REDIS_PREFIX: z.string().regex(/^[A-Za-z0-9:_.-]{1,128}$/, "letters, digits and : _ . - (at most 128)").default('rampart:'),
  RAMPART_SINGLE_INSTANCE: bool.default(false),
  RAMPART_TRUST_PROXY: z.string().default(''),
  RAMPART_TLS_CERT_FILE: z.string().min(1).optional(),
  RAMPART_TLS_KEY_FILE: z.string().min(1).optional(),
  RAMPART_HTTP_REDIRECT_PORT: int(0, 65535).optional(),
  RAMPART_HSTS_PRELOAD: bool.default(false),
  RAMPART_ALLOWED_HOSTS: csv.default([]),
  RAMPART_CSRF_TRUSTED_ORIGINS: csv.default([]),
  RAMPART_MFA_REQUIRED: z.enum(['all', 'admins', 'off']).default('admins'),
  RAMPART_CORS_ORIGINS: csv.default([]),
  RAMPART_CORS_CREDENTIALS: bool.default(false),
  RAMPART_CSP_REPORT_ONLY: bool.default(false),
  RAMPART_BODY_LIMIT_BYTES: int(1024, 10 * 1024 * 1024).default(10 * 1024),
  RAMPART_RATE_LIMIT_POINTS: int(1, 1_000_000).default(300),
  RAMPART_RATE_LIMIT_WINDOW_SECONDS: int(1, 86_400).default(60),
  RAMPART_HEADERS_TIMEOUT_MS: int(1000, 120_000).default(10_000),
  RAMPART_REQUEST_TIMEOUT_MS: int(1000, 600_000).default(30_000),
  RAMPART_KEEP_ALIVE_TIMEOUT_MS: int(1000, 120_000).default(5000),
  RAMPART_CONNECTION_TIMEOUT_MS: int(1000, 600_000).default(60_000),
  RAMPART_MAX_HEADER_BYTES: int(4096, 65_536).default(16_384),
  RAMPART_MAX_REQUESTS_PER_SOCKET: int(1, 100_000).default(1000),
  RAMPART_MAX_EVENT_LOOP_DELAY_MS: int(10, 60_000).default(1000),
  RAMPART_MAX_HEAP_USED_RATIO: z.coerce.number().gt(0).max(1).default(0.9),
  RAMPART_SHUTDOWN_GRACE_MS: int(0, 120_000).default(10_000),
  RAMPART_SECURITY_CONTACT: csv.optional(),
  RAMPART_MAIL_FROM: z.string().min(3).max(200).regex(/^[^\r\n]+$/, 'one line').optional(),
  RAMPART_SESSION_COOKIE: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, 'letters, digits, _ and - (the __Host- prefix is added for you)').optional(),
  RAMPART_SESSION_IDLE_MINUTES: int(1, 24 * 60).default(30),
  RAMPART_SESSION_ABSOLUTE_HOURS: int(1, 24 * 30).default(8),
  // Access tokens cannot be recalled once issued except through the denylist: an hour bounds the damage of a leak.
  RAMPART_ACCESS_TOKEN_MINUTES: int(1, 60).default(10),
  RAMPART_REFRESH_TOKEN_DAYS: int(1, 90).default(30),
  RAMPART_PASSWORD_MIN_LENGTH: int(8, 64).default(15),
  RAMPART_ARGON2_MEMORY_KIB: int(19_456, 4 * 1024 * 1024).default(19_456),
  RAMPART_ARGON2_TIME_COST: int(2, 100).default(2),
  RAMPART_ARGON2_PARALLELISM: int(1, 16).default(1),
  // One core is left to the event loop, so a login flood cannot starve every other request.
  RAMPART_PASSWORD_HASH_CONCURRENCY: int(1, 64).default(Math.max(1, availableParallelism() - 1)),
  RAMPART_METRICS_PORT: int(0, 65535).optional(),
  RAMPART_METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  RAMPART_SECURITY_TXT_EXPIRES: z.iso.datetime({ offset: true }).or(z.iso.date()).optional(),
  RAMPART_EVENT_COALESCE_SECONDS: int(1, 3600).default(60),
  RAMPART_EVENT_COALESCE_ROWS: int(1, 1000).default(10),
  RAMPART_EVENT_RETENTION_DAYS: int(1, 3650).default(90),
  RAMPART_ALERT_WEBHOOK_ATTEMPTS: int(1, 20).default(6),
  RAMPART_ALERT_RETRY_BASE_MS: int(100, 600_000).default(2000),
  RAMPART_ALERT_DEDUP_SECONDS: int(1, 86_400).default(900),
  RAMPART_ALERT_LOGIN_FAILURES_PER_ACCOUNT: threshold.default({ count: 10, windowSeconds: 300 }),
  RAMPART_ALERT_LOGIN_FAILURES_PER_IP: threshold.default({ count: 30, windowSeconds: 300 }),
  RAMPART_ALERT_ACCOUNTS_PER_IP: threshold.default({ count: 5, windowSeconds: 600 }),
  RAMPART_ALERT_CSP_VIOLATIONS: threshold.default({ count: 50, windowSeconds: 300 }),
});

const PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);

function invalid(setting: string, reason: string, fix: string): Finding {
  return { id: 'RAMPART-E091', severity: 'error', setting, reason, fix };
}

function parseTrustProxy(text: string, problems: Finding[]): TrustProxy {
  const value = text.trim();
  if (value === '') return false;
  const fix = 'List the proxy addresses or CIDRs (e.g. 10.0.0.5,10.1.0.0/16) or `loopback`.';
  // A hop count trusts X-Forwarded-For without checking who sent it (and Fastify 5 does not
  // honour a numeric setting at all): the proxies must be named by address.
  if (/^\d+$/.test(value)) {
    problems.push(invalid('RAMPART_TRUST_PROXY', 'a hop count cannot tell a proxy from a client that forges X-Forwarded-For', fix));
    return false;
  }
  const addresses = value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  for (const entry of addresses) {
    if (PROXY_NAMES.has(entry)) continue;
    // Trusting every address lets any client forge its IP and evade per-IP limits.
    if (['*', 'true', 'all'].includes(entry.toLowerCase())) {
      problems.push(invalid('RAMPART_TRUST_PROXY', `"${entry}" would trust every client to name its own IP`, fix));
      continue;
    }
    let range: [ipaddr.IPv4 | ipaddr.IPv6, number];
    try {
      const address = entry.includes('/') ? null : ipaddr.parse(entry);
      range = address === null ? ipaddr.parseCIDR(entry) : [address, address.kind() === 'ipv4' ? 32 : 128];
    } catch {
      problems.push(invalid('RAMPART_TRUST_PROXY', `"${entry}" is not an IP address, CIDR or known name`, fix));
      continue;
    }
    if (coversPublicBlock(...range)) problems.push(invalid('RAMPART_TRUST_PROXY', `"${entry}" covers a large share of all addresses, so clients could forge their IP`, fix));
  }
  return { addresses };
}

// The widest blocks a proxy fleet plausibly needs: 10.0.0.0/8 and the unique-local fc00::/7.
const MIN_IPV4_PREFIX = 8;
const MIN_IPV6_PREFIX = 7;
const IPV4_MAPPED_PREFIX = 96;

/**
 * Whether a trusted range is blanket trust in disguise: `0.0.0.0/0`, but also
 * `0.0.0.0/1` + `128.0.0.0/1`, or an IPv6 range holding the IPv4-mapped block (proxy
 * matching compares IPv4 clients in their mapped form).
 */
function coversPublicBlock(address: ipaddr.IPv4 | ipaddr.IPv6, prefix: number): boolean {
  if (address.kind() === 'ipv4') return prefix < MIN_IPV4_PREFIX;
  if (prefix < MIN_IPV6_PREFIX) return true;
  const v6 = address as ipaddr.IPv6;
  if (prefix <= IPV4_MAPPED_PREFIX) return ipaddr.IPv6.parse('::ffff:0:0').match(v6, prefix);
  return v6.isIPv4MappedAddress() && prefix - IPV4_MAPPED_PREFIX < MIN_IPV4_PREFIX;
}

function readableFile(path: string): boolean {
  try {
    // The operator names these files; checking them here turns a crash at listen into a finding.
    accessSync(path, constants.R_OK);
    // eslint-disable-next-line security/detect-non-literal-fs-filename
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function readSecret(env: NodeJS.ProcessEnv, name: string, problems: Finding[]): string | undefined {
  const direct = env[name];
  const file = env[`${name}_FILE`];
  if (direct !== undefined && file !== undefined) {
    problems.push({ id: 'RAMPART-E092', severity: 'error', setting: name, reason: `both ${name} and ${name}_FILE are set`, fix: `Set only one of them.` });
    return undefined;
  }
  if (file !== undefined) {
    try {
      // The file is named by the operator's own environment; reading it is the point.
      // eslint-disable-next-line security/detect-non-literal-fs-filename
      return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (err) {
      const code = err instanceof Error && 'code' in err ? String(err.code) : 'unreadable';
      problems.push({ id: 'RAMPART-E093', severity: 'error', setting: `${name}_FILE`, reason: `the file cannot be read (${code})`, fix: 'Point it at a readable file holding only the secret.' });
      return undefined;
    }
  }
  return direct === '' ? undefined : direct;
}

function validUrl(text: string, protocols: readonly string[]): boolean {
  try {
    return protocols.includes(new URL(text).protocol);
  } catch {
    return false;
  }
}

const devSecretsSchema = z.object({ secretKey: z.string().min(1), encryptionKeys: z.string().min(1) });
type DevSecrets = z.infer<typeof devSecretsSchema>;

const DEV_SECRETS_FIX = 'Delete the file to generate new development secrets (data encrypted with the old keys becomes unreadable), or set RAMPART_SECRET_KEY and RAMPART_ENCRYPTION_KEYS.';

/** Reads `<dataDir>/secrets.json`, creating it first (mode 0600) when it does not exist. */
function loadOrCreateDevSecrets(dataDir: string, problems: Finding[]): DevSecrets | null {
  const path = join(dataDir, 'secrets.json');
  /* eslint-disable security/detect-non-literal-fs-filename -- the path comes from validated configuration */
  try {
    if (existsSync(path)) {
      // Other local users must not read the keys, whoever created the file.
      if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
      let stored: unknown;
      try {
        stored = JSON.parse(readFileSync(path, 'utf8'));
      } catch {
        // Described, never quoted: JSON.parse's message carries a piece of the text, which holds keys.
        stored = undefined;
      }
      const parsed = devSecretsSchema.safeParse(stored);
      if (parsed.success) return parsed.data;
      problems.push(invalid('RAMPART_DATA_DIR', `${path} is not a valid development secrets file`, DEV_SECRETS_FIX));
      return null;
    }
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
    const secrets: DevSecrets = { secretKey: randomBytes(32).toString('base64url'), encryptionKeys: generateEncryptionKeyText('dev-1') };
    writeFileSync(path, JSON.stringify(secrets, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
    chmodSync(path, 0o600);
    return secrets;
  } catch (err) {
    // Named from the directory itself (a read-only file system reports ENOENT from mkdir).
    const finding = dataDirectoryFinding(dataDir, err);
    problems.push({ ...finding, reason: `development secrets cannot be kept in ${path}: ${finding.reason}`, fix: `${finding.fix} Or set RAMPART_SECRET_KEY and RAMPART_ENCRYPTION_KEYS.` });
    return null;
  }
  /* eslint-enable security/detect-non-literal-fs-filename */
}

export interface Inspection {
  /** Null when the environment cannot produce a configuration at all. */
  readonly config: Config | null;
  /** Problems that stop Rampart in every environment (invalid values, unknown variables). */
  readonly problems: readonly Finding[];
  /** What `check --deploy` reports; the errors among them stop a production start. */
  readonly deploy: readonly Finding[];
}

/** Validates the environment without starting anything. */
export function inspectEnvironment(env: NodeJS.ProcessEnv, options: LoadOptions = {}): Inspection {
  const problems: Finding[] = [];
  const known = new Set(knownVariableNames());
  for (const name of Object.keys(env).sort()) {
    if ((name.startsWith('RAMPART_') || name.startsWith('DATABASE_') || name.startsWith('REDIS_')) && !known.has(name) && !name.startsWith('RAMPART_TEST_')) {
      problems.push({ id: 'RAMPART-E090', severity: 'error', setting: name, reason: 'unknown setting', fix: `Did you mean ${closestVariable(name)}? See the configuration table in the README.` });
    }
  }
  // An empty value means unset, as it does for secrets: `RAMPART_PORT=` must not mean port 0.
  const present: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined && value !== ''));
  const parsed = schema.safeParse(present);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const setting = String(issue.path[0] ?? 'environment');
      problems.push(invalid(setting, issue.message, 'See the configuration table in the README for the accepted values.'));
    }
    return { config: null, problems, deploy: [] };
  }
  const s = parsed.data;
  const isProduction = s.NODE_ENV === 'production';
  const trustProxy = parseTrustProxy(s.RAMPART_TRUST_PROXY, problems);

  const publicUrl = s.RAMPART_PUBLIC_URL ?? `http://localhost:${s.RAMPART_PORT}`;
  let publicOrigin = '';
  try {
    const url = new URL(publicUrl);
    if (!['http:', 'https:'].includes(url.protocol) || url.pathname !== '/' || url.search || url.hash || url.username || url.password) throw new TypeError('shape');
    publicOrigin = url.origin;
  } catch {
    problems.push(invalid('RAMPART_PUBLIC_URL', 'must be an http(s) origin with no path, query or credentials', 'Use e.g. https://rampart.example.com'));
  }

  const databaseUrl = readSecret(present, 'DATABASE_URL', problems) ?? null;
  const migrationUrl = readSecret(present, 'DATABASE_MIGRATION_URL', problems) ?? null;
  const redisUrl = readSecret(present, 'REDIS_URL', problems) ?? null;
  const smtpUrl = readSecret(present, 'RAMPART_SMTP_URL', problems) ?? null;
  const metricsToken = readSecret(present, 'RAMPART_METRICS_TOKEN', problems) ?? null;
  if (metricsToken !== null && assessSecret(metricsToken).problems.length > 0) {
    problems.push(invalid('RAMPART_METRICS_TOKEN', 'too short or too predictable to guard the metrics', 'Generate one with `openssl rand -base64 32`.'));
  }
  if (s.RAMPART_METRICS_PORT !== undefined && s.RAMPART_METRICS_PORT !== 0 && s.RAMPART_METRICS_PORT === s.RAMPART_PORT) {
    problems.push(invalid('RAMPART_METRICS_PORT', 'the same port as RAMPART_PORT', 'Use another port (e.g. 9464), or leave it unset and set RAMPART_METRICS_TOKEN to serve /metrics on the main port.'));
  }
  if (smtpUrl !== null && !validUrl(smtpUrl, ['smtp:', 'smtps:'])) problems.push(invalid('RAMPART_SMTP_URL', 'not an smtp:// or smtps:// URL', 'Use smtps://user:password@mail.example.com:465'));
  if (databaseUrl !== null && !validUrl(databaseUrl, ['postgres:', 'postgresql:'])) problems.push(invalid('DATABASE_URL', 'not a postgres:// URL', 'Use postgres://user:password@host:5432/database'));
  if (migrationUrl !== null && !validUrl(migrationUrl, ['postgres:', 'postgresql:'])) problems.push(invalid('DATABASE_MIGRATION_URL', 'not a postgres:// URL', 'Use postgres://owner:password@host:5432/database'));
  if (migrationUrl !== null && databaseUrl === null) problems.push(invalid('DATABASE_MIGRATION_URL', 'set without DATABASE_URL', 'Set DATABASE_URL to the application role as well.'));
  const alertWebhook = alertWebhookSettings(present, isProduction, problems);
  if (redisUrl !== null && !validUrl(redisUrl, ['redis:', 'rediss:'])) problems.push(invalid('REDIS_URL', 'not a redis:// or rediss:// URL', 'Use redis://host:6379 or rediss://host:6380'));

  for (const origin of s.RAMPART_CSRF_TRUSTED_ORIGINS) {
    if (!validUrl(origin, ['http:', 'https:']) || new URL(origin).origin !== origin) problems.push(invalid('RAMPART_CSRF_TRUSTED_ORIGINS', `"${origin}" is not an exact origin`, 'List origins like https://admin.example.com (scheme, host and port only).'));
  }
  const allowedHosts = s.RAMPART_ALLOWED_HOSTS.map((host) => host.toLowerCase());
  for (const host of allowedHosts) {
    if (!isHostValue(host)) problems.push(invalid('RAMPART_ALLOWED_HOSTS', `"${host}" is not an exact host`, 'List values like rampart.internal or 10.0.0.5:3000 (no scheme, path or wildcard).'));
  }
  if (s.RAMPART_HTTP_REDIRECT_PORT !== undefined) {
    if (s.RAMPART_TLS_CERT_FILE === undefined) problems.push(invalid('RAMPART_HTTP_REDIRECT_PORT', 'set without TLS: there is no HTTPS listener to redirect to', 'Set RAMPART_TLS_CERT_FILE and RAMPART_TLS_KEY_FILE, or let the proxy in front redirect.'));
    if (!publicUrl.startsWith('https://')) problems.push(invalid('RAMPART_HTTP_REDIRECT_PORT', 'the public URL is not https, so the redirect would not upgrade anything', 'Set RAMPART_PUBLIC_URL=https://your.host'));
    if (s.RAMPART_HTTP_REDIRECT_PORT !== 0 && s.RAMPART_HTTP_REDIRECT_PORT === s.RAMPART_PORT) problems.push(invalid('RAMPART_HTTP_REDIRECT_PORT', 'the same port as RAMPART_PORT', 'Use another port, usually 80.'));
  }
  for (const origin of s.RAMPART_CORS_ORIGINS) {
    if (origin === '*') continue;
    if (!validUrl(origin, ['http:', 'https:']) || new URL(origin).origin !== origin) problems.push(invalid('RAMPART_CORS_ORIGINS', `"${origin}" is not an exact origin`, 'List origins like https://app.example.com (scheme, host and port only).'));
  }
  if (s.RAMPART_TLS_CERT_FILE === undefined !== (s.RAMPART_TLS_KEY_FILE === undefined)) {
    problems.push(invalid('RAMPART_TLS_CERT_FILE', 'the certificate and key files must be set together', 'Set both RAMPART_TLS_CERT_FILE and RAMPART_TLS_KEY_FILE, or neither.'));
  }
  for (const setting of ['RAMPART_TLS_CERT_FILE', 'RAMPART_TLS_KEY_FILE'] as const) {
    const file = s[setting];
    if (file !== undefined && !readableFile(file)) problems.push(invalid(setting, 'the file cannot be read', 'Point it at a readable PEM file.'));
  }

  const dataDir = isAbsolute(s.RAMPART_DATA_DIR) ? s.RAMPART_DATA_DIR : resolve(s.RAMPART_DATA_DIR);
  let secretKeyText = readSecret(present, 'RAMPART_SECRET_KEY', problems);
  let encryptionKeysText = readSecret(present, 'RAMPART_ENCRYPTION_KEYS', problems);
  let source: 'environment' | 'generated' = 'environment';
  if ((secretKeyText === undefined || encryptionKeysText === undefined) && !isProduction && options.generateDevSecrets === true) {
    const dev = loadOrCreateDevSecrets(dataDir, problems);
    if (dev !== null) {
      secretKeyText ??= dev.secretKey;
      encryptionKeysText ??= dev.encryptionKeys;
      source = 'generated';
    }
  }
  let secretKey: SecretAssessment | null = null;
  if (secretKeyText !== undefined) secretKey = assessSecret(secretKeyText);
  const fallbackTexts = (readSecret(present, 'RAMPART_SECRET_KEY_FALLBACKS', problems) ?? '').split(',').map((entry) => entry.trim()).filter((entry) => entry !== '');
  const secretKeyFallbacks: Buffer[] = [];
  for (const [index, text] of fallbackTexts.entries()) {
    // Described by position, never quoted: the value is a secret.
    const fallback = assessSecret(text);
    if (fallback.bytes.length < 32) problems.push(invalid('RAMPART_SECRET_KEY_FALLBACKS', `entry ${index + 1} is shorter than 32 bytes of key material`, 'List only earlier values of RAMPART_SECRET_KEY, comma-separated, newest first.'));
    else if (secretKey !== null && fallback.bytes.equals(secretKey.bytes)) problems.push(invalid('RAMPART_SECRET_KEY_FALLBACKS', `entry ${index + 1} is the current RAMPART_SECRET_KEY`, 'List only earlier values of RAMPART_SECRET_KEY.'));
    else secretKeyFallbacks.push(fallback.bytes);
  }
  let encryptionKeys: EncryptionKeyMaterial[] | null = null;
  if (encryptionKeysText !== undefined) {
    try {
      encryptionKeys = parseEncryptionKeys(encryptionKeysText);
    } catch (err) {
      problems.push(invalid('RAMPART_ENCRYPTION_KEYS', (err as Error).message, 'Generate a key with `rampart keys generate` and list it as id:base64key.'));
    }
  }
  const now = options.now ?? new Date();
  const securityTxtExpires = s.RAMPART_SECURITY_TXT_EXPIRES === undefined ? new Date(now.getTime() + 180 * 86_400_000) : new Date(s.RAMPART_SECURITY_TXT_EXPIRES);
  const publicHost = publicOrigin === '' ? 'localhost' : new URL(publicOrigin).hostname;

  const deployInput = {
    secretKey, encryptionKeysText, encryptionKeys, secretsGenerated: source === 'generated',
    databaseUrl, migrationUrl, embeddedOptIn: s.RAMPART_EMBEDDED_DATABASE, redisUrl, singleInstance: s.RAMPART_SINGLE_INSTANCE,
    publicUrl: s.RAMPART_PUBLIC_URL ?? null, tls: s.RAMPART_TLS_CERT_FILE !== undefined, trustProxy, hstsPreload: s.RAMPART_HSTS_PRELOAD,
    corsOrigins: s.RAMPART_CORS_ORIGINS, corsCredentials: s.RAMPART_CORS_CREDENTIALS, logLevel: s.RAMPART_LOG_LEVEL,
    securityContactConfigured: s.RAMPART_SECURITY_CONTACT !== undefined, securityTxtExpires, now,
    smtpConfigured: smtpUrl !== null, secureCookies: cookiesSecure(publicOrigin),
    nodeVersion: options.nodeVersion ?? process.versions.node,
    metricsPort: s.RAMPART_METRICS_PORT ?? null, metricsHost: s.RAMPART_METRICS_HOST, metricsToken: metricsToken !== null,
  };
  const deploy = deployFindings(deployInput);
  // CORS `*` with credentials is refused everywhere: no environment needs it.
  problems.push(...deploy.filter((f) => f.id === 'RAMPART-E030'));

  if (problems.length > 0 || secretKey === null || encryptionKeys === null) {
    if (!isProduction && (secretKey === null || encryptionKeys === null)) {
      problems.push(...deploy.filter((f) => f.id === 'RAMPART-E001' || f.id === 'RAMPART-E005'));
    }
    return { config: null, problems, deploy };
  }

  const config: Config = {
    env: s.NODE_ENV,
    isProduction,
    host: s.RAMPART_HOST,
    port: s.RAMPART_PORT,
    publicUrl: publicOrigin,
    publicOrigin,
    dataDir,
    logLevel: s.RAMPART_LOG_LEVEL,
    database: { url: databaseUrl, migrationUrl, embeddedOptIn: s.RAMPART_EMBEDDED_DATABASE },
    store: { redisUrl, keyPrefix: s.RAMPART_REDIS_PREFIX, singleInstance: s.RAMPART_SINGLE_INSTANCE },
    secrets: { secretKey: secretKey.bytes, secretKeyFallbacks, encryptionKeys, source },
    trustProxy,
    tls: s.RAMPART_TLS_CERT_FILE !== undefined && s.RAMPART_TLS_KEY_FILE !== undefined ? { certFile: s.RAMPART_TLS_CERT_FILE, keyFile: s.RAMPART_TLS_KEY_FILE } : null,
    httpRedirectPort: s.RAMPART_HTTP_REDIRECT_PORT ?? null,
    hsts: { preload: s.RAMPART_HSTS_PRELOAD },
    allowedHosts,
    csrf: { trustedOrigins: s.RAMPART_CSRF_TRUSTED_ORIGINS },
    cors: { origins: s.RAMPART_CORS_ORIGINS, credentials: s.RAMPART_CORS_CREDENTIALS },
    cspReportOnly: s.RAMPART_CSP_REPORT_ONLY,
    bodyLimitBytes: s.RAMPART_BODY_LIMIT_BYTES,
    rateLimit: { points: s.RAMPART_RATE_LIMIT_POINTS, windowSeconds: s.RAMPART_RATE_LIMIT_WINDOW_SECONDS },
    http: {
      headersTimeoutMs: s.RAMPART_HEADERS_TIMEOUT_MS,
      requestTimeoutMs: s.RAMPART_REQUEST_TIMEOUT_MS,
      keepAliveTimeoutMs: s.RAMPART_KEEP_ALIVE_TIMEOUT_MS,
      connectionTimeoutMs: s.RAMPART_CONNECTION_TIMEOUT_MS,
      maxHeaderBytes: s.RAMPART_MAX_HEADER_BYTES,
      maxRequestsPerSocket: s.RAMPART_MAX_REQUESTS_PER_SOCKET,
    },
    loadShedding: {
      maxEventLoopDelayMs: s.RAMPART_MAX_EVENT_LOOP_DELAY_MS,
      maxHeapUsedBytes: Math.floor(getHeapStatistics().heap_size_limit * s.RAMPART_MAX_HEAP_USED_RATIO),
    },
    shutdownGraceMs: s.RAMPART_SHUTDOWN_GRACE_MS,
    securityTxt: {
      contacts: s.RAMPART_SECURITY_CONTACT ?? [`mailto:security@${publicHost}`],
      expires: securityTxtExpires,
      contactConfigured: s.RAMPART_SECURITY_CONTACT !== undefined,
    },
    mail: { smtpUrl, from: s.RAMPART_MAIL_FROM ?? `Rampart <no-reply@${publicHost === 'localhost' ? 'localhost.localdomain' : publicHost}>` },
    sessions: {
      // `__Host-` requires Secure, which browsers honour on https and on http://localhost only.
      cookieName: cookiesSecure(publicOrigin) ? `__Host-${s.RAMPART_SESSION_COOKIE ?? 'rampart_session'}` : (s.RAMPART_SESSION_COOKIE ?? 'rampart_session'),
      secureCookies: cookiesSecure(publicOrigin),
      idleTimeoutMs: s.RAMPART_SESSION_IDLE_MINUTES * 60_000,
      absoluteTimeoutMs: s.RAMPART_SESSION_ABSOLUTE_HOURS * 3_600_000,
    },
    mfa: { required: s.RAMPART_MFA_REQUIRED },
    tokens: { accessTtlSeconds: s.RAMPART_ACCESS_TOKEN_MINUTES * 60, refreshTtlMs: s.RAMPART_REFRESH_TOKEN_DAYS * 86_400_000 },
    events: { coalesceWindowMs: s.RAMPART_EVENT_COALESCE_SECONDS * 1000, coalesceRows: s.RAMPART_EVENT_COALESCE_ROWS, retentionDays: s.RAMPART_EVENT_RETENTION_DAYS },
    alerts: {
      webhook: alertWebhook,
      attempts: s.RAMPART_ALERT_WEBHOOK_ATTEMPTS,
      retryBaseMs: s.RAMPART_ALERT_RETRY_BASE_MS,
      dedupMs: s.RAMPART_ALERT_DEDUP_SECONDS * 1000,
      loginFailuresPerAccount: s.RAMPART_ALERT_LOGIN_FAILURES_PER_ACCOUNT,
      loginFailuresPerIp: s.RAMPART_ALERT_LOGIN_FAILURES_PER_IP,
      accountsPerIp: s.RAMPART_ALERT_ACCOUNTS_PER_IP,
      cspViolations: s.RAMPART_ALERT_CSP_VIOLATIONS,
    },
    passwords: {
      minLength: s.RAMPART_PASSWORD_MIN_LENGTH,
      argon2: { memoryKiB: s.RAMPART_ARGON2_MEMORY_KIB, timeCost: s.RAMPART_ARGON2_TIME_COST, parallelism: s.RAMPART_ARGON2_PARALLELISM },
      hashConcurrency: s.RAMPART_PASSWORD_HASH_CONCURRENCY,
    },
    metrics: { port: s.RAMPART_METRICS_PORT ?? null, host: s.RAMPART_METRICS_HOST, token: metricsToken },
  };
  return { config: deepFreeze(config), problems, deploy };
}

/**
 * The alert webhook: its URL comes only from here (never from a request, so it cannot be
 * pointed elsewhere), https in production, with no credentials in it; the signing secret is
 * required with it and at least 32 characters.
 */
function alertWebhookSettings(env: NodeJS.ProcessEnv, isProduction: boolean, problems: Finding[]): { url: string; secret: string } | null {
  const url = readSecret(env, 'RAMPART_ALERT_WEBHOOK_URL', problems);
  const signingKey = readSecret(env, 'RAMPART_ALERT_WEBHOOK_SECRET', problems);
  if (url === undefined) {
    if (signingKey !== undefined) problems.push(invalid('RAMPART_ALERT_WEBHOOK_SECRET', 'set without RAMPART_ALERT_WEBHOOK_URL', 'Set the webhook URL too, or remove the secret.'));
    return null;
  }
  const protocols = isProduction ? ['https:'] : ['https:', 'http:'];
  if (!validUrl(url, protocols) || new URL(url).username !== '' || new URL(url).password !== '') {
    problems.push(invalid('RAMPART_ALERT_WEBHOOK_URL', `not an ${isProduction ? 'https' : 'http(s)'} URL without credentials`, 'Use e.g. https://hooks.example.com/rampart (the signature authenticates Rampart; put no password in the URL).'));
    return null;
  }
  if (signingKey === undefined || signingKey.length < 32) {
    problems.push(invalid('RAMPART_ALERT_WEBHOOK_SECRET', 'missing or shorter than 32 characters', 'Generate one with `openssl rand -base64 32` and give the receiver the same value.'));
    return null;
  }
  return { url, secret: signingKey };
}

/** Secure cookies work on https and on http://localhost (a secure context); nowhere else over http. */
function cookiesSecure(publicOrigin: string): boolean {
  if (publicOrigin === '') return true;
  const url = new URL(publicOrigin);
  return url.protocol === 'https:' || ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Buffer.isBuffer(value) && !(value instanceof Date)) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/**
 * Loads the configuration once at boot. Throws a ConfigError naming every problem; in
 * production the deploy checks' errors stop the start too.
 */
export function loadConfig(env: NodeJS.ProcessEnv, options: LoadOptions = {}): { config: Config; warnings: readonly Finding[] } {
  const { config, problems, deploy } = inspectEnvironment(env, options);
  const blocking = [...problems, ...(config?.isProduction === true || env.NODE_ENV === 'production' ? deploy.filter((f) => f.severity === 'error' && !problems.includes(f)) : [])];
  if (config === null || blocking.length > 0) throw new ConfigError(blocking.length > 0 ? blocking : problems);
  return { config, warnings: deploy };
}
