import { z } from 'zod';
import type { ModuleExport } from '../../kernel/module.js';
import { tablesOf } from '../../platform/database.js';
import type { PostsTables } from './tables.js';

/** The posts module's part of a data export: every post the user wrote, drafts included, as Markdown. */
export const postsExport: ModuleExport = {
  schema: z.object({
    posts: z.array(z.object({
      id: z.uuid(), title: z.string(), body: z.string(), tags: z.array(z.string()), status: z.string(),
      createdAt: z.iso.datetime(), updatedAt: z.iso.datetime(), publishedAt: z.iso.datetime().nullable(),
    })),
  }),
  async collect(app, userId) {
    const rows = await tablesOf<PostsTables>(app.database).selectFrom('posts')
      .select(['id', 'title', 'body', 'tags', 'status', 'created_at', 'updated_at', 'published_at'])
      .where('author_id', '=', userId).orderBy('created_at').orderBy('id').execute();
    return {
      posts: rows.map((row) => ({
        id: row.id, title: row.title, body: row.body, tags: row.tags, status: row.status,
        createdAt: row.created_at.toISOString(), updatedAt: row.updated_at.toISOString(), publishedAt: row.published_at?.toISOString() ?? null,
      })),
    };
  },
};
