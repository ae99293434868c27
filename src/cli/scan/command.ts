import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { SEVERITIES, type Severity } from './findings.js';
import { buildPlan, dynamicSteps, isLoopback, newScanId, planRequests, type ScanSettings } from './plan.js';
import { buildReport, failsAt, formatReport } from './report.js';
import { runScan, TargetUnreachableError } from './scan.js';

export const SCAN_USAGE = `Usage: rampart scan <url> [options]

Audits a running deployment from the outside, as an attacker would see it: response headers
(HSTS, CSP, framing, nosniff, Referrer-Policy, COOP/CORP, Permissions-Policy, banners,
caching), cookies, TLS (https:// only: versions, weak suites, certificate, HTTP redirect),
error leakage, CORS and security.txt. Read-only: see "What it sends" in the README.

Options:
  --json                   Print the report as JSON.
  --fail-on SEVERITY       Exit 1 when a finding at or above it exists: info, low, medium
                           (default) or high.
  --dry-run                List every request and handshake the scan would make; send nothing.
  --path PATH              Also audit this same-origin path (GET); repeatable, at most 10.
                           The first one is also the CORS probe's target.
  --http-port N            Where plain HTTP is served, for the HTTP -> HTTPS redirect check
                           (default 80 when the https:// target is on 443).
  --ca FILE                Also trust this CA certificate (PEM) for the chain check.
  --timeout SECONDS        Per request and per handshake (default 10, at most 60).
  --max-requests N         Stop after N HTTP requests (default 100, at most 500).
  --probe-rate-limit       Also send up to --rate-limit-attempts failed logins (an address
                           under .invalid, a random password) to --login-path and expect a 429.
                           Loopback targets only, unless --i-own-this-host.
  --login-path PATH        The login endpoint taking JSON {email, password} (default
                           /api/auth/token, Rampart's, which needs no CSRF token).
  --rate-limit-attempts N  Failed logins to send at most (default 10, at most 30).
  --i-own-this-host        Allow --probe-rate-limit against a host that is not loopback.
  -h, --help               Show this text.

Exit status: 0 no finding at or above --fail-on; 1 such a finding, or the target did not
answer; 2 a usage error.`;

const MAX_PATHS = 10;
const MAX_BODY_BYTES = 256 * 1024;

class UsageError extends Error {}

function integer(value: string | undefined, name: string, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (!/^\d{1,6}$/.test(value) || Number(value) < min || Number(value) > max) throw new UsageError(`--${name} must be a whole number from ${min} to ${max}`);
  return Number(value);
}

function samePath(value: string, name: string): string {
  // A path only: a full URL here could point the scan at another host.
  if (!value.startsWith('/') || value.startsWith('//') || /[\s\\]/.test(value)) throw new UsageError(`--${name} must be a path starting with / (got ${JSON.stringify(value)})`);
  return value;
}

function targetUrl(text: string | undefined): URL {
  if (text === undefined) throw new UsageError('rampart scan needs a URL, e.g. rampart scan https://example.com');
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`not a URL: ${JSON.stringify(text)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError('the URL must start with http:// or https://');
  if (url.username !== '' || url.password !== '') throw new UsageError('the URL must not carry credentials: the scan audits what an anonymous visitor sees');
  url.hash = '';
  return url;
}

/** Parses `rampart scan` arguments into settings; throws UsageError on anything wrong. */
export function parseScanArgs(argv: readonly string[], now: Date = new Date()): { settings: ScanSettings; json: boolean; dryRun: boolean; failOn: Severity; help: boolean } {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    options: {
      json: { type: 'boolean', default: false },
      'fail-on': { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      path: { type: 'string', multiple: true },
      'http-port': { type: 'string' },
      ca: { type: 'string' },
      timeout: { type: 'string' },
      'max-requests': { type: 'string' },
      'probe-rate-limit': { type: 'boolean', default: false },
      'login-path': { type: 'string' },
      'rate-limit-attempts': { type: 'string' },
      'i-own-this-host': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) return { settings: undefined as unknown as ScanSettings, json: false, dryRun: false, failOn: 'medium', help: true };
  if (positionals.length > 1) throw new UsageError(`one URL only (got ${positionals.length})`);
  const target = targetUrl(positionals[0]);
  const failOn = SEVERITIES.find((s) => s === (values['fail-on'] ?? 'medium'));
  if (failOn === undefined) throw new UsageError(`--fail-on must be one of ${SEVERITIES.join(', ')}`);
  const paths = (values.path ?? []).map((p) => samePath(p, 'path'));
  if (paths.length > MAX_PATHS) throw new UsageError(`at most ${MAX_PATHS} --path options`);
  const explicitHttpPort = values['http-port'] === undefined ? null : integer(values['http-port'], 'http-port', 80, 1, 65535);
  if (explicitHttpPort !== null && target.protocol !== 'https:') throw new UsageError('--http-port is for https:// targets (the HTTP to HTTPS redirect check)');
  const httpPort = explicitHttpPort ?? (target.protocol === 'https:' && target.port === '' ? 80 : null);
  if (values['probe-rate-limit'] && !isLoopback(target) && !values['i-own-this-host']) {
    throw new UsageError(`--probe-rate-limit sends failed logins; against ${target.hostname}, which is not a loopback address, it also needs --i-own-this-host (only probe hosts you operate)`);
  }
  if (!values['probe-rate-limit'] && (values['login-path'] !== undefined || values['rate-limit-attempts'] !== undefined)) throw new UsageError('--login-path and --rate-limit-attempts belong to --probe-rate-limit');
  let ca: string[] = [];
  if (values.ca !== undefined) {
    try {
      // The operator names the file on the command line.
      // eslint-disable-next-line security/detect-non-literal-fs-filename
      ca = [readFileSync(values.ca, 'utf8')];
    } catch (err) {
      throw new UsageError(`--ca ${values.ca}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const settings: ScanSettings = {
    target,
    paths,
    httpPort,
    probeRateLimit: values['probe-rate-limit'],
    loginPath: samePath(values['login-path'] ?? '/api/auth/token', 'login-path'),
    rateLimitAttempts: integer(values['rate-limit-attempts'], 'rate-limit-attempts', 10, 1, 30),
    timeoutMs: integer(values.timeout, 'timeout', 10, 1, 60) * 1000,
    maxRequests: integer(values['max-requests'], 'max-requests', 100, 1, 500),
    maxBodyBytes: MAX_BODY_BYTES,
    ca,
    scanId: newScanId(),
    now,
  };
  return { settings, json: values.json, dryRun: values['dry-run'], failOn, help: false };
}

/** The --dry-run listing: the fixed requests with their purpose, then the conditional steps. */
export function formatDryRun(settings: ScanSettings): string {
  const lines = [`rampart scan ${settings.target.href} --dry-run: nothing is sent.`, '', 'Requests (in order):'];
  const plan = buildPlan(settings);
  for (const probe of planRequests(plan)) {
    const url = new URL(probe.path, probe.origin ?? settings.target.origin).href;
    const shown = url.length > 100 ? `${url.slice(0, 80)}…(${url.length} chars)` : url;
    const times = probe === plan.login ? ` (up to ${settings.rateLimitAttempts} times)` : '';
    const body = probe.body === undefined ? '' : `\n      body (${probe.headers?.['content-type'] ?? ''}): ${probe.body}`;
    lines.push(`  ${probe.method} ${shown}${times}\n      ${probe.purpose}${body}`);
  }
  const { conditional, handshakes } = dynamicSteps(settings);
  lines.push('', 'Depending on the answers:');
  for (const step of conditional) lines.push(`  ${step}`);
  if (handshakes.length > 0) {
    lines.push('', 'TLS handshakes (each closed as soon as it completes; no request is sent over it):');
    for (const step of handshakes) lines.push(`  ${step}`);
  }
  return lines.join('\n');
}

/** `rampart scan`: 0 clean, 1 findings at or above --fail-on (or no answer), 2 usage. */
export async function scanCommand(argv: readonly string[], out: (text: string) => void, err: (text: string) => void): Promise<number> {
  let parsed;
  try {
    parsed = parseScanArgs(argv);
  } catch (error) {
    if (!(error instanceof UsageError) && !(error instanceof TypeError)) throw error;
    err(`rampart scan: ${error.message}\n\n${SCAN_USAGE}`);
    return 2;
  }
  if (parsed.help) {
    out(SCAN_USAGE);
    return 0;
  }
  if (parsed.dryRun) {
    out(formatDryRun(parsed.settings));
    return 0;
  }
  try {
    const report = buildReport(await runScan(parsed.settings));
    out(parsed.json ? JSON.stringify(report, null, 2) : formatReport(report));
    return failsAt(report, parsed.failOn) ? 1 : 0;
  } catch (error) {
    if (!(error instanceof TargetUnreachableError)) throw error;
    err(`rampart scan: ${error.message}`);
    return 1;
  }
}
