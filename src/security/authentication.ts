import fastifyCookie from '@fastify/cookie';
import createError from '@fastify/error';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { sendProblem } from './problem-details.js';
import type { Session, SessionManager } from './sessions.js';

/** Who is acting: the user behind the request's session. */
export interface Principal {
  readonly id: string;
  readonly role: string;
}

export interface AuthenticationOptions {
  readonly sessions: SessionManager;
  /** The session cookie's name; {@link DEFAULT_SESSION_COOKIE} unless configured. */
  readonly cookieName: string;
  /** Send the `Secure` attribute. Required by a `__Host-` or `__Secure-` name. */
  readonly secureCookies: boolean;
  /** The principal of a session's user; null when the user is gone or disabled, which ends the session. */
  readonly loadPrincipal: (userId: string) => Promise<Principal | null>;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The request's live session, or null for an anonymous request. */
    session: Session | null;
    /** The session cookie's token when it named a live session; for logout and rotation only, never for logs. */
    sessionToken: string | null;
    principal: Principal | null;
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

/** The route declares `access: 'authenticated'` and the request has no session. */
export const AUTH_ERR_UNAUTHENTICATED = createError('AUTH_ERR_UNAUTHENTICATED', 'Sign in first.', 401);

// RFC 6265 cookie-name characters (a token), so the name can never inject attributes.
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,128}$/;

/** Checks a cookie name against its prefix rules: browsers drop `__Host-`/`__Secure-` cookies without Secure. */
export function checkCookieName(label: string, name: unknown, secure: boolean): asserts name is string {
  if (typeof name !== 'string' || !COOKIE_NAME.test(name)) throw new TypeError(`${label} must be a cookie name (letters, digits and !#$%&'*+-.^_\`|~)`);
  if (!secure && /^__(?:Host|Secure)-/i.test(name)) throw new TypeError(`${label} "${name}" needs secureCookies: browsers refuse a __Host- or __Secure- cookie without Secure`);
}

/**
 * Cookie sessions. On every request (after the rate limit) it reads the session cookie,
 * resolves it and loads its principal, setting `request.session`, `request.sessionToken`,
 * `request.principal` and `request.actorId`. A cookie that names no live session is never
 * adopted: it is deleted in the browser and recorded as `session_use_after_expire`. Routes
 * declaring `access: 'authenticated'` answer 401 without a principal.
 */
export const authenticationPlugin = fp<AuthenticationOptions>(
  async (app: FastifyInstance, options) => {
    const { sessions, cookieName, secureCookies, loadPrincipal } = options;
    if (typeof sessions !== 'object' || typeof sessions.resolve !== 'function') throw new TypeError('authentication: sessions must be a SessionManager');
    if (typeof secureCookies !== 'boolean') throw new TypeError('authentication: secureCookies must be a boolean');
    checkCookieName('authentication: cookieName', cookieName, secureCookies);
    if (typeof loadPrincipal !== 'function') throw new TypeError('authentication: loadPrincipal must be a function');

    // No expiry attributes: a browser-session cookie, while the server enforces the real timeouts.
    const cookieOptions = { path: '/', httpOnly: true, secure: secureCookies, sameSite: 'lax' } as const;
    const unauthenticated = new AUTH_ERR_UNAUTHENTICATED();

    if (!app.hasRequestDecorator('cookies')) await app.register(fastifyCookie, { hook: 'onRequest' });
    app.decorateRequest('session', null);
    app.decorateRequest('sessionToken', null);
    app.decorateRequest('principal', null);
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

    async function authenticate(request: FastifyRequest, reply: FastifyReply): Promise<void> {
      const token = request.cookies[cookieName];
      if (token === undefined || token === '') return;
      const session = await sessions.resolve(token);
      if (session === null) {
        // Whatever the value was (expired, revoked, forged or planted), it never becomes a session.
        request.server.securityEvents.recordFor(request, 'session_use_after_expire');
        reply.clearSessionCookie();
        return;
      }
      const principal = await loadPrincipal(session.userId);
      if (principal === null) {
        // The user is gone or disabled: the session ends with it.
        await sessions.revokeToken(token);
        reply.clearSessionCookie();
        return;
      }
      request.session = session;
      request.sessionToken = token;
      request.principal = principal;
      request.actorId = principal.id;
    }

    app.addHook('onRequest', async (request, reply) => {
      await authenticate(request, reply);
      if (request.routeOptions.config.access === 'authenticated' && request.principal === null) {
        return sendProblem(reply, { status: unauthenticated.statusCode, code: unauthenticated.code, title: unauthenticated.message });
      }
      return undefined;
    });
    // Whatever a handler set, a response that depends on a session is never stored by a cache.
    app.addHook('onSend', (request, reply, payload, done) => {
      if (request.session !== null) reply.header('cache-control', 'no-store');
      done(null, payload);
    });
  },
  { name: 'rampart-authentication', dependencies: ['rampart-security-events', 'rampart-problem-details'] },
);
