import type { ColumnType } from 'kysely';

/** Posts: the Markdown source and the HTML sanitized on write (reads never sanitize). */
export interface PostsTable {
  id: string;
  author_id: string;
  title: string;
  body: string;
  html: string;
  tags: ColumnType<string[], string[] | undefined, string[]>;
  status: 'draft' | 'published';
  created_at: ColumnType<Date, Date | undefined, never>;
  updated_at: ColumnType<Date, Date | undefined, Date>;
  published_at: Date | null;
}

/** The posts module's table. */
export interface PostsTables {
  posts: PostsTable;
}
