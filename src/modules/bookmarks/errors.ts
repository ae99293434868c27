import { defineErrors } from '../../security/errors.js';

/** The bookmarks module's coded errors. */
export const BOOKMARK_ERRORS = defineErrors({
  BOOKMARK_ERR_NOT_FOUND: ['No such bookmark.', 404],
  BOOKMARK_ERR_LIMIT: ['You have the most bookmarks an account may keep: delete some first.', 409],
});

export const { BOOKMARK_ERR_NOT_FOUND, BOOKMARK_ERR_LIMIT } = BOOKMARK_ERRORS;
