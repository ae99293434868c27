import type { FastifyReply, FastifyRequest } from 'fastify';
import { fail } from '../../kernel/http.js';
import { AUTHZ_ERR_FORBIDDEN } from '../../security/errors.js';
import type { RouteRateLimit } from '../../security/rate-limit.js';
import { CONTENT_ERR_TOO_MANY_WRITES, POST_ERR_NOT_FOUND } from './errors.js';
import type { PostRecord } from './repository.js';
import { postSubject, type PostsService } from './service.js';

/** The decisions the posts API and the pages (editor, post, comments) share. */

export type PostAction = 'read' | 'update' | 'delete' | 'publish' | 'unpublish';

/**
 * Loads the post and decides `action` on it: the post, or null once the answer is sent (404
 * when the caller may not know it exists, 403 when it may see it but not do this).
 */
export async function authorizedPost(posts: PostsService, request: FastifyRequest, reply: FastifyReply, id: string, action: PostAction): Promise<PostRecord | null> {
  const post = await posts.find(id);
  const decision = post === null ? 'not_found' : request.authorize(action, 'Post', postSubject(post));
  if (decision === 'not_found') fail(reply, new POST_ERR_NOT_FOUND());
  else if (decision === 'forbidden') fail(reply, new AUTHZ_ERR_FORBIDDEN());
  return decision === 'allowed' ? post : null;
}

/**
 * Posts, edits and comments per user, shared by the API and the pages: each route names it in
 * its config and spends it once its own checks pass (`reply.spendRateLimit()`).
 */
export const CONTENT_WRITES: RouteRateLimit = { name: 'content_writes', points: 120, windowSeconds: 600, per: 'user', error: new CONTENT_ERR_TOO_MANY_WRITES(), spend: 'handler' };
/** Live previews per user: the editor renders as the author types, so they have their own, larger budget. */
export const PREVIEWS: RouteRateLimit = { name: 'previews', points: 60, windowSeconds: 60, per: 'user', error: new CONTENT_ERR_TOO_MANY_WRITES() };
