import { defineErrors } from '../../security/errors.js';

/**
 * The mfa module's coded errors. A wrong code, a used code and an expired or unknown sign-in
 * challenge are one answer, so a guess learns nothing about which it was.
 */
export const MFA_ERRORS = defineErrors({
  MFA_ERR_INVALID_CODE: ['The code is incorrect or already used, or this sign-in attempt expired: try the next code, or sign in again.', 401],
  MFA_ERR_LOCKED: ['Too many wrong codes: wait for the time in Retry-After and try again.', 429],
  MFA_ERR_ALREADY_ENROLLED: ['An authenticator app is already set up: remove it first to set up another.', 409],
  MFA_ERR_NOT_ENROLLED: ['No authenticator app is set up on this account.', 409],
  /** Activation without a pending enrolment, or with a wrong code. */
  MFA_ERR_ACTIVATION_FAILED: ['The code does not match the new authenticator secret (or no enrolment is pending): check the app and the clock, or start again.', 400],
  /** A passkey as a second factor or a step-up proof: an unknown, someone else's, replayed or expired assertion, or no passkey ceremony was started. One answer for all. */
  MFA_ERR_PASSKEY_FAILED: ['The passkey could not be verified, or this request expired: try again (ask for new passkey options first).', 401],
  MFA_ERR_NO_PASSKEY: ['This account has no passkey: confirm it is you with your password or a code.', 409],
});

export const { MFA_ERR_INVALID_CODE, MFA_ERR_LOCKED, MFA_ERR_ALREADY_ENROLLED, MFA_ERR_NOT_ENROLLED, MFA_ERR_ACTIVATION_FAILED, MFA_ERR_PASSKEY_FAILED, MFA_ERR_NO_PASSKEY } = MFA_ERRORS;
