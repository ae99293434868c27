import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { build, randomIp, securityEventRows } from '../helpers/build.js';

// A route that takes credentials in its body, as login and token routes will.
const credentialRoute: FastifyPluginAsyncZod = (app) => {
  app.post('/api/credential-probe', {
    config: { access: 'public' },
    schema: {
      querystring: z.strictObject({}),
      body: z.strictObject({ email: z.email().max(254), password: z.string().min(15).max(128) }),
      response: { 200: z.object({ ok: z.boolean() }) },
    },
  }, (request) => {
    request.log.info({ body: request.body, headers: request.headers }, 'a careless handler logs its whole request');
    return { ok: true };
  });
  return Promise.resolve();
};

describe('secrets never reach logs or the security event table', () => {
  it('keeps passwords, tokens, cookies and configured secrets out of every log line and event row', async (t) => {
    const secretKey = randomBytes(32).toString('base64url');
    const encryptionKey = randomBytes(32).toString('base64url');
    const { app, logs } = await build(t, {
      plugins: [credentialRoute],
      env: { RAMPART_LOG_LEVEL: 'trace', RAMPART_SECRET_KEY: secretKey, RAMPART_ENCRYPTION_KEYS: `scan-1:${encryptionKey}` },
    });
    const secrets = {
      password: `correct horse ${randomBytes(8).toString('hex')} staple`,
      bearer: `eyJ${randomBytes(24).toString('base64url')}`,
      cookie: randomBytes(24).toString('base64url'),
      csrf: randomBytes(24).toString('base64url'),
      queryToken: randomBytes(24).toString('base64url'),
      plaintext: `plaintext-${randomBytes(12).toString('hex')}`,
    };
    const ip = randomIp();
    const credentialHeaders = { authorization: `Bearer ${secrets.bearer}`, cookie: `__Host-rampart_session=${secrets.cookie}`, 'x-csrf-token': secrets.csrf };
    const requests = [
      { method: 'GET' as const, url: '/api/status', headers: credentialHeaders },
      { method: 'GET' as const, url: `/api/status?token=${secrets.queryToken}`, headers: credentialHeaders },
      { method: 'GET' as const, url: `/verify-email?token=${secrets.queryToken}`, headers: credentialHeaders },
      { method: 'POST' as const, url: '/api/credential-probe', headers: credentialHeaders, payload: { email: 'ada@example.com', password: secrets.password } },
      { method: 'POST' as const, url: '/api/credential-probe', headers: credentialHeaders, payload: { email: 'not-an-email', password: secrets.password } },
      { method: 'POST' as const, url: '/api/credential-probe', headers: credentialHeaders, payload: { email: 'ada@example.com', password: secrets.password, $where: secrets.password } },
      { method: 'POST' as const, url: '/api/credential-probe', headers: { ...credentialHeaders, 'content-type': 'application/json' }, payload: `{"password":"${secrets.password}"` },
      { method: 'POST' as const, url: '/api/credential-probe', headers: { ...credentialHeaders, 'content-type': 'text/plain' }, payload: secrets.password },
    ];
    for (const request of requests) await app.inject({ ...request, remoteAddress: ip });

    // A tampered ciphertext is a security event too; its plaintext must not appear either.
    const aad = { table: 'users', column: 'email', rowId: randomBytes(8).toString('hex') };
    const envelope = app.keyring.encrypt(secrets.plaintext, aad);
    assert.equal(app.keyring.decryptString(envelope, { ...aad, rowId: 'another-row' }), null);

    await app.securityEvents.flush();
    const rows = await app.database.db.selectFrom('security_events').selectAll().execute();
    const haystacks = { logs: logs.text(), events: JSON.stringify(rows) };
    assert.ok(logs.lines.length > 10, 'the suite produced log lines to scan');
    assert.ok((await securityEventRows(app, ip)).length >= 4, 'the suite produced event rows to scan');
    const needles = { ...secrets, secretKey, encryptionKey, redactedQueryToken: secrets.queryToken };
    for (const [where, text] of Object.entries(haystacks)) {
      for (const [name, value] of Object.entries(needles)) {
        assert.ok(!text.includes(value), `${name} appears in ${where}`);
      }
    }
    assert.ok(logs.text().includes('[redacted]'), 'redaction ran');
    const decryptFailures = rows.filter((r) => r.event === 'crypt_decrypt_fail' && (r.details as { row_id?: string }).row_id === 'another-row');
    assert.equal(decryptFailures.length, 1, 'the tampered decryption was recorded');
    assert.equal((decryptFailures[0]?.details as { reason?: string }).reason, 'authentication_failed');
  });
});
