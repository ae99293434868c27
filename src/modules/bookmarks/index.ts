import { defineModule } from '../../kernel/module.js';
import { tablesOf } from '../../platform/database.js';
import { bookmarksExport } from './export.js';
import * as bookmarksTables from './migrations/0001-bookmarks.js';
import { createBookmarksRepository } from './repository.js';
import { bookmarksRoutes } from './routes.js';
import type { BookmarksTables } from './tables.js';
import { BOOKMARK_ERRORS } from './errors.js';

/**
 * Bookmarks: the example module of docs/add-a-module.md. A table of its own, a subject with
 * owner-only abilities, two token scopes and three routes, all declared here; registered by
 * one line in app.ts, with no edit anywhere else.
 */
export const bookmarksModule = defineModule({
  name: 'bookmarks',
  errors: BOOKMARK_ERRORS,
  dependencies: ['accounts'],
  migrations: [{ name: '0001-bookmarks', migration: bookmarksTables }],
  subjects: ['Bookmark'],
  scopes: { 'bookmarks:read': 'author', 'bookmarks:write': 'author' },
  abilities({ can }, principal) {
    if (principal === null) return;
    can(['read', 'delete'], 'Bookmark', { ownerId: principal.id });
    can('create', 'Bookmark');
  },
  exportData: bookmarksExport,
  async plugin(app) {
    await app.register(bookmarksRoutes, { bookmarks: createBookmarksRepository(tablesOf<BookmarksTables>(app.database)) });
  },
});
