import type { FastifyReply, FastifyRequest } from 'fastify';
import { destroyPreSession } from '../../security/csrf.js';
import type { SessionManager } from '../../security/sessions.js';

/**
 * Hands a successful login's new session to the browser: the pre-session that carried the
 * login form's token ends, any session this browser already had ends (a new id on login),
 * and the session cookie is set. Used by the API and the login page alike.
 */
export async function startBrowserSession(request: FastifyRequest, reply: FastifyReply, sessions: SessionManager, token: string): Promise<void> {
  await destroyPreSession(request, reply);
  if (request.sessionToken !== null) await sessions.revokeToken(request.sessionToken);
  reply.setSessionCookie(token);
}

/** Ends this browser's session: server-side, its cookie, and (Clear-Site-Data) what the site stored in the browser. */
export async function endBrowserSession(request: FastifyRequest, reply: FastifyReply, sessions: SessionManager): Promise<void> {
  if (request.sessionToken !== null) await sessions.revokeToken(request.sessionToken);
  reply.clearSessionCookie();
  reply.header('clear-site-data', '"cookies", "storage"');
}
