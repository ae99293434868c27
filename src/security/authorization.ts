import { subject as tagSubject, type AnyAbility } from '@casl/ability';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { Principal } from './authentication.js';
import { AUTH_ERR_UNAUTHENTICATED, AUTHZ_ERR_FORBIDDEN } from './errors.js';
import { routeConfig } from './pages.js';
import { sendProblem } from './problem-details.js';
import { describeAccess, isPermission } from './route-contract.js';

/** The answer to an object-level check: allowed, or the status to give. */
export type AuthorizationDecision = 'allowed' | 'not_found' | 'forbidden';

/** An object a permission is checked against: its id (for the security event) and the fields rules look at. */
export interface AuthorizationObject {
  readonly id: string;
  readonly [field: string]: unknown;
}

export interface AuthorizationOptions {
  /** The principal's abilities (guest abilities for null). Called at most once per request. */
  readonly abilityFor: (principal: Principal | null) => AnyAbility;
  /** Every action a route may declare; an unknown one fails at boot. */
  readonly actions: readonly string[];
  /** Every subject type a route may declare; an unknown one fails at boot. */
  readonly subjects: readonly string[];
  /** The action that decides whether an object's existence may be known (default `read`): without it, any check answers `not_found`. */
  readonly readAction?: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The caller's abilities, built on first use. */
    ability(): AnyAbility;
    /**
     * Decides `action` on one object of `subjectType`. An object the caller may not read is
     * `not_found` (its existence is private); one it may read but not act on is `forbidden`.
     * A denial records `authz_fail` with the actor, action and subject id.
     */
    authorize(action: string, subjectType: string, object: AuthorizationObject): AuthorizationDecision;
  }
}

/** The roles, least to most privileged; each has every ability of those before it. A guest is anyone not signed in. */
export const ROLES = ['author', 'moderator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Whether `role` is `least` or above it; false for a role this list does not know. */
export function roleAtLeast(role: string, least: Role): boolean {
  const rank = (ROLES as readonly string[]).indexOf(role);
  return rank >= 0 && rank >= ROLES.indexOf(least);
}

const ABILITY = Symbol('rampart.ability');
const DECIDED = Symbol('rampart.authorizationDecided');

interface AuthorizationState {
  [ABILITY]?: AnyAbility;
  [DECIDED]?: boolean;
}

function hasPathParameters(url: string): boolean {
  return url.includes(':');
}

/**
 * Authorization with CASL abilities, deny by default. A route declaring a permission
 * (`config.access: { action, subject }`) is checked before its body is read: a guest who may
 * not do it gets 401, a signed-in caller 403 (`AUTHZ_ERR_FORBIDDEN`, recorded as `authz_fail`).
 * On a route with path parameters the decision belongs to the object: a signed-in caller who
 * may read some objects of the type reaches the handler even when its role cannot do the action
 * on any of them, and the handler must call `request.authorize(...)` (404 for an object the
 * caller may not know exists, 403 otherwise), so the answer never tells whether a private
 * object exists.
 * Such a route that answers 2xx without deciding fails closed with a 500: forgetting the
 * object check is a bug that must not become an open door.
 */
export const authorizationPlugin = fp<AuthorizationOptions>(
  (app: FastifyInstance, options, done) => {
    const { abilityFor, actions, subjects } = options;
    const readAction = options.readAction ?? 'read';
    if (typeof abilityFor !== 'function') throw new TypeError('authorization: abilityFor must be a function');
    if (!Array.isArray(actions) || !Array.isArray(subjects)) throw new TypeError('authorization: actions and subjects must be arrays');
    const knownActions: ReadonlySet<string> = new Set(actions);
    const knownSubjects: ReadonlySet<string> = new Set(subjects);
    if (!knownActions.has(readAction)) throw new TypeError(`authorization: the read action "${readAction}" is not in actions`);
    const forbidden = new AUTHZ_ERR_FORBIDDEN();
    const unauthenticated = new AUTH_ERR_UNAUTHENTICATED();

    app.addHook('onRoute', (route) => {
      const access = route.config?.access;
      if (!isPermission(access)) return;
      if (!knownActions.has(access.action) || !knownSubjects.has(access.subject)) {
        throw new Error(`Route ${String(route.method)} ${route.url} declares the unknown permission "${describeAccess(access)}".`);
      }
    });

    app.decorateRequest('ability', function ability(this: FastifyRequest & AuthorizationState) {
      this[ABILITY] ??= abilityFor(this.principal);
      return this[ABILITY];
    });

    function deny(request: FastifyRequest, action: string, subjectType: string, subjectId: string | null): void {
      request.server.securityEvents.recordFor(request, 'authz_fail', {
        details: { action, subject: subjectType, subject_id: subjectId, route: request.routeOptions.url ?? '' },
      });
    }

    app.decorateRequest('authorize', function authorize(this: FastifyRequest & AuthorizationState, action: string, subjectType: string, object: AuthorizationObject): AuthorizationDecision {
      this[DECIDED] = true;
      const ability = this.ability();
      // CASL matches conditions against a copy tagged with its type, never the caller's object.
      const tagged = tagSubject(subjectType, { ...object });
      let decision: AuthorizationDecision = 'allowed';
      if (!ability.can(readAction, tagged)) decision = 'not_found';
      else if (action !== readAction && !ability.can(action, tagged)) decision = 'forbidden';
      if (decision !== 'allowed') deny(this, action, subjectType, object.id);
      return decision;
    });

    app.addHook('onRequest', (request, reply, next) => {
      const access = routeConfig(request).access;
      if (!isPermission(access)) {
        next();
        return;
      }
      if (request.ability().can(access.action, access.subject)) {
        next();
        return;
      }
      // Refused here: the decision is made, so the onSend check below must not take a page's
      // answer to the refusal (a 303 to the sign-in page) for an undecided success.
      (request as FastifyRequest & AuthorizationState)[DECIDED] = true;
      if (request.principal === null) {
        // The authentication plugin's 401 for a guest who must sign in first.
        void sendProblem(reply, { status: unauthenticated.statusCode, code: unauthenticated.code, title: unauthenticated.message });
        return;
      }
      // Object routes decide on the object when the caller may see some objects of this type:
      // 404 or 403 then depends on whether it may see this one.
      if (hasPathParameters(request.routeOptions.url ?? '') && request.ability().can(readAction, access.subject)) {
        next();
        return;
      }
      deny(request, access.action, access.subject, null);
      void sendProblem(reply, { status: forbidden.statusCode, code: forbidden.code, title: forbidden.message });
    });

    app.addHook('onSend', (request: FastifyRequest & AuthorizationState, reply, payload, next) => {
      const access = request.routeOptions.config.access;
      if (reply.statusCode < 400 && isPermission(access) && hasPathParameters(request.routeOptions.url ?? '') && request[DECIDED] !== true) {
        request.log.error({ route: request.routeOptions.url }, 'a permission route with an object answered without request.authorize()');
        next(new Error('authorization was not decided for this object'));
        return;
      }
      next(null, payload);
    });
    done();
  },
  { name: 'rampart-authorization', dependencies: ['rampart-authentication', 'rampart-security-events', 'rampart-problem-details'] },
);
