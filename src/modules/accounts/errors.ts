import createError from '@fastify/error';

/**
 * The accounts module's coded errors. Messages are safe to show; failed credentials always
 * produce the same error whatever was wrong (unknown email, wrong password, disabled account).
 */
export const AUTH_ERR_INVALID_CREDENTIALS = createError('AUTH_ERR_INVALID_CREDENTIALS', 'The email or password is incorrect.', 401);
export const AUTH_ERR_LOCKED = createError('AUTH_ERR_LOCKED', 'Too many failed attempts: wait for the time in Retry-After and try again.', 429);
export const ACCOUNT_ERR_WEAK_PASSWORD = createError('ACCOUNT_ERR_WEAK_PASSWORD', '%s', 400);
export const ACCOUNT_ERR_INVALID_TOKEN = createError('ACCOUNT_ERR_INVALID_TOKEN', 'This link is invalid or has expired. Request a new one.', 400);
export const ACCOUNT_ERR_WRONG_PASSWORD = createError('ACCOUNT_ERR_WRONG_PASSWORD', 'The current password is incorrect.', 403);
export const ACCOUNT_ERR_SESSION_NOT_FOUND = createError('ACCOUNT_ERR_SESSION_NOT_FOUND', 'No such session.', 404);
export const ACCOUNT_ERR_TOO_MANY_REQUESTS = createError('ACCOUNT_ERR_TOO_MANY_REQUESTS', 'Too many requests: wait for the time in Retry-After and try again.', 429);
/** Deleting this account would leave no active administrator. */
export const ACCOUNT_ERR_LAST_ADMIN = createError('ACCOUNT_ERR_LAST_ADMIN', 'You are the last active administrator: make someone else an administrator before deleting your account.', 409);
export const SETUP_ERR_INVALID_TOKEN = createError('SETUP_ERR_INVALID_TOKEN', 'This setup link is invalid, used or expired. Restart Rampart to print a new one.', 400);

export const ACCOUNT_ERRORS = [
  AUTH_ERR_INVALID_CREDENTIALS, AUTH_ERR_LOCKED, ACCOUNT_ERR_WEAK_PASSWORD, ACCOUNT_ERR_INVALID_TOKEN,
  ACCOUNT_ERR_WRONG_PASSWORD, ACCOUNT_ERR_SESSION_NOT_FOUND, ACCOUNT_ERR_TOO_MANY_REQUESTS, ACCOUNT_ERR_LAST_ADMIN, SETUP_ERR_INVALID_TOKEN,
] as const;
