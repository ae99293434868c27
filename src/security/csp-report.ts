import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { StateStore } from '../platform/store.js';
import { createAttemptLimiter } from './brute-force.js';
import { clientKey } from './client-ip.js';
import { RAMPART_ERR_MALFORMED_JSON, RAMPART_ERR_RATE_LIMITED } from './errors.js';
import { CSP_REPORT_PATH } from './headers.js';
import { sendProblem } from './problem-details.js';

export interface CspReportOptions {
  readonly store: StateStore;
  /** Reports one client (IPv4 address or IPv6 /64) may send per minute. Default 30. */
  readonly reportsPerMinute?: number;
}

/** A report body is a few hundred bytes; 8 KiB leaves room for a long policy and stops anything larger. */
export const CSP_REPORT_BODY_LIMIT = 8 * 1024;
/** Entries of one `application/reports+json` batch that are recorded; the rest are ignored. */
const MAX_RECORDED_PER_BATCH = 5;

const text = z.string().max(CSP_REPORT_BODY_LIMIT).optional();
// `report-uri`'s legacy format (CSP Level 2). Unknown fields are dropped by the schema.
const legacyReport = z.object({
  'csp-report': z.object({
    'document-uri': text,
    'blocked-uri': text,
    'effective-directive': text,
    'violated-directive': text,
    disposition: text,
  }),
});
// The Reporting API's format (`report-to`): a batch of reports of several types.
const reportingApiBatch = z.array(z.object({
  type: z.string().max(64),
  url: text,
  body: z.object({ documentURL: text, blockedURL: text, effectiveDirective: text, disposition: text }).optional(),
})).max(50);
const reportBody = z.union([legacyReport, reportingApiBatch]);

interface Violation {
  readonly document?: string | undefined;
  readonly blocked?: string | undefined;
  readonly directive?: string | undefined;
  readonly disposition?: string | undefined;
}

const DIRECTIVE = /^[a-z-]{1,40}$/;
// What browsers put in blocked-uri instead of a URL.
const BLOCKED_KEYWORDS: ReadonlySet<string> = new Set(['inline', 'eval', 'wasm-eval', 'self', 'data', 'blob', 'trusted-types-policy', 'trusted-types-sink']);

/** The URL's origin only: a blocked URL's path and query can carry anything, tokens included. */
function blockedOrigin(value: string | undefined): string {
  if (value === undefined || value === '') return 'none';
  if (BLOCKED_KEYWORDS.has(value)) return value;
  try {
    const url = new URL(value);
    if (url.protocol === 'http:' || url.protocol === 'https:') return url.origin;
    return url.protocol.replace(/:$/, '').slice(0, 20);
  } catch {
    return 'other';
  }
}

/** The document's path only, bounded: never its query string (reset and setup links carry tokens there). */
function documentPath(value: string | undefined): string {
  if (value === undefined) return 'none';
  try {
    return new URL(value).pathname.slice(0, 200);
  } catch {
    return 'other';
  }
}

/** The bounded, sanitized subset recorded: never the full report, the policy, a sample or a query string. */
export function violationDetails(violation: Violation): Record<string, string> {
  const directive = violation.directive !== undefined && DIRECTIVE.test(violation.directive) ? violation.directive : 'other';
  const disposition = violation.disposition === 'report' ? 'report' : 'enforce';
  return { directive, blocked: blockedOrigin(violation.blocked), document_path: documentPath(violation.document), disposition };
}

function violations(body: z.infer<typeof reportBody>): Violation[] {
  if (!Array.isArray(body)) {
    const report = body['csp-report'];
    return [{ document: report['document-uri'], blocked: report['blocked-uri'], directive: report['effective-directive'] ?? report['violated-directive'], disposition: report.disposition }];
  }
  return body
    .filter((entry) => entry.type === 'csp-violation' && entry.body !== undefined)
    .slice(0, MAX_RECORDED_PER_BATCH)
    .map((entry) => ({ document: entry.body?.documentURL ?? entry.url, blocked: entry.body?.blockedURL, directive: entry.body?.effectiveDirective, disposition: entry.body?.disposition }));
}

function parseJson(request: FastifyRequest, body: string, done: (err: Error | null, value?: unknown) => void): void {
  try {
    done(null, JSON.parse(body));
  } catch {
    request.server.securityEvents.recordFor(request, 'input_validation_fail', { details: { reason: 'malformed_json', route: CSP_REPORT_PATH } });
    done(new RAMPART_ERR_MALFORMED_JSON());
  }
}

const routes: FastifyPluginAsyncZod<{ limiter: ReturnType<typeof createAttemptLimiter> }> = (app, { limiter }) => {
  // Only the two report types, in this plugin's scope only: every other route keeps refusing them.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser(['application/csp-report', 'application/reports+json'], { parseAs: 'string', bodyLimit: CSP_REPORT_BODY_LIMIT }, (request, body, done) => {
    parseJson(request, body as string, done);
  });

  app.post(CSP_REPORT_PATH, {
    // Browsers send reports without a CSRF token, cookies or a predictable origin, and the
    // endpoint changes no one's data: it only records an event, under a per-client limit.
    config: { access: 'public', csrf: false },
    bodyLimit: CSP_REPORT_BODY_LIMIT,
    schema: { querystring: z.strictObject({}), body: reportBody, response: { 204: z.null() } },
    // Counted before the body is read, so a flood costs no parsing.
    onRequest: async (request, reply) => {
      const result = await limiter.consume(clientKey(request.ip));
      if (result.allowed) return undefined;
      reply.header('retry-after', String(result.retryAfterSeconds));
      return sendProblem(reply, { status: RAMPART_ERR_RATE_LIMITED.statusCode, code: RAMPART_ERR_RATE_LIMITED.code, title: RAMPART_ERR_RATE_LIMITED.message });
    },
  }, async (request, reply) => {
    for (const violation of violations(request.body)) {
      request.server.securityEvents.recordFor(request, 'malicious_csp_violation', { details: violationDetails(violation) });
    }
    return reply.code(204).send(null);
  });
  return Promise.resolve();
};

/**
 * The CSP violation report endpoint (`POST /csp-report`): `application/csp-report` and
 * `application/reports+json` only (415 otherwise), at most 8 KiB (413), a per-client limit in
 * the shared store (429), CSRF-exempt, and each violation recorded as
 * `malicious_csp_violation` with a sanitized subset (directive, blocked origin, document path).
 */
export const cspReportPlugin = fp<CspReportOptions>(
  async (app: FastifyInstance, options) => {
    const points = options.reportsPerMinute ?? 30;
    if (!Number.isInteger(points) || points < 1) throw new TypeError('csp report: reportsPerMinute must be a positive integer');
    const limiter = createAttemptLimiter({ store: options.store, keyPrefix: 'rl:csp-report', points, durationSeconds: 60 });
    await app.register(routes, { limiter });
  },
  { name: 'rampart-csp-report', dependencies: ['rampart-security-events', 'rampart-problem-details', 'rampart-route-contract'] },
);
