import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { fail, noQuery } from '../../kernel/http.js';
import { AUTHZ_ERR_FORBIDDEN } from '../../security/errors.js';
import { idParams } from '../../security/schema-primitives.js';
import { BOOKMARK_ERR_LIMIT, BOOKMARK_ERR_NOT_FOUND } from './errors.js';
import type { BookmarkRecord, BookmarksRepository } from './repository.js';

/** Only web links: a `javascript:` or `data:` URL shown as a link would be script. */
const urlSchema = z.url({ protocol: /^https?$/, hostname: z.regexes.domain }).max(2048);
const titleSchema = z.string().max(400).transform((title) => title.trim().normalize('NFC')).pipe(z.string().min(1).max(200));
const createBookmarkBody = z.strictObject({ url: urlSchema, title: titleSchema });
const bookmarkSchema = z.object({ id: z.uuid(), url: z.string(), title: z.string(), createdAt: z.iso.datetime() });

const view = (bookmark: BookmarkRecord) => ({ id: bookmark.id, url: bookmark.url, title: bookmark.title, createdAt: bookmark.createdAt.toISOString() });
const LIST_LIMIT = 100;

/** The bookmarks API: each signed-in user's own list; nobody else's exists for them. */
export const bookmarksRoutes: FastifyPluginAsyncZod<{ readonly bookmarks: BookmarksRepository }> = (app, { bookmarks }) => {
  app.get('/api/bookmarks', {
    config: { access: { action: 'read', subject: 'Bookmark' }, scope: 'bookmarks:read' },
    schema: { querystring: noQuery, response: { 200: z.object({ bookmarks: z.array(bookmarkSchema) }) } },
  }, async (request) => ({ bookmarks: (await bookmarks.listForOwner(request.principal?.id ?? '', LIST_LIMIT)).map(view) }));

  app.post('/api/bookmarks', {
    config: { access: { action: 'create', subject: 'Bookmark' }, scope: 'bookmarks:write' },
    schema: { querystring: noQuery, body: createBookmarkBody, response: { 201: bookmarkSchema } },
  }, async (request, reply) => {
    const created = await bookmarks.insert({ ownerId: request.principal?.id ?? '', url: request.body.url, title: request.body.title });
    if (created === 'limit') return fail(reply, new BOOKMARK_ERR_LIMIT());
    return reply.code(201).header('location', `/api/bookmarks/${created.id}`).send(view(created));
  });

  app.delete('/api/bookmarks/:id', {
    config: { access: { action: 'delete', subject: 'Bookmark' }, scope: 'bookmarks:write' },
    schema: { params: idParams, querystring: noQuery, response: { 204: z.null() } },
  }, async (request, reply) => {
    const bookmark = await bookmarks.find(request.params.id);
    // Someone else's bookmark is a 404, like one that does not exist: its existence is private.
    const decision = bookmark === null ? 'not_found' : request.authorize('delete', 'Bookmark', { id: bookmark.id, ownerId: bookmark.ownerId });
    if (decision === 'not_found') return fail(reply, new BOOKMARK_ERR_NOT_FOUND());
    if (decision === 'forbidden' || bookmark === null) return fail(reply, new AUTHZ_ERR_FORBIDDEN());
    await bookmarks.delete(bookmark.id);
    return reply.code(204).send(null);
  });

  return Promise.resolve();
};
