import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { StateStore } from '../platform/store.js';
import { AUTH_ERR_STEP_UP_REQUIRED, AUTH_ERR_STEP_UP_SESSION_ONLY, MFA_ERR_ENROLMENT_REQUIRED } from './errors.js';
import { isPageRequest, routeConfig } from './pages.js';
import { sendProblem } from './problem-details.js';
import { safeNextPath } from './redirects.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * A sensitive action ("sudo mode"): the session must have proved its user's presence (password,
     * authenticator code, passkey) within the last 10 minutes. Refused with 401
     * `AUTH_ERR_STEP_UP_REQUIRED` otherwise; a page is sent to the confirmation page, which comes
     * back to the page itself (a GET) or to `returnTo` (the page a form was on). A bearer token can
     * never give the proof: 403 `AUTH_ERR_STEP_UP_SESSION_ONLY`.
     */
    stepUp?: true | { readonly returnTo: string };
    /**
     * The second-factor policy (RAMPART_MFA_REQUIRED): `admin` marks an administrator's action,
     * refused until the user has enrolled a second factor (policy `admins` or `all`); `enrolment`
     * marks what a user may still do before enrolling under policy `all` (enrolment itself,
     * step-up, sign-out, their own profile).
     */
    mfa?: 'admin' | 'enrolment';
  }
  interface FastifyInstance {
    stepUp: StepUp;
  }
}

/** How a session proved its user's presence. */
export type StepUpMethod = 'sign_in' | 'password' | 'totp' | 'recovery_code' | (string & {});

export interface StepUp {
  /** How long a proof counts: 10 minutes. */
  readonly freshForMs: number;
  /** Records a proof for the session `sessionToken` names, now (sign-in records one too). */
  record(sessionToken: string): Promise<void>;
  /** Records a proof for the request's session and the `authn_step_up_granted` event; false without a session. */
  grant(request: FastifyRequest, method: StepUpMethod): Promise<boolean>;
  /** Whether the request's session proved its user's presence within {@link freshForMs}. */
  isFresh(request: FastifyRequest): Promise<boolean>;
}

export interface StepUpOptions {
  readonly store: StateStore;
  /** The clock proofs are dated by (`Date.now`, or a test's). */
  readonly now: () => number;
  /** The page that asks for the proof and returns to `?next=`. */
  readonly confirmPage: string;
  /** The page where a user enrols a second factor. */
  readonly enrolPage: string;
  /** RAMPART_MFA_REQUIRED. */
  readonly mfaRequired: 'all' | 'admins' | 'off';
  /** Whether the user has an active second factor (the identity seam). */
  readonly enrolled: (userId: string) => Promise<boolean>;
}

const FRESH_FOR_MS = 10 * 60_000;
// The proof is keyed by the session token's SHA-256 (as the session itself is), so it dies with
// the token: a rotated or revoked session has none.
const proofKey = (sessionToken: string): string => `stepup:${createHash('sha256').update(sessionToken, 'utf8').digest('hex')}`;

/**
 * Step-up ("sudo mode") and the second-factor enrolment policy, declared per route. The proof
 * lives in the shared store beside the session, dated by the injectable clock, and expires
 * after 10 minutes; bearer tokens never carry one.
 */
export const stepUpPlugin = fp<StepUpOptions>(
  (app: FastifyInstance, options, done) => {
    const { store, now, confirmPage, enrolPage, mfaRequired, enrolled } = options;
    if (!['all', 'admins', 'off'].includes(mfaRequired)) throw new TypeError('step-up: mfaRequired must be all, admins or off');
    if (typeof enrolled !== 'function' || typeof now !== 'function') throw new TypeError('step-up: enrolled and now must be functions');
    const required = new AUTH_ERR_STEP_UP_REQUIRED();
    const sessionOnly = new AUTH_ERR_STEP_UP_SESSION_ONLY();
    const enrolment = new MFA_ERR_ENROLMENT_REQUIRED();

    app.addHook('onRoute', (route) => {
      const config = route.config;
      if (config?.stepUp === undefined && config?.mfa === undefined) return;
      const where = `Route ${String(route.method)} ${route.url}`;
      if (config.access === 'public' && config.stepUp !== undefined) throw new Error(`${where}: a public route cannot require step-up`);
      if (typeof config.stepUp === 'object' && safeNextPath(config.stepUp.returnTo) !== config.stepUp.returnTo) throw new Error(`${where}: stepUp.returnTo must be a local path`);
    });

    const stepUp: StepUp = Object.freeze({
      freshForMs: FRESH_FOR_MS,
      async record(sessionToken: string) {
        await store.set(proofKey(sessionToken), String(now()), { ttlMs: FRESH_FOR_MS });
      },
      async grant(request: FastifyRequest, method: StepUpMethod) {
        if (request.sessionToken === null || request.principal?.credential !== 'session') return false;
        await stepUp.record(request.sessionToken);
        request.server.securityEvents.recordFor(request, 'authn_step_up_granted', { actor: request.principal.id, details: { method } });
        return true;
      },
      async isFresh(request: FastifyRequest) {
        if (request.sessionToken === null || request.principal?.credential !== 'session') return false;
        const at = Number(await store.get(proofKey(request.sessionToken)));
        // The timestamp decides, not the store's TTL, so an injected clock (or a lagging expiry) is honoured.
        return Number.isSafeInteger(at) && now() - at < FRESH_FOR_MS && now() >= at;
      },
    });
    app.decorate('stepUp', stepUp);

    function redirect(reply: FastifyReply, page: string, next: string): FastifyReply {
      return reply.code(303).header('location', `${page}?next=${encodeURIComponent(next)}`).header('cache-control', 'no-store').send();
    }

    function needsEnrolment(request: FastifyRequest): boolean {
      const config = routeConfig(request);
      if (mfaRequired === 'off' || request.principal === null) return false;
      if (config.mfa === 'admin') return true;
      return mfaRequired === 'all' && config.access !== 'public' && config.mfa !== 'enrolment';
    }

    async function check(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> {
      const config = routeConfig(request);
      const principal = request.principal;
      if (principal === null) return undefined;
      const page = isPageRequest(request);
      if (needsEnrolment(request) && !(await enrolled(principal.id))) {
        request.server.securityEvents.recordFor(request, 'authz_fail', { details: { reason: 'mfa_enrolment_required', route: request.routeOptions.url ?? '' } });
        if (page) return redirect(reply, enrolPage, request.method === 'GET' ? request.url : '/account');
        return sendProblem(reply, { status: enrolment.statusCode, code: enrolment.code, title: enrolment.message });
      }
      if (config.stepUp === undefined) return undefined;
      if (principal.credential !== 'session') {
        request.server.securityEvents.recordFor(request, 'authz_fail', { details: { reason: 'step_up_bearer', route: request.routeOptions.url ?? '' } });
        return sendProblem(reply, { status: sessionOnly.statusCode, code: sessionOnly.code, title: sessionOnly.message });
      }
      if (await stepUp.isFresh(request)) return undefined;
      request.server.securityEvents.recordFor(request, 'authn_step_up_required', { details: { route: request.routeOptions.url ?? '' } });
      if (page) return redirect(reply, confirmPage, typeof config.stepUp === 'object' ? config.stepUp.returnTo : request.method === 'GET' ? request.url : '/account');
      reply.header('www-authenticate', 'Rampart-Step-Up realm="rampart"');
      return sendProblem(reply, { status: required.statusCode, code: required.code, title: required.message });
    }

    app.addHook('onRequest', (request, reply, hookDone) => {
      const config = routeConfig(request);
      if (request.principal === null || (config.stepUp === undefined && !needsEnrolment(request))) {
        hookDone();
        return;
      }
      check(request, reply).then(() => {
        hookDone();
      }, hookDone);
    });
    done();
  },
  { name: 'rampart-step-up', dependencies: ['rampart-authentication', 'rampart-security-events', 'rampart-problem-details'] },
);
