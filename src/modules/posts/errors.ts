import { defineErrors } from '../../security/errors.js';

/** The posts module's coded errors. */
export const POST_ERRORS = defineErrors({
  /** The post does not exist, or the caller may not know that it does (someone else's draft). */
  POST_ERR_NOT_FOUND: ['No such post.', 404],
  /** The Markdown would render to more HTML than a post may hold (see POST_HTML_MAX_BYTES). */
  POST_ERR_TOO_LARGE_RENDERED: ['This post would render to too much HTML: use fewer repeated links, images or formatting.', 400],
  /** Too many posts or comments written in a short time. */
  CONTENT_ERR_TOO_MANY_WRITES: ['You are writing too fast: wait for the time in Retry-After and try again.', 429],
});

export const { POST_ERR_NOT_FOUND, POST_ERR_TOO_LARGE_RENDERED, CONTENT_ERR_TOO_MANY_WRITES } = POST_ERRORS;
