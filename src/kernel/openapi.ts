import swagger from '@fastify/swagger';
import type { FastifyInstance, RouteOptions } from 'fastify';
import fp from 'fastify-plugin';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import { describeAccess, isPermission, type AccessRule, type Permission } from '../security/route-contract.js';

/** Only the JSON API is documented: pages, health probes, metrics and CSP reports are not part of it. */
export const DOCUMENTED_PREFIX = '/api/';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

export interface OpenApiOptions {
  readonly title: string;
  readonly version: string;
  /** The public URL: the document's one server. */
  readonly publicUrl: string;
  /** The session cookie's name, as the `session` security scheme. */
  readonly sessionCookieName: string;
  /** Whether a guest may pass a permission route (the abilities decide; the handler may still check the object). */
  readonly guestMay?: (permission: Permission) => boolean;
}

export type SecurityRequirement = Record<string, string[]>;

/**
 * The security requirements of one operation, from its route contract: none for a public route;
 * otherwise a cookie session (plus the `X-CSRF-Token` header on unsafe methods unless the route
 * opted out), or, where the route names a scope, a bearer token with that scope.
 */
export function securityRequirements(method: string, access: AccessRule, scope: string | null, csrfExempt: boolean, guestMay: (permission: Permission) => boolean = () => false): SecurityRequirement[] {
  if (access === 'public') return [];
  const session: SecurityRequirement = SAFE_METHODS.has(method) || csrfExempt ? { session: [] } : { session: [], csrf: [] };
  const credentials = scope === null ? [session] : [session, { bearer: [scope] }];
  // `{}` first: the operation also answers a guest (a permission the abilities grant to guests).
  return isPermission(access) && guestMay(access) ? [{}, ...credentials] : credentials;
}

/**
 * The OpenAPI 3.1 document, generated from the routes' own zod schemas (the same ones that
 * validate and serialize): `app.swagger()` once ready. Registered before every route, as
 * @fastify/swagger collects them as they are added. Only routes under `/api/` are included,
 * each with its security requirement and access rule (`x-rampart-access`).
 */
export const openApiPlugin = fp<OpenApiOptions>(
  async (app: FastifyInstance, options) => {
    await app.register(swagger, {
      openapi: {
        openapi: '3.1.0',
        info: { title: options.title, version: options.version, description: 'The JSON API. Every error is an RFC 9457 application/problem+json body with a stable `code`.' },
        servers: [{ url: options.publicUrl }],
        components: {
          securitySchemes: {
            session: { type: 'apiKey', in: 'cookie', name: options.sessionCookieName, description: 'The session cookie set by POST /api/auth/login.' },
            csrf: { type: 'apiKey', in: 'header', name: 'X-CSRF-Token', description: 'The session\'s CSRF token (GET /api/csrf), required with the cookie on unsafe methods.' },
            bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'An API access token (POST /api/auth/token); the requirement lists the scope the route needs.' },
          },
        },
      },
      transform(input) {
        const route: RouteOptions = input.route;
        if (!input.url.startsWith(DOCUMENTED_PREFIX)) return { schema: { ...input.schema, hide: true }, url: input.url };
        const transformed = jsonSchemaTransform(input);
        const access = route.config?.access ?? 'public';
        const method = (Array.isArray(route.method) ? route.method[0] : route.method) ?? 'GET';
        const security = securityRequirements(String(method), access, route.config?.scope ?? null, route.config?.csrf === false, options.guestMay);
        return { url: transformed.url, schema: { ...transformed.schema, security, 'x-rampart-access': describeAccess(access) } as typeof transformed.schema };
      },
      transformObject: jsonSchemaTransformObject,
    });
  },
  { name: 'rampart-openapi' },
);
