import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { build, randomIp, securityEventRows } from '../helpers/build.js';

const NONCE = '([A-Za-z0-9+/]{22}==)';
const policy = (nonce: string, extra = '') =>
  `default-src 'self'; script-src 'nonce-${nonce}' 'strict-dynamic'; style-src 'self'; img-src 'self' https: data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'; report-uri /csp-report; report-to csp-endpoint${extra}`;
const PAGES = ['/', '/login', '/register', '/forgot-password', '/verify-email?token=x', '/verify-email/resend', '/reset-password', '/setup', '/no-such-page'];

function nonceOf(header: unknown): string {
  const match = new RegExp(`script-src 'nonce-${NONCE}'`).exec(String(header));
  assert.ok(match?.[1] !== undefined, `a nonce in ${String(header)}`);
  return match[1];
}

describe('page CSP', () => {
  it('every page carries the exact policy with a fresh 128-bit nonce, handed to its one script tag', async (t) => {
    const { app } = await build(t);
    const seen = new Set<string>();
    for (const url of PAGES) {
      for (let load = 0; load < 2; load += 1) {
        const res = await app.inject({ url, headers: { accept: 'text/html' }, remoteAddress: randomIp() });
        const header = res.headers['content-security-policy'];
        const nonce = nonceOf(header);
        assert.equal(Buffer.from(nonce, 'base64').length, 16);
        assert.equal(header, policy(nonce), url);
        assert.ok(typeof header === 'string' && !header.includes('unsafe-inline') && !header.includes('unsafe-eval'));
        assert.equal(res.headers['reporting-endpoints'], 'csp-endpoint="http://localhost:3000/csp-report"');
        assert.equal(res.headers['content-security-policy-report-only'], undefined);
        const tags = res.body.match(/<script\b[^>]*>/g) ?? [];
        // The site script, and on /login the passkey script: each external, each with this response's nonce.
        assert.ok(tags.length >= 1 && tags.length <= 2, `${url}: ${tags.join(' ')}`);
        assert.deepEqual(tags.map((tag) => /nonce="([^"]+)"/.exec(tag)?.[1]), tags.map(() => nonce), `${url}: every script carries this response's nonce`);
        assert.ok(tags.every((tag) => /\ssrc="\/static\/[a-z0-9.-]+\.js"/.test(tag)), `${url}: only same-origin static scripts: ${tags.join(' ')}`);
        assert.ok(!seen.has(nonce), 'a nonce is never reused');
        seen.add(nonce);
      }
    }
  });

  it('API responses keep default-src none and no nonce; a static file is not a page', async (t) => {
    const { app } = await build(t);
    for (const url of ['/healthz', '/api/me', '/api/csrf']) {
      const res = await app.inject({ url, headers: { accept: 'text/html' } });
      assert.equal(res.headers['content-security-policy'], "default-src 'none';frame-ancestors 'none'", url);
      assert.equal(res.headers['reporting-endpoints'], undefined);
    }
  });

  it('upgrade-insecure-requests only over HTTPS; RAMPART_CSP_REPORT_ONLY adds the same policy as report-only', async (t) => {
    const { app } = await build(t, { env: { RAMPART_TRUST_PROXY: '127.0.0.1', RAMPART_CSP_REPORT_ONLY: 'true' } });
    const https = await app.inject({ url: '/login', remoteAddress: '127.0.0.1', headers: { 'x-forwarded-proto': 'https' } });
    const nonce = nonceOf(https.headers['content-security-policy']);
    assert.equal(https.headers['content-security-policy'], policy(nonce, '; upgrade-insecure-requests'));
    assert.equal(https.headers['content-security-policy-report-only'], https.headers['content-security-policy']);
    const http = await app.inject({ url: '/login', remoteAddress: '127.0.0.1' });
    assert.equal(http.headers['content-security-policy'], policy(nonceOf(http.headers['content-security-policy'])));
  });

  it('the route contract refuses a page flag other than true', async (t) => {
    const bad: FastifyPluginAsyncZod = async (app) => {
      await Promise.resolve();
      app.get('/bad-page', { config: { access: 'public', page: 'yes' as unknown as true }, schema: { querystring: z.strictObject({}), response: { 200: z.string() } } }, () => 'x');
    };
    await assert.rejects(build(t, { plugins: [bad] }), /declares page other than `true`/);
  });
});

const legacy = (blocked: string) => JSON.stringify({
  'csp-report': {
    'document-uri': 'http://localhost:3000/reset-password?token=SECRETTOKENVALUE', 'blocked-uri': blocked, 'effective-directive': 'script-src-elem',
    'violated-directive': 'script-src-elem', 'original-policy': "default-src 'self'", disposition: 'enforce', 'script-sample': 'alert(document.cookie)',
  },
});
const batch = JSON.stringify([
  { type: 'csp-violation', age: 1, url: 'http://localhost:3000/account', user_agent: 'x', body: { documentURL: 'http://localhost:3000/account?x=1', blockedURL: 'https://evil.example/steal?c=secret', effectiveDirective: 'img-src', disposition: 'report', sample: 'x' } },
  { type: 'deprecation', age: 1, url: 'http://localhost:3000/', body: {} },
]);

describe('/csp-report', () => {
  it('records both report formats as malicious_csp_violation with a sanitized subset, answering 204', async (t) => {
    const { app } = await build(t);
    const ip = randomIp();
    const one = await app.inject({ method: 'POST', url: '/csp-report', remoteAddress: ip, headers: { 'content-type': 'application/csp-report' }, payload: legacy('inline') });
    assert.equal(one.statusCode, 204, one.body);
    const two = await app.inject({ method: 'POST', url: '/csp-report', remoteAddress: ip, headers: { 'content-type': 'application/reports+json' }, payload: batch });
    assert.equal(two.statusCode, 204, two.body);
    const events = (await securityEventRows(app, ip)).filter((e) => e.event === 'malicious_csp_violation');
    assert.deepEqual(events.map((e) => e.details), [
      { directive: 'script-src-elem', blocked: 'inline', document_path: '/reset-password', disposition: 'enforce' },
      { directive: 'img-src', blocked: 'https://evil.example', document_path: '/account', disposition: 'report' },
    ]);
    const text = JSON.stringify(events);
    for (const secret of ['SECRETTOKENVALUE', 'secret', 'alert', 'steal', "default-src"]) assert.ok(!text.includes(secret), secret);
  });

  it('refuses other content types (415), bodies over 8 KiB (413) and malformed reports (400)', async (t) => {
    const { app } = await build(t);
    for (const type of ['application/json', 'text/plain', 'application/x-www-form-urlencoded']) {
      const res = await app.inject({ method: 'POST', url: '/csp-report', remoteAddress: randomIp(), headers: { 'content-type': type }, payload: legacy('inline') });
      assert.equal(res.statusCode, 415, type);
    }
    const large = await app.inject({ method: 'POST', url: '/csp-report', remoteAddress: randomIp(), headers: { 'content-type': 'application/csp-report' }, payload: legacy('x'.repeat(9000)) });
    assert.equal(large.statusCode, 413);
    const malformed = await app.inject({ method: 'POST', url: '/csp-report', remoteAddress: randomIp(), headers: { 'content-type': 'application/csp-report' }, payload: '{"csp-report":' });
    assert.equal(malformed.statusCode, 400);
    const wrongShape = await app.inject({ method: 'POST', url: '/csp-report', remoteAddress: randomIp(), headers: { 'content-type': 'application/csp-report' }, payload: '{"hello":1}' });
    assert.equal(wrongShape.statusCode, 400);
  });

  it('a flood from one client gets 429 with Retry-After after 30 reports a minute; another client is unaffected', async (t) => {
    const { app } = await build(t);
    const ip = randomIp();
    const send = (from: string) => app.inject({ method: 'POST', url: '/csp-report', remoteAddress: from, headers: { 'content-type': 'application/csp-report' }, payload: legacy('eval') });
    for (let i = 0; i < 30; i += 1) assert.equal((await send(ip)).statusCode, 204);
    const refused = await send(ip);
    assert.equal(refused.statusCode, 429);
    assert.ok(Number(refused.headers['retry-after']) > 0);
    assert.equal((await send(randomIp())).statusCode, 204);
    await app.securityEvents.flush();
    const recorded = (await securityEventRows(app, ip)).filter((e) => e.event === 'malicious_csp_violation');
    // Identical reports are coalesced: the first rows, then a summary row with the count of the rest.
    const total = recorded.reduce((sum, e) => sum + (e.details.coalesced === true ? Number(e.details.count) : 1), 0);
    assert.equal(total, 30, 'refused reports record nothing');
  });
});
