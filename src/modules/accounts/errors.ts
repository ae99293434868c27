import { defineErrors, withArguments } from '../../security/errors.js';

/**
 * The accounts module's coded errors. Messages are safe to show; failed credentials always
 * produce the same error whatever was wrong (unknown email, wrong password, disabled account,
 * address not confirmed yet), so its message names the two things a person can do about it.
 */
export const ACCOUNT_ERRORS = defineErrors({
  AUTH_ERR_INVALID_CREDENTIALS: [
    'The email or password is incorrect, or the email address is not confirmed yet (if the password was right, a new confirmation link is on its way).',
    401,
  ],
  AUTH_ERR_LOCKED: ['Too many failed attempts: wait for the time in Retry-After and try again.', 429],
  /** The title is the policy's own message for the rule the password broke. */
  ACCOUNT_ERR_WEAK_PASSWORD: ['%s', 400, withArguments<[message: string]>()],
  ACCOUNT_ERR_INVALID_TOKEN: ['This link is invalid or has expired. Request a new one.', 400],
  ACCOUNT_ERR_WRONG_PASSWORD: ['The current password is incorrect.', 403],
  ACCOUNT_ERR_SESSION_NOT_FOUND: ['No such session.', 404],
  ACCOUNT_ERR_TOO_MANY_REQUESTS: ['Too many requests: wait for the time in Retry-After and try again.', 429],
  /** Deleting this account would leave no active administrator. */
  ACCOUNT_ERR_LAST_ADMIN: ['You are the last active administrator: make someone else an administrator before deleting your account.', 409],
  /** A sensitive change (the email address) needs the current password in the request. */
  ACCOUNT_ERR_REAUTHENTICATE: ['Confirm this change with your current password.', 403],
  ACCOUNT_ERR_EMAIL_UNCHANGED: ['That is already the address of your account.', 400],
  SETUP_ERR_INVALID_TOKEN: ['This setup link is invalid, used or expired. Restart Rampart to print a new one.', 400],
  /** The first administrator's email already belongs to an account. */
  SETUP_ERR_EMAIL_TAKEN: ['That email already has an account; use another for the administrator.', 409],
});

export const {
  AUTH_ERR_INVALID_CREDENTIALS, AUTH_ERR_LOCKED, ACCOUNT_ERR_WEAK_PASSWORD, ACCOUNT_ERR_INVALID_TOKEN, ACCOUNT_ERR_WRONG_PASSWORD,
  ACCOUNT_ERR_SESSION_NOT_FOUND, ACCOUNT_ERR_TOO_MANY_REQUESTS, ACCOUNT_ERR_LAST_ADMIN, SETUP_ERR_INVALID_TOKEN, SETUP_ERR_EMAIL_TAKEN,
  ACCOUNT_ERR_REAUTHENTICATE, ACCOUNT_ERR_EMAIL_UNCHANGED,
} = ACCOUNT_ERRORS;
