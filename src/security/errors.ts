import createError from '@fastify/error';

/**
 * The kernel's coded errors. Every code is stable and documented; the message is safe to
 * show a client (the problem's `title`). Anything not coded becomes a 500 with no detail.
 */
export const RAMPART_ERR_VALIDATION = createError('RAMPART_ERR_VALIDATION', 'The request is not valid.', 400);
export const RAMPART_ERR_MALFORMED_JSON = createError('RAMPART_ERR_MALFORMED_JSON', 'The request body is not valid JSON.', 400);
export const RAMPART_ERR_EMPTY_BODY = createError('RAMPART_ERR_EMPTY_BODY', 'The request body is empty.', 400);
export const RAMPART_ERR_FORBIDDEN_KEY = createError('RAMPART_ERR_FORBIDDEN_KEY', 'The request contains a forbidden key (__proto__, constructor, prototype or a $-prefixed key).', 400);
export const RAMPART_ERR_NUL_CHARACTER = createError('RAMPART_ERR_NUL_CHARACTER', 'The request contains a NUL character (U+0000), which no field accepts.', 400);
export const RAMPART_ERR_BAD_HOST = createError('RAMPART_ERR_BAD_HOST', 'The Host header does not name this site.', 400);
export const RAMPART_ERR_BAD_REQUEST = createError('RAMPART_ERR_BAD_REQUEST', 'The request cannot be processed.', 400);
export const RAMPART_ERR_INVALID_CURSOR = createError('RAMPART_ERR_INVALID_CURSOR', 'The pagination cursor is invalid: start again from the first page.', 400);
export const RAMPART_ERR_NOT_FOUND = createError('RAMPART_ERR_NOT_FOUND', 'Not found.', 404);
export const RAMPART_ERR_METHOD_NOT_ALLOWED = createError('RAMPART_ERR_METHOD_NOT_ALLOWED', 'Method not allowed.', 405);
export const RAMPART_ERR_BODY_TOO_LARGE = createError('RAMPART_ERR_BODY_TOO_LARGE', 'The request body is too large.', 413);
export const RAMPART_ERR_UNSUPPORTED_MEDIA_TYPE = createError('RAMPART_ERR_UNSUPPORTED_MEDIA_TYPE', 'Unsupported content type: send application/json.', 415);
export const RAMPART_ERR_RATE_LIMITED = createError('RAMPART_ERR_RATE_LIMITED', 'Too many requests: slow down and retry after the time in Retry-After.', 429);
export const RAMPART_ERR_HEADERS_TOO_LARGE = createError('RAMPART_ERR_HEADERS_TOO_LARGE', 'Request headers too large.', 431);
export const RAMPART_ERR_INTERNAL = createError('RAMPART_ERR_INTERNAL', 'Internal server error.', 500);
export const RAMPART_ERR_OVERLOADED = createError('RAMPART_ERR_OVERLOADED', 'The server is overloaded: retry after the time in Retry-After.', 503);
export const RAMPART_ERR_UNAVAILABLE = createError('RAMPART_ERR_UNAVAILABLE', 'A service Rampart depends on is unavailable: retry later.', 503);
export const RAMPART_ERR_SHUTTING_DOWN = createError('RAMPART_ERR_SHUTTING_DOWN', 'The server is shutting down: retry on another instance.', 503);

/** Every kernel error constructor, for the uniqueness test and the problem handler. */
export const KERNEL_ERRORS = [
  RAMPART_ERR_VALIDATION, RAMPART_ERR_MALFORMED_JSON, RAMPART_ERR_EMPTY_BODY, RAMPART_ERR_FORBIDDEN_KEY,
  RAMPART_ERR_NUL_CHARACTER, RAMPART_ERR_BAD_REQUEST, RAMPART_ERR_BAD_HOST, RAMPART_ERR_INVALID_CURSOR, RAMPART_ERR_NOT_FOUND, RAMPART_ERR_METHOD_NOT_ALLOWED, RAMPART_ERR_BODY_TOO_LARGE,
  RAMPART_ERR_UNSUPPORTED_MEDIA_TYPE, RAMPART_ERR_RATE_LIMITED, RAMPART_ERR_HEADERS_TOO_LARGE,
  RAMPART_ERR_INTERNAL, RAMPART_ERR_OVERLOADED, RAMPART_ERR_UNAVAILABLE, RAMPART_ERR_SHUTTING_DOWN,
] as const;
