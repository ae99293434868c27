import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { describe, it, type TestContext } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { scanCommand } from '../../../src/cli/scan/command.js';
import type { ScanReport } from '../../../src/cli/scan/report.js';
import { ids, scan } from './scan-helpers.js';

const PAGE = '<!doctype html><html><head><script src="/static/app.js"></script></head><body>Hello</body></html>';

/**
 * A Fastify app with the classic mistakes planted, one or more per finding id the test
 * expects. Nothing here is Rampart: it is what the scanner must catch elsewhere.
 */
async function misconfiguredApp(t: Pick<TestContext, 'after'>): Promise<{ app: FastifyInstance; origin: string }> {
  const app = Fastify({ logger: false });
  app.addHook('onRequest', async (request, reply) => {
    // CORS by reflection, credentials included: every origin, `null` too.
    const origin = request.headers.origin;
    if (origin !== undefined) void reply.header('access-control-allow-origin', origin).header('access-control-allow-credentials', 'true');
    void reply.header('x-powered-by', 'Express').header('server', 'nginx/1.18.0').header('x-xss-protection', '1; mode=block');
    // HSTS over plain HTTP, where it means nothing.
    void reply.header('strict-transport-security', 'max-age=600');
  });
  app.get('/', async (_request, reply) => reply
    .type('text/html; charset=utf-8')
    .header('content-security-policy', "default-src 'self'; script-src 'self' 'unsafe-inline' 'unsafe-eval' https:")
    .header('referrer-policy', 'unsafe-url')
    // A session cookie with every attribute missing, on a response shared caches may keep.
    .header('cache-control', 'public, max-age=600')
    .header('set-cookie', ['connect.sid=s%3Aabc; Path=/', 'remember_token=x; Secure; HttpOnly; SameSite=None; Domain=127.0.0.1; Path=/', '__Host-pref=1; Path=/app; Secure; SameSite=Lax'])
    .send(PAGE));
  app.get('/static/app.js', async (_request, reply) => reply.type('text/javascript').send('void 0;'));
  app.get('/api/status', (_request, reply) => reply.send({ status: 'ok' }));
  app.get('/.well-known/security.txt', async (_request, reply) => reply.type('text/html').send('Expires: 2020-01-01T00:00:00Z\n'));
  app.post('/api/auth/token', async (_request, reply) => reply.code(401).send({ error: 'invalid credentials' }));
  app.setNotFoundHandler(async (request, reply) => {
    // A slug lookup that builds SQL by hand, and says so when it breaks.
    if (request.url.length > 2000) return reply.code(500).type('text/plain').send(`error: unterminated quoted string at or near "'${request.url.slice(0, 30)}"`);
    return reply.code(404).type('text/html').header('cache-control', 'public, max-age=3600').send('<!doctype html><p>Not found</p>');
  });
  // The debugging error handler that ships to production: the stack goes to the client.
  app.setErrorHandler(async (error: Error & { statusCode?: number }, _request, reply) => reply.code(error.statusCode ?? 500).type('text/plain').send(error.stack));
  await app.listen({ port: 0, host: '127.0.0.1' });
  t.after(() => app.close());
  return { app, origin: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}` };
}

describe('rampart scan against a misconfigured Fastify app', () => {
  it('finds every planted flaw by its id', async (t) => {
    const { origin } = await misconfiguredApp(t);
    const report = await scan([`${origin}/`, '--path', '/api/status', '--probe-rate-limit']);
    const found = ids(report);
    const planted = [
      // headers
      'RAMPART-SH04', 'RAMPART-SH05', 'RAMPART-SH06', 'RAMPART-SH07', 'RAMPART-SH08', 'RAMPART-SH09', 'RAMPART-SH10', 'RAMPART-SH12',
      'RAMPART-SH13', 'RAMPART-SH14', 'RAMPART-SH16', 'RAMPART-SH17', 'RAMPART-SH18', 'RAMPART-SH19', 'RAMPART-SH20', 'RAMPART-SH21',
      'RAMPART-SH23', 'RAMPART-SH24', 'RAMPART-SH25', 'RAMPART-SH26',
      // cookies
      'RAMPART-SC01', 'RAMPART-SC02', 'RAMPART-SC03', 'RAMPART-SC04', 'RAMPART-SC05', 'RAMPART-SC06', 'RAMPART-SC07', 'RAMPART-SC08',
      // error leakage: the stack of the JSON parse error, its node_modules paths, the SQL error, the 500
      'RAMPART-SE01', 'RAMPART-SE02', 'RAMPART-SE03', 'RAMPART-SE04', 'RAMPART-SE05',
      // CORS, security.txt, the login that never throttles
      'RAMPART-SO01', 'RAMPART-SO02',
      'RAMPART-SS02', 'RAMPART-SS04', 'RAMPART-SS07', 'RAMPART-SS08',
      'RAMPART-SR01',
    ] as const;
    const missing = planted.filter((id) => !found.has(id));
    assert.deepEqual(missing, [], `missing findings; the report had ${[...found].join(', ')}`);
    assert.equal(report.grade, 'F');
    const byCategory = Object.fromEntries(report.categories.map((c) => [c.category, c.grade]));
    assert.deepEqual(byCategory, { headers: 'D', cookies: 'D', tls: null, errors: 'F', cors: 'F', 'security.txt': 'C', 'rate-limit': 'C' });

    const connectSid = report.findings.filter((f) => f.subject === 'connect.sid').map((f) => f.id).sort();
    assert.deepEqual(connectSid, ['RAMPART-SC01', 'RAMPART-SC02', 'RAMPART-SC03', 'RAMPART-SC05', 'RAMPART-SC06']);
    const reflected = report.findings.find((f) => f.id === 'RAMPART-SO01');
    assert.match(reflected?.evidence ?? '', /^Origin: https:\/\/attacker-[0-9a-f]{12}\.invalid → Access-Control-Allow-Origin: https:\/\/attacker-[0-9a-f]{12}\.invalid, Access-Control-Allow-Credentials: true$/);
    const sql = report.findings.find((f) => f.id === 'RAMPART-SE03');
    assert.match(sql?.evidence ?? '', /HTTP 500: .*unterminated quoted string/);
    assert.ok(report.findings.every((f) => !f.evidence.includes('s%3Aabc')), 'cookie values never reach the report');
  });

  it('prints the findings highest severity first, and exits 1 at --fail-on high', async (t) => {
    const { origin } = await misconfiguredApp(t);
    const printed: string[] = [];
    const code = await scanCommand([`${origin}/`, '--json', '--fail-on', 'high'], (text) => printed.push(text), (text) => printed.push(text));
    assert.equal(code, 1);
    const report = JSON.parse(printed.join('\n')) as ScanReport;
    const ranks = report.findings.map((f) => ['info', 'low', 'medium', 'high'].indexOf(f.severity));
    assert.deepEqual(ranks, [...ranks].sort((a, b) => b - a), 'highest severity first');
    for (const finding of report.findings) {
      assert.ok(finding.where.length > 0 && finding.evidence !== '' && finding.fix !== '' && finding.reason !== '', `${finding.id} has evidence, where, reason and fix`);
    }
    const text: string[] = [];
    assert.equal(await scanCommand([`${origin}/`], (line) => text.push(line), () => undefined), 1, 'medium is the default threshold');
    assert.match(text.join('\n'), /^RAMPART-SO01 \[high\] Access-Control-Allow-Origin: any Origin is reflected .*\n {4}evidence: Origin: https:\/\/attacker-.*\n {4}seen on: GET \/; OPTIONS \/; .*\n {4}fix: /m);
  });
});
