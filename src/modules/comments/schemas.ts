import { z } from 'zod';
import { cursorSchema, limitSchema, textSchema } from '../../security/schema-primitives.js';
import { authorSchema } from '../posts/schemas.js';

export const COMMENT_MAX = 4000;

// Exactly the writable field: anything else in the body is a 400.
export const createCommentBody = z.strictObject({ body: textSchema(1, COMMENT_MAX) });

export const listCommentsQuery = z.strictObject({
  cursor: cursorSchema.optional(),
  limit: limitSchema(50, 50),
});

/** A comment: the text as written, and `html`, that text escaped with its line breaks, never parsed as markup. */
export const commentSchema = z.object({
  id: z.uuid(),
  postId: z.uuid(),
  body: z.string(),
  html: z.string(),
  author: authorSchema,
  hidden: z.boolean(),
  createdAt: z.iso.datetime(),
});
export type CommentView = z.infer<typeof commentSchema>;

export const commentPageSchema = z.object({ items: z.array(commentSchema), nextCursor: z.string().nullable() });
export const commentCursorSchema = z.strictObject({ p: z.uuid(), t: z.iso.datetime(), i: z.uuid() });
