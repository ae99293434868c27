import { defineModule } from '../../kernel/module.js';
import { tablesOf } from '../../platform/database.js';
import { commentsExport } from './export.js';
import { roleAtLeast } from '../../security/authorization.js';
import { createCursorCodec, cursorKeys, type CursorCodec } from '../../security/cursors.js';
import * as commentsTables from './migrations/0001-comments.js';
import { createCommentsRepository, type CommentsDatabase, type CommentsRepository } from './repository.js';
import { commentsRoutes } from './routes.js';
import { COMMENT_ERRORS } from './errors.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Comments' repository and page cursors, shared by the API and the post pages. */
    comments: { readonly repository: CommentsRepository; readonly cursors: CursorCodec };
  }
}

/** Comments: plain text under published posts; authors delete their own, moderators hide any. */
export const commentsModule = defineModule({
  name: 'comments',
  errors: COMMENT_ERRORS,
  dependencies: ['accounts', 'posts'],
  migrations: [{ name: '0001-comments', migration: commentsTables, replaces: '0004-publishing' }],
  subjects: ['Comment'],
  actions: ['hide'],
  abilities({ can, cannot }, principal) {
    can('read', 'Comment', { hidden: false, postPublished: true });
    if (principal === null) return;
    can('read', 'Comment', { authorId: principal.id });
    can('create', 'Comment');
    can('delete', 'Comment', { authorId: principal.id });
    // A hidden comment is a moderation record: its author may still see it, not erase it.
    cannot('delete', 'Comment', { hidden: true });
    if (roleAtLeast(principal.role, 'moderator')) can(['read', 'hide'], 'Comment', { postPublished: true });
  },
  exportData: commentsExport,
  async plugin(app) {
    const repository = createCommentsRepository(tablesOf<CommentsDatabase>(app.database));
    const cursors = createCursorCodec({ ...cursorKeys(app.keyring), kind: 'comments' });
    app.decorate('comments', { repository, cursors });
    await app.register(commentsRoutes, { comments: repository, posts: app.posts, renderer: app.contentRenderer, cursors });
  },
});
