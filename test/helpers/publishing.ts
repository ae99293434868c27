import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { randomIp } from './build.js';
import { Client, json } from './client.js';
import { createVerifiedUser, type TestUser } from './tokens.js';

export interface Actor {
  readonly user: TestUser;
  readonly client: Client;
}

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

/** A verified user of `role`, signed in through the login API on a client of its own (own IP, own cookie jar). */
export async function signedIn(app: FastifyInstance, role: 'author' | 'moderator' | 'admin' = 'author'): Promise<Actor> {
  const user = await createVerifiedUser(app, role);
  const client = new Client(app);
  const res = await client.post('/api/auth/login', { email: user.email, password: user.password });
  assert.equal(res.statusCode, 200, res.body);
  return { user, client };
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

/** The same signed-in actor on a fresh client IP, so a long corpus respects the per-IP rate limit instead of switching it off. */
export function onFreshIp(actor: Actor): Client {
  const client = new Client(actor.client.app, randomIp());
  for (const [name, value] of actor.client.cookies) client.cookies.set(name, value);
  return client;
}
