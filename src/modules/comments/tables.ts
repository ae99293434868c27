import type { ColumnType } from 'kysely';

/** Comments: plain text, never HTML; hidden by a moderator rather than deleted. */
export interface CommentsTable {
  id: string;
  post_id: string;
  author_id: string;
  body: string;
  hidden_at: Date | null;
  hidden_by: string | null;
  created_at: ColumnType<Date, Date | undefined, never>;
}

/** The comments module's table. */
export interface CommentsTables {
  comments: CommentsTable;
}
