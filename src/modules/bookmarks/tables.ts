import type { ColumnType } from 'kysely';

/** A user's bookmark: a link and its title, private to its owner. */
export interface BookmarksTable {
  id: string;
  owner_id: string;
  url: string;
  title: string;
  created_at: ColumnType<Date, Date | undefined, never>;
}

/** The bookmarks module's table. */
export interface BookmarksTables {
  bookmarks: BookmarksTable;
}
