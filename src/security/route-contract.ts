import type { FastifyInstance, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { acceptsEmptyObject } from './input-hardening.js';

/**
 * A permission a route requires: an action on a subject type (`{ action: 'update', subject: 'Post' }`),
 * decided by the authorization plugin's abilities. On a route with path parameters the decision
 * about the object itself (ownership, visibility) is the handler's `request.authorize(...)`.
 */
export interface Permission {
  readonly action: string;
  readonly subject: string;
}

/**
 * A route's access rule; `public` is a declaration too. `authenticated` needs a signed-in
 * principal (401 otherwise), enforced by the authentication plugin; a {@link Permission} is
 * enforced by the authorization plugin.
 */
export type AccessRule = 'public' | 'authenticated' | Permission;

/** A readable form of an access rule, for errors, logs and the route table. */
export function describeAccess(access: AccessRule): string {
  return typeof access === 'string' ? access : `${access.action}:${access.subject}`;
}

/** Whether an access rule is a permission (as opposed to `public` or `authenticated`). */
export function isPermission(access: AccessRule | undefined): access is Permission {
  return typeof access === 'object';
}

declare module 'fastify' {
  interface FastifyContextConfig {
    access?: AccessRule;
    /** `false` exempts a route's unsafe methods from the CSRF guard; the exemption is logged at boot. */
    csrf?: false;
    /**
     * The scope a bearer token needs on an `authenticated` route (`account:read`, ...). A route
     * without one is for cookie sessions only: bearer tokens get 403 there (deny by default).
     */
    scope?: string;
    /**
     * `true` marks a server-rendered page: it gets the page CSP profile (a fresh nonce per
     * response), and its errors render as HTML pages instead of problem+json.
     */
    page?: true;
    /**
     * `false`: the answer never depends on who asks (fingerprinted static files), so the
     * authentication plugin reads no cookie or token for it, and its own caching headers stand.
     * Only for `public` routes.
     */
    authenticate?: false;
  }
  interface FastifyInstance {
    /** Every route registered, with its declared access rule, for the route-table tests and docs. */
    readonly routeTable: readonly RouteContract[];
  }
}


export interface RouteContract {
  readonly method: string;
  readonly url: string;
  readonly access: AccessRule;
  /** The scope a bearer token needs, or null when tokens are not accepted (or the route is public). */
  readonly scope: string | null;
  /** The route opted out of the CSRF guard (`csrf: false`). */
  readonly csrfExempt: boolean;
  /**
   * What the route makes of a request body: `none` (no body schema), `optional` (no required
   * field: no body means `{}`), `required` (a missing body is `RAMPART_ERR_EMPTY_BODY`).
   */
  readonly body: 'none' | 'optional' | 'required';
  /** A server-rendered page (`page: true`). */
  readonly page: boolean;
  /** The top-level fields of an object body schema (the fields of a page's form); empty without one. */
  readonly bodyFields: readonly string[];
}

function bodyFields(route: RouteOptions): readonly string[] {
  const shape: unknown = (route.schema?.body as { shape?: unknown } | undefined)?.shape;
  return typeof shape === 'object' && shape !== null ? Object.keys(shape) : [];
}

const METHODS_WITH_BODY = new Set(['POST', 'PUT', 'PATCH']);
const ACCESS_RULES: ReadonlySet<string> = new Set(['public', 'authenticated']);
const PERMISSION_PART = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

function accessViolation(access: unknown): string | null {
  if (access === undefined) return 'declares no access rule (config.access; `public` is a declaration too)';
  if (typeof access === 'string') return ACCESS_RULES.has(access) ? null : `declares an unknown access rule "${access}"`;
  if (typeof access !== 'object' || access === null) return 'declares an access rule that is neither a name nor a permission';
  const { action, subject, ...rest } = access as Record<string, unknown>;
  if (typeof action !== 'string' || !PERMISSION_PART.test(action) || typeof subject !== 'string' || !PERMISSION_PART.test(subject) || Object.keys(rest).length > 0) {
    return 'declares a permission that is not exactly { action, subject } with two names';
  }
  return null;
}

/** Why a route breaks the contract, or null when it keeps it. */
export function contractViolation(route: RouteOptions): string | null {
  const methods = (Array.isArray(route.method) ? route.method : [route.method]).map(String);
  const access = route.config?.access;
  const violation = accessViolation(access);
  if (violation !== null) return violation;
  const csrf: unknown = route.config?.csrf;
  if (csrf !== undefined && csrf !== false) return 'declares csrf other than `false` (the guard is on unless a route opts out with `csrf: false`)';
  const page: unknown = route.config?.page;
  if (page !== undefined && page !== true) return 'declares page other than `true` (a page route says `page: true`; an API route leaves it out)';
  const authenticate: unknown = route.config?.authenticate;
  if (authenticate !== undefined && (authenticate !== false || access !== 'public')) return 'declares authenticate other than `false`, or on a route that is not `public`';
  const scope: unknown = route.config?.scope;
  if (scope !== undefined && (typeof scope !== 'string' || access === 'public')) return 'declares a scope, which only a non-public route can have (a string such as `account:read`)';
  const schema = route.schema;
  if (schema?.response === undefined) return 'declares no response schema, so undeclared fields could leave the server';
  if (schema.querystring === undefined) return 'declares no querystring schema, so unknown query keys would be accepted';
  if (route.url.includes(':') && schema.params === undefined) return 'has path parameters but no params schema';
  if (methods.some((m) => METHODS_WITH_BODY.has(m)) && schema.body === undefined) return 'accepts a body but declares no body schema';
  return null;
}

/**
 * Refuses, at boot, any route that does not declare its access rule and the schemas of
 * everything it reads and returns. Deny by default starts with "no undeclared routes".
 */
export const routeContractPlugin = fp(
  (app: FastifyInstance, _opts: object, done: (err?: Error) => void) => {
    const table: RouteContract[] = [];
    app.decorate('routeTable', table);
    // Read once per request by routeConfig() (pages.ts).
    app.decorateRequest('rampartRouteConfig', null);
    app.addHook('onRoute', function checkRoute(route) {
      const violation = contractViolation(route);
      if (violation !== null) throw new Error(`Route ${String(route.method)} ${route.url} ${violation}.`);
      const access = route.config?.access ?? 'public';
      // Fail closed: without the plugin that enforces it, a rule would mean nothing.
      if (access !== 'public' && !this.hasRequestDecorator('principal')) {
        throw new Error(`Route ${String(route.method)} ${route.url} declares access "${describeAccess(access)}" but no authentication plugin is registered before it.`);
      }
      if (isPermission(access) && !this.hasRequestDecorator('authorize')) {
        throw new Error(`Route ${String(route.method)} ${route.url} declares the permission "${describeAccess(access)}" but no authorization plugin is registered before it.`);
      }
      const body = route.schema?.body === undefined ? 'none' : acceptsEmptyObject(route.schema.body) ? 'optional' : 'required';
      const fields = bodyFields(route);
      for (const method of Array.isArray(route.method) ? route.method : [route.method]) {
        table.push({ method: String(method), url: route.url, access, scope: route.config?.scope ?? null, csrfExempt: route.config?.csrf === false, body, page: route.config?.page === true, bodyFields: fields });
      }
    });
    done();
  },
  { name: 'rampart-route-contract' },
);
