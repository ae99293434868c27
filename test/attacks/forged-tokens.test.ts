import assert from 'node:assert/strict';
import { createHmac, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { calculateJwkThumbprint, decodeJwt, decodeProtectedHeader, SignJWT, type JWTPayload } from 'jose';
import { buildUnmanaged, type BuildResult, randomIp, securityEventRows, tables } from '../helpers/build.js';
import { json } from '../helpers/client.js';
import { bearer, tokenPair } from '../helpers/tokens.js';
import { createVerifiedUser, type TestUser } from '../helpers/users.js';

const b64 = (value: unknown): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const unsigned = (header: object, payload: object): string => `${b64(header)}.${b64(payload)}`;
// Headers that differ between any two responses by nature: the time and the rate-limit budget left.
const VOLATILE_HEADERS = new Set(['date', 'ratelimit']);

function comparable(res: LightMyRequestResponse): { status: number; body: Record<string, unknown>; headers: Record<string, unknown> } {
  const body = json(res);
  delete body.traceId;
  const headers = Object.fromEntries(Object.entries(res.headers).filter(([name]) => !VOLATILE_HEADERS.has(name)));
  return { status: res.statusCode, body, headers };
}

/** The attacker's own Ed25519 key, with its public JWK and thumbprint kid. */
async function attackerKey(): Promise<{ privateKey: KeyObject; jwk: { kty: string; crv: string; x: string }; kid: string }> {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const exported = publicKey.export({ format: 'jwk' });
  const jwk = { kty: 'OKP', crv: 'Ed25519', x: String(exported.x) };
  return { privateKey, jwk, kid: await calculateJwkThumbprint(jwk) };
}

describe('forged access tokens', () => {
  let rampart: BuildResult;
  let user: TestUser;
  let valid: string;
  let claims: JWTPayload;
  let kid: string;
  let jkuServer: Server;
  let jkuRequests = 0;
  let jkuOrigin: string;

  before(async () => {
    rampart = await buildUnmanaged();
    user = await createVerifiedUser(rampart.app);
    valid = (await tokenPair(rampart.app, user)).access_token;
    claims = decodeJwt(valid);
    kid = String(decodeProtectedHeader(valid).kid);
    // Where a verifier that followed `jku`/`x5u` would fetch the attacker's keys from.
    jkuServer = createServer((_req, res) => {
      jkuRequests += 1;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ keys: [] }));
    });
    await new Promise<void>((resolve) => jkuServer.listen(0, '127.0.0.1', resolve));
    jkuOrigin = `http://127.0.0.1:${(jkuServer.address() as AddressInfo).port}`;
  });
  after(async () => {
    await rampart.app.close();
    await new Promise<void>((resolve) => jkuServer.close(() => { resolve(); }));
  });

  /** Signs arbitrary claims with Rampart's real active key: a token Rampart would never issue. */
  async function signedByRampart(payload: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
    const key = await rampart.app.signingKeys.signingKey();
    return new SignJWT(payload).setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: key.kid, ...header }).sign(key.privateKey);
  }

  async function forgeries(): Promise<Record<string, string>> {
    const [header, payload, signature] = valid.split('.') as [string, string, string];
    const now = Math.floor(Date.now() / 1000);
    const attacker = await attackerKey();
    const { privateKey: rsaPrivate } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const { privateKey: ecPrivate } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwks = await rampart.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    const publicJwk = json<{ keys: { x: string; kid: string }[] }>(jwks).keys.find((k) => k.kid === kid);
    assert.ok(publicJwk !== undefined, 'the real key is in the JWKS');
    const hs256 = (secret: Buffer | string): string => {
      const input = unsigned({ alg: 'HS256', typ: 'at+jwt', kid }, claims);
      return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
    };
    const tamperedPayload = b64({ ...claims, scope: `${String(claims.scope)} admin`, sub: '00000000-0000-4000-8000-000000000000' });
    return {
      'alg none': `${unsigned({ alg: 'none', typ: 'at+jwt', kid }, claims)}.`,
      'alg none with the original signature': `${unsigned({ alg: 'none', typ: 'at+jwt', kid }, claims)}.${signature}`,
      'HS256 keyed with the public key bytes': hs256(Buffer.from(publicJwk.x, 'base64url')),
      'HS256 keyed with the public JWK text': hs256(JSON.stringify(publicJwk)),
      'HS256 keyed with the public key PEM': hs256(String(createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: publicJwk.x }, format: 'jwk' }).export({ type: 'spki', format: 'pem' }))),
      'RS256 header': await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', typ: 'at+jwt', kid }).sign(rsaPrivate),
      'ES256 header': await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid }).sign(ecPrivate),
      'unknown kid': await new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: attacker.kid }).sign(attacker.privateKey),
      'kid holding a path': await new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: '../../../../../dev/null' }).sign(attacker.privateKey),
      'kid holding SQL': await new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: "x' UNION SELECT 'k', 'EdDSA' --" }).sign(attacker.privateKey),
      'embedded jwk header': await new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: attacker.kid, jwk: attacker.jwk }).sign(attacker.privateKey),
      'embedded jwk header with the real kid': await new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid, jwk: attacker.jwk }).sign(attacker.privateKey),
      'remote jku header': await new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: attacker.kid, jku: `${jkuOrigin}/jwks.json` }).sign(attacker.privateKey),
      'remote x5u header': await new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: attacker.kid, x5u: `${jkuOrigin}/cert.pem` }).sign(attacker.privateKey),
      'payload changed after signing': `${header}.${tamperedPayload}.${signature}`,
      'signature of another token': `${header}.${payload}.${signature.slice(0, -4)}AAAA`,
      expired: await signedByRampart({ ...claims, iat: now - 900, nbf: now - 900, exp: now - 120 }),
      'nbf in the future': await signedByRampart({ ...claims, iat: now, nbf: now + 300, exp: now + 600 }),
      'wrong iss': await signedByRampart({ ...claims, iss: 'https://evil.example' }),
      'wrong aud': await signedByRampart({ ...claims, aud: 'https://other-service.example/api' }),
      'no aud': await signedByRampart({ ...claims, aud: undefined }),
      'lifetime beyond the maximum': await signedByRampart({ ...claims, iat: now, nbf: now, exp: now + 86_400 }),
      'real key, jku header': await signedByRampart(claims, { jku: `${jkuOrigin}/jwks.json` }),
      'not a JWT at all': randomBytes(32).toString('base64url'),
      'personal token with a bad checksum': `rpat_${'A'.repeat(38)}`,
    };
  }

  it('answers every forgery with the same 401 (status, body, headers), records the reason only as a security event, and fetches nothing', async () => {
    const { app } = rampart;
    const ip = randomIp();
    const ok = await app.inject({ method: 'GET', url: '/api/me', headers: bearer(valid), remoteAddress: ip });
    assert.equal(ok.statusCode, 200, 'the genuine token works, so every refusal below is the forgery');

    const answers: [string, LightMyRequestResponse][] = [];
    for (const [name, token] of Object.entries(await forgeries())) {
      answers.push([name, await app.inject({ method: 'GET', url: '/api/me', headers: bearer(token), remoteAddress: ip })]);
    }
    // A valid token of a user who no longer exists.
    const doomed = await createVerifiedUser(app);
    const orphan = (await tokenPair(app, doomed)).access_token;
    await tables(app).deleteFrom('users').where('id', '=', doomed.id).execute();
    answers.push(['valid token of a deleted user', await app.inject({ method: 'GET', url: '/api/me', headers: bearer(orphan), remoteAddress: ip })]);

    const reference = comparable(answers[0]?.[1] ?? ok);
    assert.equal(reference.status, 401);
    assert.equal(reference.body.code, 'AUTH_ERR_INVALID_TOKEN');
    assert.equal(reference.headers['www-authenticate'], 'Bearer error="invalid_token"');
    for (const [name, res] of answers) assert.deepEqual(comparable(res), reference, `${name} is answered like every other forgery`);
    assert.equal(jkuRequests, 0, 'no request reached the jku/x5u server');

    const events = (await securityEventRows(app, ip)).filter((e) => e.event === 'authn_token_invalid');
    assert.equal(events.length, answers.length, 'each refusal is a security event');
    const reasons = new Set(events.map((e) => String(e.details.reason)));
    for (const reason of ['algorithm', 'header', 'unknown_kid', 'signature', 'expired', 'not_yet_valid', 'issuer', 'audience', 'lifetime', 'user_gone', 'malformed']) {
      assert.ok(reasons.has(reason), `a refusal was recorded with reason ${reason} (got ${[...reasons].join(', ')})`);
    }
    for (const res of answers.map(([, r]) => r)) assert.ok(!/algorithm|kid|signature|issuer|audience|jku|not_yet/i.test(res.body), 'the reason never reaches the client');
  });

  it('never takes a token from the query string or a cookie, and refuses other Authorization schemes the same way', async () => {
    const { app } = rampart;
    const ip = randomIp();
    const fromQuery = await app.inject({ method: 'GET', url: `/api/me?access_token=${valid}`, remoteAddress: ip });
    assert.notEqual(fromQuery.statusCode, 200);
    const fromCookie = await app.inject({ method: 'GET', url: '/api/me', headers: { cookie: `access_token=${valid}; token=${valid}` }, remoteAddress: ip });
    assert.equal(fromCookie.statusCode, 401);
    assert.equal(json(fromCookie).code, 'AUTH_ERR_UNAUTHENTICATED');
    const basic = await app.inject({ method: 'GET', url: '/api/me', headers: { authorization: `Basic ${b64(`${user.email}:${user.password}`)}` }, remoteAddress: ip });
    const tokenScheme = await app.inject({ method: 'GET', url: '/api/me', headers: { authorization: `Token ${valid}` }, remoteAddress: ip });
    const reference = comparable(await app.inject({ method: 'GET', url: '/api/me', headers: bearer('x.y.z'), remoteAddress: ip }));
    assert.deepEqual(comparable(basic), reference);
    assert.deepEqual(comparable(tokenScheme), reference);
  });

  it('refuses a bad bearer token even on a public route rather than treating the request as anonymous', async () => {
    const res = await rampart.app.inject({ method: 'GET', url: '/api/status', headers: bearer(`${valid}x`), remoteAddress: randomIp() });
    assert.equal(res.statusCode, 401);
    assert.equal(json(res).code, 'AUTH_ERR_INVALID_TOKEN');
  });
});
