import createError from '@fastify/error';

/** The tokens module's coded errors; messages are safe to show and never say which check failed. */
export const TOKEN_ERR_INVALID_GRANT = createError('TOKEN_ERR_INVALID_GRANT', 'The refresh token is invalid, expired or revoked: sign in again.', 401);
export const TOKEN_ERR_INVALID_SCOPE = createError('TOKEN_ERR_INVALID_SCOPE', 'A requested scope is unknown or beyond what your role allows.', 400);
export const TOKEN_ERR_NOT_FOUND = createError('TOKEN_ERR_NOT_FOUND', 'No such personal access token.', 404);
export const TOKEN_ERR_LIMIT = createError('TOKEN_ERR_LIMIT', 'Too many personal access tokens: revoke one first.', 409);

export const TOKEN_ERRORS = [TOKEN_ERR_INVALID_GRANT, TOKEN_ERR_INVALID_SCOPE, TOKEN_ERR_NOT_FOUND, TOKEN_ERR_LIMIT] as const;
