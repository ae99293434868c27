import assert from 'node:assert/strict';
import { json } from './client.js';
import type { Actor } from './users.js';

export interface PostBody {
  id: string;
  title: string;
  body: string;
  html: string;
  tags: string[];
  status: 'draft' | 'published';
  author: { id: string; name: string };
  createdAt: string;
  updatedAt: string;
  publishedAt: string | null;
}

export interface CommentBody {
  id: string;
  postId: string;
  body: string;
  html: string;
  author: { id: string; name: string };
  hidden: boolean;
  createdAt: string;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** Creates a post as `actor` (a draft), optionally publishing it. */
export async function createPost(actor: Actor, input: { title?: string; body?: string; tags?: string[] } = {}, publish = false): Promise<PostBody> {
  const res = await actor.client.post('/api/posts', { title: input.title ?? 'A post', body: input.body ?? 'Some *Markdown*.', ...(input.tags === undefined ? {} : { tags: input.tags }) });
  assert.equal(res.statusCode, 201, res.body);
  const post = json<PostBody>(res);
  if (!publish) return post;
  const published = await actor.client.post(`/api/posts/${post.id}/publish`);
  assert.equal(published.statusCode, 200, published.body);
  return json<PostBody>(published);
}

export async function createComment(actor: Actor, postId: string, body = 'A comment.'): Promise<CommentBody> {
  const res = await actor.client.post(`/api/posts/${postId}/comments`, { body });
  assert.equal(res.statusCode, 201, res.body);
  return json<CommentBody>(res);
}
