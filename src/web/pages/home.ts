import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { HTML_RESPONSE, NO_QUERY, PUBLIC_PAGE } from '../page-routes.js';
import { renderPage } from '../render.js';

/** The home page. A placeholder until the posts pages give it published posts, search and pagination. */
export const homePage: FastifyPluginAsyncZod = (app) => {
  app.get('/', { config: PUBLIC_PAGE, schema: { querystring: NO_QUERY, response: HTML_RESPONSE } }, async (request, reply) => {
    return renderPage(request, reply, 'home', { title: 'Rampart' });
  });
  return Promise.resolve();
};
