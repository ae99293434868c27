import { randomUUID } from 'node:crypto';
import { openDatabase, tablesOf, type Database } from '../../src/platform/database.js';
import { createAccountsRepository, type UserRecord } from '../../src/modules/accounts/repository.js';
import { createPostsRepository, type PostsRepository } from '../../src/modules/posts/repository.js';
import { createContentRenderer, type ContentRenderer } from '../../src/modules/posts/rendering.js';
import { postView } from '../../src/modules/posts/service.js';
import type { PostView } from '../../src/modules/posts/schemas.js';
import { AUTHOR_EMAIL, AUTHOR_NAME, PUBLISHED_POSTS, seedPosts } from './fixtures.js';
import { rampartMigrations } from '../../src/app.js';
import type { AccountsTables } from '../../src/modules/accounts/tables.js';
import type { PostsDatabase } from '../../src/modules/posts/repository.js';

/**
 * A baseline's data layer: Rampart's schema (migrated into the baseline's own database) and
 * its repositories, so each baseline route runs the same query as Rampart's and returns the
 * same rows. The baselines skip what Rampart adds around them (authorization, email
 * decryption, templates); that is the cost being measured.
 */
export interface BaselineData {
  readonly database: Database;
  readonly posts: PostsRepository;
  readonly renderer: ContentRenderer;
  readonly author: UserRecord;
  /** `GET /api/me`'s body for the author: the email is known, as a usual app stores it in clear. */
  meView(user: UserRecord): { user: { id: string; name: string; email: string; role: string; emailVerified: boolean; createdAt: string } };
  findUser(id: string): Promise<UserRecord | null>;
  /** The home page's query (10 published posts, one more to know whether there is a next page). */
  homePosts(): Promise<unknown>;
  /** `GET /api/posts?limit=20`'s body. */
  listPosts(): Promise<{ items: PostView[]; nextCursor: null }>;
  /** Renders, inserts and reads back a draft, as `POST /api/posts` does. */
  createPost(authorId: string, input: { title: string; body: string; tags: readonly string[] }): Promise<PostView | null>;
}

export async function openBaselineData(databaseUrl: string | null): Promise<BaselineData> {
  const database = await openDatabase(databaseUrl === null ? { dataDir: 'memory://' } : { url: databaseUrl });
  try {
    await database.migrate(rampartMigrations());
    const accounts = createAccountsRepository(tablesOf<AccountsTables>(database));
    const id = randomUUID();
    // The password is never checked on a baseline: it has no login, only a bench sign-in.
    if (!(await accounts.insertUser({ id, name: AUTHOR_NAME, emailCiphertext: 'plain', emailIndex: `bench-${id}`, passwordHash: 'unused', role: 'author', emailVerifiedAt: new Date() }))) {
      throw new Error('could not insert the bench author');
    }
    const author = await accounts.findById(id);
    if (author === null) throw new Error('the bench author vanished');
    const renderer = createContentRenderer();
    await seedPosts(tablesOf<PostsDatabase>(database), renderer, id);
    const posts = createPostsRepository(tablesOf<PostsDatabase>(database));
    return {
      database,
      posts,
      renderer,
      author,
      meView: (user) => ({ user: { id: user.id, name: user.name, email: AUTHOR_EMAIL, role: user.role, emailVerified: user.emailVerifiedAt !== null, createdAt: user.createdAt.toISOString() } }),
      findUser: (userId) => accounts.findById(userId),
      homePosts: () => posts.list({ status: 'published', limit: 11 }),
      async listPosts() {
        const rows = await posts.list({ status: 'published', limit: PUBLISHED_POSTS + 1 });
        return { items: rows.slice(0, PUBLISHED_POSTS).map(postView), nextCursor: null };
      },
      async createPost(authorId, input) {
        const postId = randomUUID();
        const now = new Date();
        if (!(await posts.insert({ id: postId, authorId, title: input.title, body: input.body, html: renderer.post(input.body) ?? (() => { throw new Error('a bench post renders to more HTML than a post may hold'); })(), tags: input.tags, now }))) return null;
        const post = await posts.findById(postId);
        return post === null ? null : postView(post);
      },
    };
  } catch (err) {
    await database.close();
    throw err;
  }
}
