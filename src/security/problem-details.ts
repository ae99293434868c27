import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { isDatabaseUnavailable } from '../platform/database.js';
import type { SecurityEventName } from './security-events.js';
import { isPageRequest } from './pages.js';
import {
  KERNEL_ERRORS, RAMPART_ERR_BAD_REQUEST, RAMPART_ERR_BODY_TOO_LARGE, RAMPART_ERR_EMPTY_BODY, RAMPART_ERR_INTERNAL, RAMPART_ERR_MALFORMED_JSON, RAMPART_ERR_NOT_FOUND,
  RAMPART_ERR_UNAVAILABLE, RAMPART_ERR_UNSUPPORTED_MEDIA_TYPE, RAMPART_ERR_VALIDATION, type CodedErrorInfo,
} from './errors.js';

/** An RFC 9457 problem document. `errors` lists field paths and rules, never the offending values. */
export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly code: string;
  readonly traceId: string;
  readonly errors?: readonly { readonly location: string; readonly path: string; readonly message: string }[];
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8';

/**
 * Renders a problem as an HTML page (same title, status, code and trace id) for a page
 * request; synchronous, so kernel hooks that refuse a request answer the same way for pages.
 */
export type ProblemPageRenderer = (reply: FastifyReply, problem: Problem) => FastifyReply;

declare module 'fastify' {
  interface FastifyInstance {
    /** Installs the renderer for problems on page requests (once per app); without one, pages get problem+json too. */
    setProblemPageRenderer(render: ProblemPageRenderer): void;
  }
}

interface ProblemPages {
  render: ProblemPageRenderer | null;
}
const kProblemPages = Symbol('rampart.problemPages');

function problemPages(reply: FastifyReply): ProblemPages | undefined {
  return (reply.server as unknown as Partial<Record<symbol, ProblemPages>>)[kProblemPages];
}

/** `RAMPART_ERR_NOT_FOUND` → `urn:rampart:problem:not-found`; the code stays the stable identifier. */
export function problemType(code: string): string {
  return `urn:rampart:problem:${code.replace(/^[A-Z][A-Z0-9]*_ERR_/, '').toLowerCase().replaceAll('_', '-')}`;
}

/** Sends a problem document; the serializer is fixed so route response schemas never reshape it. */
export function sendProblem(reply: FastifyReply, problem: Omit<Problem, 'type' | 'traceId'>): FastifyReply {
  const { title, status, code, errors } = problem;
  const body: Problem = { type: problemType(code), title, status, code, traceId: reply.request.id, ...(errors === undefined ? {} : { errors }) };
  // Read by the metrics plugin's onResponse hook (problems by code).
  reply.rampartProblemCode = code;
  const render = problemPages(reply)?.render;
  if (render != null && isPageRequest(reply.request)) {
    try {
      return render(reply, body);
    } catch (err) {
      // A broken error page must not turn a 4xx into a crash: the problem document still goes out.
      reply.log.error({ err }, 'the problem page failed to render');
    }
  }
  return reply.code(problem.status).type(PROBLEM_CONTENT_TYPE).serializer(JSON.stringify).send(body);
}

const CODED = /^(?!FST_)[A-Z][A-Z0-9]*_ERR_[A-Z0-9_]+$/;
const KERNEL_CODES = new Set<string>(Object.keys(KERNEL_ERRORS));

// Fastify's own client errors, mapped to Rampart's errors and the security event they are; a
// title here says more precisely than the error's own message what Fastify refused.
const FASTIFY_ERRORS: Readonly<Record<string, { error: CodedErrorInfo; title?: string; reason: string }>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { error: RAMPART_ERR_BODY_TOO_LARGE, reason: 'body_too_large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { error: RAMPART_ERR_UNSUPPORTED_MEDIA_TYPE, reason: 'unsupported_media_type' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { error: RAMPART_ERR_BAD_REQUEST, title: 'The request body length is not valid.', reason: 'bad_content_length' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { error: RAMPART_ERR_EMPTY_BODY, title: 'The request body is empty.', reason: 'empty_body' },
  FST_ERR_CTP_INVALID_JSON_BODY: { error: RAMPART_ERR_MALFORMED_JSON, reason: 'malformed_json' },
};

const INPUT_EVENT: SecurityEventName = 'input_validation_fail';

function handleError(this: FastifyInstance, err: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (hasZodFastifySchemaValidationErrors(err)) {
    const location = err.validationContext ?? 'request';
    const errors = err.validation.slice(0, 20).map((v) => ({ location, path: v.instancePath === '/' ? '' : v.instancePath, message: v.message ?? 'invalid' }));
    request.server.securityEvents.recordFor(request, INPUT_EVENT, { details: { reason: 'schema', location, paths: errors.map((e) => e.path || '/') } });
    return sendProblem(reply, { status: RAMPART_ERR_VALIDATION.statusCode, code: RAMPART_ERR_VALIDATION.code, title: RAMPART_ERR_VALIDATION.message, errors });
  }
  const mapped = FASTIFY_ERRORS[err.code];
  if (mapped !== undefined) {
    request.server.securityEvents.recordFor(request, INPUT_EVENT, { details: { reason: mapped.reason } });
    return sendProblem(reply, { status: mapped.error.statusCode, code: mapped.error.code, title: mapped.title ?? mapped.error.message });
  }
  const status = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode <= 599 ? err.statusCode : 500;
  if (status < 500) {
    if (CODED.test(err.code)) return sendProblem(reply, { status, code: err.code, title: err.message });
    // A foreign client error: keep its status, not its message.
    return sendProblem(reply, { status, code: RAMPART_ERR_BAD_REQUEST.code, title: RAMPART_ERR_BAD_REQUEST.message });
  }
  // A lost or unreachable database (a restart, a failover, a reset network path) is an outage
  // the client may retry past, not a fault in the request: 503 with Retry-After, never 500.
  const databaseDown = isDatabaseUnavailable(err);
  if (status === 503 || databaseDown) {
    request.log.warn({ err }, 'request failed: a dependency is unavailable or busy');
    // A coded 503 (PASSWORD_ERR_BUSY, STORE_ERR_UNAVAILABLE, …) keeps its code; its title stays
    // generic. The database's own errors say only "unavailable": which dependency is not the client's business.
    const code = !databaseDown && (KERNEL_CODES.has(err.code) || CODED.test(err.code)) ? err.code : RAMPART_ERR_UNAVAILABLE.code;
    if (!reply.hasHeader('retry-after')) reply.header('retry-after', '5');
    return sendProblem(reply, { status: 503, code, title: 'Service unavailable: retry later.' });
  }
  // 5xx bodies never carry the message, stack, SQL, paths or library names: the log has them.
  request.log.error({ err }, 'request failed with an unexpected error');
  return sendProblem(reply, { status: RAMPART_ERR_INTERNAL.statusCode, code: RAMPART_ERR_INTERNAL.code, title: RAMPART_ERR_INTERNAL.message });
}

/** The central error handler and the 404 handler, both answering problem+json. */
export const problemDetailsPlugin = fp(
  (app: FastifyInstance, _opts: object, done: (err?: Error) => void) => {
    const pages: ProblemPages = { render: null };
    app.decorate(kProblemPages, pages);
    app.decorate('setProblemPageRenderer', (render: ProblemPageRenderer) => {
      if (typeof render !== 'function') throw new TypeError('setProblemPageRenderer needs a function');
      if (pages.render !== null) throw new Error('a problem page renderer is already installed');
      pages.render = render;
    });
    app.setErrorHandler(handleError);
    app.setNotFoundHandler((request, reply) => sendProblem(reply, { status: RAMPART_ERR_NOT_FOUND.statusCode, code: RAMPART_ERR_NOT_FOUND.code, title: RAMPART_ERR_NOT_FOUND.message }));
    done();
  },
  { name: 'rampart-problem-details', dependencies: ['rampart-security-events'] },
);
