import type { EncryptionKeyMaterial } from './encryption-keys.js';
import type { Finding } from './findings.js';
import { assessSecret, MIN_SECRET_BYTES, type SecretAssessment } from './secret-strength.js';

/** What the deploy checks look at: the parsed settings, before a Config is built. */
export interface DeployInput {
  readonly secretKey: SecretAssessment | null;
  readonly encryptionKeysText: string | undefined;
  readonly encryptionKeys: readonly EncryptionKeyMaterial[] | null;
  readonly secretsGenerated: boolean;
  readonly databaseUrl: string | null;
  readonly migrationUrl: string | null;
  readonly embeddedOptIn: boolean;
  readonly redisUrl: string | null;
  readonly singleInstance: boolean;
  readonly publicUrl: string | null;
  readonly tls: boolean;
  readonly trustProxy: false | object;
  readonly hstsPreload: boolean;
  readonly corsOrigins: readonly string[];
  readonly corsCredentials: boolean;
  readonly logLevel: string;
  readonly securityContactConfigured: boolean;
  readonly securityTxtExpires: Date;
  readonly now: Date;
  readonly smtpConfigured: boolean;
  readonly secureCookies: boolean;
  /** The running Node.js version (`process.versions.node`). */
  readonly nodeVersion: string;
  /** The metrics listener's port (null: none), its address, and whether a metrics token is set. */
  readonly metricsPort: number | null;
  readonly metricsHost: string;
  readonly metricsToken: boolean;
}

/**
 * When a Node.js release line stops receiving security fixes, from Node's fixed release
 * schedule: an even line (LTS) ends on 30 April three years after its release (20 → 2026,
 * 22 → 2027, 24 → 2028, 26 → 2029), an odd line on 1 June the year after (25 → 2026).
 * Lines before 18 ended long ago.
 */
export function nodeEndOfLife(version: string): Date {
  const major = Number.parseInt(version.replace(/^v/, ''), 10);
  if (!Number.isInteger(major) || major < 18) return new Date(Date.UTC(2023, 8, 11));
  return major % 2 === 0 ? new Date(Date.UTC(2016 + major / 2, 3, 30)) : new Date(Date.UTC(2013 + (major + 1) / 2, 5, 1));
}

/** The current LTS line production should run (the documented production runtime). */
export const PRODUCTION_NODE_LTS = 26;

const GENERATE_SECRET = 'Generate one with `rampart secrets generate` (or `openssl rand -base64 32`) and set it through the environment or RAMPART_SECRET_KEY_FILE.';

function isLoopbackHost(url: string): boolean {
  try {
    const host = new URL(url).hostname;
    return host === 'localhost' || host === '::1' || host === '[::1]' || host.startsWith('127.');
  } catch {
    return false;
  }
}

/** A listen address that only this host can reach. */
function isLoopbackAddress(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/**
 * Every production-readiness finding, modelled on Django's `check --deploy`. Ids are stable:
 * a finding keeps its id for as long as the check exists, and ids are never reused.
 */
export function deployFindings(input: DeployInput): Finding[] {
  const findings: Finding[] = [];
  const error = (id: string, setting: string, reason: string, fix: string) => findings.push({ id: `RAMPART-E${id}`, severity: 'error', setting, reason, fix });
  const warning = (id: string, setting: string, reason: string, fix: string) => findings.push({ id: `RAMPART-W${id}`, severity: 'warning', setting, reason, fix });

  if (input.secretKey === null) error('001', 'RAMPART_SECRET_KEY', 'no secret key is configured', GENERATE_SECRET);
  else {
    const problems = input.secretKey.problems;
    if (problems.includes('too_short')) error('002', 'RAMPART_SECRET_KEY', `shorter than ${MIN_SECRET_BYTES} bytes of key material`, GENERATE_SECRET);
    if (problems.includes('low_entropy')) error('003', 'RAMPART_SECRET_KEY', 'too predictable to be a random key', GENERATE_SECRET);
    if (problems.includes('placeholder')) error('004', 'RAMPART_SECRET_KEY', 'a known placeholder or tutorial value', GENERATE_SECRET);
  }
  if (input.encryptionKeysText === undefined) {
    error('005', 'RAMPART_ENCRYPTION_KEYS', 'no data-at-rest encryption key is configured', 'Generate one with `rampart keys generate` and set RAMPART_ENCRYPTION_KEYS (or _FILE).');
  } else if (input.encryptionKeys !== null) {
    // Decoding guarantees 32 bytes; a key typed by hand (all zeros, a repeated pattern) still fails here.
    const keyTexts = input.encryptionKeysText.split(',').map((entry) => entry.trim()).filter((e) => e.length > 0).map((entry) => entry.slice(entry.indexOf(':') + 1));
    const weak = keyTexts.some((text) => assessSecret(text).problems.some((p) => p !== 'too_short'));
    if (weak) error('006', 'RAMPART_ENCRYPTION_KEYS', 'a key is predictable or a placeholder', 'Generate keys with `rampart keys generate`.');
  }
  if (input.secretsGenerated) error('007', 'RAMPART_SECRET_KEY', 'development secrets generated under the data directory are in use', GENERATE_SECRET);

  if (input.redisUrl === null && !input.singleInstance) {
    error('010', 'REDIS_URL', 'the in-memory store keeps sessions and rate-limit counters in one process: a second instance would not see them', 'Set REDIS_URL, or RAMPART_SINGLE_INSTANCE=true if exactly one process will ever run.');
  }
  if (input.databaseUrl === null && !input.embeddedOptIn) {
    error('011', 'DATABASE_URL', 'the embedded database (PGlite) is meant for development', 'Set DATABASE_URL to PostgreSQL, or RAMPART_EMBEDDED_DATABASE=true to accept the embedded one.');
  }
  if (input.publicUrl === null) error('012', 'RAMPART_PUBLIC_URL', 'not set: links in mail and redirects need the real public address', 'Set RAMPART_PUBLIC_URL=https://your.host');
  else if (!input.publicUrl.startsWith('https://')) error('013', 'RAMPART_PUBLIC_URL', 'not https: session cookies are Secure and would never be sent', 'Serve Rampart over HTTPS and set an https:// public URL.');
  if (!input.tls && input.trustProxy === false) {
    error('020', 'RAMPART_TLS_CERT_FILE', 'neither TLS nor a trusted TLS-terminating proxy is configured', 'Set RAMPART_TLS_CERT_FILE and RAMPART_TLS_KEY_FILE, or RAMPART_TRUST_PROXY to the proxy in front of Rampart.');
  }
  if (input.hstsPreload && input.publicUrl?.startsWith('https://') !== true) {
    // The preload list only takes a site served over https whose HSTS header has includeSubDomains (always sent) and preload.
    error('021', 'RAMPART_HSTS_PRELOAD', 'preload is set but the public URL is not https, so no HSTS header would ever be sent', 'Serve Rampart over https and set an https:// RAMPART_PUBLIC_URL, or turn RAMPART_HSTS_PRELOAD off.');
  }
  if (input.corsOrigins.includes('*') && input.corsCredentials) {
    error('030', 'RAMPART_CORS_ORIGINS', '`*` with credentials would let any site act with a signed-in user\'s cookies', 'List exact origins in RAMPART_CORS_ORIGINS, or turn RAMPART_CORS_CREDENTIALS off.');
  }

  if (!input.smtpConfigured) {
    error('050', 'RAMPART_SMTP_URL', 'no SMTP server: verification and reset mail would only be written to files', 'Set RAMPART_SMTP_URL=smtps://user:password@mail.example.com:465');
  }
  if (!input.secureCookies) {
    warning('010', 'RAMPART_PUBLIC_URL', 'plain http on a host other than localhost: session cookies lose Secure and the __Host- prefix', 'Serve Rampart over https.');
  }
  if (input.databaseUrl !== null && input.migrationUrl === null) {
    warning('001', 'DATABASE_MIGRATION_URL', 'migrations run as the application role, so it can alter the schema and the security event log', 'Create an owner role for migrations and set DATABASE_MIGRATION_URL; give DATABASE_URL a role without DDL rights.');
  }
  if (!input.securityContactConfigured) warning('002', 'RAMPART_SECURITY_CONTACT', 'security.txt names a guessed contact address', 'Set RAMPART_SECURITY_CONTACT=mailto:security@your.domain');
  if (['debug', 'trace'].includes(input.logLevel)) warning('003', 'RAMPART_LOG_LEVEL', `level ${input.logLevel} logs request details in bulk`, 'Use info in production.');
  if (input.redisUrl?.startsWith('redis://') === true && !isLoopbackHost(input.redisUrl)) {
    warning('004', 'REDIS_URL', 'Redis is reached without TLS over the network', 'Use rediss:// for a Redis that is not on this host.');
  }
  // Only verify-full checks both the certificate chain and the host name: with libpq's meaning
  // of require (no certificate check) or verify-ca (no name check) a network attacker can still
  // stand in for the database.
  if (input.databaseUrl !== null && !isLoopbackHost(input.databaseUrl) && !/[?&]sslmode=verify-full(?:&|$)/.test(input.databaseUrl)) {
    warning('005', 'DATABASE_URL', 'PostgreSQL is reached without verifying its certificate and host name', 'Add ?sslmode=verify-full to DATABASE_URL.');
  }
  if (input.securityTxtExpires.getTime() - input.now.getTime() > 366 * 86_400_000) {
    warning('006', 'RAMPART_SECURITY_TXT_EXPIRES', 'more than a year ahead (RFC 9116 advises less)', 'Set a date under a year away and renew it.');
  }
  if (nodeEndOfLife(input.nodeVersion).getTime() <= input.now.getTime()) {
    warning('020', 'Node.js', `Node ${input.nodeVersion} is past its end of life (${nodeEndOfLife(input.nodeVersion).toISOString().slice(0, 10)}) and gets no security fixes`, `Run Rampart on the current LTS, Node ${PRODUCTION_NODE_LTS}.`);
  }
  if (input.metricsPort !== null && !input.metricsToken && !isLoopbackAddress(input.metricsHost)) {
    warning('031', 'RAMPART_METRICS_HOST', `the metrics listener on ${input.metricsHost} answers anyone who can reach it, without a token`, 'Keep RAMPART_METRICS_HOST on loopback (127.0.0.1) behind your scraper\'s network, or set RAMPART_METRICS_TOKEN.');
  }
  if (input.securityTxtExpires.getTime() <= input.now.getTime()) {
    error('040', 'RAMPART_SECURITY_TXT_EXPIRES', 'already in the past, so security.txt tells researchers it is stale', 'Set a future date under a year away.');
  }
  return findings;
}
