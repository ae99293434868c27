import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeProtectedHeader } from 'jose';
import { build, randomIp, securityEventRows } from '../helpers/build.js';
import { json } from '../helpers/client.js';
import { createVerifiedUser, tokenPair, withBearer } from '../helpers/tokens.js';

const MINUTE = 60_000;

describe('signing key rotation', () => {
  it('keeps verifying tokens of the previous key during the overlap, lists both keys, then retires the old key', async (t) => {
    let offsetMs = 0;
    const { app } = await build(t, { clock: () => Date.now() + offsetMs });
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
    const oldRow = await app.database.db.selectFrom('signing_keys').select('private_key_ciphertext').where('kid', '=', oldKid).executeTakeFirst();
    assert.equal(oldRow?.private_key_ciphertext ?? null, null, 'the superseded private key was erased at rotation');
  });
});
