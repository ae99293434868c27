import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { createTokensRepository, type TokensRepository } from '../../src/modules/tokens/repository.js';
import { createTokensService, type TokenPair } from '../../src/modules/tokens/service.js';
import { createAccessTokens } from '../../src/security/access-tokens.js';
import type { TokensTables } from '../../src/modules/tokens/tables.js';
import { tablesOf } from '../../src/platform/database.js';
import { suiteApp } from '../helpers/build.js';
import { tokenPair } from '../helpers/tokens.js';
import { createVerifiedUser } from '../helpers/users.js';

/**
 * Revocations that land while a refresh is between spending its token and storing the new
 * one. The service under test runs on the app's own database, store and signing keys; only
 * its repository is wrapped, to hold the refresh at that point while the attack happens.
 */
describe('API tokens: revocation racing a refresh', () => {
  const rampart = suiteApp();

  function heldService() {
    const { app } = rampart;
    const real = createTokensRepository(tablesOf<TokensTables>(app.database));
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let held = false;
    const repository: TokensRepository = {
      ...real,
      async insertRefreshToken(token) {
        if (!held) {
          held = true;
          await gate;
        }
        return real.insertRefreshToken(token);
      },
    };
    const accessTokens = createAccessTokens({
      keys: app.signingKeys,
      states: app.userStates,
      issuer: app.config.publicUrl,
      audience: `${app.config.publicUrl}/api`,
      ttlSeconds: app.config.tokens.accessTtlSeconds,
    });
    const service = createTokensService({ repository, accessTokens, scopes: app.scopes, findUser: (id) => Promise.resolve({ id, role: 'author' }), refreshTtlMs: app.config.tokens.refreshTtlMs });
    return { service, release: () => { release(); }, isHeld: () => held };
  }

  async function assertDead(pair: TokenPair | null): Promise<void> {
    if (pair === null) return;
    const { app } = rampart;
    assert.equal((await app.tokens.resolveBearer(pair.access_token)).ok, false, 'the access token of a pair issued across a revocation is refused');
    assert.equal(await app.tokens.refresh(pair.refresh_token, () => undefined), null, 'its refresh token is dead');
  }

  async function untilHeld(isHeld: () => boolean): Promise<void> {
    for (let i = 0; i < 500 && !isHeld(); i += 1) await delay(5);
    assert.ok(isHeld(), 'the refresh reached the insert');
  }

  it('leaves no live pair to the winner of a refresh race once the loser revealed the reuse', async () => {
    const user = await createVerifiedUser(rampart.app);
    const pair = await tokenPair(rampart.app, user);
    const { service, release, isHeld } = heldService();
    const events: string[] = [];
    const audit = (event: string) => { events.push(event); };
    const winner = service.refresh(pair.refresh_token, audit);
    await untilHeld(isHeld);
    assert.equal(await service.refresh(pair.refresh_token, audit), null, 'the second use is a reuse');
    assert.ok(events.includes('authn_token_reuse'));
    release();
    await assertDead(await winner);
  });

  it('leaves no live pair to a refresh that a password reset overtook', async () => {
    const user = await createVerifiedUser(rampart.app);
    const pair = await tokenPair(rampart.app, user);
    const { service, release, isHeld } = heldService();
    const pending = service.refresh(pair.refresh_token, () => undefined);
    await untilHeld(isHeld);
    // What a password reset or change does to the user's API tokens.
    await rampart.app.tokens.revokeAllForUser(user.id, { personal: true });
    release();
    await assertDead(await pending);
  });

  it('still refreshes when nothing revokes the family meanwhile', async () => {
    const user = await createVerifiedUser(rampart.app);
    const pair = await tokenPair(rampart.app, user);
    const { service, release, isHeld } = heldService();
    const pending = service.refresh(pair.refresh_token, () => undefined);
    await untilHeld(isHeld);
    release();
    const renewed = await pending;
    assert.ok(renewed !== null);
    assert.equal((await rampart.app.tokens.resolveBearer(renewed.access_token)).ok, true);
  });
});
