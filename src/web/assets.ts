import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';

/** Templates and static files sit beside this module: `src/web/` under tsx, `dist/web/` once built (the build copies them). */
export const VIEWS_DIR = fileURLToPath(new URL('./views', import.meta.url));
export const STATIC_DIR = fileURLToPath(new URL('./static', import.meta.url));

/** The URL prefix of fingerprinted static files. */
export const STATIC_PREFIX = '/static/';

const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};
const SOURCE_NAME = /^[a-z0-9-]{1,64}\.[a-z]{2,4}$/;
// A year, immutable: the name changes whenever the content does, so a cached copy is never stale.
const IMMUTABLE = 'public, max-age=31536000, immutable';
const FAVICON_CACHE = 'public, max-age=86400';

interface Asset {
  readonly url: string;
  readonly body: Buffer;
  readonly contentType: string;
}

/** Fingerprinted static files, read and hashed once at boot and served from memory. */
export interface AssetTable {
  /** `app.css` → `/static/app.<hash>.css`; an unknown name throws, so a typo in a template fails its first render. */
  url(name: string): string;
  /** The file behind a fingerprinted name (`app.<hash>.css`), or undefined. */
  lookup(fingerprinted: string): Asset | undefined;
}

/** Reads every file of `dir` (flat, names checked) and names each `<name>.<first 16 hex of SHA-256>.<ext>`. */
export function loadAssets(dir: string = STATIC_DIR): AssetTable {
  const bySource = new Map<string, Asset>();
  const byName = new Map<string, Asset>();
  // The directory is the package's own, fixed at build time.
  // eslint-disable-next-line security/detect-non-literal-fs-filename
  for (const name of readdirSync(dir).sort()) {
    const ext = extname(name);
    const contentType = CONTENT_TYPES[ext];
    if (!SOURCE_NAME.test(name) || contentType === undefined) throw new Error(`static asset ${name}: expected a lowercase name ending in ${Object.keys(CONTENT_TYPES).join(', ')}`);
    // eslint-disable-next-line security/detect-non-literal-fs-filename
    const body = readFileSync(join(dir, name));
    const hash = createHash('sha256').update(body).digest('hex').slice(0, 16);
    const fingerprinted = `${name.slice(0, -ext.length)}.${hash}${ext}`;
    const asset: Asset = { url: `${STATIC_PREFIX}${fingerprinted}`, body, contentType };
    bySource.set(name, asset);
    byName.set(fingerprinted, asset);
  }
  return {
    url(name) {
      const asset = bySource.get(name);
      if (asset === undefined) throw new Error(`unknown static asset ${name}`);
      return asset.url;
    },
    lookup: (fingerprinted) => byName.get(fingerprinted),
  };
}

/** `GET /static/<name>.<hash>.<ext>`: only names the table knows, with long immutable caching. */
export const staticRoutes: FastifyPluginAsyncZod<{ assets: AssetTable }> = (app, { assets }) => {
  app.get(`${STATIC_PREFIX}:file`, {
    // The same bytes for everyone: no session is read, so a signed-in browser caches them too.
    config: { access: 'public', authenticate: false },
    schema: {
      querystring: z.strictObject({}),
      params: z.strictObject({ file: z.string().max(100).regex(/^[a-z0-9-]+\.[0-9a-f]{16}\.[a-z]{2,4}$/) }),
      response: { 200: z.instanceof(Buffer) },
    },
  }, async (request, reply) => {
    const asset = assets.lookup(request.params.file);
    // An old fingerprint or a made-up name: the ordinary 404 (HTML for a browser, else problem+json).
    if (asset === undefined) {
      reply.callNotFound();
      return reply;
    }
    return reply.header('cache-control', IMMUTABLE).type(asset.contentType).send(asset.body);
  });

  // Browsers and tools ask for /favicon.ico whatever the page links: a fixed URL, so cached for a
  // day rather than forever; pages link the fingerprinted copy.
  const icon = assets.lookup(assets.url('favicon.ico').slice(STATIC_PREFIX.length));
  if (icon === undefined) throw new Error('static asset favicon.ico is missing');
  app.get('/favicon.ico', {
    config: { access: 'public', authenticate: false },
    schema: { querystring: z.strictObject({}), response: { 200: z.instanceof(Buffer) } },
  }, async (_request, reply) => reply.header('cache-control', FAVICON_CACHE).type(icon.contentType).send(icon.body));
  return Promise.resolve();
};
