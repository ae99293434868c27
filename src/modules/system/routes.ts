import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { sendProblem } from '../../security/problem-details.js';

export interface SystemRoutesOptions {
  readonly publicUrl: string;
  readonly securityContacts: readonly string[];
  readonly securityTxtExpires: Date;
  /** Checks every dependency; resolves when all answer. */
  readonly ready: () => Promise<void>;
}

const noQuery = z.strictObject({});

/**
 * Liveness, readiness, RFC 9116 security.txt and a small public JSON status route. None of
 * them names a version, a library or a host.
 */
export const systemRoutes: FastifyPluginAsyncZod<SystemRoutesOptions> = (app, options) => {
  const securityTxt = [
    ...options.securityContacts.map((contact) => `Contact: ${contact}`),
    `Expires: ${options.securityTxtExpires.toISOString()}`,
    'Preferred-Languages: en',
    `Canonical: ${options.publicUrl}/.well-known/security.txt`,
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
      return sendProblem(reply, { status: 503, code: 'RAMPART_ERR_UNAVAILABLE', title: 'Not ready: a dependency is unavailable.' });
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

  app.get('/api/status', {
    config: { access: 'public' },
    schema: { querystring: noQuery, response: { 200: z.object({ status: z.literal('ok'), time: z.iso.datetime() }) } },
  }, () => ({ status: 'ok' as const, time: new Date().toISOString() }));

  return Promise.resolve();
};
