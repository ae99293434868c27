import Fastify from 'fastify';
import { NEW_POST_BODY, PUBLISHED_POSTS, READ_POST_ID } from './fixtures.js';
import { openBaselineData } from './baseline-data.js';
import { NONCE_MARKER, type ReadyMessage, type ServerOptions } from './protocol.js';

export interface RunningServer {
  readonly ready: ReadyMessage;
  close(): Promise<void>;
}

const HTML = 'text/html; charset=utf-8';

/**
 * The floor: `Fastify()` with its defaults, no plugins, hooks, schemas or logger, nothing
 * checked. Each route sends the same body as Rampart's; routes that read or write the
 * database run the same query (`/api/me` has no one to look up, so it sends the body as is).
 */
export async function startBare(options: ServerOptions): Promise<RunningServer> {
  if (options.pages === null) throw new Error('bare: the page templates are missing');
  const data = await openBaselineData(options.databaseUrl);
  const home = options.pages.home.replaceAll(NONCE_MARKER, 'bench-bare-nonce-000000');
  const postPage = options.pages.post.replaceAll(NONCE_MARKER, 'bench-bare-nonce-000000');
  const me = JSON.stringify(data.meView(data.author));
  const app = Fastify();
  app.get('/api/status', () => ({ status: 'ok', time: new Date().toISOString() }));
  app.get('/api/me', (_request, reply) => reply.type('application/json; charset=utf-8').send(me));
  app.get('/', async (_request, reply) => {
    await data.homePosts();
    return reply.type(HTML).send(home);
  });
  app.get<{ Params: { id: string } }>('/posts/:id', async (request, reply) => {
    const post = await data.posts.findById(request.params.id);
    return post === null ? reply.code(404).send() : reply.type(HTML).send(postPage);
  });
  app.get('/api/posts', () => data.listPosts());
  app.post<{ Body: { title: string; body: string; tags: string[] } }>('/api/posts', async (request, reply) => {
    const post = await data.createPost(data.author.id, request.body);
    return post === null ? reply.code(404).send() : reply.code(201).header('location', `/api/posts/${post.id}`).send(post);
  });
  try {
    await app.listen({ host: '127.0.0.1', port: 0 });
  } catch (err) {
    await app.close();
    await data.database.close();
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  const get = (path: string) => ({ method: 'GET' as const, path, headers: [{}], status: 200 });
  return {
    ready: {
      port,
      requests: {
        'api-status': get('/api/status'),
        'me-cookie': get('/api/me'),
        'me-bearer': get('/api/me'),
        home: get('/'),
        'post-page': get(`/posts/${READ_POST_ID}`),
        'posts-list': get(`/api/posts?limit=${PUBLISHED_POSTS}`),
        'post-create': { method: 'POST', path: '/api/posts', headers: [{ 'content-type': 'application/json' }], body: NEW_POST_BODY, status: 201 },
      },
      notes: [`bare: Fastify() defaults, no plugins, hooks, schemas or logger; ${data.database.kind}; no authentication (/api/me sends the author's body as is); database routes run Rampart's queries`],
    },
    async close() {
      await app.close();
      await data.database.close();
    },
  };
}
