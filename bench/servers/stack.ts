import { randomBytes } from 'node:crypto';
import fastifyCookie from '@fastify/cookie';
import fastifyHelmet from '@fastify/helmet';
import fastifyRateLimit from '@fastify/rate-limit';
import { RedisStore } from 'connect-redis';
import Fastify, { type FastifyPluginAsync, type FastifyReply, type FastifyRequest, type onRequestHookHandler } from 'fastify';
import { Redis } from 'ioredis';
import { destination } from 'pino';
import { createClient } from 'redis';
import { deleteKeys } from '../rampart.js';
import type { UserRecord } from '../../src/modules/accounts/repository.js';
import { NEW_POST_BODY, PUBLISHED_POSTS, READ_POST_ID } from './fixtures.js';
import { openBaselineData } from './baseline-data.js';
import type { RunningServer } from './bare.js';
import { NONCE_MARKER, type ServerOptions } from './protocol.js';

/** What the stack uses of @fastify/session's request decoration. */
interface StackSession {
  get(key: 'userId'): string | undefined;
  set(key: 'userId', value: string): void;
  save(): Promise<void>;
}

/**
 * @fastify/session and @fastify/csrf-protection are loaded by a computed specifier, so their
 * type declarations stay out of the project's program: they augment `FastifyRequest.session`
 * globally, which clashes with Rampart's own `request.session`. The stack uses the few
 * members typed here.
 */
async function loadPlugin(name: '@fastify/session' | '@fastify/csrf-protection'): Promise<FastifyPluginAsync<Record<string, unknown>>> {
  const specifier: string = name;
  const module = (await import(specifier)) as { default: FastifyPluginAsync<Record<string, unknown>> };
  return module.default;
}

const sessionOf = (request: FastifyRequest): StackSession => (request as unknown as { session: StackSession }).session;

// As for Rampart: the limiter counts every request in Redis and never refuses one.
const RATE_LIMIT_MAX = 1_000_000;
const RATE_LIMIT_WINDOW_MS = 10_000;
const HTML = 'text/html; charset=utf-8';

/**
 * The usual Fastify plugin stack, as its READMEs set it up: pino request logging at `info`,
 * @fastify/helmet's full header set with CSP nonces, @fastify/rate-limit on Redis (ioredis),
 * @fastify/session on Redis (connect-redis, node-redis), @fastify/csrf-protection on that
 * session. Signed-in routes load the user row per request (passport's deserializeUser).
 * Without a Redis URL: the session's MemoryStore and the limiter's local store.
 */
export async function startStack(options: ServerOptions): Promise<RunningServer> {
  if (options.pages === null) throw new Error('stack: the page templates are missing');
  const pages = options.pages;
  const data = await openBaselineData(options.databaseUrl);
  const ioredis = options.redisUrl === null ? null : new Redis(options.redisUrl, { maxRetriesPerRequest: 1, connectTimeout: 5_000 });
  const nodeRedis = options.redisUrl === null ? null : createClient({ url: options.redisUrl });
  if (nodeRedis !== null) await nodeRedis.connect();
  // pino's default destination (`logger: true` writes stdout through it: one synchronous
  // write(2) per line), pointed at /dev/null.
  const log = destination({ dest: '/dev/null', sync: true });
  const app = Fastify({ logger: { level: 'info', stream: log } });
  await app.register(fastifyHelmet, { enableCSPNonces: true });
  await app.register(fastifyRateLimit, {
    global: true, max: RATE_LIMIT_MAX, timeWindow: RATE_LIMIT_WINDOW_MS,
    ...(ioredis === null ? {} : { redis: ioredis, nameSpace: `${options.redisPrefix}rl:` }),
  });
  await app.register(fastifyCookie);
  await app.register(await loadPlugin('@fastify/session'), {
    secret: randomBytes(32).toString('base64url'),
    cookieName: 'sessionId',
    cookie: { secure: false, httpOnly: true, sameSite: 'strict', path: '/' },
    saveUninitialized: false,
    ...(nodeRedis === null ? {} : { store: new RedisStore({ client: nodeRedis, prefix: `${options.redisPrefix}sess:` }) }),
  });
  await app.register(await loadPlugin('@fastify/csrf-protection'), { sessionPlugin: '@fastify/session' });
  const csrfProtection = (app as unknown as { csrfProtection: onRequestHookHandler }).csrfProtection;

  const signedIn = async (request: FastifyRequest, reply: FastifyReply): Promise<UserRecord | null> => {
    const userId = sessionOf(request).get('userId');
    const user = userId === undefined ? null : await data.findUser(userId);
    if (user === null || user.disabledAt !== null) {
      await reply.code(401).send({ error: 'unauthenticated' });
      return null;
    }
    return user;
  };
  const page = (template: string, reply: FastifyReply) => reply.type(HTML).send(template.replaceAll(NONCE_MARKER, reply.cspNonce.script));

  app.get('/api/status', () => ({ status: 'ok', time: new Date().toISOString() }));
  app.get('/api/me', async (request, reply) => {
    const user = await signedIn(request, reply);
    return user === null ? reply : data.meView(user);
  });
  app.get('/', async (_request, reply) => {
    await data.homePosts();
    return page(pages.home, reply);
  });
  app.get<{ Params: { id: string } }>('/posts/:id', async (request, reply) => {
    if ((await signedIn(request, reply)) === null) return reply;
    const post = await data.posts.findById(request.params.id);
    return post === null ? reply.code(404).send() : page(pages.post, reply);
  });
  app.get('/api/posts', () => data.listPosts());
  app.post<{ Body: { title: string; body: string; tags: string[] } }>('/api/posts', { onRequest: csrfProtection }, async (request, reply) => {
    const user = await signedIn(request, reply);
    if (user === null) return reply;
    const post = await data.createPost(user.id, request.body);
    return post === null ? reply.code(404).send() : reply.code(201).header('location', `/api/posts/${post.id}`).send(post);
  });
  // Setup only (the bench signs in through inject before any load): a session for the author, and its CSRF token.
  app.post('/bench/sign-in', async (request) => {
    sessionOf(request).set('userId', data.author.id);
    await sessionOf(request).save();
    return { ok: true };
  });
  app.get('/bench/csrf', async (_request, reply) => ({ token: await (reply as unknown as { generateCsrf(): Promise<string> }).generateCsrf() }));

  const close = async (): Promise<void> => {
    await app.close();
    await data.database.close();
    if (ioredis !== null) {
      await deleteKeys(ioredis, options.redisPrefix);
      await ioredis.quit();
    }
    if (nodeRedis !== null) await nodeRedis.quit();
    log.end();
  };
  try {
    await app.listen({ host: '127.0.0.1', port: 0 });
    const signIn = await app.inject({ method: 'POST', url: '/bench/sign-in' });
    const setCookie = signIn.headers['set-cookie'];
    const cookie = (Array.isArray(setCookie) ? setCookie : [String(setCookie)]).map((l) => l.split(';')[0]).find((c) => c?.startsWith('sessionId=')) ?? '';
    if (signIn.statusCode !== 200 || cookie === '') throw new Error(`stack: the bench sign-in answered ${signIn.statusCode} without a session cookie`);
    const csrf = await app.inject({ method: 'GET', url: '/bench/csrf', headers: { cookie } });
    const token = (JSON.parse(csrf.body) as { token: string }).token;
    const address = app.server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    const get = (path: string, headers: Record<string, string> = {}) => ({ method: 'GET' as const, path, headers: [headers], status: 200 });
    return {
      ready: {
        port,
        requests: {
          'api-status': get('/api/status'),
          'me-cookie': get('/api/me', { cookie }),
          home: get('/'),
          'post-page': get(`/posts/${READ_POST_ID}`, { cookie }),
          'posts-list': get(`/api/posts?limit=${PUBLISHED_POSTS}`),
          'post-create': { method: 'POST', path: '/api/posts', headers: [{ 'content-type': 'application/json', cookie, 'x-csrf-token': token }], body: NEW_POST_BODY, status: 201 },
        },
        notes: [
          `stack: logger info (to /dev/null), @fastify/helmet (all headers, CSP nonces), @fastify/rate-limit ${ioredis === null ? 'local store' : 'on Redis (ioredis)'} at ${RATE_LIMIT_MAX.toLocaleString('en-US')} per ${RATE_LIMIT_WINDOW_MS / 1_000} s, ` +
            `@fastify/session ${nodeRedis === null ? 'MemoryStore' : 'on Redis (connect-redis)'}, @fastify/csrf-protection on the session; user row read per signed-in request; ${data.database.kind}; no bearer tokens (me-bearer n/a)`,
        ],
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
