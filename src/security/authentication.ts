import fastifyCookie from '@fastify/cookie';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { AUTH_ERR_INSUFFICIENT_SCOPE, AUTH_ERR_INVALID_TOKEN, AUTH_ERR_UNAUTHENTICATED } from './errors.js';
import { isPageRequest, routeConfig } from './pages.js';
import { sendProblem } from './problem-details.js';
import type { Session, SessionManager } from './sessions.js';

/** A user as authentication needs it: who, and with which role now. */
export interface PrincipalUser {
  readonly id: string;
  readonly role: string;
}

/** Who is acting: the user behind the request's session or bearer token. */
export interface Principal extends PrincipalUser {
  /** How the request authenticated. A bearer request carries no ambient credential (no cookie was read). */
  readonly credential: 'session' | 'bearer';
  /** What a bearer token may do (already limited to the user's current role); null for a session, which may do what the role allows. */
  readonly scopes: readonly string[] | null;
}

/** What a bearer resolver answers: the token's principal, or why it was refused (for the security event only). */
export type BearerResolution =
  | { readonly ok: true; readonly principal: Principal; readonly user?: PrincipalUser }
  | { readonly ok: false; readonly reason: string; readonly kind: string };

export interface BearerOptions {
  /** Verifies a token taken from `Authorization: Bearer` and loads its principal. */
  readonly resolve: (token: string) => Promise<BearerResolution>;
  /** Every scope a route may declare; an unknown one fails at boot. */
  readonly scopes: readonly string[];
}

export interface AuthenticationOptions {
  readonly sessions: SessionManager;
  /** The session cookie's name; {@link DEFAULT_SESSION_COOKIE} unless configured. */
  readonly cookieName: string;
  /** Send the `Secure` attribute. Required by a `__Host-` or `__Secure-` name. */
  readonly secureCookies: boolean;
  /**
   * The principal of a session's user; null when the user is gone or disabled, which ends the
   * session. `companion` is the value of the session manager's companion key for the user (the
   * version marker) when it was read with the session, `undefined` when it was not.
   */
  readonly loadPrincipal: (userId: string, companion?: string | null) => Promise<PrincipalUser | null>;
  /** Bearer tokens in the Authorization header; without this option any Authorization header is refused. */
  readonly bearer?: BearerOptions;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The request's live session, or null for an anonymous request. */
    session: Session | null;
    /** The session cookie's token when it named a live session; for logout and rotation only, never for logs. */
    sessionToken: string | null;
    principal: Principal | null;
    /** The user as the principal loader (or bearer resolver) returned it, application fields included; null when anonymous. */
    principalUser: PrincipalUser | null;
  }
  interface FastifyReply {
    /** Sets the session cookie (HttpOnly, Secure, SameSite=Lax, Path=/, no Domain, no expiry) and `Cache-Control: no-store`. */
    setSessionCookie(token: string): FastifyReply;
    /** Deletes the session cookie in the browser; the caller ends the session server-side. */
    clearSessionCookie(): FastifyReply;
  }
}

/** The default session cookie name: `__Host-` binds it to this exact host, over HTTPS, for the whole path. */
export const DEFAULT_SESSION_COOKIE = '__Host-rampart_session';

// RFC 6750 token68 characters; longer than any token Rampart issues is refused unread.
const BEARER = /^Bearer ([A-Za-z0-9._~+/-]{1,2048}=*)$/i;

// RFC 6265 cookie-name characters (a token), so the name can never inject attributes.
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,128}$/;

/** Checks a cookie name against its prefix rules: browsers drop `__Host-`/`__Secure-` cookies without Secure. */
export function checkCookieName(label: string, name: unknown, secure: boolean): asserts name is string {
  if (typeof name !== 'string' || !COOKIE_NAME.test(name)) throw new TypeError(`${label} must be a cookie name (letters, digits and !#$%&'*+-.^_\`|~)`);
  if (!secure && /^__(?:Host|Secure)-/i.test(name)) throw new TypeError(`${label} "${name}" needs secureCookies: browsers refuse a __Host- or __Secure- cookie without Secure`);
}

/**
 * Cookie sessions and bearer tokens. A page request ({@link isPageRequest}) is authenticated
 * by the session cookie only; its `Authorization` header is not read. Any other request with an
 * `Authorization` header is authenticated by that header alone (`Bearer <token>`, resolved by `options.bearer`): any
 * failure answers one uniform 401 `AUTH_ERR_INVALID_TOKEN` and the cookie is not read. Tokens
 * are never taken from the query string or a cookie. Otherwise it reads the session cookie,
 * resolves it and loads its principal, setting `request.session`, `request.sessionToken`,
 * `request.principal` and `request.actorId`. A cookie that names no live session is never
 * adopted: it is deleted in the browser and recorded as `session_use_after_expire`. Routes
 * declaring `access: 'authenticated'` answer 401 without a principal; on every non-public route a
 * bearer token needs the route's `scope` (403 otherwise: deny by default).
 */
export const authenticationPlugin = fp<AuthenticationOptions>(
  async (app: FastifyInstance, options) => {
    const { sessions, cookieName, secureCookies, loadPrincipal } = options;
    if (typeof sessions !== 'object' || typeof sessions.resolve !== 'function') throw new TypeError('authentication: sessions must be a SessionManager');
    if (typeof secureCookies !== 'boolean') throw new TypeError('authentication: secureCookies must be a boolean');
    checkCookieName('authentication: cookieName', cookieName, secureCookies);
    if (typeof loadPrincipal !== 'function') throw new TypeError('authentication: loadPrincipal must be a function');
    const { bearer } = options;
    if (bearer !== undefined && (typeof bearer.resolve !== 'function' || !Array.isArray(bearer.scopes))) throw new TypeError('authentication: bearer needs a resolve function and the scope vocabulary');
    const knownScopes: ReadonlySet<string> = new Set(bearer?.scopes ?? []);

    // No expiry attributes: a browser-session cookie, while the server enforces the real timeouts.
    const cookieOptions = { path: '/', httpOnly: true, secure: secureCookies, sameSite: 'lax' } as const;
    const unauthenticated = new AUTH_ERR_UNAUTHENTICATED();
    const invalidToken = new AUTH_ERR_INVALID_TOKEN();
    const insufficientScope = new AUTH_ERR_INSUFFICIENT_SCOPE();

    app.addHook('onRoute', (route) => {
      const scope = route.config?.scope;
      if (scope !== undefined && !knownScopes.has(scope)) throw new Error(`Route ${String(route.method)} ${route.url} declares the unknown scope "${scope}".`);
    });

    if (!app.hasRequestDecorator('cookies')) await app.register(fastifyCookie, { hook: 'onRequest' });
    app.decorateRequest('session', null);
    app.decorateRequest('sessionToken', null);
    app.decorateRequest('principal', null);
    app.decorateRequest('principalUser', null);
    app.decorateReply('setSessionCookie', function setSessionCookie(this: FastifyReply, token: string) {
      if (typeof token !== 'string' || token.length === 0) throw new TypeError('setSessionCookie needs the session token');
      this.header('cache-control', 'no-store');
      return this.setCookie(cookieName, token, cookieOptions);
    });
    app.decorateReply('clearSessionCookie', function clearSessionCookie(this: FastifyReply) {
      this.header('cache-control', 'no-store');
      // A __Host- cookie is only deleted by a Set-Cookie with the same Secure and Path.
      return this.clearCookie(cookieName, cookieOptions);
    });

    /** Bearer authentication; false when the header was refused. The cookie is never read alongside it. */
    async function authenticateBearer(request: FastifyRequest, header: string): Promise<boolean> {
      const match = BEARER.exec(header);
      const resolution: BearerResolution = match?.[1] === undefined || bearer === undefined
        ? { ok: false, reason: 'malformed_header', kind: 'unknown' }
        : await bearer.resolve(match[1]);
      if (!resolution.ok) {
        request.server.securityEvents.recordFor(request, 'authn_token_invalid', { details: { reason: resolution.reason, kind: resolution.kind } });
        return false;
      }
      request.principal = resolution.principal;
      request.principalUser = resolution.user ?? null;
      request.actorId = resolution.principal.id;
      return true;
    }

    async function authenticate(request: FastifyRequest, reply: FastifyReply): Promise<void> {
      const token = request.cookies[cookieName];
      if (token === undefined || token === '') return;
      const resolved = await sessions.resolveForRequest(token);
      if (resolved === null) {
        // Whatever the value was (expired, revoked, forged or planted), it never becomes a session.
        request.server.securityEvents.recordFor(request, 'session_use_after_expire');
        reply.clearSessionCookie();
        return;
      }
      const { session } = resolved;
      const principal = await loadPrincipal(session.userId, resolved.companion);
      if (principal === null) {
        // The user is gone or disabled: the session ends with it.
        await sessions.revokeToken(token);
        reply.clearSessionCookie();
        return;
      }
      request.session = session;
      request.sessionToken = token;
      request.principal = { id: principal.id, role: principal.role, credential: 'session', scopes: null };
      request.principalUser = principal;
      request.actorId = principal.id;
    }

    /** Resolves the presented credential, then applies the route's access rule (see the hook below). */
    async function authenticatePresented(request: FastifyRequest, reply: FastifyReply, header: string | undefined): Promise<FastifyReply | undefined> {
      if (header !== undefined) {
        // A presented credential that fails is refused on every route, public ones too: never
        // silently downgraded to anonymous or to the cookie.
        if (!(await authenticateBearer(request, header))) {
          reply.header('www-authenticate', 'Bearer error="invalid_token"');
          reply.header('cache-control', 'no-store');
          return sendProblem(reply, { status: invalidToken.statusCode, code: invalidToken.code, title: invalidToken.message });
        }
      } else {
        await authenticate(request, reply);
      }
      const config = routeConfig(request);
      if (config.access === undefined || config.access === 'public') return undefined;
      if (request.principal === null) {
        // A permission route may be open to guests; the authorization plugin decides those.
        if (config.access !== 'authenticated') return undefined;
        return sendProblem(reply, { status: unauthenticated.statusCode, code: unauthenticated.code, title: unauthenticated.message });
      }
      const { scopes } = request.principal;
      if (scopes !== null && (config.scope === undefined || !scopes.includes(config.scope))) {
        request.server.securityEvents.recordFor(request, 'authz_fail', { details: { reason: 'scope', required: config.scope ?? 'session_only', route: request.routeOptions.url ?? '' } });
        reply.header('www-authenticate', `Bearer error="insufficient_scope"${config.scope === undefined ? '' : `, scope="${config.scope}"`}`);
        return sendProblem(reply, { status: insufficientScope.statusCode, code: insufficientScope.code, title: insufficientScope.message });
      }
      return undefined;
    }

    app.addHook('onRequest', (request, reply, done) => {
      const config = routeConfig(request);
      // A route whose answer is the same for everyone (static files) reads no credential.
      if (config.authenticate === false) {
        done();
        return;
      }
      // Pages authenticate by the session cookie alone and never read Authorization: a proxy's
      // Basic credentials (which browsers resend on their own) are not a Rampart credential, and
      // a page request is never CSRF-exempt as a bearer one would be. On every other route a
      // presented header is the only credential read.
      const header = isPageRequest(request) ? undefined : request.headers.authorization;
      const token = request.cookies[cookieName];
      if (header === undefined && (token === undefined || token === '')) {
        // Nothing presented (every anonymous request): nothing to resolve, so no promise; a
        // guest may pass everything but an `authenticated` route (permission routes are the
        // authorization plugin's).
        if (config.access === 'authenticated') {
          void sendProblem(reply, { status: unauthenticated.statusCode, code: unauthenticated.code, title: unauthenticated.message });
          return;
        }
        done();
        return;
      }
      // As Fastify treats an async hook: once the promise settles the next hook runs, unless a reply was sent.
      authenticatePresented(request, reply, header).then(() => {
        done();
      }, done);
    });
    // Whatever a handler set, a response that depends on a session or a token is never stored by a cache.
    app.addHook('onSend', (request, reply, payload, done) => {
      if (request.principal !== null) reply.header('cache-control', 'no-store');
      done(null, payload);
    });
  },
  { name: 'rampart-authentication', dependencies: ['rampart-security-events', 'rampart-problem-details'] },
);
