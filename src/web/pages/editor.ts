import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AUTH_ERR_UNAUTHENTICATED } from '../../security/errors.js';
import { fail } from '../../kernel/http.js';
import { POST_ERR_NOT_FOUND, POST_ERR_TOO_LARGE_RENDERED } from '../../modules/posts/errors.js';
import { authorizedPost, CONTENT_WRITES } from '../../modules/posts/decisions.js';
import { createPostBody, MAX_TAGS, PAGE_MAX, POST_BODY_MAX_BYTES } from '../../modules/posts/schemas.js';
import { idParams } from '../../security/schema-primitives.js';
import { formBody, textField } from '../forms.js';
import { HTML_RESPONSE, NO_QUERY, SIGNED_IN_PAGE } from '../page-routes.js';
import { dateOf, splitTags, type PublishingPagesOptions } from '../publishing.js';
import { renderPage, seeOther } from '../render.js';

// The form carries the Markdown as typed; the post schema enforces the real 64 KiB on it. The
// urlencoded body of a full post is larger than the other forms' 8 KiB, so these routes allow
// percent-encoding's worst case (three bytes per byte).
const EDITOR_BODY_LIMIT = 3 * POST_BODY_MAX_BYTES + 8192;
const editorForm = formBody({ title: textField(1000), body: textField(POST_BODY_MAX_BYTES), tags: textField(1000), id: z.union([z.literal(''), z.uuid()]).optional() });
type EditorFields = { title: string; body: string; tags: string };
const NOTICES = { saved: 'Saved.', created: 'Draft saved. Publish it when it is ready.' } as const;
const editQuery = z.strictObject({ done: z.enum(['saved', 'created']).optional() });
const mineQuery = z.strictObject({ done: z.enum(['deleted']).optional() });
const CREATE_POST = { access: { action: 'create', subject: 'Post' }, page: true } as const;
const UPDATE_POST = { access: { action: 'update', subject: 'Post' }, page: true } as const;

/** The form's fields checked by the API's own post schema; the messages say how to fix each. */
function checkPost(fields: EditorFields): { ok: true; value: z.infer<typeof createPostBody> } | { ok: false; errors: Record<string, string> } {
  const parsed = createPostBody.safeParse({ title: fields.title, body: fields.body, tags: splitTags(fields.tags) });
  if (parsed.success) return { ok: true, value: parsed.data };
  const errors: Record<string, string> = {};
  for (const issue of parsed.error.issues) {
    const field = String(issue.path[0] ?? 'body');
    if (field === 'title') errors.title = 'Give the post a title of 1 to 200 characters on one line.';
    else if (field === 'tags') errors.tags = `Up to ${MAX_TAGS} tags, separated by commas: lowercase letters, digits and hyphens, 1 to 32 each.`;
    else errors.body = `Write the post in Markdown: 1 character to ${POST_BODY_MAX_BYTES / 1024} KiB, without control characters.`;
  }
  return { ok: false, errors };
}

/**
 * The editor: a new draft, editing one's own post, a server-side preview through the same
 * renderer (and the same sanitizer) as saving, and "My posts". Saving and previewing spend the
 * same per-user content writes as the API; editing decides `update` on the post with
 * `request.authorize` (someone else's draft is a 404, their published post a 403).
 */
export const editorPages: FastifyPluginAsyncZod<PublishingPagesOptions> = (app, { posts, renderer }) => {
  function editor(request: FastifyRequest, reply: FastifyReply, data: { post?: { id: string; status: string } | null; values: EditorFields; errors?: Record<string, string>; preview?: string; notice?: string }, status = 200) {
    const post = data.post ?? null;
    return renderPage(request, reply, 'editor', {
      title: post === null ? 'Write a post' : 'Edit post',
      post,
      values: data.values,
      errors: data.errors ?? {},
      preview: data.preview ?? '',
      notice: data.notice ?? '',
      action: post === null ? '/posts/new' : `/posts/${post.id}/edit`,
    }, { status });
  }

  app.get('/posts/new', { config: CREATE_POST, schema: { querystring: NO_QUERY, response: HTML_RESPONSE } }, async (request, reply) => {
    return editor(request, reply, { values: { title: '', body: '', tags: '' } });
  });

  app.post('/posts/new', { config: { ...CREATE_POST, rateLimit: CONTENT_WRITES }, bodyLimit: EDITOR_BODY_LIMIT, schema: { querystring: NO_QUERY, body: editorForm, response: HTML_RESPONSE } }, async (request, reply) => {
    const values = { title: request.body.title, body: request.body.body, tags: request.body.tags };
    const checked = checkPost(values);
    if (!checked.ok) return editor(request, reply, { values, errors: checked.errors }, 400);
    if (!(await reply.spendRateLimit())) return reply;
    const post = await posts.create(request.principal?.id ?? '', checked.value);
    // Markdown that renders to more HTML than a post may hold: the form says why.
    if (post === 'too_large') return editor(request, reply, { values, errors: { body: POST_ERR_TOO_LARGE_RENDERED.message } }, 400);
    if (post === null) return fail(reply, new AUTH_ERR_UNAUTHENTICATED());
    return seeOther(reply, `/posts/${post.id}/edit?done=created`);
  });

  // The preview button posts the editor's fields here (formaction): the Markdown goes through
  // the renderer that saving uses, so what the preview shows is what the post will show.
  app.post('/posts/preview', { config: { ...CREATE_POST, rateLimit: CONTENT_WRITES }, bodyLimit: EDITOR_BODY_LIMIT, schema: { querystring: NO_QUERY, body: editorForm, response: HTML_RESPONSE } }, async (request, reply) => {
    const values = { title: request.body.title, body: request.body.body, tags: request.body.tags };
    const id = request.body.id ?? '';
    let post: { id: string; status: string } | null = null;
    if (id !== '') {
      const found = await authorizedPost(posts, request, reply, id, 'update');
      if (found === null) return reply;
      post = { id: found.id, status: found.status };
    }
    const checked = checkPost(values);
    if (!checked.ok) return editor(request, reply, { post, values, errors: checked.errors }, 400);
    if (!(await reply.spendRateLimit())) return reply;
    const preview = renderer.post(checked.value.body);
    if (preview === null) return editor(request, reply, { post, values, errors: { body: POST_ERR_TOO_LARGE_RENDERED.message } }, 400);
    return editor(request, reply, { post, values, preview });
  });

  app.get('/posts/:id/edit', { config: UPDATE_POST, schema: { params: idParams, querystring: editQuery, response: HTML_RESPONSE } }, async (request, reply) => {
    const post = await authorizedPost(posts, request, reply, request.params.id, 'update');
    if (post === null) return reply;
    const notice = request.query.done === undefined ? '' : NOTICES[request.query.done];
    return editor(request, reply, { post: { id: post.id, status: post.status }, values: { title: post.title, body: post.body, tags: post.tags.join(', ') }, notice });
  });

  app.post('/posts/:id/edit', { config: { ...UPDATE_POST, rateLimit: CONTENT_WRITES }, bodyLimit: EDITOR_BODY_LIMIT, schema: { params: idParams, querystring: NO_QUERY, body: editorForm, response: HTML_RESPONSE } }, async (request, reply) => {
    const post = await authorizedPost(posts, request, reply, request.params.id, 'update');
    if (post === null) return reply;
    const values = { title: request.body.title, body: request.body.body, tags: request.body.tags };
    const summary = { id: post.id, status: post.status };
    const checked = checkPost(values);
    if (!checked.ok) return editor(request, reply, { post: summary, values, errors: checked.errors }, 400);
    if (!(await reply.spendRateLimit())) return reply;
    const updated = await posts.update(post.id, checked.value);
    if (updated === 'too_large') return editor(request, reply, { post: summary, values, errors: { body: POST_ERR_TOO_LARGE_RENDERED.message } }, 400);
    if (updated === null) return fail(reply, new POST_ERR_NOT_FOUND());
    return seeOther(reply, `/posts/${post.id}/edit?done=saved`);
  });

  app.get('/posts/mine', { config: SIGNED_IN_PAGE, schema: { querystring: mineQuery, response: HTML_RESPONSE } }, async (request, reply) => {
    const me = request.principal?.id ?? '';
    const list = async (status: 'draft' | 'published') => {
      const page = await posts.list({ status, author: me, limit: PAGE_MAX }, me);
      return page === 'invalid_cursor' ? [] : page.items.map((p) => ({ id: p.id, title: p.title, tags: p.tags, date: dateOf(new Date(p.updatedAt)) }));
    };
    return renderPage(request, reply, 'my-posts', {
      title: 'My posts',
      drafts: await list('draft'),
      published: await list('published'),
      notice: request.query.done === 'deleted' ? 'The post is deleted.' : '',
    });
  });

  return Promise.resolve();
};
