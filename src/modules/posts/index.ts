import { defineModule } from '../../kernel/module.js';
import { tablesOf } from '../../platform/database.js';
import { postsExport } from './export.js';
import { roleAtLeast } from '../../security/authorization.js';
import { createCursorCodec, cursorKeys } from '../../security/cursors.js';
import * as postsTables from './migrations/0001-posts.js';
import { createContentRenderer, type ContentRenderer } from './rendering.js';
import { createPostsRepository, type PostsDatabase } from './repository.js';
import { postsRoutes } from './routes.js';
import { createPostsService, type PostsService } from './service.js';
import { POST_ERRORS } from './errors.js';

declare module 'fastify' {
  interface FastifyInstance {
    posts: PostsService;
    /** Markdown and comment text to sanitized HTML: the one renderer of posts, previews and comments. */
    contentRenderer: ContentRenderer;
  }
}

/** Posts: Markdown sanitized on write, drafts private to their author, published posts public. */
export const postsModule = defineModule({
  name: 'posts',
  errors: POST_ERRORS,
  dependencies: ['accounts'],
  migrations: [{ name: '0001-posts', migration: postsTables, replaces: '0004-publishing' }],
  subjects: ['Post'],
  actions: ['publish', 'unpublish'],
  scopes: { 'posts:read': 'author', 'posts:write': 'author' },
  abilities({ can }, principal) {
    // Guests read published posts; every signed-in user writes and manages their own; a
    // moderator may also unpublish anyone's.
    can('read', 'Post', { status: 'published' });
    if (principal === null) return;
    const own = { authorId: principal.id };
    can('read', 'Post', own);
    can('create', 'Post');
    can(['update', 'delete', 'publish', 'unpublish'], 'Post', own);
    if (roleAtLeast(principal.role, 'moderator')) can('unpublish', 'Post');
  },
  exportData: postsExport,
  async plugin(app) {
    const renderer = createContentRenderer();
    const posts = createPostsService({
      repository: createPostsRepository(tablesOf<PostsDatabase>(app.database)),
      renderer,
      cursors: createCursorCodec({ ...cursorKeys(app.keyring), kind: 'posts' }),
    });
    app.decorate('posts', posts);
    app.decorate('contentRenderer', renderer);
    await app.register(postsRoutes, { posts });
  },
});
