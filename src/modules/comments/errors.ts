import { defineErrors } from '../../security/errors.js';

/** The comments module's coded errors. */
export const COMMENT_ERRORS = defineErrors({
  /** The comment does not exist, or the caller may not know that it does. */
  COMMENT_ERR_NOT_FOUND: ['No such comment.', 404],
  /** Comments open when a post is published. */
  COMMENT_ERR_POST_NOT_PUBLISHED: ['This post is not published, so it takes no comments.', 409],
});

export const { COMMENT_ERR_NOT_FOUND, COMMENT_ERR_POST_NOT_PUBLISHED } = COMMENT_ERRORS;
