import { randomBytes, randomUUID } from 'node:crypto';
import { startBenchRampart, type BenchRampart } from '../rampart.js';
import { createAccountsRepository } from '../../src/modules/accounts/repository.js';
import { emailAad, emailIndex } from '../../src/modules/accounts/users.js';
import { createContentRenderer } from '../../src/modules/posts/rendering.js';
import { AUTHOR_EMAIL, AUTHOR_NAME, NEW_POST_BODY, PUBLISHED_POSTS, READ_POST_ID, seedPosts } from './fixtures.js';
import type { RunningServer } from './bare.js';
import type { RequestSpec, ServerOptions } from './protocol.js';
import type { AccountsTables } from '../../src/modules/accounts/tables.js';
import { tablesOf } from '../../src/platform/database.js';
import type { PostsDatabase } from '../../src/modules/posts/repository.js';

// The global per-client limit stays on and counts every request in the store; the budget is
// above what one loopback client sends, so it never refuses one (a 429 fails the run).
const RATE_LIMIT_POINTS = 1_000_000;
const RATE_LIMIT_WINDOW_SECONDS = 10;
// Setup only: sessions and tokens minted before the load, a few at a time.
const SETUP_CONCURRENCY = 16;

function setCookieValue(header: string | string[] | number | undefined, name: string): string {
  const lines = header === undefined ? [] : Array.isArray(header) ? header : [String(header)];
  const line = lines.find((l) => l.startsWith(`${name}=`));
  if (line === undefined) throw new Error(`no ${name} cookie was set`);
  return line.slice(name.length + 1).split(';')[0] ?? '';
}

/** The author, signed in both ways, through the real routes: a CSRF-protected login, and an access token. */
async function signIn(rampart: BenchRampart, password: string): Promise<{ cookie: string; csrf: string; accessToken: string }> {
  const { app, config } = rampart;
  const pre = await app.inject({ method: 'GET', url: '/api/csrf' });
  const preCookie = [pre.headers['set-cookie']].flat().map((l) => String(l).split(';')[0]).join('; ');
  const login = await app.inject({
    method: 'POST', url: '/api/auth/login', payload: { email: AUTHOR_EMAIL, password },
    headers: { cookie: preCookie, 'x-csrf-token': (JSON.parse(pre.body) as { token: string }).token },
  });
  if (login.statusCode !== 200) throw new Error(`rampart: the bench login answered ${login.statusCode}`);
  const cookie = `${config.sessions.cookieName}=${setCookieValue(login.headers['set-cookie'], config.sessions.cookieName)}`;
  const token = await app.inject({ method: 'POST', url: '/api/auth/token', payload: { email: AUTHOR_EMAIL, password, scope: 'account:read' } });
  if (token.statusCode !== 200) throw new Error(`rampart: the bench token request answered ${token.statusCode}`);
  return { cookie, csrf: await csrfFor(rampart, cookie), accessToken: (JSON.parse(token.body) as { access_token: string }).access_token };
}

async function csrfFor(rampart: BenchRampart, cookie: string): Promise<string> {
  const res = await rampart.app.inject({ method: 'GET', url: '/api/csrf', headers: { cookie } });
  if (res.statusCode !== 200) throw new Error(`rampart: GET /api/csrf answered ${res.statusCode}`);
  return (JSON.parse(res.body) as { token: string }).token;
}

/**
 * Writers for `POST /api/posts`: Rampart allows each user 120 content writes per 10 minutes,
 * so the load rotates through enough signed-in users that none runs out. They share the
 * author's password hash (inserted directly: hashing hundreds of passwords would only slow
 * the setup) and get real sessions and CSRF tokens.
 */
async function writers(rampart: BenchRampart, count: number, passwordHash: string): Promise<Record<string, string>[]> {
  const { app, config } = rampart;
  const accounts = createAccountsRepository(tablesOf<AccountsTables>(app.database));
  const out: Record<string, string>[] = [];
  for (let first = 0; first < count; first += SETUP_CONCURRENCY) {
    const batch = Array.from({ length: Math.min(SETUP_CONCURRENCY, count - first) }, async (_, i) => {
      const id = randomUUID();
      const email = `writer-${first + i}@bench.example`;
      const inserted = await accounts.insertUser({
        id, name: `Writer ${first + i}`, emailCiphertext: app.keyring.encrypt(email, emailAad(id)), emailIndex: emailIndex(app.keyring, email),
        passwordHash, role: 'author', emailVerifiedAt: new Date(),
      });
      if (!inserted) throw new Error(`rampart: could not insert ${email}`);
      const { token } = await app.sessions.create(id, { ip: '127.0.0.1', userAgent: 'wrk' });
      const cookie = `${config.sessions.cookieName}=${token}`;
      return { 'content-type': 'application/json', cookie, 'x-csrf-token': await csrfFor(rampart, cookie) };
    });
    out.push(...(await Promise.all(batch)));
  }
  return out;
}

/** Rampart as `buildRampart` assembles it, every protection on, logging at info to /dev/null. */
export async function startRampart(options: ServerOptions): Promise<RunningServer> {
  const rampart = await startBenchRampart({
    redisUrl: options.redisUrl,
    databaseUrl: options.databaseUrl,
    redisPrefix: options.redisPrefix,
    metrics: options.kind !== 'nometrics',
    env: {
      RAMPART_RATE_LIMIT_POINTS: String(RATE_LIMIT_POINTS),
      RAMPART_RATE_LIMIT_WINDOW_SECONDS: String(RATE_LIMIT_WINDOW_SECONDS),
      RAMPART_ACCESS_TOKEN_MINUTES: '60',
    },
  });
  try {
    const { app } = rampart;
    const password = `harbor lantern ${randomBytes(9).toString('base64url')} willow`;
    const created = await app.accounts.createUser({ name: AUTHOR_NAME, email: AUTHOR_EMAIL, password, role: 'author', verified: true });
    if (!created.ok) throw new Error(`rampart: could not create the bench author: ${created.reason}`);
    await seedPosts(tablesOf<PostsDatabase>(app.database), createContentRenderer(), created.user.id);
    const author = await signIn(rampart, password);
    const writerHeaders = await writers(rampart, options.writers, created.user.passwordHash);
    const get = (path: string, headers: Record<string, string> = {}): RequestSpec => ({ method: 'GET', path, headers: [headers], status: 200 });
    const port = new URL(rampart.origin).port;
    return {
      ready: {
        port: Number(port),
        requests: {
          'api-status': get('/api/status'),
          'me-cookie': get('/api/me', { cookie: author.cookie }),
          'me-bearer': get('/api/me', { authorization: `Bearer ${author.accessToken}` }),
          home: get('/'),
          'post-page': get(`/posts/${READ_POST_ID}`, { cookie: author.cookie }),
          'posts-list': get(`/api/posts?limit=${PUBLISHED_POSTS}`),
          'post-create': { method: 'POST', path: '/api/posts', headers: writerHeaders, body: NEW_POST_BODY, status: 201 },
        },
        notes: [
          `rampart: buildRampart, every protection on, NODE_ENV=test, log level ${rampart.config.logLevel} to /dev/null (Rampart's default buffered asynchronous destination), ${app.store.kind} store (prefix ${rampart.redisPrefix}), ${app.database.kind}; ` +
            `global rate limit ${RATE_LIMIT_POINTS.toLocaleString('en-US')} per ${RATE_LIMIT_WINDOW_SECONDS} s per client (counts every request, never trips); ` +
            `post-create rotates ${writerHeaders.length} signed-in writers (120 writes per user per 10 min)`,
        ],
      },
      close: () => rampart.close(),
    };
  } catch (err) {
    await rampart.close();
    throw err;
  }
}
