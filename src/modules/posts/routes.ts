import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { AUTH_ERR_UNAUTHENTICATED } from '../../security/authentication.js';
import { AUTHZ_ERR_FORBIDDEN } from '../../security/authorization.js';
import { RAMPART_ERR_INVALID_CURSOR } from '../../security/errors.js';
import { idParams } from '../../security/schema-primitives.js';
import { fail, limited } from '../accounts/routes.js';
import { noQuery } from '../accounts/schemas.js';
import { CONTENT_ERR_TOO_MANY_WRITES, POST_ERR_NOT_FOUND } from './errors.js';
import type { PostRecord } from './repository.js';
import { createPostBody, emptyBody, listPostsQuery, POST_ROUTE_BODY_LIMIT, postPageSchema, postSchema, previewBody, previewSchema, updatePostBody } from './schemas.js';
import { postSubject, postView, type PostsService } from './service.js';

export interface PostsRoutesOptions {
  readonly posts: PostsService;
}

type Action = 'read' | 'update' | 'delete' | 'publish' | 'unpublish';

/**
 * Loads the post and decides `action` on it: the post, or null once the answer is sent (404
 * when the caller may not know it exists, 403 when it may see it but not do this).
 */
export async function authorizedPost(posts: PostsService, request: FastifyRequest, reply: FastifyReply, id: string, action: Action): Promise<PostRecord | null> {
  const post = await posts.find(id);
  const decision = post === null ? 'not_found' : request.authorize(action, 'Post', postSubject(post));
  if (decision === 'not_found') fail(reply, new POST_ERR_NOT_FOUND());
  else if (decision === 'forbidden') fail(reply, new AUTHZ_ERR_FORBIDDEN());
  return decision === 'allowed' ? post : null;
}

/** Spends one content write for the signed-in user; false when the reply (429) was sent. */
export async function claimContentWrite(posts: PostsService, request: FastifyRequest, reply: FastifyReply): Promise<boolean> {
  const claim = await posts.claimWrite(request.principal?.id ?? '');
  if (claim.allowed) return true;
  request.server.securityEvents.recordFor(request, 'excess_rate_limit_exceeded', { details: { limit: 'content_writes' } });
  limited(reply, { ok: false, reason: 'limited', retryAfterSeconds: claim.retryAfterSeconds }, new CONTENT_ERR_TOO_MANY_WRITES());
  return false;
}

/** The posts API: a public list of published posts, and each author's own drafts and posts. */
export const postsRoutes: FastifyPluginAsyncZod<PostsRoutesOptions> = (app, { posts }) => {
  const read = { access: { action: 'read', subject: 'Post' }, scope: 'posts:read' } as const;
  const write = (action: Action | 'create') => ({ access: { action, subject: 'Post' }, scope: 'posts:write' } as const);

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
    config: write('create'),
    bodyLimit: POST_ROUTE_BODY_LIMIT,
    schema: { querystring: noQuery, body: createPostBody, response: { 201: postSchema } },
  }, async (request, reply) => {
    if (!(await claimContentWrite(posts, request, reply))) return reply;
    const post = await posts.create(request.principal?.id ?? '', request.body);
    // The account was deleted while this request ran: nobody is signed in any more.
    if (post === null) return fail(reply, new AUTH_ERR_UNAUTHENTICATED());
    void reply.code(201).header('location', `/api/posts/${post.id}`);
    return postView(post);
  });

  // The editor's live preview: Markdown in, the HTML saving would store out, nothing saved.
  app.post('/api/posts/preview', {
    config: write('create'),
    bodyLimit: POST_ROUTE_BODY_LIMIT,
    schema: { querystring: noQuery, body: previewBody, response: { 200: previewSchema } },
  }, async (request, reply) => {
    const preview = await posts.preview(request.principal?.id ?? '', request.body.body);
    if ('html' in preview) return preview;
    request.server.securityEvents.recordFor(request, 'excess_rate_limit_exceeded', { details: { limit: 'previews' } });
    return limited(reply, { ok: false, reason: 'limited', retryAfterSeconds: preview.retryAfterSeconds }, new CONTENT_ERR_TOO_MANY_WRITES());
  });

  app.patch('/api/posts/:id', {
    config: write('update'),
    bodyLimit: POST_ROUTE_BODY_LIMIT,
    schema: { params: idParams, querystring: noQuery, body: updatePostBody, response: { 200: postSchema } },
  }, async (request, reply) => {
    const post = await authorizedPost(posts, request, reply, request.params.id, 'update');
    if (post === null) return reply;
    if (!(await claimContentWrite(posts, request, reply))) return reply;
    const updated = await posts.update(post.id, request.body);
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
