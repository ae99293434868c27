import { defineErrors } from '../../security/errors.js';

/** The admin module's coded errors. */
export const ADMIN_ERRORS = defineErrors({
  ADMIN_ERR_USER_NOT_FOUND: ['No such user.', 404],
  /** Nobody changes their own role or disables themselves: another administrator has to. */
  ADMIN_ERR_SELF_CHANGE: ['You cannot change your own role or disable your own account.', 403],
  /** The change would leave no active administrator. */
  ADMIN_ERR_LAST_ADMIN: ['This is the last active administrator: make someone else an administrator first.', 409],
});

export const { ADMIN_ERR_USER_NOT_FOUND, ADMIN_ERR_SELF_CHANGE, ADMIN_ERR_LAST_ADMIN } = ADMIN_ERRORS;
