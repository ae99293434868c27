import { randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import type { BookmarksTables } from './tables.js';

export interface BookmarkRecord {
  readonly id: string;
  readonly ownerId: string;
  readonly url: string;
  readonly title: string;
  readonly createdAt: Date;
}

/** Bookmarks one account may keep. */
export const MAX_BOOKMARKS = 500;

const columns = ['id', 'owner_id', 'url', 'title', 'created_at'] as const;
const toRecord = (row: { id: string; owner_id: string; url: string; title: string; created_at: Date }): BookmarkRecord =>
  ({ id: row.id, ownerId: row.owner_id, url: row.url, title: row.title, createdAt: row.created_at });

/** Parameterized queries only (Kysely); every read is by owner or by id. */
export function createBookmarksRepository(db: Kysely<BookmarksTables>) {
  return {
    async listForOwner(ownerId: string, limit: number): Promise<BookmarkRecord[]> {
      const rows = await db.selectFrom('bookmarks').select(columns).where('owner_id', '=', ownerId).orderBy('created_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
      return rows.map(toRecord);
    },

    async find(id: string): Promise<BookmarkRecord | null> {
      const row = await db.selectFrom('bookmarks').select(columns).where('id', '=', id).executeTakeFirst();
      return row === undefined ? null : toRecord(row);
    },

    /** The new bookmark, or `limit` when the owner already keeps {@link MAX_BOOKMARKS} (counted under a lock on the owner's rows). */
    async insert(input: { ownerId: string; url: string; title: string }): Promise<BookmarkRecord | 'limit'> {
      return db.transaction().execute(async (trx) => {
        // One writer per owner at a time, so parallel requests cannot pass the count together.
        await sql`select pg_advisory_xact_lock(hashtext(${`bookmarks:${input.ownerId}`}))`.execute(trx);
        const { count } = await trx.selectFrom('bookmarks').select((eb) => eb.fn.countAll<string>().as('count')).where('owner_id', '=', input.ownerId).executeTakeFirstOrThrow();
        if (Number(count) >= MAX_BOOKMARKS) return 'limit' as const;
        const row = await trx.insertInto('bookmarks').values({ id: randomUUID(), owner_id: input.ownerId, url: input.url, title: input.title }).returning(columns).executeTakeFirstOrThrow();
        return toRecord(row);
      });
    },

    async delete(id: string): Promise<void> {
      await db.deleteFrom('bookmarks').where('id', '=', id).execute();
    },
  };
}

export type BookmarksRepository = ReturnType<typeof createBookmarksRepository>;
