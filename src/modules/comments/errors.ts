import createError from '@fastify/error';

/** The comment does not exist, or the caller may not know that it does. */
export const COMMENT_ERR_NOT_FOUND = createError('COMMENT_ERR_NOT_FOUND', 'No such comment.', 404);
/** Comments open when a post is published. */
export const COMMENT_ERR_POST_NOT_PUBLISHED = createError('COMMENT_ERR_POST_NOT_PUBLISHED', 'This post is not published, so it takes no comments.', 409);

export const COMMENT_ERRORS = [COMMENT_ERR_NOT_FOUND, COMMENT_ERR_POST_NOT_PUBLISHED] as const;
