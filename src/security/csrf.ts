import { createHash, createHmac, createSecretKey, randomBytes, timingSafeEqual, type KeyObject } from 'node:crypto';
import fastifyCookie from '@fastify/cookie';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { MAX_TTL_MS, type StateStore } from '../platform/store.js';
import { checkCookieName } from './authentication.js';
import { CSRF_ERR_INVALID } from './errors.js';
import type { Keyring } from './keyring.js';
import { routeConfig } from './pages.js';
import { sendProblem } from './problem-details.js';
import { sessionStoreKey } from './sessions.js';

export interface CsrfOptions {
  readonly store: StateStore;
  readonly keyring: Keyring;
  /** The site's own origin (`https://rampart.example.com`): the only origin unsafe requests may come from. */
  readonly publicOrigin: string;
  /** Further exact origins of the same site allowed to send unsafe requests (`Sec-Fetch-Site: same-site`). Default none. */
  readonly trustedOrigins?: readonly string[];
  /** The pre-session cookie's name. Default `__Host-rampart_presession`, or `rampart_presession` without secure cookies. */
  readonly preSessionCookieName?: string;
  readonly secureCookies: boolean;
  /** How long a pre-session (the token before login) lives. Default 2 hours. */
  readonly preSessionTtlMs?: number;
}

declare module 'fastify' {
  interface FastifyRequest {
    /**
     * The CSRF token for this request's session, or (without a session) for its pre-session,
     * which is created, with its cookie, when the request has no valid one.
     */
    csrfToken(): Promise<string>;
    [kCsrf]: CsrfRequestState | null;
  }
}

/** Why an unsafe request was refused; recorded as `details.reason` of `malicious_csrf`, never told to the client. */
export type CsrfFailure = 'cross_site' | 'origin' | 'missing_token' | 'bad_token';

interface CsrfContext {
  readonly store: StateStore;
  readonly cookieName: string;
  readonly cookieOptions: { readonly path: '/'; readonly httpOnly: true; readonly secure: boolean; readonly sameSite: 'strict' };
  readonly ttlMs: number;
}

interface CsrfRequestState {
  readonly context: CsrfContext;
  readonly reply: FastifyReply;
  /** The valid pre-session's store key; `null` when there is none, `undefined` until looked up. */
  preSession: string | null | undefined;
  /** This response sets a new pre-session cookie. */
  created: boolean;
}

const kCsrf = Symbol('rampart.csrf');
const UNSAFE_METHODS: ReadonlySet<string> = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);
const FETCH_SITES: ReadonlySet<string> = new Set(['cross-site', 'same-site', 'same-origin', 'none']);
const PRE_SESSION_BYTES = 32;
const PRE_SESSION_VALUE = /^[A-Za-z0-9_-]{43}$/;
const DEFAULT_TTL_MS = 2 * 3_600_000;
const VARY = ['Origin', 'Sec-Fetch-Site'];
// A header or field longer than any token is refused without being copied into a buffer.
const MAX_TOKEN_LENGTH = 128;

/** Store keys of pre-sessions: anonymous and cheap to create, so the only keys a full in-memory store may evict. */
export const PRE_SESSION_KEY_PREFIX = 'presess:';
const preSessionKey = (value: string): string => `${PRE_SESSION_KEY_PREFIX}${createHash('sha256').update(value, 'utf8').digest('hex')}`;

function checkOrigin(label: string, origin: unknown): asserts origin is string {
  let parsed: URL | null = null;
  try {
    parsed = typeof origin === 'string' ? new URL(origin) : null;
  } catch {
    parsed = null;
  }
  if (parsed === null || !['http:', 'https:'].includes(parsed.protocol) || parsed.origin !== origin) {
    throw new TypeError(`${label} must be an exact origin such as https://rampart.example.com (scheme, host and port only)`);
  }
}

function state(request: FastifyRequest, caller: string): CsrfRequestState {
  const current = request[kCsrf];
  if (current === null) throw new Error(`${caller}: the CSRF plugin has not seen this request (is it registered on this instance?)`);
  return current;
}

/** The valid pre-session's store key, or null; a cookie value the store does not know is ignored, never adopted. */
async function findPreSession(request: FastifyRequest, current: CsrfRequestState): Promise<string | null> {
  if (current.preSession !== undefined) return current.preSession;
  const value = request.cookies[current.context.cookieName];
  let found: string | null = null;
  if (value !== undefined && PRE_SESSION_VALUE.test(value)) {
    const key = preSessionKey(value);
    if ((await current.context.store.get(key)) !== null) found = key;
  }
  current.preSession = found;
  return found;
}

async function createPreSession(current: CsrfRequestState): Promise<string> {
  const { store, cookieName, cookieOptions, ttlMs } = current.context;
  const value = randomBytes(PRE_SESSION_BYTES).toString('base64url');
  const key = preSessionKey(value);
  // Only the hash is stored, like a session token: a store dump cannot be replayed as a cookie.
  await store.set(key, '1', { ttlMs });
  current.reply.header('cache-control', 'no-store');
  current.reply.setCookie(cookieName, value, cookieOptions);
  current.preSession = key;
  current.created = true;
  return key;
}

/**
 * Ends the request's pre-session (its store entry and its cookie). Login calls it, so the
 * token that carried the login form cannot be used again and the session starts clean.
 */
export async function destroyPreSession(request: FastifyRequest, reply: FastifyReply): Promise<void> {
  const current = state(request, 'destroyPreSession');
  const { store, cookieName, cookieOptions } = current.context;
  const value = request.cookies[cookieName];
  const keys = new Set<string>();
  if (value !== undefined && PRE_SESSION_VALUE.test(value)) keys.add(preSessionKey(value));
  if (typeof current.preSession === 'string') keys.add(current.preSession);
  await Promise.all([...keys].map((key) => store.delete(key)));
  if (value !== undefined || current.created) reply.clearCookie(cookieName, cookieOptions);
  current.preSession = null;
  current.created = false;
}

const VARY_VALUE = VARY.join(', ');

function addVary(reply: FastifyReply): void {
  const header = reply.getHeader('vary');
  // Nothing else varied this response (CORS off, no handler's own Vary): the usual case, no merge.
  if (header === undefined) {
    reply.header('vary', VARY_VALUE);
    return;
  }
  const present = (Array.isArray(header) ? header.join(',') : typeof header === 'string' ? header : '').split(',').map((v) => v.trim()).filter((v) => v !== '');
  if (present.includes('*')) return;
  const lower = new Set(present.map((v) => v.toLowerCase()));
  reply.header('vary', [...present, ...VARY.filter((v) => !lower.has(v.toLowerCase()))].join(', '));
}

function providedToken(request: FastifyRequest): string | undefined {
  const header = request.headers['x-csrf-token'];
  if (typeof header === 'string') return header;
  // Pages post forms: the token travels as the `_csrf` field.
  const body = request.body;
  if (typeof body === 'object' && body !== null && !Array.isArray(body) && Object.hasOwn(body, '_csrf')) {
    const field = (body as { _csrf?: unknown })._csrf;
    if (typeof field === 'string') return field;
  }
  return undefined;
}

function sameToken(provided: string, expected: string): boolean {
  if (provided.length > MAX_TOKEN_LENGTH) return false;
  const a = Buffer.from(provided, 'utf8');
  const b = Buffer.from(expected, 'utf8');
  // The lengths are public (every token has the same length); the bytes are compared in constant time.
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * CSRF protection for every unsafe request (POST, PUT, PATCH, DELETE) on every route unless
 * the route's config says `csrf: false` (logged at boot) or the request authenticated with a
 * bearer token (no ambient credentials). In order: Fetch-Metadata
 * (`Sec-Fetch-Site: cross-site` refused; `same-site` only from a trusted origin), the `Origin`
 * header whenever present (only the public origin or a trusted one; `null` is refused), then
 * a synchronizer token (`X-CSRF-Token` header or `_csrf` body field) bound by HMAC to the
 * session or, before login, to a pre-session with its own `__Host-` cookie. Any failure
 * answers the same 403 `CSRF_ERR_INVALID` and records `malicious_csrf` with the reason.
 */
export const csrfPlugin = fp<CsrfOptions>(
  async (app: FastifyInstance, options) => {
    const { store, keyring, publicOrigin, secureCookies } = options;
    const trustedOption: unknown = options.trustedOrigins ?? [];
    const ttlMs = options.preSessionTtlMs ?? DEFAULT_TTL_MS;
    const cookieName = options.preSessionCookieName ?? (secureCookies ? '__Host-rampart_presession' : 'rampart_presession');
    if (typeof store !== 'object' || typeof store.get !== 'function') throw new TypeError('csrf: store must be a StateStore');
    if (typeof keyring !== 'object' || typeof keyring.deriveKey !== 'function') throw new TypeError('csrf: keyring must be a Keyring');
    if (typeof secureCookies !== 'boolean') throw new TypeError('csrf: secureCookies must be a boolean');
    checkOrigin('csrf: publicOrigin', publicOrigin);
    if (!Array.isArray(trustedOption)) throw new TypeError('csrf: trustedOrigins must be an array of origins');
    const trustedOrigins: string[] = [];
    for (const origin of trustedOption as unknown[]) {
      checkOrigin('csrf: each trustedOrigins entry', origin);
      trustedOrigins.push(origin);
    }
    checkCookieName('csrf: preSessionCookieName', cookieName, secureCookies);
    if (!Number.isSafeInteger(ttlMs) || ttlMs <= 0 || ttlMs > MAX_TTL_MS) throw new TypeError(`csrf: preSessionTtlMs must be a positive integer of at most ${MAX_TTL_MS} ms`);

    // Its own derived key, so a CSRF token is useless as any other MAC in the system. Tokens
    // are made under the current secret; during a secret rotation one made under a fallback
    // secret (a form rendered before the switch) still verifies.
    const [key, ...fallbackKeys] = keyring.deriveKeys('csrf').map((bytes): KeyObject => createSecretKey(bytes));
    const signWith = (with_: KeyObject, message: string): string => createHmac('sha256', with_).update(message, 'utf8').digest('base64url');
    const sign = (message: string): string => signWith(key as KeyObject, message);
    const trusted: ReadonlySet<string> = new Set(trustedOrigins);
    const allowed: ReadonlySet<string> = new Set([publicOrigin, ...trustedOrigins]);
    const context: CsrfContext = { store, cookieName, cookieOptions: { path: '/', httpOnly: true, secure: secureCookies, sameSite: 'strict' }, ttlMs };
    const invalid = new CSRF_ERR_INVALID();

    /** The token this request must carry; `create` starts a pre-session when it has neither a session nor a pre-session. */
    async function expectedMessage(request: FastifyRequest, create: boolean): Promise<string | null> {
      if (request.session !== null && request.sessionToken !== null) return `session:${sessionStoreKey(request.sessionToken)}`;
      const current = state(request, 'csrfToken');
      const preSession = (await findPreSession(request, current)) ?? (create ? await createPreSession(current) : null);
      return preSession === null ? null : `pre:${preSession}`;
    }

    async function expectedToken(request: FastifyRequest, create: boolean): Promise<string | null> {
      const message = await expectedMessage(request, create);
      return message === null ? null : sign(message);
    }

    async function failure(request: FastifyRequest): Promise<CsrfFailure | null> {
      const site = request.headers['sec-fetch-site'];
      const origin = request.headers.origin;
      if (site !== undefined) {
        // An unknown value is refused too: the guard fails closed.
        if (site === 'cross-site' || !FETCH_SITES.has(site)) return 'cross_site';
        if (site === 'same-site' && (origin === undefined || !trusted.has(origin))) return 'cross_site';
      }
      // Checked whenever present, not only without Fetch-Metadata; `Origin: null` (sandboxed
      // frames, redirect chains) is never in the list.
      if (origin !== undefined && !allowed.has(origin)) return 'origin';
      const provided = providedToken(request);
      if (provided === undefined || provided === '') return 'missing_token';
      const message = await expectedMessage(request, false);
      if (message === null) return 'bad_token';
      if (sameToken(provided, sign(message))) return null;
      return fallbackKeys.some((fallback) => sameToken(provided, signWith(fallback, message))) ? null : 'bad_token';
    }

    if (!app.hasRequestDecorator('cookies')) await app.register(fastifyCookie, { hook: 'onRequest' });
    app.decorateRequest(kCsrf, null);
    app.decorateRequest('csrfToken', async function csrfToken(this: FastifyRequest): Promise<string> {
      const issued = await expectedToken(this, true);
      if (issued === null) throw new Error('csrfToken: no pre-session could be created');
      return issued;
    });

    app.addHook('onRoute', (route) => {
      if (route.config?.csrf === false) app.log.warn({ route: `${String(route.method)} ${route.url}` }, 'route exempt from CSRF protection');
    });
    app.addHook('onRequest', (request, reply, done) => {
      request[kCsrf] = { context, reply, preSession: undefined, created: false };
      done();
    });
    // Every response, whatever its method or status: what a request may do depends on these
    // headers, so a shared cache must never hand one origin's answer to another. Merged at
    // onSend, after handlers and CORS have set their own Vary values.
    app.addHook('onSend', (_request, reply, payload, done) => {
      addVary(reply);
      done(null, payload);
    });
    // preHandler: after the body is parsed and validated (so a form's `_csrf` field has passed
    // its schema) and before any handler runs.
    // A callback hook, not an async one: a safe method, the great majority of requests, passes
    // on at once without a promise and a microtask turn.
    app.addHook('preHandler', (request, reply, done) => {
      // A bearer request carries no ambient credential: the browser never adds an Authorization
      // header on its own, and authentication did not read the cookie for it.
      if (!UNSAFE_METHODS.has(request.method) || request.is404 || routeConfig(request).csrf === false || request.principal?.credential === 'bearer') {
        done();
        return;
      }
      failure(request).then((reason) => {
        if (reason === null) {
          done();
          return;
        }
        const site = request.headers['sec-fetch-site'];
        request.server.securityEvents.recordFor(request, 'malicious_csrf', {
          details: { reason, method: request.method, route: request.routeOptions.url ?? '', fetch_site: site ?? null, origin: request.headers.origin ?? null },
        });
        sendProblem(reply, { status: invalid.statusCode, code: invalid.code, title: invalid.message });
      }, done);
    });
  },
  { name: 'rampart-csrf', dependencies: ['rampart-security-events', 'rampart-problem-details', 'rampart-authentication'] },
);
