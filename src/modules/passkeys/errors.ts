import { defineErrors } from '../../security/errors.js';

/**
 * The passkeys module's coded errors. A failed ceremony always gives the same answer whatever
 * was wrong (unknown credential, bad signature, other origin, used or expired challenge,
 * disabled account), so the answer is no oracle.
 */
export const PASSKEY_ERRORS = defineErrors({
  PASSKEY_ERR_INVALID: ['The passkey could not be verified. Start again, and use a passkey registered for this site.', 401],
  PASSKEY_ERR_REGISTRATION_FAILED: ['The new passkey could not be verified. Start again from this page.', 400],
  PASSKEY_ERR_NOT_FOUND: ['No such passkey.', 404],
  PASSKEY_ERR_LIMIT: ['You have the most passkeys an account may keep: remove one first.', 409],
  PASSKEY_ERR_LOCKED: ['Too many failed attempts: wait for the time in Retry-After and try again.', 429],
});

export const { PASSKEY_ERR_INVALID, PASSKEY_ERR_REGISTRATION_FAILED, PASSKEY_ERR_NOT_FOUND, PASSKEY_ERR_LIMIT, PASSKEY_ERR_LOCKED } = PASSKEY_ERRORS;
