import { randomUUID } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { fail } from '../../kernel/http.js';
import { COMMENT_ERR_POST_NOT_PUBLISHED } from '../../modules/comments/errors.js';
import { authorizedComment } from '../../modules/comments/decisions.js';
import { createCommentBody } from '../../modules/comments/schemas.js';
import { POST_ERR_NOT_FOUND } from '../../modules/posts/errors.js';
import type { PostRecord } from '../../modules/posts/repository.js';
import { authorizedPost, CONTENT_WRITES } from '../../modules/posts/decisions.js';
import { listPostsQuery, tagSchema } from '../../modules/posts/schemas.js';
import { RAMPART_ERR_BAD_REQUEST, RAMPART_ERR_INVALID_CURSOR } from '../../security/errors.js';
import { cursorSchema, idParams } from '../../security/schema-primitives.js';
import { formBody, textField } from '../forms.js';
import { HTML_RESPONSE, NO_QUERY } from '../page-routes.js';
import { dateOf, excerpt, mayOnComment, mayOnPost, type PublishingPagesOptions } from '../publishing.js';
import { renderPage, seeOther } from '../render.js';

const HOME_PAGE_SIZE = 10;
// Comments a post page shows; a longer thread is read through the API's pages.
const COMMENTS_SHOWN = 100;
const READ_POST = { access: { action: 'read', subject: 'Post' }, page: true } as const;
const NOTICES = { published: 'The post is published.', unpublished: 'The post is back to draft.', commented: 'Your comment is posted.', 'comment-deleted': 'The comment is deleted.', 'comment-hidden': 'The comment is hidden.' } as const;

// A search form sends `q=` and `tag=` even when empty: an empty field means no filter.
const homeQuery = z.strictObject({
  q: z.string().max(200).optional(),
  tag: z.union([z.literal(''), tagSchema]).optional(),
  cursor: cursorSchema.optional(),
});
const postQuery = z.strictObject({ done: z.enum(Object.keys(NOTICES) as [keyof typeof NOTICES, ...(keyof typeof NOTICES)[]]).optional() });
const commentForm = formBody({ body: textField(8000) });

/** A post list item as the home page shows it: plain-text excerpt, never the HTML. */
function listItem(post: { id: string; title: string; html: string; tags: readonly string[]; author: { name: string }; publishedAt: string | null }) {
  return { id: post.id, title: post.title, author: post.author.name, tags: post.tags, excerpt: excerpt(post.html), date: post.publishedAt ?? '' };
}

/**
 * The reading pages: the home page (published posts, search, tag filter, keyset pages through
 * the API's signed cursor) and a post with its comments, plus the post-page forms (comment,
 * delete or hide a comment, publish, unpublish, delete the post). Every object decision is
 * `request.authorize` through the same helpers as the API: 404 for what the caller may not
 * see, 403 for what it may see but not do.
 */
export const postPages: FastifyPluginAsyncZod<PublishingPagesOptions> = (app, { posts, comments, now = () => new Date() }) => {
  app.get('/', { config: READ_POST, schema: { querystring: homeQuery, response: HTML_RESPONSE } }, async (request, reply) => {
    const q = (request.query.q ?? '').trim();
    const tag = request.query.tag ?? '';
    const query = listPostsQuery.safeParse({ ...(q === '' ? {} : { q }), ...(tag === '' ? {} : { tag }), ...(request.query.cursor === undefined ? {} : { cursor: request.query.cursor }), limit: String(HOME_PAGE_SIZE) });
    if (!query.success) return fail(reply, new RAMPART_ERR_BAD_REQUEST());
    const page = await posts.list(query.data, request.principal?.id ?? null);
    if (page === 'invalid_cursor') {
      request.server.securityEvents.recordFor(request, 'input_validation_fail', { details: { reason: 'invalid_cursor', route: '/' } });
      return fail(reply, new RAMPART_ERR_INVALID_CURSOR());
    }
    const next = page.nextCursor === null ? '' : `/?${new URLSearchParams({ ...(q === '' ? {} : { q }), ...(tag === '' ? {} : { tag }), cursor: page.nextCursor }).toString()}`;
    return renderPage(request, reply, 'home', { title: 'Rampart', q, tag, posts: page.items.map(listItem), next, paged: request.query.cursor !== undefined });
  });

  async function showPost(request: FastifyRequest, reply: FastifyReply, post: PostRecord, extra: { error?: string; draft?: string; status?: number; notice?: string } = {}) {
    // The same visibility as the comments API: hidden comments for those who may hide them;
    // under a post back in draft (only its author gets here) their own comments only.
    const published = post.status === 'published';
    const includeHidden = published && request.ability().can('hide', 'Comment');
    const onlyAuthor = published ? undefined : (request.principal?.id ?? '');
    const rows = await comments.listForPost(post.id, { includeHidden, ...(onlyAuthor === undefined ? {} : { onlyAuthor }), limit: COMMENTS_SHOWN });
    const viewer = request.principal?.id ?? null;
    const thread = rows.map((c) => {
      const subject = { id: c.id, authorId: c.authorId, hidden: c.hidden, postPublished: c.postPublished };
      return {
        id: c.id,
        author: c.authorName,
        // Escaped by the template, line by line; never parsed as HTML or Markdown.
        lines: c.body.split(/\r\n|\r|\n/),
        hidden: c.hidden,
        date: dateOf(c.createdAt),
        mayDelete: viewer !== null && mayOnComment(request, 'delete', subject),
        mayHide: !c.hidden && mayOnComment(request, 'hide', subject),
      };
    });
    return renderPage(request, reply, 'post', {
      title: post.title,
      post: { id: post.id, title: post.title, html: post.html, author: post.authorName, tags: post.tags, status: post.status, date: dateOf(post.publishedAt ?? post.createdAt) },
      comments: thread,
      notice: extra.notice ?? '',
      error: extra.error ?? '',
      draft: extra.draft ?? '',
      mayComment: viewer !== null && published,
      mayEdit: mayOnPost(request, 'update', post),
      mayPublish: post.status === 'draft' && mayOnPost(request, 'publish', post),
      mayUnpublish: published && mayOnPost(request, 'unpublish', post),
      mayDelete: mayOnPost(request, 'delete', post),
    }, { status: extra.status ?? 200 });
  }

  app.get('/posts/:id', { config: READ_POST, schema: { params: idParams, querystring: postQuery, response: HTML_RESPONSE } }, async (request, reply) => {
    const post = await authorizedPost(posts, request, reply, request.params.id, 'read');
    if (post === null) return reply;
    return showPost(request, reply, post, { notice: request.query.done === undefined ? '' : NOTICES[request.query.done] });
  });

  app.post('/posts/:id/comments', {
    config: { access: { action: 'create', subject: 'Comment' }, page: true, rateLimit: CONTENT_WRITES },
    schema: { params: idParams, querystring: NO_QUERY, body: commentForm, response: HTML_RESPONSE },
  }, async (request, reply) => {
    const post = await authorizedPost(posts, request, reply, request.params.id, 'read');
    if (post === null) return reply;
    if (post.status !== 'published') return fail(reply, new COMMENT_ERR_POST_NOT_PUBLISHED());
    const body = createCommentBody.safeParse({ body: request.body.body });
    if (!body.success) return showPost(request, reply, post, { error: 'Write a comment of 1 to 4000 characters, without control characters.', draft: request.body.body.slice(0, 4000), status: 400 });
    if (!(await reply.spendRateLimit())) return reply;
    const inserted = await comments.insert({ id: randomUUID(), postId: post.id, authorId: request.principal?.id ?? '', body: body.data.body, now: new Date(Math.floor(now().getTime())) });
    if (!inserted) return fail(reply, new POST_ERR_NOT_FOUND());
    return seeOther(reply, `/posts/${post.id}?done=commented#comments`);
  });

  app.post('/comments/:id/delete', {
    config: { access: { action: 'delete', subject: 'Comment' }, page: true },
    schema: { params: idParams, querystring: NO_QUERY, body: formBody({}), response: HTML_RESPONSE },
  }, async (request, reply) => {
    const comment = await authorizedComment(comments, request, reply, request.params.id, 'delete');
    if (comment === null) return reply;
    await comments.delete(comment.id);
    return seeOther(reply, `/posts/${comment.postId}?done=comment-deleted#comments`);
  });

  app.post('/comments/:id/hide', {
    config: { access: { action: 'hide', subject: 'Comment' }, page: true },
    schema: { params: idParams, querystring: NO_QUERY, body: formBody({}), response: HTML_RESPONSE },
  }, async (request, reply) => {
    const comment = await authorizedComment(comments, request, reply, request.params.id, 'hide');
    if (comment === null) return reply;
    await comments.hide(comment.id, request.principal?.id ?? '', new Date(Math.floor(now().getTime())));
    return seeOther(reply, `/posts/${comment.postId}?done=comment-hidden#comments`);
  });

  for (const [action, status, done] of [['publish', 'published', 'published'], ['unpublish', 'draft', 'unpublished']] as const) {
    app.post(`/posts/:id/${action}`, {
      config: { access: { action, subject: 'Post' }, page: true },
      schema: { params: idParams, querystring: NO_QUERY, body: formBody({}), response: HTML_RESPONSE },
    }, async (request, reply) => {
      const post = await authorizedPost(posts, request, reply, request.params.id, action);
      if (post === null) return reply;
      const changed = await posts.setStatus(post.id, status);
      if (changed === null) return fail(reply, new POST_ERR_NOT_FOUND());
      // A moderator who unpublished someone else's post may no longer read it: back to the list.
      return seeOther(reply, mayOnPost(request, 'read', changed) ? `/posts/${post.id}?done=${done}` : '/');
    });
  }

  app.post('/posts/:id/delete', {
    config: { access: { action: 'delete', subject: 'Post' }, page: true },
    schema: { params: idParams, querystring: NO_QUERY, body: formBody({}), response: HTML_RESPONSE },
  }, async (request, reply) => {
    const post = await authorizedPost(posts, request, reply, request.params.id, 'delete');
    if (post === null) return reply;
    await posts.delete(post.id);
    return seeOther(reply, '/posts/mine?done=deleted');
  });

  return Promise.resolve();
};
