import { defineErrors } from '../../security/errors.js';

/** The tokens module's coded errors; messages are safe to show and never say which check failed. */
export const TOKEN_ERRORS = defineErrors({
  TOKEN_ERR_INVALID_GRANT: ['The refresh token is invalid, expired or revoked: sign in again.', 401],
  TOKEN_ERR_INVALID_SCOPE: ['A requested scope is unknown or beyond what your role allows.', 400],
  TOKEN_ERR_NOT_FOUND: ['No such personal access token.', 404],
  TOKEN_ERR_LIMIT: ['Too many personal access tokens: revoke one first.', 409],
});

export const { TOKEN_ERR_INVALID_GRANT, TOKEN_ERR_INVALID_SCOPE, TOKEN_ERR_NOT_FOUND, TOKEN_ERR_LIMIT } = TOKEN_ERRORS;
