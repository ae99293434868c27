import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { CursorCodec } from '../../security/cursors.js';
import { RAMPART_ERR_INVALID_CURSOR } from '../../security/errors.js';
import { idParams } from '../../security/schema-primitives.js';
import { emptyBody, fail, noQuery } from '../../kernel/http.js';
import { POST_ERR_NOT_FOUND } from '../posts/errors.js';
import { authorizedPost, CONTENT_WRITES } from '../posts/decisions.js';
import type { ContentRenderer } from '../posts/rendering.js';
import type { PostsService } from '../posts/service.js';
import { authorizedComment } from './decisions.js';
import { COMMENT_ERR_NOT_FOUND, COMMENT_ERR_POST_NOT_PUBLISHED } from './errors.js';
import type { CommentRecord, CommentsRepository } from './repository.js';
import { commentCursorSchema, commentPageSchema, commentSchema, createCommentBody, listCommentsQuery, type CommentView } from './schemas.js';

export interface CommentsRoutesOptions {
  readonly comments: CommentsRepository;
  readonly posts: PostsService;
  readonly renderer: ContentRenderer;
  readonly cursors: CursorCodec;
  readonly now?: () => Date;
}

/** Comments: plain text under published posts; authors delete their own, moderators hide any. */
export const commentsRoutes: FastifyPluginAsyncZod<CommentsRoutesOptions> = (app, { comments, posts, renderer, cursors, now = () => new Date() }) => {
  const view = (comment: CommentRecord): CommentView => ({
    id: comment.id,
    postId: comment.postId,
    body: comment.body,
    html: renderer.comment(comment.body),
    author: { id: comment.authorId, name: comment.authorName },
    hidden: comment.hidden,
    createdAt: comment.createdAt.toISOString(),
  });

  app.get('/api/posts/:id/comments', {
    config: { access: { action: 'read', subject: 'Comment' }, scope: 'posts:read' },
    schema: { params: idParams, querystring: listCommentsQuery, response: { 200: commentPageSchema } },
  }, async (request, reply) => {
    const post = await authorizedPost(posts, request, reply, request.params.id, 'read');
    if (post === null) return reply;
    let after: { time: Date; id: string } | undefined;
    if (request.query.cursor !== undefined) {
      const position = cursors.decode(request.query.cursor, commentCursorSchema);
      if (position === null || position.p !== post.id) {
        request.server.securityEvents.recordFor(request, 'input_validation_fail', { details: { reason: 'invalid_cursor', route: '/api/posts/:id/comments' } });
        return fail(reply, new RAMPART_ERR_INVALID_CURSOR());
      }
      after = { time: new Date(position.t), id: position.i };
    }
    // Hidden comments stay visible to those who may hide them (moderators), for review. Under a
    // post that went back to draft (only its author gets here) nobody's comments are public:
    // the author sees their own only, as the comment abilities say.
    const published = post.status === 'published';
    const includeHidden = published && request.ability().can('hide', 'Comment');
    const onlyAuthor = published ? undefined : (request.principal?.id ?? '');
    const { limit } = request.query;
    const rows = await comments.listForPost(post.id, { includeHidden, ...(onlyAuthor === undefined ? {} : { onlyAuthor }), ...(after === undefined ? {} : { after }), limit: limit + 1 });
    const items = rows.slice(0, limit);
    const last = items.at(-1);
    const nextCursor = rows.length > limit && last !== undefined ? cursors.encode({ p: post.id, t: last.createdAt.toISOString(), i: last.id }) : null;
    return { items: items.map(view), nextCursor };
  });

  app.post('/api/posts/:id/comments', {
    config: { access: { action: 'create', subject: 'Comment' }, scope: 'posts:write', rateLimit: CONTENT_WRITES },
    schema: { params: idParams, querystring: noQuery, body: createCommentBody, response: { 201: commentSchema } },
  }, async (request, reply) => {
    const post = await authorizedPost(posts, request, reply, request.params.id, 'read');
    if (post === null) return reply;
    if (post.status !== 'published') return fail(reply, new COMMENT_ERR_POST_NOT_PUBLISHED());
    if (!(await reply.spendRateLimit())) return reply;
    const id = randomUUID();
    // The post may be deleted between the check and the insert: then there is nothing to comment on.
    const inserted = await comments.insert({ id, postId: post.id, authorId: request.principal?.id ?? '', body: request.body.body, now: new Date(Math.floor(now().getTime())) });
    const created = inserted ? await comments.findById(id) : null;
    if (created === null) return fail(reply, new POST_ERR_NOT_FOUND());
    void reply.code(201);
    return view(created);
  });

  app.delete('/api/comments/:id', {
    config: { access: { action: 'delete', subject: 'Comment' }, scope: 'posts:write' },
    schema: { params: idParams, querystring: noQuery, response: { 204: z.null() } },
  }, async (request, reply) => {
    const comment = await authorizedComment(comments, request, reply, request.params.id, 'delete');
    if (comment === null) return reply;
    await comments.delete(comment.id);
    return reply.code(204).send(null);
  });

  app.post('/api/comments/:id/hide', {
    config: { access: { action: 'hide', subject: 'Comment' }, scope: 'posts:write' },
    schema: { params: idParams, querystring: noQuery, body: emptyBody, response: { 200: commentSchema } },
  }, async (request, reply) => {
    const comment = await authorizedComment(comments, request, reply, request.params.id, 'hide');
    if (comment === null) return reply;
    await comments.hide(comment.id, request.principal?.id ?? '', new Date(Math.floor(now().getTime())));
    const hidden = await comments.findById(comment.id);
    return hidden === null ? fail(reply, new COMMENT_ERR_NOT_FOUND()) : view(hidden);
  });

  return Promise.resolve();
};
