import { defineErrors } from '../platform/errors.js';

export { collectErrors, defineErrors, withArguments, type CodedErrorInfo, type ErrorOwner } from '../platform/errors.js';

/**
 * The kernel's coded errors. Every code is stable and documented in README's error table; the
 * message is safe to show a client (the problem's `title`). Anything not coded becomes a 500
 * with no detail.
 */
export const KERNEL_ERRORS = defineErrors({
  RAMPART_ERR_VALIDATION: ['The request is not valid.', 400],
  RAMPART_ERR_MALFORMED_JSON: ['The request body is not valid JSON.', 400],
  RAMPART_ERR_EMPTY_BODY: ['The request has no body: this route needs a JSON body.', 400],
  RAMPART_ERR_FORBIDDEN_KEY: ['The request contains a forbidden key (__proto__, constructor, prototype or a $-prefixed key).', 400],
  RAMPART_ERR_NUL_CHARACTER: ['The request contains a NUL character (U+0000), which no field accepts.', 400],
  RAMPART_ERR_BAD_HOST: ['The Host header does not name this site.', 400],
  RAMPART_ERR_BAD_REQUEST: ['The request cannot be processed.', 400],
  RAMPART_ERR_INVALID_CURSOR: ['The pagination cursor is invalid: start again from the first page.', 400],
  RAMPART_ERR_NOT_FOUND: ['Not found.', 404],
  RAMPART_ERR_REQUEST_TIMEOUT: ['Request timeout.', 408],
  RAMPART_ERR_BODY_TOO_LARGE: ['The request body is too large.', 413],
  RAMPART_ERR_UNSUPPORTED_MEDIA_TYPE: ['Unsupported content type: send application/json.', 415],
  RAMPART_ERR_RATE_LIMITED: ['Too many requests: slow down and retry after the time in Retry-After.', 429],
  RAMPART_ERR_HEADERS_TOO_LARGE: ['Request headers too large.', 431],
  RAMPART_ERR_INTERNAL: ['Internal server error.', 500],
  RAMPART_ERR_OVERLOADED: ['The server is overloaded: retry after the time in Retry-After.', 503],
  RAMPART_ERR_UNAVAILABLE: ['A service Rampart depends on is unavailable: retry later.', 503],
  RAMPART_ERR_SHUTTING_DOWN: ['The server is shutting down: retry on another instance.', 503],
  /** The route declares `access: 'authenticated'` and the request has no session. */
  AUTH_ERR_UNAUTHENTICATED: ['Sign in first.', 401],
  /** The Authorization header was refused: one answer whatever was wrong with it (the reason is in `authn_token_invalid`). */
  AUTH_ERR_INVALID_TOKEN: ['The access token is invalid, expired or revoked.', 401],
  /** A bearer token without the scope the route requires, or a route that accepts cookie sessions only. */
  AUTH_ERR_INSUFFICIENT_SCOPE: ['The access token does not grant this operation.', 403],
  /** The caller is signed in but its role does not allow the route's action. */
  AUTHZ_ERR_FORBIDDEN: ['You are not allowed to do this.', 403],
  /** One answer whatever failed, so a probe learns nothing about which check stopped it. */
  CSRF_ERR_INVALID: ['The request could not be verified as coming from this site: reload the page and try again.', 403],
  /** The hasher's queue is full: the request is refused at once instead of waiting without bound. */
  PASSWORD_ERR_BUSY: ['The server is busy: retry shortly.', 503],
  /** The route is sensitive (`stepUp`): the session needs a proof of presence from the last 10 minutes (POST /api/auth/step-up, or the /account/confirm page). */
  AUTH_ERR_STEP_UP_REQUIRED: ['Confirm it is you: enter your password or an authenticator code again, then retry.', 401],
  /** A bearer token on a sensitive route: only a signed-in browser session can give the fresh proof it needs. */
  AUTH_ERR_STEP_UP_SESSION_ONLY: ['This action needs a signed-in session that confirms it is you; an API token cannot do it.', 403],
  /** The password was right and the account has a second factor: send the challenge with a code to the second-factor endpoint. */
  AUTH_ERR_SECOND_FACTOR_REQUIRED: ['Enter the code from your authenticator app (or a recovery code) to finish signing in.', 401],
  /** The second-factor policy (RAMPART_MFA_REQUIRED) needs this account to enrol a second factor before this action. */
  MFA_ERR_ENROLMENT_REQUIRED: ['Set up two-step verification (an authenticator app) before doing this.', 403],
});

export const {
  RAMPART_ERR_VALIDATION, RAMPART_ERR_MALFORMED_JSON, RAMPART_ERR_EMPTY_BODY, RAMPART_ERR_FORBIDDEN_KEY, RAMPART_ERR_NUL_CHARACTER,
  RAMPART_ERR_BAD_HOST, RAMPART_ERR_BAD_REQUEST, RAMPART_ERR_INVALID_CURSOR, RAMPART_ERR_NOT_FOUND, RAMPART_ERR_REQUEST_TIMEOUT,
  RAMPART_ERR_BODY_TOO_LARGE, RAMPART_ERR_UNSUPPORTED_MEDIA_TYPE, RAMPART_ERR_RATE_LIMITED, RAMPART_ERR_HEADERS_TOO_LARGE,
  RAMPART_ERR_INTERNAL, RAMPART_ERR_OVERLOADED, RAMPART_ERR_UNAVAILABLE, RAMPART_ERR_SHUTTING_DOWN,
  AUTH_ERR_UNAUTHENTICATED, AUTH_ERR_INVALID_TOKEN, AUTH_ERR_INSUFFICIENT_SCOPE, AUTHZ_ERR_FORBIDDEN, CSRF_ERR_INVALID, PASSWORD_ERR_BUSY,
  AUTH_ERR_STEP_UP_REQUIRED, AUTH_ERR_STEP_UP_SESSION_ONLY, AUTH_ERR_SECOND_FACTOR_REQUIRED, MFA_ERR_ENROLMENT_REQUIRED,
} = KERNEL_ERRORS;
