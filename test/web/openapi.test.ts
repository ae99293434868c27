import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { securityRequirements } from '../../src/kernel/openapi.js';
import { isPermission } from '../../src/security/route-contract.js';
import { suiteApp } from '../helpers/build.js';
import { injectRetryingShed } from '../helpers/client.js';

interface Operation {
  readonly security?: Record<string, string[]>[];
  readonly parameters?: { readonly in: string; readonly name: string; readonly schema?: unknown }[];
  readonly requestBody?: { readonly content?: Record<string, { readonly schema?: unknown }> };
  readonly responses?: Record<string, { readonly content?: Record<string, { readonly schema?: unknown }> }>;
  readonly 'x-rampart-access'?: string;
}
interface Document {
  readonly openapi: string;
  readonly paths: Record<string, Record<string, Operation>>;
  readonly components: { readonly securitySchemes: Record<string, { readonly type: string; readonly in?: string; readonly name?: string; readonly scheme?: string }> };
}

/** `/api/posts/:id` → `/api/posts/{id}`, as OpenAPI writes path parameters. */
const openApiPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

describe('the OpenAPI document', () => {
  const rampart = suiteApp();
  let cached: Document | null = null;
  async function load(): Promise<Document> {
    if (cached !== null) return cached;
    const res = await injectRetryingShed(rampart.app, { method: 'GET', url: '/openapi.json' });
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^application\/json/);
    cached = JSON.parse(res.body) as Document;
    return cached;
  }

  it('is valid OpenAPI 3.1', async () => {
    const document = await load();
    assert.equal(document.openapi, '3.1.0');
    type Spec = Parameters<Validator['validate']>[0];
    const result = await new Validator().validate(document as unknown as Spec);
    assert.equal(result.valid, true, result.valid ? '' : JSON.stringify(result.errors, null, 1).slice(0, 2000));
    // The validator does judge: the same document with a broken operation is refused.
    const broken = structuredClone(document) as unknown as { paths: Record<string, Record<string, { responses: unknown }>> };
    const status = broken.paths['/api/status']?.get;
    assert.ok(status !== undefined);
    status.responses = 'none';
    assert.equal((await new Validator().validate(broken as unknown as Spec)).valid, false);
  });

  it('documents every API route with its schemas and the security its access rule and scope demand', async () => {
    const document = await load();
    const apiRoutes = rampart.app.routeTable.filter((route) => route.url.startsWith('/api/') && route.method !== 'HEAD');
    assert.ok(apiRoutes.length >= 30, `${apiRoutes.length} API routes`);
    for (const route of apiRoutes) {
      const where = `${route.method} ${route.url}`;
      const operation = document.paths[openApiPath(route.url)]?.[route.method.toLowerCase()];
      assert.ok(operation !== undefined, `${where} is missing from the document`);
      const success = Object.entries(operation.responses ?? {}).filter(([status]) => /^2/.test(status));
      assert.ok(success.length > 0, `${where} documents no success response`);
      for (const [status, response] of success) {
        if (status === '204') continue;
        assert.ok(response.content?.['application/json']?.schema !== undefined, `${where} ${status} has no response schema`);
      }
      if (route.body !== 'none') assert.ok(operation.requestBody?.content?.['application/json']?.schema !== undefined, `${where} has no request body schema`);
      for (const name of route.url.match(/:([A-Za-z0-9_]+)/g) ?? []) {
        assert.ok(operation.parameters?.some((p) => p.in === 'path' && p.name === name.slice(1) && p.schema !== undefined), `${where} does not describe ${name}`);
      }
      // The requirement follows the contract: public → none; otherwise the session (and the
      // CSRF header on unsafe methods), and a bearer token only where the route names a scope.
      const security = operation.security ?? [];
      const credentials = security.filter((requirement) => Object.keys(requirement).length > 0);
      if (route.access === 'public') {
        assert.deepEqual(security, [], `${where} is public`);
        continue;
      }
      const guestOptional = security.some((requirement) => Object.keys(requirement).length === 0);
      assert.ok(!guestOptional || isPermission(route.access), `${where}: only a permission route may also answer a guest`);
      assert.deepEqual(credentials, securityRequirements(route.method, route.access, route.scope, route.csrfExempt).filter((r) => Object.keys(r).length > 0), where);
      const session = credentials.find((requirement) => 'session' in requirement);
      assert.ok(session !== undefined, `${where} names no session`);
      assert.equal('csrf' in session, !['GET', 'HEAD'].includes(route.method) && !route.csrfExempt, `${where}: the CSRF header goes with the cookie on unsafe methods`);
      const bearer = credentials.find((requirement) => 'bearer' in requirement);
      assert.deepEqual(bearer?.bearer ?? null, route.scope === null ? null : [route.scope], `${where}: bearer only with the route's scope`);
      assert.equal(operation['x-rampart-access'], typeof route.access === 'string' ? route.access : `${route.access.action}:${route.access.subject}`);
    }
    // A scoped route and a cookie-only one, spelled out, so the walk above cannot pass vacuously.
    assert.deepEqual(document.paths['/api/bookmarks']?.post?.security, [{ session: [], csrf: [] }, { bearer: ['bookmarks:write'] }]);
    assert.deepEqual(document.paths['/api/status']?.get?.security, []);
  });

  it('names the security schemes: the session cookie, the CSRF header and bearer tokens', async () => {
    const { securitySchemes } = (await load()).components;
    assert.deepEqual(securitySchemes.session && { type: securitySchemes.session.type, in: securitySchemes.session.in, name: securitySchemes.session.name }, { type: 'apiKey', in: 'cookie', name: rampart.config.sessions.cookieName });
    assert.equal(securitySchemes.csrf?.name, 'X-CSRF-Token');
    assert.equal(securitySchemes.bearer?.scheme, 'bearer');
  });

  it('leaks no internal route: only /api/ paths (no metrics, CSP reports, probes, pages or itself)', async () => {
    const document = await load();
    for (const path of Object.keys(document.paths)) assert.ok(path.startsWith('/api/'), `${path} is not an API route`);
    const text = JSON.stringify(document);
    for (const internal of ['/metrics', '/csp-report', '/healthz', '/readyz', '/openapi.json', '/docs/api', '/admin']) {
      assert.ok(!Object.keys(document.paths).includes(internal), internal);
    }
    assert.doesNotMatch(text, /"\/csp-report"|"\/metrics"/);
  });

  it('answers with the API headers, and the same document each time', async () => {
    const first = await injectRetryingShed(rampart.app, { method: 'GET', url: '/openapi.json' });
    const second = await injectRetryingShed(rampart.app, { method: 'GET', url: '/openapi.json?x=1' });
    assert.equal(first.headers['x-content-type-options'], 'nosniff');
    assert.match(String(first.headers['content-security-policy']), /default-src 'none'/);
    assert.equal(second.statusCode, 400, 'unknown query keys are refused here too');
    assert.equal((await injectRetryingShed(rampart.app, { method: 'GET', url: '/openapi.json' })).body, first.body);
  });

  it('is browsable at /docs/api under the page CSP, with no script', async () => {
    const res = await injectRetryingShed(rampart.app, { method: 'GET', url: '/docs/api' });
    assert.equal(res.statusCode, 200);
    const csp = String(res.headers['content-security-policy']);
    assert.match(csp, /script-src 'nonce-[^']+' 'strict-dynamic'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.doesNotMatch(res.body, /<script(?![^>]*\bsrc=)[^>]*>\s*\S/, 'no inline script');
    assert.doesNotMatch(res.body, /https?:\/\/(?!localhost)[^"']*\.js/, 'no script from another origin');
    const document = await load();
    for (const [path, item] of Object.entries(document.paths)) {
      for (const method of Object.keys(item)) assert.ok(res.body.includes(`<code>${method.toUpperCase()}</code></td><td><code>${path}</code>`), `${method} ${path} is listed`);
    }
    assert.match(res.body, /bearer \(bookmarks:write\)/);
  });
});
