import { sql, type Kysely } from 'kysely';

/** Comments: plain text, hidden by a moderator rather than deleted. (Released inside `0004-publishing`.) */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('comments')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('post_id', 'uuid', (col) => col.notNull().references('posts.id').onDelete('cascade'))
    .addColumn('author_id', 'uuid', (col) => col.notNull().references('users.id').onDelete('cascade'))
    .addColumn('body', 'text', (col) => col.notNull())
    .addColumn('hidden_at', 'timestamptz')
    .addColumn('hidden_by', 'uuid', (col) => col.references('users.id').onDelete('set null'))
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addCheckConstraint('comments_body_length', sql`char_length(body) between 1 and 4000`)
    .execute();
  await db.schema.createIndex('comments_post_idx').on('comments').columns(['post_id', 'created_at', 'id']).execute();
  await db.schema.createIndex('comments_author_idx').on('comments').column('author_id').execute();
}
