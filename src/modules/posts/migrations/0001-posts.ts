import { sql } from 'kysely';
import type { Kysely } from 'kysely';

/**
 * Posts. (Released as `0004-publishing`, which also created the comments table.) A post keeps its Markdown source and the HTML sanitized when it was
 * written, so reads never sanitize; the bounds here repeat the API's, so nothing that slips
 * past a schema can store an unbounded value.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('posts')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('author_id', 'uuid', (col) => col.notNull().references('users.id').onDelete('cascade'))
    .addColumn('title', 'text', (col) => col.notNull())
    .addColumn('body', 'text', (col) => col.notNull())
    .addColumn('html', 'text', (col) => col.notNull())
    .addColumn('tags', sql`text[]`, (col) => col.notNull().defaultTo(sql`'{}'::text[]`))
    .addColumn('status', 'text', (col) => col.notNull().defaultTo('draft'))
    .addColumn('created_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (col) => col.notNull().defaultTo(sql`now()`))
    .addColumn('published_at', 'timestamptz')
    .addCheckConstraint('posts_title_length', sql`char_length(title) between 1 and 200`)
    .addCheckConstraint('posts_body_size', sql`octet_length(body) <= 65536`)
    .addCheckConstraint('posts_html_size', sql`octet_length(html) <= 1048576`)
    .addCheckConstraint('posts_tags_count', sql`cardinality(tags) <= 10`)
    .addCheckConstraint('posts_status', sql`status in ('draft', 'published')`)
    .addCheckConstraint('posts_published_at', sql`(status = 'published') = (published_at is not null)`)
    .execute();
  await db.schema.createIndex('posts_published_idx').on('posts').columns(['status', 'published_at desc', 'id desc']).execute();
  await db.schema.createIndex('posts_author_idx').on('posts').columns(['author_id', 'created_at desc', 'id desc']).execute();
  await db.schema.createIndex('posts_tags_idx').on('posts').using('gin').column('tags').execute();
}
