import { randomUUID } from 'node:crypto';
import type { CursorCodec } from '../../security/cursors.js';
import type { ContentRenderer } from './rendering.js';
import type { PostRecord, PostsRepository } from './repository.js';
import { postCursorSchema, type ListPostsQuery, type PostView } from './schemas.js';

export interface PostsServiceOptions {
  readonly repository: PostsRepository;
  readonly renderer: ContentRenderer;
  readonly cursors: CursorCodec;
  readonly now?: () => Date;
}

export type PostPage = { readonly items: PostView[]; readonly nextCursor: string | null };

/** The fields abilities look at: who wrote the post and whether it is published. */
export function postSubject(post: PostRecord): { id: string; authorId: string; status: string } {
  return { id: post.id, authorId: post.authorId, status: post.status };
}

export function postView(post: PostRecord): PostView {
  return {
    id: post.id,
    title: post.title,
    body: post.body,
    html: post.html,
    tags: [...post.tags],
    status: post.status,
    author: { id: post.authorId, name: post.authorName },
    createdAt: post.createdAt.toISOString(),
    updatedAt: post.updatedAt.toISOString(),
    publishedAt: post.publishedAt === null ? null : post.publishedAt.toISOString(),
  };
}

/**
 * Posts: Markdown in, sanitized HTML stored beside it, on write only. Authorization is the
 * caller's (the routes decide with `request.authorize` before calling a write here).
 */
export function createPostsService({ repository, renderer, cursors, now = () => new Date() }: PostsServiceOptions) {
  // Milliseconds only: JavaScript dates carry no more, so keyset cursors compare exactly.
  const clock = () => new Date(Math.floor(now().getTime()));
  return {
    /** A page of posts; `invalid_cursor` for a cursor this list did not issue. Drafts are the viewer's own. */
    async list(query: ListPostsQuery, viewerId: string | null): Promise<PostPage | 'invalid_cursor'> {
      let after: { time: Date; id: string } | undefined;
      if (query.cursor !== undefined) {
        const position = cursors.decode(query.cursor, postCursorSchema);
        if (position === null || position.s !== query.status) return 'invalid_cursor';
        after = { time: new Date(position.t), id: position.i };
      }
      const drafts = query.status === 'draft';
      if (drafts && viewerId === null) return { items: [], nextCursor: null };
      // Drafts: only the viewer's own, whatever `author` asks for.
      if (drafts && query.author !== undefined && query.author !== viewerId) return { items: [], nextCursor: null };
      const rows = await repository.list({
        status: query.status,
        ...(drafts && viewerId !== null ? { authorId: viewerId } : query.author === undefined ? {} : { authorId: query.author }),
        ...(query.tag === undefined ? {} : { tag: query.tag }),
        ...(query.q === undefined ? {} : { search: query.q }),
        ...(after === undefined ? {} : { after }),
        limit: query.limit + 1,
      });
      const items = rows.slice(0, query.limit);
      const last = items.at(-1);
      const more = rows.length > query.limit && last !== undefined;
      const time = last === undefined ? null : (drafts ? last.createdAt : last.publishedAt);
      const nextCursor = more && time !== null ? cursors.encode({ s: query.status, t: time.toISOString(), i: last.id }) : null;
      return { items: items.map(postView), nextCursor };
    },

    find(id: string): Promise<PostRecord | null> {
      return repository.findById(id);
    },

    /**
     * Renders Markdown as saving would, without saving (the route spends the user's preview
     * budget); `too_large` when the HTML would exceed what a post may hold.
     */
    preview(markdown: string): { html: string } | 'too_large' {
      const html = renderer.post(markdown);
      return html === null ? 'too_large' : { html };
    },

    /** The new draft; null when its author was deleted while it was written (or right after); `too_large` as for a preview. */
    async create(authorId: string, input: { title: string; body: string; tags: readonly string[] }): Promise<PostRecord | null | 'too_large'> {
      const id = randomUUID();
      const html = renderer.post(input.body);
      if (html === null) return 'too_large';
      if (!(await repository.insert({ id, authorId, title: input.title, body: input.body, html, tags: input.tags, now: clock() }))) return null;
      return repository.findById(id);
    },

    /** The post after the edit; null when it was deleted meanwhile; `too_large` (nothing changed) as for a preview. */
    async update(id: string, input: { title?: string | undefined; body?: string | undefined; tags?: readonly string[] | undefined }): Promise<PostRecord | null | 'too_large'> {
      const html = input.body === undefined ? undefined : renderer.post(input.body);
      if (html === null) return 'too_large';
      const changes = {
        ...(input.title === undefined ? {} : { title: input.title }),
        ...(input.body === undefined || html === undefined ? {} : { body: input.body, html }),
        ...(input.tags === undefined ? {} : { tags: input.tags }),
        now: clock(),
      };
      if (!(await repository.update(id, changes))) return null;
      return repository.findById(id);
    },

    /** The post in its new state; null when it was deleted meanwhile. */
    async setStatus(id: string, status: 'draft' | 'published'): Promise<PostRecord | null> {
      await repository.setStatus(id, status, clock());
      return repository.findById(id);
    },

    delete(id: string): Promise<boolean> {
      return repository.delete(id);
    },
  };
}

export type PostsService = ReturnType<typeof createPostsService>;
