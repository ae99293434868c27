import { sql, type Kysely } from 'kysely';

/** Bookmarks: a user's private list of links. The bounds repeat the API's. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('bookmarks')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('owner_id', 'uuid', (col) => col.notNull().references('users.id').onDelete('cascade'))
    .addColumn('url', 'text', (col) => col.notNull())
    .addColumn('title', 'text', (col) => col.notNull())
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('bookmarks_url_length', sql`char_length(url) between 1 and 2048`)
    .addCheckConstraint('bookmarks_url_scheme', sql`url ~ '^https?://'`)
    .addCheckConstraint('bookmarks_title_length', sql`char_length(title) between 1 and 200`)
    .execute();
  await db.schema.createIndex('bookmarks_owner_idx').on('bookmarks').columns(['owner_id', 'created_at desc', 'id desc']).execute();
}
