import { subject as tagSubject } from '@casl/ability';
import type { FastifyRequest } from 'fastify';
import type { AdminRoutesOptions } from '../modules/admin/user-changes.js';
import type { CommentsRepository } from '../modules/comments/repository.js';
import type { ContentRenderer } from '../modules/posts/rendering.js';
import type { PostRecord } from '../modules/posts/repository.js';
import type { PostsService } from '../modules/posts/service.js';
import type { CursorCodec } from '../security/cursors.js';

/** What the publishing pages share with the API: the same services, repositories, renderer and cursors. */
export interface PublishingPagesOptions {
  readonly posts: PostsService;
  readonly comments: CommentsRepository;
  readonly renderer: ContentRenderer;
  readonly commentCursors: CursorCodec;
  /** The admin API's own dependencies, so the admin pages and the API change users the same way. */
  readonly admin: Omit<AdminRoutesOptions, 'now'>;
  readonly now?: () => Date;
}

const EXCERPT_LENGTH = 240;
const ENTITIES: Readonly<Record<string, string>> = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'", '&#x27;': "'", '&nbsp;': ' ' };

/**
 * A post's opening words as plain text, from its sanitized HTML: tags dropped, the common
 * entities decoded. The template escapes it again, so it is shown as text, never as markup.
 */
export function excerpt(html: string): string {
  const text = html.replace(/<[^>]*>/g, ' ').replace(/&(?:amp|lt|gt|quot|nbsp|#39|#x27);/g, (e) => ENTITIES[e] ?? e).replace(/\s+/g, ' ').trim();
  return text.length <= EXCERPT_LENGTH ? text : `${text.slice(0, EXCERPT_LENGTH - 1).trimEnd()}…`;
}

/**
 * Whether the viewer may `action` on a post, for showing a button only: no event is recorded.
 * The route the button posts to decides again with `request.authorize`.
 */
export function mayOnPost(request: FastifyRequest, action: string, post: PostRecord): boolean {
  return request.ability().can(action, tagSubject('Post', { id: post.id, authorId: post.authorId, status: post.status }));
}

/** The same for a comment (button display only). */
export function mayOnComment(request: FastifyRequest, action: string, comment: { id: string; authorId: string; hidden: boolean; postPublished: boolean }): boolean {
  return request.ability().can(action, tagSubject('Comment', { ...comment }));
}

/** A date as the pages show it (`2026-11-23`), with the ISO form for `<time datetime>`. */
export function dateOf(date: Date | null): { iso: string; day: string } {
  if (date === null) return { iso: '', day: '' };
  const iso = date.toISOString();
  return { iso, day: iso.slice(0, 10) };
}

/** Comma-separated tags as typed in the editor, trimmed and lowercased; the tag schema then checks each. */
export function splitTags(text: string): string[] {
  return text.split(',').map((tag) => tag.trim().toLowerCase()).filter((tag) => tag !== '');
}
