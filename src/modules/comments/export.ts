import { z } from 'zod';
import type { ModuleExport } from '../../kernel/module.js';
import { tablesOf } from '../../platform/database.js';
import type { CommentsTables } from './tables.js';

/** The comments module's part of a data export: every comment the user wrote, hidden ones included. */
export const commentsExport: ModuleExport = {
  schema: z.object({
    comments: z.array(z.object({ id: z.uuid(), postId: z.uuid(), body: z.string(), hidden: z.boolean(), createdAt: z.iso.datetime() })),
  }),
  async collect(app, userId) {
    const rows = await tablesOf<CommentsTables>(app.database).selectFrom('comments')
      .select(['id', 'post_id', 'body', 'hidden_at', 'created_at']).where('author_id', '=', userId).orderBy('created_at').orderBy('id').execute();
    return { comments: rows.map((row) => ({ id: row.id, postId: row.post_id, body: row.body, hidden: row.hidden_at !== null, createdAt: row.created_at.toISOString() })) };
  },
};
