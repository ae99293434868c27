import { z } from 'zod';
import { cursorSchema, hasControlCharacters, limitSchema, lineSchema, uuidSchema } from '../../security/schema-primitives.js';

/** A post body's limit in bytes of UTF-8 (64 KiB of Markdown). */
export const POST_BODY_MAX_BYTES = 64 * 1024;
/**
 * The request-size limit of the routes that take a post body: JSON escaping can make 64 KiB of
 * text up to six times larger (`\u0001`), so the route allows that and the schema enforces
 * the real 64 KiB on the decoded text. Every other route keeps the global 10 KiB.
 */
export const POST_ROUTE_BODY_LIMIT = 6 * POST_BODY_MAX_BYTES + 4096;
export const MAX_TAGS = 10;
export const PAGE_MAX = 50;

export const titleSchema = lineSchema(1, 200);
export const markdownSchema = z.string().max(POST_BODY_MAX_BYTES)
  .transform((value) => value.normalize('NFC').replace(/\r\n?/g, '\n'))
  .pipe(z.string().min(1).refine((value) => Buffer.byteLength(value, 'utf8') <= POST_BODY_MAX_BYTES, `must be at most ${POST_BODY_MAX_BYTES} bytes`)
    .refine((value) => !hasControlCharacters(value, { multiline: true }), 'must not contain control characters'));
export const tagSchema = z.string().regex(/^[a-z0-9-]{1,32}$/, 'lowercase letters, digits and hyphens, 1–32');
// Repeated tags are kept once, in the order given.
export const tagsSchema = z.array(tagSchema).max(MAX_TAGS).transform((tags) => [...new Set(tags)]);

// Exactly the writable fields: authorId, status, createdAt or any other key is a 400 (strictObject).
export const createPostBody = z.strictObject({ title: titleSchema, body: markdownSchema, tags: tagsSchema.default([]) });
export const updatePostBody = z.strictObject({ title: titleSchema.optional(), body: markdownSchema.optional(), tags: tagsSchema.optional() })
  .refine((body) => body.title !== undefined || body.body !== undefined || body.tags !== undefined, 'name at least one of title, body, tags');
export const previewBody = z.strictObject({ body: markdownSchema });
export const previewSchema = z.object({ html: z.string() });

export const listPostsQuery = z.strictObject({
  q: z.string().max(200).transform((value) => value.trim()).pipe(z.string().max(100)).optional(),
  author: uuidSchema.optional(),
  tag: tagSchema.optional(),
  status: z.enum(['published', 'draft']).default('published'),
  cursor: cursorSchema.optional(),
  limit: limitSchema(PAGE_MAX, 20),
});
export type ListPostsQuery = z.infer<typeof listPostsQuery>;

export const authorSchema = z.object({ id: z.uuid(), name: z.string() });

/** A post as the API returns it: never the author's email, role or any internal column. */
export const postSchema = z.object({
  id: z.uuid(),
  title: z.string(),
  body: z.string(),
  html: z.string(),
  tags: z.array(z.string()),
  status: z.enum(['draft', 'published']),
  author: authorSchema,
  createdAt: z.iso.datetime(),
  updatedAt: z.iso.datetime(),
  publishedAt: z.iso.datetime().nullable(),
});
export type PostView = z.infer<typeof postSchema>;

export const postPageSchema = z.object({ items: z.array(postSchema), nextCursor: z.string().nullable() });

/** Where a post list resumes: the sort time and id of the last item, signed into the cursor. */
export const postCursorSchema = z.strictObject({ s: z.enum(['published', 'draft']), t: z.iso.datetime(), i: z.uuid() });
