import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { noQuery } from '../../kernel/http.js';
import { RAMPART_ERR_UNAVAILABLE } from '../../security/errors.js';
import { sendProblem } from '../../security/problem-details.js';

export interface SystemRoutesOptions {
  readonly publicUrl: string;
  /** Other origins this instance answers at (development's loopback addresses): security.txt names each as canonical too. */
  readonly alsoServedAt?: readonly string[];
  readonly securityContacts: readonly string[];
  readonly securityTxtExpires: Date;
  /** Checks every dependency; resolves when all answer. */
  readonly ready: () => Promise<void>;
}

/**
 * Liveness, readiness, RFC 9116 security.txt and a small public JSON status route. None of
 * them names a version, a library or a host.
 */
export const systemRoutes: FastifyPluginAsyncZod<SystemRoutesOptions> = (app, options) => {
  const securityTxt = [
    ...options.securityContacts.map((contact) => `Contact: ${contact}`),
    `Expires: ${options.securityTxtExpires.toISOString()}`,
    'Preferred-Languages: en',
    // RFC 9116 2.5.2: every URI the file is served at, or a client fetching it at one that is
    // not listed (127.0.0.1 in development) must treat it as not authoritative.
    ...[options.publicUrl, ...(options.alsoServedAt ?? [])].map((origin) => `Canonical: ${origin}/.well-known/security.txt`),
    '',
  ].join('\n');

  app.get('/healthz', {
    config: { access: 'public' },
    schema: { querystring: noQuery, response: { 200: z.object({ status: z.literal('ok') }) } },
  }, () => ({ status: 'ok' as const }));

  app.get('/readyz', {
    config: { access: 'public' },
    schema: { querystring: noQuery, response: { 200: z.object({ status: z.literal('ready') }) } },
  }, async (request, reply) => {
    try {
      await options.ready();
    } catch (err) {
      request.log.warn({ err }, 'not ready');
      reply.header('retry-after', '5');
      return sendProblem(reply, { status: RAMPART_ERR_UNAVAILABLE.statusCode, code: RAMPART_ERR_UNAVAILABLE.code, title: 'Not ready: a dependency is unavailable.' });
    }
    return { status: 'ready' as const };
  });

  app.get('/.well-known/security.txt', {
    config: { access: 'public' },
    schema: { querystring: noQuery, response: { 200: z.string() } },
  }, (_request, reply) => {
    reply.type('text/plain; charset=utf-8');
    return securityTxt;
  });

  // The OpenAPI 3.1 document of the JSON API, built once from the route schemas (openapi.ts).
  let openApi: Record<string, unknown> | null = null;
  app.get('/openapi.json', {
    config: { access: 'public' },
    schema: { querystring: noQuery, response: { 200: z.looseObject({ openapi: z.string() }) } },
  }, () => {
    openApi ??= app.swagger() as unknown as Record<string, unknown>;
    return openApi as { openapi: string };
  });

  app.get('/api/status', {
    config: { access: 'public' },
    schema: { querystring: noQuery, response: { 200: z.object({ status: z.literal('ok'), time: z.iso.datetime() }) } },
  }, () => ({ status: 'ok' as const, time: new Date().toISOString() }));

  return Promise.resolve();
};
