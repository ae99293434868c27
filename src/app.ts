import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import proxyAddr from '@fastify/proxy-addr';
import Fastify, { type FastifyInstance, type FastifyPluginAsync, type FastifyServerOptions } from 'fastify';
import fp from 'fastify-plugin';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Config } from './config/config.js';
import { openDatabase, type Database } from './platform/database.js';
import { createMemoryStore } from './platform/memory-store.js';
import { createRedisStore } from './platform/redis-store.js';
import type { StateStore } from './platform/store.js';
import { authenticationPlugin, type PrincipalUser } from './security/authentication.js';
import { RAW_RESPONSE_HEADERS, securityHeadersPlugin } from './security/headers.js';
import { corsPlugin } from './security/cors.js';
import { csrfPlugin, PRE_SESSION_KEY_PREFIX } from './security/csrf.js';
import { hostHeaderPlugin } from './security/host-header.js';
import { inputHardeningPlugin } from './security/input-hardening.js';
import { createKeyring, type Keyring } from './security/keyring.js';
import { loadSheddingPlugin, type LoadSheddingOptions } from './security/load-shedding.js';
import { AccessLogController, loggerOptions } from './security/logging.js';
import { problemDetailsPlugin, problemType, sendProblem } from './security/problem-details.js';
import { globalRateLimitPlugin } from './security/rate-limit.js';
import { routeContractPlugin } from './security/route-contract.js';
import { securityEventsPlugin } from './security/security-events.js';
import { readTlsMaterial, tlsServerOptions } from './security/tls.js';
import { createSessionManager, type SessionManager } from './security/sessions.js';
import { createAccountsRepository } from './modules/accounts/repository.js';
import { accountsRoutes } from './modules/accounts/routes.js';
import { createAccountsService, type AccountsService } from './modules/accounts/service.js';
import { createOutboxMailer, createSmtpMailer, type Mailer } from './platform/mailer.js';
import { createAttemptLimiter, createLoginThrottle } from './security/brute-force.js';
import { createPasswordHasher, type PasswordHasher } from './security/password-hashing.js';
import { createPasswordPolicy, type PasswordPolicy } from './security/password-policy.js';
import { systemRoutes } from './modules/system/routes.js';
import { createAccessTokens, CLOCK_TOLERANCE_SECONDS } from './security/access-tokens.js';
import { createSigningKeySet, type SigningKeySet } from './security/signing-keys.js';
import { createTokensRepository } from './modules/tokens/repository.js';
import { tokensRoutes } from './modules/tokens/routes.js';
import { SCOPES } from './modules/tokens/scopes.js';
import { createTokensService, type TokensService } from './modules/tokens/service.js';
import { authorizationPlugin } from './security/authorization.js';
import { createCursorCodec } from './security/cursors.js';
import { abilityFor, ACTIONS, SUBJECTS } from './modules/access/abilities.js';
import { createPostsRepository } from './modules/posts/repository.js';
import { createContentRenderer } from './modules/posts/rendering.js';
import { postsRoutes } from './modules/posts/routes.js';
import { createPostsService, type PostsService } from './modules/posts/service.js';
import { createCommentsRepository } from './modules/comments/repository.js';
import { commentsRoutes } from './modules/comments/routes.js';
import { createAdminRepository } from './modules/admin/repository.js';
import { adminRoutes } from './modules/admin/routes.js';
import { cspReportPlugin } from './security/csp-report.js';
import { webPlugin } from './web/plugin.js';

declare module 'fastify' {
  interface FastifyInstance {
    config: Config;
    database: Database;
    store: StateStore;
    keyring: Keyring;
    sessions: SessionManager;
    accounts: AccountsService;
    signingKeys: SigningKeySet;
    tokens: TokensService;
    posts: PostsService;
  }
}

export interface BuildOptions {
  readonly config: Config;
  /** Where log lines go; stdout when absent. Tests pass a stream to read them back. */
  readonly logStream?: NodeJS.WritableStream;
  /** Run pending migrations before serving (default true). */
  readonly migrate?: boolean;
  /** Test seam: sample the load gauges faster than production does. */
  readonly loadShedding?: Partial<LoadSheddingOptions>;
  /**
   * Your own routes, registered after Rampart's kernel and modules, so they inherit every
   * protection and must keep the same route contract (access rule and schemas).
   */
  readonly plugins?: readonly FastifyPluginAsync[];
  /**
   * An already open database and state store to use instead of opening them from the
   * configuration: several instances in one process then share them, as instances share
   * PostgreSQL and Redis. The caller owns and closes them.
   */
  readonly shared?: { readonly database: Database; readonly store: StateStore };
  /** Test seam: the clock API tokens and signing keys run on (default `Date.now`). */
  readonly clock?: () => number;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** Fastify's server options: timeouts, limits, proxy trust and logging, all explicit. */
function serverOptions(config: Config, logStream: NodeJS.WritableStream | undefined): FastifyServerOptions {
  const trustProxy = config.trustProxy === false ? false : [...config.trustProxy.addresses];
  const isTrusted = config.trustProxy === false ? () => false : proxyAddr.compile([...config.trustProxy.addresses]);
  const http = config.http;
  const tls = config.tls === null ? null : readTlsMaterial(config.tls);
  const nodeOptions = {
    maxHeaderSize: http.maxHeaderBytes,
    headersTimeout: http.headersTimeoutMs,
    requestTimeout: http.requestTimeoutMs,
    keepAliveTimeout: http.keepAliveTimeoutMs,
    // Check for expired header/request timers often enough that a slow client is dropped promptly.
    connectionsCheckingInterval: Math.min(1000, Math.floor(http.headersTimeoutMs / 2)),
    requireHostHeader: true,
  };
  return {
    logger: logStream === undefined ? loggerOptions({ level: config.logLevel }) : { ...loggerOptions({ level: config.logLevel }), stream: logStream },
    // One access line per request, on completion; Fastify's error lines stay as they are.
    logController: new AccessLogController(),
    trustProxy,
    // A client-supplied request id is believed only from a trusted proxy; anyone else could forge log correlation.
    requestIdHeader: false,
    genReqId: (req: IncomingMessage) => {
      const header = req.headers['x-request-id'];
      const peer = req.socket.remoteAddress ?? '';
      if (typeof header === 'string' && REQUEST_ID.test(header) && isTrusted(peer, 0)) return header;
      return randomUUID();
    },
    bodyLimit: config.bodyLimitBytes,
    connectionTimeout: http.connectionTimeoutMs,
    keepAliveTimeout: http.keepAliveTimeoutMs,
    requestTimeout: http.requestTimeoutMs,
    maxRequestsPerSocket: http.maxRequestsPerSocket,
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    serverFactory: (handler: RequestListener) => {
      const server: Server = tls === null
        ? createHttpServer(nodeOptions, handler)
        : createHttpsServer({ ...nodeOptions, ...tlsServerOptions(), cert: tls.cert, key: tls.key }, handler);
      return server;
    },
    clientErrorHandler: (err: NodeJS.ErrnoException, socket: Duplex) => {
      if (!socket.writable) return;
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
      const code = status === 431 ? 'RAMPART_ERR_HEADERS_TOO_LARGE' : status === 408 ? 'RAMPART_ERR_REQUEST_TIMEOUT' : 'RAMPART_ERR_BAD_REQUEST';
      const title = status === 431 ? 'Request headers too large.' : status === 408 ? 'Request timeout.' : 'Bad request.';
      const body = JSON.stringify({ type: problemType(code), title, status, code, traceId: randomUUID() });
      const headers = Object.entries({ ...RAW_RESPONSE_HEADERS, 'content-length': String(Buffer.byteLength(body)) }).map(([k, v]) => `${k}: ${v}`).join('\r\n');
      socket.end(`HTTP/1.1 ${status} ${title.replace(/\.$/, '')}\r\n${headers}\r\n\r\n${body}`);
    },
    frameworkErrors: (_err, _request, reply) => {
      void sendProblem(reply, { status: 400, code: 'RAMPART_ERR_BAD_REQUEST', title: 'Bad request.' });
    },
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A session's principal: its user, unless the user is gone or disabled. */
function principalLoader(database: Database): (userId: string) => Promise<PrincipalUser | null> {
  const users = createAccountsRepository(database.db);
  return async (userId) => {
    // User ids are UUIDs; anything else could only fail the uuid cast in PostgreSQL.
    if (!UUID.test(userId)) return null;
    const user = await users.findById(userId);
    return user === null || user.disabledAt !== null ? null : { id: user.id, role: user.role };
  };
}

interface Resources {
  readonly database: Database;
  readonly store: StateStore;
  readonly mailer: Mailer;
  readonly passwords: PasswordHasher;
  readonly policy: PasswordPolicy;
}

/** Opens the database, the state store and the mailer for this configuration. */
async function openResources(config: Config, app: FastifyInstance, shared: BuildOptions['shared']): Promise<Resources> {
  // Built first and before any plugin: nothing to leak if they fail, and the policy's
  // dictionaries and the dummy hash take CPU time that the load-shedding monitor would
  // otherwise count as an event-loop stall at boot.
  const passwords = await createPasswordHasher({ parameters: config.passwords.argon2, maxConcurrent: config.passwords.hashConcurrency });
  const policy = createPasswordPolicy({ minLength: config.passwords.minLength });
  if (shared !== undefined) {
    const { database, store } = shared;
    const mailer = config.mail.smtpUrl === null
      ? createOutboxMailer({ directory: `${config.dataDir}/outbox`, from: config.mail.from, logger: app.log })
      : createSmtpMailer({ url: config.mail.smtpUrl, from: config.mail.from, logger: app.log });
    return { database, store, mailer, passwords, policy };
  }
  const database = await openDatabase({
    url: config.database.url ?? undefined,
    migrationUrl: config.database.migrationUrl ?? undefined,
    // Tests get a throwaway in-memory PGlite; everything else keeps its data under the data directory.
    dataDir: config.database.url !== null ? undefined : config.env === 'test' ? 'memory://' : `${config.dataDir}/pglite`,
    logger: app.log,
  });
  try {
    const store = config.store.redisUrl === null
      // Full, it evicts only pre-sessions: a flood of anonymous visitors must not push out a
      // brute-force block or a session; other writes then fail closed with STORE_ERR_FULL.
      ? createMemoryStore({ logger: app.log, evictable: (key) => key.startsWith(PRE_SESSION_KEY_PREFIX) })
      : await createRedisStore({ url: config.store.redisUrl, keyPrefix: config.store.keyPrefix, logger: app.log });
    // Without SMTP (development only: production refuses it) each message becomes an .eml file.
    const mailer = config.mail.smtpUrl === null
      ? createOutboxMailer({ directory: `${config.dataDir}/outbox`, from: config.mail.from, logger: app.log })
      : createSmtpMailer({ url: config.mail.smtpUrl, from: config.mail.from, logger: app.log });
    return { database, store, mailer, passwords, policy };
  } catch (err) {
    await database.close();
    throw err;
  }
}

/**
 * Rampart as a Fastify plugin. The registration order below is the contract: each line may
 * rely on everything above it, and every onRequest hook runs in this order.
 */
const rampart = fp<{ config: Config; resources: Resources; loadShedding?: Partial<LoadSheddingOptions>; plugins: readonly FastifyPluginAsync[]; clock: () => number }>(
  async (app, { config, resources, loadShedding, plugins, clock }) => {
    const { database, store, mailer, passwords, policy } = resources;
    app.setValidatorCompiler(validatorCompiler);
    app.setSerializerCompiler(serializerCompiler);
    app.decorate('config', config);
    app.decorate('database', database);
    app.decorate('store', store);

    // 1. Security events: everything below may record one.
    await app.register(securityEventsPlugin, { db: database.db });
    app.decorate('keyring', createKeyring({
      secretKey: config.secrets.secretKey,
      encryptionKeys: config.secrets.encryptionKeys,
      onDecryptFailure: (failure) => {
        app.securityEvents.record('crypt_decrypt_fail', { details: { reason: failure.reason, key_id: failure.keyId, table: failure.table, column: failure.column, row_id: failure.rowId } });
      },
    }));
    // 2. Errors and 404s as problem+json.
    await app.register(problemDetailsPlugin);
    // 3. No route without an access rule and schemas: must precede every route.
    await app.register(routeContractPlugin);
    // 4. Headers first among onRequest hooks, so 503 and 429 answers carry them too.
    await app.register(securityHeadersPlugin, { hstsPreload: config.hsts.preload, pageCsp: { publicOrigin: config.publicOrigin, reportOnly: config.cspReportOnly } });
    // 5. Refuse new work while draining.
    let closing = false;
    // preClose runs before the server stops accepting: from then on new requests get 503.
    app.addHook('preClose', (done) => {
      closing = true;
      done();
    });
    app.addHook('onRequest', (_request, reply, done) => {
      if (!closing) {
        done();
        return;
      }
      reply.header('connection', 'close');
      reply.header('retry-after', '5');
      void sendProblem(reply, { status: 503, code: 'RAMPART_ERR_SHUTTING_DOWN', title: 'The server is shutting down: retry on another instance.' });
    });
    // 6. Load shedding, cheapest refusal first.
    await app.register(loadSheddingPlugin, { ...config.loadShedding, ...loadShedding });
    // 7. The global per-client rate limit, on the shared store.
    await app.register(globalRateLimitPlugin, { store, points: config.rateLimit.points, windowSeconds: config.rateLimit.windowSeconds });
    // 7a. The Host header names this site, or the request ends here (after the rate limit, so a
    //     flood of forged hosts is throttled before each refusal is recorded).
    await app.register(hostHeaderPlugin, { publicOrigin: config.publicOrigin, allowedHosts: config.allowedHosts, allowLoopback: !config.isProduction });
    // 8. CORS (off unless exact origins are configured); preflights are answered here, after the rate limit.
    await app.register(corsPlugin, config.cors);
    // 9. Cookies and sessions: `request.session` and `request.principal` for everything below;
    //    `access: 'authenticated'` routes answer 401 here, before any body is read.
    const sessions = createSessionManager({
      store,
      keyring: app.keyring,
      idleTimeoutMs: config.sessions.idleTimeoutMs,
      absoluteTimeoutMs: config.sessions.absoluteTimeoutMs,
      touchIntervalMs: 60_000,
    });
    app.decorate('sessions', sessions);
    // API tokens: EdDSA access tokens signed with keys kept (encrypted) in the database, so
    // every instance signs and verifies with the same set; refresh and personal tokens.
    const signingKeys = createSigningKeySet({
      db: database.db,
      keyring: app.keyring,
      tokenLifetimeSeconds: config.tokens.accessTtlSeconds,
      clockToleranceSeconds: CLOCK_TOLERANCE_SECONDS,
      now: clock,
      onTamperedKey: (kid) => {
        app.securityEvents.record('crypt_decrypt_fail', { details: { reason: 'integrity', table: 'signing_keys', row_id: kid } });
      },
    });
    app.decorate('signingKeys', signingKeys);
    const loadPrincipal = principalLoader(database);
    const tokens = createTokensService({
      repository: createTokensRepository(database.db),
      accessTokens: createAccessTokens({
        keys: signingKeys,
        store,
        issuer: config.publicUrl,
        audience: `${config.publicUrl}/api`,
        ttlSeconds: config.tokens.accessTtlSeconds,
        now: clock,
      }),
      findUser: loadPrincipal,
      refreshTtlMs: config.tokens.refreshTtlMs,
      now: clock,
    });
    app.decorate('tokens', tokens);
    await app.register(authenticationPlugin, {
      sessions,
      cookieName: config.sessions.cookieName,
      secureCookies: config.sessions.secureCookies,
      loadPrincipal,
      bearer: { resolve: (token) => tokens.resolveBearer(token), scopes: SCOPES },
    });
    // 9b. Authorization: roles and ownership as CASL abilities, deny by default; permission
    //     routes answer 401/403 here, before any body is read.
    await app.register(authorizationPlugin, { abilityFor, actions: ACTIONS, subjects: SUBJECTS });
    // 10. CSRF: the token API (`request.csrfToken()`) and the guard on unsafe methods, a
    //     preHandler hook, so it runs after authentication and validation, before any handler.
    await app.register(csrfPlugin, {
      store,
      keyring: app.keyring,
      publicOrigin: config.publicOrigin,
      trustedOrigins: config.csrf.trustedOrigins,
      preSessionCookieName: config.sessions.secureCookies ? '__Host-rampart_presession' : 'rampart_presession',
      secureCookies: config.sessions.secureCookies,
      preSessionTtlMs: 2 * 3_600_000,
    });
    // 11. Body parsing and forbidden keys, before any validation or handler.
    await app.register(inputHardeningPlugin);
    // 12. The application.
    await app.register(systemRoutes, {
      publicUrl: config.publicUrl,
      securityContacts: config.securityTxt.contacts,
      securityTxtExpires: config.securityTxt.expires,
      ready: async () => {
        await Promise.all([database.ping(), store.ping()]);
      },
    });
    // 13. Accounts: registration, login, recovery, sessions and first-run setup.
    const accounts = createAccountsService({
      repository: createAccountsRepository(database.db),
      keyring: app.keyring,
      passwords,
      policy,
      loginThrottle: createLoginThrottle({ store }),
      // A quiet limit: over it no reset mail is sent, and the answer stays 202.
      resetPerEmail: createAttemptLimiter({ store, keyPrefix: 'bf:reset-email', points: 3, durationSeconds: 3600 }),
      tokenPerIp: createAttemptLimiter({ store, keyPrefix: 'bf:token-ip', points: 30, durationSeconds: 900, blockSeconds: 900 }),
      registerPerIp: createAttemptLimiter({ store, keyPrefix: 'bf:register-ip', points: 20, durationSeconds: 3600 }),
      mailer,
      sessions,
      store,
      publicUrl: config.publicUrl,
      logger: app.log,
      revokeApiTokens: (userId, revokeOptions) => tokens.revokeAllForUser(userId, revokeOptions),
    });
    app.decorate('accounts', accounts);
    await app.register(accountsRoutes, { service: accounts, sessions });
    // 14. API tokens: the token endpoints, JWKS and personal access tokens.
    await app.register(tokensRoutes, { tokens, accounts, keys: signingKeys });
    // 15. Publishing: posts (Markdown sanitized on write), comments (plain text), administration.
    const cursorKey = app.keyring.deriveKey('pagination-cursor');
    const renderer = createContentRenderer();
    const posts = createPostsService({
      repository: createPostsRepository(database.db),
      renderer,
      cursors: createCursorCodec({ key: cursorKey, kind: 'posts' }),
      writesPerUser: createAttemptLimiter({ store, keyPrefix: 'rl:content-writes', points: 120, durationSeconds: 600 }),
      previewsPerUser: createAttemptLimiter({ store, keyPrefix: 'rl:content-previews', points: 60, durationSeconds: 60 }),
    });
    app.decorate('posts', posts);
    await app.register(postsRoutes, { posts });
    const comments = createCommentsRepository(database.db);
    const commentCursors = createCursorCodec({ key: cursorKey, kind: 'comments' });
    await app.register(commentsRoutes, { comments, posts, renderer, cursors: commentCursors });
    const admin = {
      repository: createAdminRepository(database.db),
      keyring: app.keyring,
      userCursors: createCursorCodec({ key: cursorKey, kind: 'users' }),
      eventCursors: createCursorCodec({ key: cursorKey, kind: 'security-events' }),
      revokeAccess: async (userId: string) => {
        await sessions.revokeAll(userId);
        await tokens.revokeAllForUser(userId, { personal: true });
      },
    };
    await app.register(adminRoutes, admin);
    // 16. The browser surface: the CSP report endpoint, then the pages (their own scope: the
    //     only place urlencoded forms are parsed).
    await app.register(cspReportPlugin, { store });
    await app.register(webPlugin, { accounts, sessions, tokens, passwordMinLength: config.passwords.minLength, publishing: { posts, comments, renderer, commentCursors, admin }, cacheTemplates: config.env !== 'development' });
    // 17. Extensions.
    for (const plugin of plugins) await app.register(plugin);
  },
  { name: 'rampart' },
);

/**
 * Builds a ready-to-listen Rampart instance: opens the database and store, migrates, and
 * registers everything. Closing the instance flushes security events, then closes the
 * store and the database.
 */
export async function buildRampart(options: BuildOptions): Promise<FastifyInstance> {
  const { config } = options;
  const app = Fastify(serverOptions(config, options.logStream)).withTypeProvider<ZodTypeProvider>();
  let resources: Resources;
  try {
    resources = await openResources(config, app, options.shared);
    if (options.migrate !== false) await resources.database.migrate();
  } catch (err) {
    await app.close();
    throw err;
  }
  const { database, store, mailer } = resources;
  const closeResources = async () => {
    await mailer.close();
    if (options.shared !== undefined) return;
    await store.close();
    await database.close();
  };
  app.addHook('onClose', async (instance) => {
    // Writes in flight first (account mail, security events), then the resources they use.
    if (instance.hasDecorator('accounts')) await instance.accounts.flush();
    if (instance.hasDecorator('securityEvents')) await instance.securityEvents.flush();
    await closeResources();
  });
  try {
    await app.register(rampart, { config, resources, loadShedding: options.loadShedding, plugins: options.plugins ?? [], clock: options.clock ?? Date.now });
    await app.ready();
  } catch (err) {
    // A plugin that breaks the route contract (or any boot failure) must not leak open pools.
    await closeResources();
    throw err;
  }
  return app;
}
