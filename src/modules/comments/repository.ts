import type { Kysely } from 'kysely';
import type { AccountsTables } from '../accounts/tables.js';
import type { PostsTables } from '../posts/tables.js';
import type { CommentsTables } from './tables.js';
import { isForeignKeyViolation } from '../../platform/database.js';

/** The tables this repository reads and writes. */
export type CommentsDatabase = CommentsTables & PostsTables & Pick<AccountsTables, 'users'>;

/** A comment with its author's public fields and what its post's state means for it. */
export interface CommentRecord {
  readonly id: string;
  readonly postId: string;
  readonly authorId: string;
  readonly authorName: string;
  readonly body: string;
  readonly hidden: boolean;
  readonly postPublished: boolean;
  readonly createdAt: Date;
}

/** Comment persistence through Kysely builders only: every value is a bound parameter. */
export function createCommentsRepository(db: Kysely<CommentsDatabase>) {
  const comments = () => db.selectFrom('comments')
    .innerJoin('users', 'users.id', 'comments.author_id')
    .innerJoin('posts', 'posts.id', 'comments.post_id')
    .select(['comments.id', 'comments.post_id', 'comments.author_id', 'users.name as author_name', 'comments.body', 'comments.hidden_at', 'posts.status as post_status', 'comments.created_at']);
  type Row = Awaited<ReturnType<ReturnType<typeof comments>['executeTakeFirstOrThrow']>>;
  const toRecord = (row: Row): CommentRecord => ({
    id: row.id,
    postId: row.post_id,
    authorId: row.author_id,
    authorName: row.author_name,
    body: row.body,
    hidden: row.hidden_at !== null,
    postPublished: row.post_status === 'published',
    createdAt: row.created_at,
  });

  return {
    async findById(id: string): Promise<CommentRecord | null> {
      const row = await comments().where('comments.id', '=', id).executeTakeFirst();
      return row === undefined ? null : toRecord(row);
    },

    /** A post's comments, oldest first, by keyset; hidden ones only when asked for (moderators), or one author's only. */
    async listForPost(postId: string, options: { includeHidden: boolean; onlyAuthor?: string; after?: { time: Date; id: string }; limit: number }): Promise<CommentRecord[]> {
      let query = comments().where('comments.post_id', '=', postId);
      if (!options.includeHidden) query = query.where('comments.hidden_at', 'is', null);
      if (options.onlyAuthor !== undefined) query = query.where('comments.author_id', '=', options.onlyAuthor);
      const { after } = options;
      if (after !== undefined) {
        query = query.where((eb) => eb.or([
          eb('comments.created_at', '>', after.time),
          eb.and([eb('comments.created_at', '=', after.time), eb('comments.id', '>', after.id)]),
        ]));
      }
      const rows = await query.orderBy('comments.created_at', 'asc').orderBy('comments.id', 'asc').limit(options.limit).execute();
      return rows.map(toRecord);
    },

    /** Inserts a comment; false when its post (or its author) was deleted meanwhile. */
    async insert(comment: { id: string; postId: string; authorId: string; body: string; now: Date }): Promise<boolean> {
      try {
        await db.insertInto('comments').values({ id: comment.id, post_id: comment.postId, author_id: comment.authorId, body: comment.body, created_at: comment.now }).execute();
        return true;
      } catch (err) {
        if (isForeignKeyViolation(err)) return false;
        throw err;
      }
    },

    async hide(id: string, moderatorId: string, now: Date): Promise<void> {
      await db.updateTable('comments').set({ hidden_at: now, hidden_by: moderatorId }).where('id', '=', id).where('hidden_at', 'is', null).execute();
    },

    async delete(id: string): Promise<void> {
      await db.deleteFrom('comments').where('id', '=', id).execute();
    },
  };
}

export type CommentsRepository = ReturnType<typeof createCommentsRepository>;
