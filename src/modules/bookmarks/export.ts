import { z } from 'zod';
import type { ModuleExport } from '../../kernel/module.js';
import { tablesOf } from '../../platform/database.js';
import { createBookmarksRepository, MAX_BOOKMARKS } from './repository.js';
import type { BookmarksTables } from './tables.js';

/** The bookmarks module's part of a data export: the user's bookmarks. */
export const bookmarksExport: ModuleExport = {
  schema: z.object({ bookmarks: z.array(z.object({ id: z.uuid(), url: z.string(), title: z.string(), createdAt: z.iso.datetime() })) }),
  async collect(app, userId) {
    const rows = await createBookmarksRepository(tablesOf<BookmarksTables>(app.database)).listForOwner(userId, MAX_BOOKMARKS);
    return { bookmarks: rows.map((row) => ({ id: row.id, url: row.url, title: row.title, createdAt: row.createdAt.toISOString() })) };
  },
};
