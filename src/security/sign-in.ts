import type { FastifyInstance, FastifyReply } from 'fastify';
import fp from 'fastify-plugin';
import { destroyPreSession } from './csrf.js';
import type { SessionManager } from './sessions.js';

declare module 'fastify' {
  interface FastifyReply {
    /**
     * Signs `userId` in on this browser: a new session (a new id on every sign-in), the
     * pre-session that carried the form's CSRF token and any session the browser had end, the
     * cookie is set and `session_created` recorded. With `stillValid`, asked once the session
     * exists, a false answer (a password reset raced the sign-in) withdraws it: false is returned
     * and nothing is set.
     */
    startSession(userId: string, options?: { readonly stillValid?: () => Promise<boolean> }): Promise<boolean>;
    /** Signs this browser out: its session ends server-side, its cookie and (Clear-Site-Data) what the site stored go. */
    endSession(): Promise<void>;
  }
}

/**
 * Sign-in and sign-out as kernel operations, so no module writes the sequence (rotation,
 * pre-session teardown, cookie, event) itself: the API and the pages call the same two.
 */
export const signInPlugin = fp<{ readonly sessions: SessionManager }>(
  (app: FastifyInstance, { sessions }, done) => {
    app.decorateReply('startSession', async function startSession(this: FastifyReply, userId: string, options: { readonly stillValid?: () => Promise<boolean> } = {}) {
      const { request } = this;
      const { token } = await sessions.create(userId, { ip: request.ip, userAgent: (request.headers['user-agent'] ?? '').slice(0, 256) });
      if (options.stillValid !== undefined && !(await options.stillValid())) {
        await sessions.revokeToken(token);
        return false;
      }
      await destroyPreSession(request, this);
      if (request.sessionToken !== null) await sessions.revokeToken(request.sessionToken);
      this.setSessionCookie(token);
      // Signing in is a proof of presence: the new session starts in step-up ("sudo") mode.
      await request.server.stepUp.record(token);
      request.server.securityEvents.recordFor(request, 'session_created', { actor: userId });
      return true;
    });
    app.decorateReply('endSession', async function endSession(this: FastifyReply) {
      if (this.request.sessionToken !== null) await sessions.revokeToken(this.request.sessionToken);
      this.clearSessionCookie();
      this.header('clear-site-data', '"cookies", "storage"');
    });
    done();
  },
  { name: 'rampart-sign-in', dependencies: ['rampart-authentication', 'rampart-csrf', 'rampart-security-events', 'rampart-step-up'] },
);
