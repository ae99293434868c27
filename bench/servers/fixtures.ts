import type { Kysely } from 'kysely';
import type { PostsDatabase } from '../../src/modules/posts/repository.js';
import { createPostsRepository } from '../../src/modules/posts/repository.js';
import type { ContentRenderer } from '../../src/modules/posts/rendering.js';

/**
 * The data every server of a run holds, identical in each one's own database: the same post
 * ids, titles, Markdown and times, so the three servers answer with the same bodies.
 */
export const PUBLISHED_POSTS = 20;
export const AUTHOR_NAME = 'Bench author';
export const AUTHOR_EMAIL = 'author@bench.example';
/** The post `GET /posts/:id` reads. */
export const READ_POST_ID = postId(0);
/** The Markdown every `POST /api/posts` sends: short, with a link, emphasis and code. */
export const NEW_POST_BODY = JSON.stringify({
  title: 'Bench post',
  body: 'A *short* post with a [link](https://example.com/), `code` and **strong** text.\n\n- one\n- two\n',
  tags: ['bench'],
});

const BASE_TIME = Date.UTC(2026, 0, 1);

function postId(n: number): string {
  return `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
}

/** A realistic post of about 3 KiB: headings, lists, links, code, a table, an image. */
export function postMarkdown(n: number): string {
  const paragraph = `Rampart keeps every protection on by default, and post ${n} explains one of them in plain words with a [reference](https://owasp.org/www-project-top-ten/) and some *emphasis*, **strong text** and \`inline code\`.`;
  return [
    `# Post ${n}: defence in depth`, '', paragraph, '', '## What it does', '',
    '- validates every input at the edge', '- renders Markdown and sanitizes it on write', '- escapes everything else', '',
    '```ts', 'const ability = abilityFor(principal);', "if (!ability.can('read', post)) return notFound();", '```', '',
    '| setting | default |', '|---|---|', '| body limit | 10 KiB |', '| page size | 50 |', '',
    '![diagram](https://example.com/diagram.png)', '', '> Deny by default.', '',
    ...Array.from({ length: 8 }, () => paragraph), '',
  ].join('\n');
}

/** Inserts and publishes the run's posts, written by `authorId`, with fixed ids and times. */
export async function seedPosts(db: Kysely<PostsDatabase>, renderer: ContentRenderer, authorId: string): Promise<void> {
  const posts = createPostsRepository(db);
  for (let n = 0; n < PUBLISHED_POSTS; n += 1) {
    const body = postMarkdown(n);
    const now = new Date(BASE_TIME + n * 60_000);
    const id = postId(n);
    if (!(await posts.insert({ id, authorId, title: `Post ${n}`, body, html: renderer.post(body) ?? (() => { throw new Error('a bench post renders to more HTML than a post may hold'); })(), tags: ['security', 'bench'], now }))) throw new Error('seeding: the author vanished');
    await posts.setStatus(id, 'published', now);
  }
}
