import type { FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { AUTH_ERR_SECOND_FACTOR_REQUIRED } from '../security/errors.js';
import { problemType, sendProblem } from '../security/problem-details.js';
import type { SecondFactorChallenge } from './identity.js';
import type { DetailValue, SecurityEventName } from '../security/security-events.js';

/**
 * What every module's routes and pages share: the request as a service sees it, the two ways a
 * refusal is answered, and the schemas of an empty query and an empty body.
 */

/** Records a security event for the current request. */
export type Audit = (event: SecurityEventName, input?: { readonly actor?: string | null; readonly details?: Readonly<Record<string, DetailValue>> }) => void;

/** A service's view of a request: client IP, user agent and the request's security-event recorder. */
export interface RequestContext {
  readonly ip: string;
  readonly userAgent: string;
  readonly audit: Audit;
}

/** A refusal by a limit, with the seconds to wait. */
export type Limited = { readonly ok: false; readonly reason: 'limited'; readonly retryAfterSeconds: number };

/** The service's view of `request`. */
export function context(request: FastifyRequest): RequestContext {
  return {
    ip: request.ip,
    userAgent: (request.headers['user-agent'] ?? '').slice(0, 256),
    audit: (event, input) => { request.server.securityEvents.recordFor(request, event, input); },
  };
}

/** A coded error (an instance of one of the registry's constructors) as problem+json. */
export function fail(reply: FastifyReply, error: { readonly code: string; readonly message: string; readonly statusCode?: number }): FastifyReply {
  return sendProblem(reply, { status: error.statusCode ?? 400, code: error.code, title: error.message });
}

/** A 429 with Retry-After, in the vocabulary of `error`. */
export function limited(reply: FastifyReply, result: Pick<Limited, 'retryAfterSeconds'>, error: { readonly code: string; readonly message: string }): FastifyReply {
  reply.header('retry-after', String(result.retryAfterSeconds));
  return sendProblem(reply, { status: 429, code: error.code, title: error.message });
}

/**
 * The answer to a right password for an account with a second factor: 401
 * `AUTH_ERR_SECOND_FACTOR_REQUIRED` (a client that only looks at the status does not think it
 * signed in), with the challenge that continues the sign-in and the methods it accepts.
 */
export function secondFactorRequired(reply: FastifyReply, challenge: SecondFactorChallenge): FastifyReply {
  const error = AUTH_ERR_SECOND_FACTOR_REQUIRED;
  reply.header('cache-control', 'no-store');
  return reply.code(error.statusCode).type('application/problem+json').serializer(JSON.stringify).send({
    type: problemType(error.code), title: error.message, status: error.statusCode, code: error.code, traceId: reply.request.id,
    challenge: challenge.id, methods: challenge.methods, expiresIn: challenge.expiresInSeconds,
  });
}

/** A route that takes no query parameters: any is refused. */
export const noQuery = z.strictObject({});
/** The body of an action route (logout, revoke-others): none at all, an empty one, or `{}`; any key is refused. */
export const noBody = z.strictObject({});
/** The same, for routes whose body is optional (publish, unpublish). */
export const emptyBody = z.strictObject({}).optional();
