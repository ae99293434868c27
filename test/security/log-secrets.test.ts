import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { InjectOptions } from 'fastify';
import { z } from 'zod';
import { build, privateDatabase, randomIp, securityEventRows, tables } from '../helpers/build.js';
import { Client, json } from '../helpers/client.js';
import { bearer, refresh, tokenPair, type TokenPairBody } from '../helpers/tokens.js';
import { createVerifiedUser } from '../helpers/users.js';

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
      // A database of its own: boot refuses (RAMPART-E080) when rows need a key that is not configured.
      env: { ...(await privateDatabase(t)), RAMPART_LOG_LEVEL: 'trace', RAMPART_SECRET_KEY: secretKey, RAMPART_ENCRYPTION_KEYS: `scan-1:${encryptionKey}` },
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
    const rows = await tables(app).selectFrom('security_events').selectAll().execute();
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

describe('API tokens never reach logs, event rows, error bodies or the database in plain form', () => {
  it('keeps access, refresh and personal tokens and the signing private key out of every log line, event row and stored row', async (t) => {
    const { app, logs } = await build(t, { env: { RAMPART_LOG_LEVEL: 'trace' } });
    const user = await createVerifiedUser(app);
    const ip = randomIp();
    const browser = new Client(app, ip);
    assert.equal((await browser.post('/api/auth/login', { email: user.email, password: user.password })).statusCode, 200);
    const first = await tokenPair(app, user);
    const secondRes = await refresh(app, first.refresh_token, ip);
    const second = json<TokenPairBody>(secondRes);
    const patRes = await browser.post('/api/account/tokens', { name: 'scan', scopes: ['account:read'], expiresInDays: 1 });
    const pat = json<{ token: string }>(patRes).token;

    const bodies: string[] = [];
    const send = async (request: InjectOptions) => {
      const res = await app.inject(request);
      if (res.statusCode >= 400) bodies.push(res.body);
      return res;
    };
    for (const token of [first.access_token, second.access_token, pat]) {
      await send({ method: 'GET', url: '/api/me', headers: bearer(token), remoteAddress: ip });
      await send({ method: 'GET', url: '/api/me', headers: bearer(`${token}x`), remoteAddress: ip });
      await send({ method: 'POST', url: '/api/account/sessions/revoke-others', headers: { ...bearer(token), 'content-type': 'text/plain' }, payload: token, remoteAddress: ip });
    }
    await send({ method: 'POST', url: '/api/auth/token/refresh', payload: { refresh_token: first.refresh_token }, remoteAddress: ip });
    await send({ method: 'POST', url: '/api/auth/token/refresh', payload: { refresh_token: second.refresh_token, extra: second.access_token }, remoteAddress: ip });
    // The family is gone after the reuse: its newest token is now unknown.
    await send({ method: 'POST', url: '/api/auth/token/refresh', payload: { refresh_token: second.refresh_token }, remoteAddress: ip });
    await send({ method: 'POST', url: '/api/auth/token', payload: { email: user.email, password: first.refresh_token }, remoteAddress: ip });
    for (const token of [first.access_token, second.refresh_token, pat]) await send({ method: 'POST', url: '/api/auth/token/revoke', payload: { token }, remoteAddress: ip });
    await send({ method: 'GET', url: `/api/me?access_token=${second.access_token}`, remoteAddress: ip });

    const { privateKey } = await app.signingKeys.signingKey();
    const der = privateKey.export({ format: 'der', type: 'pkcs8' });
    await app.securityEvents.flush();
    const db = tables(app);
    const stored = JSON.stringify([
      await db.selectFrom('security_events').selectAll().execute(),
      await db.selectFrom('refresh_tokens').selectAll().execute(),
      await db.selectFrom('personal_access_tokens').selectAll().execute(),
      await db.selectFrom('signing_keys').selectAll().execute(),
    ]);
    const haystacks = { logs: logs.text(), 'database rows': stored, 'error bodies': bodies.join('\n') };
    assert.ok(bodies.length >= 8, 'the scan produced error bodies to read');
    assert.ok((await securityEventRows(app, ip)).some((e) => e.event === 'authn_token_reuse'), 'the scan covered a reuse event');
    const signature = (jwt: string) => jwt.split('.')[2] ?? jwt;
    const needles: Record<string, string> = {
      'first access token signature': signature(first.access_token),
      'second access token signature': signature(second.access_token),
      'first refresh token': first.refresh_token,
      'second refresh token': second.refresh_token,
      'personal token': pat.slice('rpat_'.length),
      'private key (DER base64)': der.toString('base64'),
      'private key (JWK d)': String(privateKey.export({ format: 'jwk' }).d),
    };
    for (const [where, text] of Object.entries(haystacks)) {
      for (const [name, value] of Object.entries(needles)) assert.ok(!text.includes(value), `${name} appears in ${where}`);
    }
  });
});
