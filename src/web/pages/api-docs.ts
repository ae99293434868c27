import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { HTML_RESPONSE, NO_QUERY, PUBLIC_PAGE } from '../page-routes.js';
import { renderPage } from '../render.js';

const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

interface Operation {
  readonly method: string;
  readonly path: string;
  readonly access: string;
  readonly security: string;
  readonly hasBody: boolean;
  readonly responses: string;
}

type OpenApiOperation = { readonly security?: readonly Record<string, readonly string[]>[]; readonly requestBody?: unknown; readonly responses?: Record<string, unknown>; readonly 'x-rampart-access'?: string };

/** How one requirement reads: `session + csrf`, `bearer (posts:read)`, or `none` for `{}`. */
function describeRequirement(requirement: Readonly<Record<string, readonly string[]>>): string {
  const parts = Object.entries(requirement).map(([scheme, scopes]) => (scopes.length === 0 ? scheme : `${scheme} (${scopes.join(', ')})`));
  return parts.length === 0 ? 'none' : parts.join(' + ');
}

/** The operations of an OpenAPI document, in document order. */
export function listOperations(document: { readonly paths?: Record<string, Partial<Record<string, OpenApiOperation>>> }): Operation[] {
  return Object.entries(document.paths ?? {}).flatMap(([path, item]) => METHODS.flatMap((method) => {
    const operation = item[method];
    if (operation === undefined) return [];
    const security = operation.security ?? [];
    return [{
      method: method.toUpperCase(),
      path,
      access: operation['x-rampart-access'] ?? 'public',
      security: security.length === 0 ? 'none' : security.map(describeRequirement).join(' or '),
      hasBody: operation.requestBody !== undefined,
      responses: Object.keys(operation.responses ?? {}).join(', '),
    }];
  }));
}

/**
 * `/docs/api`: the JSON API's operations, server-rendered from the OpenAPI document (no script,
 * so it keeps the page CSP without exceptions); the schemas themselves are in /openapi.json.
 */
export const apiDocsPages: FastifyPluginAsyncZod = (app) => {
  let operations: Operation[] | null = null;
  app.get('/docs/api', { config: PUBLIC_PAGE, schema: { querystring: NO_QUERY, response: HTML_RESPONSE } }, async (request, reply) => {
    operations ??= listOperations(app.swagger() as unknown as Parameters<typeof listOperations>[0]);
    return renderPage(request, reply, 'api-docs', { title: 'API reference', operations });
  });
  return Promise.resolve();
};
