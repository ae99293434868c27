import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AUTH_ERR_UNAUTHENTICATED, RAMPART_ERR_INVALID_CURSOR } from '../../security/errors.js';
import { idParams } from '../../security/schema-primitives.js';
import { emptyBody, fail, noQuery } from '../../kernel/http.js';
import { authorizedPost, CONTENT_WRITES, PREVIEWS, type PostAction } from './decisions.js';
import { POST_ERR_NOT_FOUND, POST_ERR_TOO_LARGE_RENDERED } from './errors.js';
import { createPostBody, listPostsQuery, POST_ROUTE_BODY_LIMIT, postPageSchema, postSchema, previewBody, previewSchema, updatePostBody } from './schemas.js';
import { postView, type PostsService } from './service.js';

export interface PostsRoutesOptions {
  readonly posts: PostsService;
}

/** The posts API: a public list of published posts, and each author's own drafts and posts. */
export const postsRoutes: FastifyPluginAsyncZod<PostsRoutesOptions> = (app, { posts }) => {
  const read = { access: { action: 'read', subject: 'Post' }, scope: 'posts:read' } as const;
  const write = (action: PostAction | 'create') => ({ access: { action, subject: 'Post' }, scope: 'posts:write' } as const);
  // Creating and editing spend the user's content writes; the preview has its own budget.
  const writeLimited = (action: 'create' | 'update') => ({ ...write(action), rateLimit: CONTENT_WRITES });

  app.get('/api/posts', {
    config: read,
    schema: { querystring: listPostsQuery, response: { 200: postPageSchema } },
  }, async (request, reply) => {
    const viewer = request.principal?.id ?? null;
    if (request.query.status === 'draft' && viewer === null) return fail(reply, new AUTH_ERR_UNAUTHENTICATED());
    const page = await posts.list(request.query, viewer);
    if (page === 'invalid_cursor') {
      request.server.securityEvents.recordFor(request, 'input_validation_fail', { details: { reason: 'invalid_cursor', route: '/api/posts' } });
      return fail(reply, new RAMPART_ERR_INVALID_CURSOR());
    }
    return page;
  });

  app.get('/api/posts/:id', {
    config: read,
    schema: { params: idParams, querystring: noQuery, response: { 200: postSchema } },
  }, async (request, reply) => {
    const post = await authorizedPost(posts, request, reply, request.params.id, 'read');
    return post === null ? reply : postView(post);
  });

  app.post('/api/posts', {
    config: writeLimited('create'),
    bodyLimit: POST_ROUTE_BODY_LIMIT,
    schema: { querystring: noQuery, body: createPostBody, response: { 201: postSchema } },
  }, async (request, reply) => {
    if (!(await reply.spendRateLimit())) return reply;
    const post = await posts.create(request.principal?.id ?? '', request.body);
    if (post === 'too_large') return fail(reply, new POST_ERR_TOO_LARGE_RENDERED());
    // The account was deleted while this request ran: nobody is signed in any more.
    if (post === null) return fail(reply, new AUTH_ERR_UNAUTHENTICATED());
    void reply.code(201).header('location', `/api/posts/${post.id}`);
    return postView(post);
  });

  // The editor's live preview: Markdown in, the HTML saving would store out, nothing saved.
  app.post('/api/posts/preview', {
    config: { ...write('create'), rateLimit: PREVIEWS },
    bodyLimit: POST_ROUTE_BODY_LIMIT,
    schema: { querystring: noQuery, body: previewBody, response: { 200: previewSchema } },
  }, (request, reply) => {
    const preview = posts.preview(request.body.body);
    if (preview !== 'too_large') return preview;
    // Sent here; a synchronous handler that has sent its reply returns nothing.
    return void fail(reply, new POST_ERR_TOO_LARGE_RENDERED());
  });

  app.patch('/api/posts/:id', {
    config: writeLimited('update'),
    bodyLimit: POST_ROUTE_BODY_LIMIT,
    schema: { params: idParams, querystring: noQuery, body: updatePostBody, response: { 200: postSchema } },
  }, async (request, reply) => {
    const post = await authorizedPost(posts, request, reply, request.params.id, 'update');
    if (post === null) return reply;
    if (!(await reply.spendRateLimit())) return reply;
    const updated = await posts.update(post.id, request.body);
    if (updated === 'too_large') return fail(reply, new POST_ERR_TOO_LARGE_RENDERED());
    return updated === null ? fail(reply, new POST_ERR_NOT_FOUND()) : postView(updated);
  });

  app.delete('/api/posts/:id', {
    config: write('delete'),
    schema: { params: idParams, querystring: noQuery, response: { 204: z.null() } },
  }, async (request, reply) => {
    const post = await authorizedPost(posts, request, reply, request.params.id, 'delete');
    if (post === null) return reply;
    await posts.delete(post.id);
    return reply.code(204).send(null);
  });

  for (const [action, status] of [['publish', 'published'], ['unpublish', 'draft']] as const) {
    app.post(`/api/posts/:id/${action}`, {
      config: write(action),
      schema: { params: idParams, querystring: noQuery, body: emptyBody, response: { 200: postSchema } },
    }, async (request, reply) => {
      const post = await authorizedPost(posts, request, reply, request.params.id, action);
      if (post === null) return reply;
      const changed = await posts.setStatus(post.id, status);
      return changed === null ? fail(reply, new POST_ERR_NOT_FOUND()) : postView(changed);
    });
  }

  return Promise.resolve();
};
