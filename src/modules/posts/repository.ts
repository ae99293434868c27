import { sql, type Kysely } from 'kysely';
import { isForeignKeyViolation } from '../../platform/database.js';
import type { AccountsTables } from '../accounts/tables.js';
import type { PostsTables } from './tables.js';

/** The tables this repository reads and writes. */
export type PostsDatabase = PostsTables & Pick<AccountsTables, 'users'>;

export type PostStatus = 'draft' | 'published';

/** A post with its author's public fields, as the service sees it. */
export interface PostRecord {
  readonly id: string;
  readonly authorId: string;
  readonly authorName: string;
  readonly title: string;
  readonly body: string;
  readonly html: string;
  readonly tags: readonly string[];
  readonly status: PostStatus;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  readonly publishedAt: Date | null;
}

/** What a list asks for: which posts, and where the previous page ended. */
export interface PostFilter {
  readonly status: PostStatus;
  /** Drafts are listed for their author only. */
  readonly authorId?: string;
  readonly tag?: string;
  /** Matched as a substring of the title or body, never as a pattern. */
  readonly search?: string;
  readonly after?: { readonly time: Date; readonly id: string };
  readonly limit: number;
}


/** Escapes LIKE's wildcards, so a search for `100%` or `a_b` matches those characters only. */
export function likeSubstring(text: string): string {
  // Backslash is PostgreSQL's default LIKE escape character.
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** Post persistence through Kysely builders only: every value is a bound parameter. */
export function createPostsRepository(db: Kysely<PostsDatabase>) {
  const posts = () => db.selectFrom('posts')
    .innerJoin('users', 'users.id', 'posts.author_id')
    .select([
      'posts.id', 'posts.author_id', 'users.name as author_name', 'posts.title', 'posts.body', 'posts.html', 'posts.tags',
      'posts.status', 'posts.created_at', 'posts.updated_at', 'posts.published_at',
    ]);
  type Row = Awaited<ReturnType<ReturnType<typeof posts>['executeTakeFirstOrThrow']>>;
  const toRecord = (row: Row): PostRecord => ({
    id: row.id,
    authorId: row.author_id,
    authorName: row.author_name,
    title: row.title,
    body: row.body,
    html: row.html,
    tags: row.tags,
    status: row.status,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    publishedAt: row.published_at,
  });

  return {
    async findById(id: string): Promise<PostRecord | null> {
      const row = await posts().where('posts.id', '=', id).executeTakeFirst();
      return row === undefined ? null : toRecord(row);
    },

    /**
     * One page, newest first, by keyset: published posts by publication time, drafts by
     * creation time (both immutable while listed), ties broken by id.
     */
    async list(filter: PostFilter): Promise<PostRecord[]> {
      const time = filter.status === 'published' ? 'posts.published_at' : 'posts.created_at';
      let query = posts().where('posts.status', '=', filter.status);
      if (filter.authorId !== undefined) query = query.where('posts.author_id', '=', filter.authorId);
      if (filter.tag !== undefined) query = query.where(sql<boolean>`${sql.ref('posts.tags')} @> array[${filter.tag}]::text[]`);
      const { search, after } = filter;
      if (search !== undefined && search !== '') {
        const pattern = likeSubstring(search);
        query = query.where((eb) => eb.or([eb('posts.title', 'ilike', pattern), eb('posts.body', 'ilike', pattern)]));
      }
      if (after !== undefined) {
        query = query.where((eb) => eb.or([eb(time, '<', after.time), eb.and([eb(time, '=', after.time), eb('posts.id', '<', after.id)])]));
      }
      const rows = await query.orderBy(time, 'desc').orderBy('posts.id', 'desc').limit(filter.limit).execute();
      return rows.map(toRecord);
    },

    /** Inserts a draft; false when its author was deleted meanwhile. */
    async insert(post: { id: string; authorId: string; title: string; body: string; html: string; tags: readonly string[]; now: Date }): Promise<boolean> {
      try {
        await db.insertInto('posts').values({
          id: post.id, author_id: post.authorId, title: post.title, body: post.body, html: post.html, tags: [...post.tags],
          status: 'draft', created_at: post.now, updated_at: post.now, published_at: null,
        }).execute();
        return true;
      } catch (err) {
        if (isForeignKeyViolation(err)) return false;
        throw err;
      }
    },

    /** Applies an edit; false when the post no longer exists. */
    async update(id: string, changes: { title?: string; body?: string; html?: string; tags?: readonly string[]; now: Date }): Promise<boolean> {
      const result = await db.updateTable('posts').set({
        ...(changes.title === undefined ? {} : { title: changes.title }),
        ...(changes.body === undefined || changes.html === undefined ? {} : { body: changes.body, html: changes.html }),
        ...(changes.tags === undefined ? {} : { tags: [...changes.tags] }),
        updated_at: changes.now,
      }).where('id', '=', id).executeTakeFirst();
      return result.numUpdatedRows > 0n;
    },

    /** Publishes or unpublishes; a post already in that state keeps its publication time. */
    async setStatus(id: string, status: PostStatus, now: Date): Promise<boolean> {
      const result = await db.updateTable('posts')
        .set({ status, published_at: status === 'published' ? now : null, updated_at: now })
        .where('id', '=', id).where('status', '<>', status).executeTakeFirst();
      return result.numUpdatedRows > 0n;
    },

    async delete(id: string): Promise<boolean> {
      const result = await db.deleteFrom('posts').where('id', '=', id).executeTakeFirst();
      return result.numDeletedRows > 0n;
    },
  };
}

export type PostsRepository = ReturnType<typeof createPostsRepository>;
