import type { FastifyReply, FastifyRequest } from 'fastify';
import { fail } from '../../kernel/http.js';
import { AUTHZ_ERR_FORBIDDEN } from '../../security/errors.js';
import { COMMENT_ERR_NOT_FOUND } from './errors.js';
import type { CommentRecord, CommentsRepository } from './repository.js';

/** The fields abilities look at: who wrote it, whether it is hidden, whether its post is published. */
function commentSubject(comment: CommentRecord): { id: string; authorId: string; hidden: boolean; postPublished: boolean } {
  return { id: comment.id, authorId: comment.authorId, hidden: comment.hidden, postPublished: comment.postPublished };
}

/**
 * Loads the comment and decides `action` on it: the comment, or null once the answer (404 when
 * the caller may not know it exists, 403 otherwise) is sent. The API and the pages share it.
 */
export async function authorizedComment(comments: CommentsRepository, request: FastifyRequest, reply: FastifyReply, id: string, action: 'delete' | 'hide'): Promise<CommentRecord | null> {
  const comment = await comments.findById(id);
  const decision = comment === null ? 'not_found' : request.authorize(action, 'Comment', commentSubject(comment));
  if (decision === 'not_found') fail(reply, new COMMENT_ERR_NOT_FOUND());
  else if (decision === 'forbidden') fail(reply, new AUTHZ_ERR_FORBIDDEN());
  return decision === 'allowed' ? comment : null;
}

