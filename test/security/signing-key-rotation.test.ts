import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generateKeyPairSync } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose';
import { build, privateDatabase, randomIp, securityEventRows, tables } from '../helpers/build.js';
import { json } from '../helpers/client.js';
import { tokenPair, withBearer } from '../helpers/tokens.js';
import { createVerifiedUser } from '../helpers/users.js';

const MINUTE = 60_000;

describe('signing key rotation', () => {
  it('keeps verifying tokens of the previous key during the overlap, lists both keys, then retires the old key', async (t) => {
    let offsetMs = 0;
    // Its own database: rotating or tampering with the keys must not disturb the run's other apps.
    const { app } = await build(t, { clock: () => Date.now() + offsetMs, env: await privateDatabase(t) });
    const jwksKids = async () => json<{ keys: { kid: string }[] }>(await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).keys.map((k) => k.kid);
    const user = await createVerifiedUser(app);
    const before = (await tokenPair(app, user)).access_token;
    const oldKid = String(decodeProtectedHeader(before).kid);

    // The same function `rampart keys rotate-signing` runs.
    const rotated = await app.signingKeys.rotate();
    assert.ok(rotated.previous !== null);
    assert.equal(rotated.previous.kid, oldKid);
    assert.notEqual(rotated.kid, oldKid);
    const overlapMs = rotated.previous.verifyUntil.getTime() - Date.now();
    assert.ok(overlapMs > 10 * MINUTE && overlapMs <= 10 * MINUTE + 45_000, `the overlap covers a token lifetime, the clock tolerance and the key cache (${overlapMs} ms)`);

    const after = (await tokenPair(app, user)).access_token;
    assert.equal(decodeProtectedHeader(after).kid, rotated.kid, 'new tokens are signed with the new key');
    assert.equal((await withBearer(app, before, { url: '/api/me' })).statusCode, 200, 'a token signed before the rotation still verifies');
    assert.ok((await jwksKids()).includes(oldKid) && (await jwksKids()).includes(rotated.kid), 'JWKS lists both keys during the overlap');

    offsetMs = 9 * MINUTE;
    assert.equal((await withBearer(app, before, { url: '/api/me' })).statusCode, 200, 'still inside the overlap');
    assert.ok((await jwksKids()).includes(oldKid));

    offsetMs = overlapMs + 1000;
    const ip = randomIp();
    const refused = await withBearer(app, before, { url: '/api/me' }, ip);
    assert.equal(refused.statusCode, 401, 'after the overlap the old key is retired');
    const reasons = (await securityEventRows(app, ip)).filter((e) => e.event === 'authn_token_invalid').map((e) => e.details.reason);
    assert.deepEqual(reasons, ['unknown_kid'], 'refused because the key is gone, not only because the token expired');
    const kids = await jwksKids();
    assert.ok(!kids.includes(oldKid), 'JWKS no longer lists the retired key');
    assert.ok(kids.includes(rotated.kid));
    const later = (await tokenPair(app, user)).access_token;
    assert.equal((await withBearer(app, later, { url: '/api/me' })).statusCode, 200, 'the new key keeps working');
    const oldRow = await tables(app).selectFrom('signing_keys').select('private_key_ciphertext').where('kid', '=', oldKid).executeTakeFirst();
    assert.equal(oldRow?.private_key_ciphertext ?? null, null, 'the superseded private key was erased at rotation');
  });

  it('ignores a signing key planted or edited through SQL (its MAC does not verify), so a forged token stays refused', async (t) => {
    let offsetMs = 0;
    // Its own database: rotating or tampering with the keys must not disturb the run's other apps.
    const { app } = await build(t, { clock: () => Date.now() + offsetMs, env: await privateDatabase(t) });
    const user = await createVerifiedUser(app);
    const genuine = (await tokenPair(app, user)).access_token;
    const kid = String(decodeProtectedHeader(genuine).kid);
    // What a SQL injection could do: swap the active row's public key for the attacker's.
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    const x = String(publicKey.export({ format: 'jwk' }).x);
    await tables(app).updateTable('signing_keys').set({ public_jwk: JSON.stringify({ kty: 'OKP', crv: 'Ed25519', x, kid, alg: 'EdDSA', use: 'sig' }) }).where('kid', '=', kid).execute();
    const forged = await new SignJWT(decodeJwt(genuine)).setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid }).sign(privateKey);
    offsetMs = 11_000;
    const ip = randomIp();
    assert.equal((await withBearer(app, forged, { url: '/api/me' }, ip)).statusCode, 401, 'the planted key is never used');
    const kids = json<{ keys: { kid: string; x: string }[] }>(await app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).keys;
    assert.ok(!kids.some((k) => k.x === x), 'JWKS never publishes the planted key');
    const events = await securityEventRows(app, ip);
    assert.deepEqual(events.filter((e) => e.event === 'authn_token_invalid').map((e) => e.details.reason), ['unknown_kid']);
    await app.securityEvents.flush();
    const tampered = await tables(app).selectFrom('security_events').select('details').where('event', '=', 'crypt_decrypt_fail').execute();
    assert.ok(tampered.some((row) => (row.details as { row_id?: string; reason?: string }).row_id === kid && (row.details as { reason?: string }).reason === 'integrity'));
  });
});
