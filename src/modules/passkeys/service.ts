import { createHash, randomBytes } from 'node:crypto';
import {
  generateAuthenticationOptions, generateRegistrationOptions, verifyAuthenticationResponse, verifyRegistrationResponse,
  type AuthenticatorTransportFuture, type PublicKeyCredentialCreationOptionsJSON, type PublicKeyCredentialRequestOptionsJSON,
} from '@simplewebauthn/server';
import type { FastifyBaseLogger } from 'fastify';
import type { Limited, RequestContext } from '../../kernel/http.js';
import type { StateStore } from '../../platform/store.js';
import type { LoginThrottle } from '../../security/brute-force.js';
import type { AuthenticationResponse, RegistrationResponse } from './schemas.js';
import { MAX_PASSKEYS, type PasskeyRecord, type PasskeysRepository } from './repository.js';

/** How long a ceremony may take, from its options to its answer (the browser's timeout too). */
export const CEREMONY_TTL_MS = 5 * 60_000;
const RP_NAME = 'Rampart';

/** Where passkeys are valid: the relying party id, and the exact origins a ceremony may come from. */
export interface RelyingParty {
  /** The public URL's host name: a passkey is bound to it by the authenticator. */
  readonly id: string;
  /** The public origin, and in development the loopback origins of the same host name. */
  readonly origins: readonly string[];
}

/**
 * The relying party of a public origin. WebAuthn binds a credential to a domain (the RP ID), and
 * a browser only lets an origin use an RP ID that is its own host or a registrable suffix of it;
 * an IP address is never a valid RP ID (Chromium and Firefox refuse WebAuthn on `http://127.0.0.1`),
 * and `localhost` is a valid one only for `localhost` origins. So the RP ID is the public URL's
 * host, and of the development loopback origins only those on that same host (another port of
 * `localhost`) are accepted: the others could never produce a valid response.
 */
export function relyingParty(publicOrigin: string, loopbackOrigins: readonly string[]): RelyingParty {
  // A public URL with an IP address still boots: browsers refuse the ceremony there, and the page says so.
  const id = new URL(publicOrigin).hostname;
  const origins = [publicOrigin, ...loopbackOrigins.filter((origin) => new URL(origin).hostname === id)];
  return Object.freeze({ id, origins: Object.freeze([...new Set(origins)]) });
}

/** A passkey as its owner sees it. */
export interface PasskeyView {
  readonly id: string;
  readonly name: string;
  readonly deviceType: 'singleDevice' | 'multiDevice';
  readonly backedUp: boolean;
  readonly createdAt: string;
  readonly lastUsedAt: string | null;
}

export const toView = (passkey: PasskeyRecord): PasskeyView => ({
  id: passkey.id,
  name: passkey.name,
  deviceType: passkey.deviceType,
  backedUp: passkey.backedUp,
  createdAt: passkey.createdAt.toISOString(),
  lastUsedAt: passkey.lastUsedAt === null ? null : passkey.lastUsedAt.toISOString(),
});

/** The account a passkey may sign in: null when it is gone, disabled or its address unconfirmed. */
export type FindActiveUser = (userId: string) => Promise<{ readonly id: string; readonly name: string; readonly email: string } | null>;

export interface PasskeysServiceOptions {
  readonly repository: PasskeysRepository;
  readonly store: StateStore;
  readonly relyingParty: RelyingParty;
  /** Failures per credential and client, and per client, shared with password login (`bf:login`). */
  readonly throttle: LoginThrottle;
  readonly findActiveUser: FindActiveUser;
  /** The account's role, carried by `authn_mfa_disabled` when its last passkey goes. */
  readonly findRole: (userId: string) => Promise<string | null>;
  /** The owner's security notice (`app.accounts.notify`): a passkey added or removed. */
  readonly notify: (userId: string, kind: 'second_factor_added' | 'second_factor_removed', details: { readonly ip?: string | null; readonly userAgent?: string; readonly via?: string }) => void;
  readonly logger: FastifyBaseLogger;
}

/** Why an assertion failed; recorded as `details.reason`, never told to the client. */
export type AssertionFailure = 'no_challenge' | 'unknown_credential' | 'other_user' | 'user_handle' | 'invalid' | 'counter' | 'inactive_user';

export type AssertionResult =
  | { readonly ok: true; readonly userId: string; readonly passkeyId: string }
  | { readonly ok: false; readonly reason: AssertionFailure };

/** A ceremony's purpose: its challenge is kept under its own key, so one cannot answer another. */
export type CeremonyPurpose = 'register' | 'sign-in' | 'second-factor' | 'step-up';

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('base64url');

/** The WebAuthn user handle: the user's UUID as 16 bytes (random, no personal data in the authenticator's handle). */
function userHandle(userId: string): Uint8Array<ArrayBuffer> {
  return new Uint8Array(Buffer.from(userId.replace(/-/g, ''), 'hex'));
}

/**
 * Passkeys (WebAuthn) with @simplewebauthn/server: registration for a signed-in user,
 * passwordless sign-in with discoverable credentials, and {@link verifyAssertion} for any other
 * ceremony (a second factor, a step-up). Challenges are random (32 bytes), kept in the shared
 * store under a key bound to the browser's session or pre-session (`binding`, a digest of its
 * CSRF token) and a purpose, live {@link CEREMONY_TTL_MS}, and are taken on first use.
 */
export function createPasskeysService(options: PasskeysServiceOptions) {
  const { repository, store, relyingParty: rp, throttle, findActiveUser, findRole, notify, logger } = options;
  const challengeKey = (purpose: CeremonyPurpose, binding: string) => `webauthn:${purpose}:${sha256(binding)}`;

  /** A new challenge for `purpose`, bound to `binding`; it replaces the binding's previous one. */
  async function issueChallenge(purpose: CeremonyPurpose, binding: string): Promise<string> {
    const challenge = randomBytes(32).toString('base64url');
    await store.set(challengeKey(purpose, binding), challenge, { ttlMs: CEREMONY_TTL_MS });
    return challenge;
  }

  /** The challenge issued for `purpose` to `binding`, removed as it is read: a second answer finds none. */
  const takeChallenge = (purpose: CeremonyPurpose, binding: string): Promise<string | null> => store.take(challengeKey(purpose, binding));

  /**
   * Verifies an assertion against `expectedChallenge`. With `userId`, only that user's passkeys
   * are accepted (a second factor, a step-up); with null, any registered passkey is (passwordless
   * sign-in), and its user handle must name its owner. The signature is checked before the
   * counter, so only a genuine signature with a counter that went backwards (a cloned
   * authenticator) is recorded as `counter`; the counter is updated only if no concurrent use
   * updated it first. The account must still be active. No throttle: callers add theirs.
   */
  async function verifyAssertion(input: { readonly userId: string | null; readonly response: AuthenticationResponse; readonly expectedChallenge: string; readonly requireUserVerification?: boolean }): Promise<AssertionResult> {
    const { response } = input;
    const passkey = await repository.findByCredentialId(response.id);
    if (passkey === null) return { ok: false, reason: 'unknown_credential' };
    if (input.userId !== null && passkey.userId !== input.userId) return { ok: false, reason: 'other_user' };
    if (response.response.userHandle !== undefined && response.response.userHandle !== Buffer.from(userHandle(passkey.userId)).toString('base64url')) {
      return { ok: false, reason: 'user_handle' };
    }
    let verified;
    try {
      verified = await verifyAuthenticationResponse({
        response,
        expectedChallenge: input.expectedChallenge,
        expectedOrigin: [...rp.origins],
        expectedRPID: rp.id,
        expectedType: 'webauthn.get',
        // The library's own counter check runs before the signature is verified; ours runs after.
        credential: { id: passkey.credentialId, publicKey: passkey.publicKey, counter: 0, transports: passkey.transports as AuthenticatorTransportFuture[] },
        requireUserVerification: input.requireUserVerification ?? true,
      });
    } catch (err) {
      // A malformed or mismatched response (origin, RP ID, challenge, type, flags, encoding):
      // the library's message may quote the client's data, so only its existence is logged.
      logger.debug({ passkeyId: passkey.id, err: (err as Error).name }, 'passkey assertion refused');
      return { ok: false, reason: 'invalid' };
    }
    if (!verified.verified) return { ok: false, reason: 'invalid' };
    const { newCounter, credentialBackedUp } = verified.authenticationInfo;
    // WebAuthn §6.1.1: a counter that does not increase, when either side keeps one, means the
    // credential may have been cloned.
    if ((newCounter > 0 || passkey.counter > 0) && newCounter <= passkey.counter) return { ok: false, reason: 'counter' };
    if (!(await repository.recordUse(passkey.id, passkey.counter, { counter: newCounter, backedUp: credentialBackedUp }))) return { ok: false, reason: 'counter' };
    if ((await findActiveUser(passkey.userId)) === null) return { ok: false, reason: 'inactive_user' };
    return { ok: true, userId: passkey.userId, passkeyId: passkey.id };
  }

  /**
   * Options for `navigator.credentials.get()`. For a known user (second factor, step-up) the
   * user's passkeys are listed; for sign-in none are, so the browser offers its discoverable ones.
   */
  async function authenticationOptions(purpose: CeremonyPurpose, binding: string, userId: string | null): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const challenge = await issueChallenge(purpose, binding);
    const allow = userId === null ? undefined : (await repository.listForUser(userId)).map((p) => ({ id: p.credentialId, transports: p.transports as AuthenticatorTransportFuture[] }));
    return generateAuthenticationOptions({ rpID: rp.id, challenge: Buffer.from(challenge, 'base64url'), timeout: CEREMONY_TTL_MS, userVerification: 'required', ...(allow === undefined ? {} : { allowCredentials: allow }) });
  }

  function auditFailure(ctx: RequestContext, reason: AssertionFailure, credentialId: string, actor?: string): void {
    const details = { method: 'passkey', reason, credential: sha256(credentialId) };
    ctx.audit('authn_login_fail', { ...(actor === undefined ? {} : { actor }), details });
    if (reason === 'counter') ctx.audit('authn_passkey_counter_regression', { ...(actor === undefined ? {} : { actor }), details });
  }

  /** An action on a passkey id the user does not own: recorded when the passkey exists (someone else's). */
  async function auditForeign(userId: string, id: string, action: string, ctx: RequestContext): Promise<void> {
    const other = await repository.find(id);
    if (other !== null && other.userId !== userId) ctx.audit('authz_fail', { actor: userId, details: { action, subject: 'Passkey', object_id: id } });
  }

  return {
    relyingParty: rp,
    issueChallenge,
    takeChallenge,
    verifyAssertion,
    authenticationOptions,

    async list(userId: string): Promise<PasskeyView[]> {
      return (await repository.listForUser(userId)).map(toView);
    },

    /**
     * Renames the user's own passkey; null when the user has none with that id. Someone else's
     * passkey is the same null (a 404 for the caller), and the attempt is recorded as `authz_fail`.
     */
    async rename(userId: string, id: string, name: string, ctx: RequestContext): Promise<PasskeyView | null> {
      const renamed = await repository.rename(userId, id, name);
      if (renamed === null) {
        await auditForeign(userId, id, 'rename', ctx);
        return null;
      }
      ctx.audit('user_updated', { actor: userId, details: { change: 'passkey_renamed', passkey: id } });
      return toView(renamed);
    },

    /** Removes the user's own passkey; false when the user has none with that id (see {@link rename}). */
    async remove(userId: string, id: string, ctx: RequestContext): Promise<boolean> {
      if (!(await repository.delete(userId, id))) {
        await auditForeign(userId, id, 'remove', ctx);
        return false;
      }
      ctx.audit('user_updated', { actor: userId, details: { change: 'passkey_removed', passkey: id } });
      notify(userId, 'second_factor_removed', { ip: ctx.ip, userAgent: ctx.userAgent, via: 'passkey' });
      // The account's last passkey: that second factor is gone (the alert on an administrator's).
      if ((await repository.listForUser(userId)).length === 0) ctx.audit('authn_mfa_disabled', { actor: userId, details: { method: 'passkey', role: (await findRole(userId)) ?? 'unknown' } });
      return true;
    },

    /** Options for `navigator.credentials.create()`: a discoverable credential with user verification, no attestation. */
    async registrationOptions(user: { readonly id: string; readonly name: string; readonly email: string }, binding: string): Promise<PublicKeyCredentialCreationOptionsJSON> {
      const existing = await repository.listForUser(user.id);
      const challenge = await issueChallenge('register', binding);
      return generateRegistrationOptions({
        rpName: RP_NAME,
        rpID: rp.id,
        userID: userHandle(user.id),
        userName: user.email,
        userDisplayName: user.name,
        challenge: Buffer.from(challenge, 'base64url'),
        timeout: CEREMONY_TTL_MS,
        // No attestation: Rampart does not restrict authenticator models, and "none" keeps no
        // device-identifying certificate.
        attestationType: 'none',
        // Already-registered authenticators are not offered again.
        excludeCredentials: existing.map((p) => ({ id: p.credentialId, transports: p.transports as AuthenticatorTransportFuture[] })),
        authenticatorSelection: { residentKey: 'required', userVerification: 'required' },
      });
    },

    /** Verifies a registration answer against the challenge `binding` was issued, and stores the passkey. */
    async register(userId: string, input: { readonly name: string; readonly response: RegistrationResponse }, binding: string, ctx: RequestContext): Promise<{ ok: true; passkey: PasskeyView } | { ok: false; reason: 'invalid' | 'limit' }> {
      const expectedChallenge = await takeChallenge('register', binding);
      const refuse = (reason: string) => {
        ctx.audit('input_validation_fail', { actor: userId, details: { what: 'passkey_registration', reason } });
        return { ok: false, reason: 'invalid' } as const;
      };
      if (expectedChallenge === null) return refuse('no_challenge');
      let verified;
      try {
        verified = await verifyRegistrationResponse({
          response: input.response,
          expectedChallenge,
          expectedOrigin: [...rp.origins],
          expectedRPID: rp.id,
          expectedType: 'webauthn.create',
          requireUserVerification: true,
        });
      } catch (err) {
        logger.debug({ err: (err as Error).name }, 'passkey registration refused');
        return refuse('invalid');
      }
      if (!verified.verified) return refuse('invalid');
      const info = verified.registrationInfo;
      const created = await repository.insert({
        userId,
        credentialId: info.credential.id,
        publicKey: info.credential.publicKey,
        counter: info.credential.counter,
        transports: (input.response.response.transports ?? []).slice(0, 7),
        deviceType: info.credentialDeviceType,
        backedUp: info.credentialBackedUp,
        name: input.name,
      });
      if (created === 'limit') return { ok: false, reason: 'limit' };
      if (created === 'duplicate') return refuse('duplicate_credential');
      ctx.audit('user_updated', { actor: userId, details: { change: 'passkey_added', passkey: created.id, device_type: created.deviceType, backed_up: created.backedUp } });
      notify(userId, 'second_factor_added', { ip: ctx.ip, userAgent: ctx.userAgent, via: 'passkey' });
      return { ok: true, passkey: toView(created) };
    },

    /**
     * Passwordless sign-in: the assertion against the challenge `binding` was issued, under the
     * login throttle (per credential and client, and per client, counted with password failures).
     * Every failure is one outcome for the caller; the reason goes to the security event.
     */
    async signIn(response: AuthenticationResponse, binding: string, ctx: RequestContext): Promise<{ ok: true; userId: string } | Limited | { ok: false; reason: 'invalid' }> {
      // The challenge is spent by any attempt, so an answer can never be tried twice.
      const expectedChallenge = await takeChallenge('sign-in', binding);
      const accountKey = `passkey:${response.id}`;
      const decision = await throttle.check(accountKey, ctx.ip);
      if (!decision.allowed) {
        if (await throttle.firstRefusal(decision.scope, accountKey, ctx.ip, decision.retryAfterSeconds * 1_000)) ctx.audit('authn_login_lock', { details: { method: 'passkey', scope: decision.scope } });
        return { ok: false, reason: 'limited', retryAfterSeconds: decision.retryAfterSeconds };
      }
      const claim = await throttle.claim(accountKey, ctx.ip);
      if (claim === null) return { ok: false, reason: 'limited', retryAfterSeconds: 1 };
      try {
        const result: AssertionResult = expectedChallenge === null
          ? { ok: false, reason: 'no_challenge' }
          : await verifyAssertion({ userId: null, response, expectedChallenge });
        if (result.ok) {
          await throttle.recordSuccess(accountKey, ctx.ip);
          ctx.audit('authn_login_success', { actor: result.userId, details: { method: 'passkey', passkey: result.passkeyId } });
          return { ok: true, userId: result.userId };
        }
        const failure = await throttle.recordFailure(accountKey, ctx.ip);
        const owner = result.reason === 'unknown_credential' || result.reason === 'no_challenge' ? undefined : (await repository.findByCredentialId(response.id))?.userId;
        auditFailure(ctx, result.reason, response.id, owner);
        if (failure.locked) ctx.audit('authn_login_lock', { details: { method: 'passkey', scope: 'account_ip' } });
        return { ok: false, reason: 'invalid' };
      } finally {
        await claim.release();
      }
    },

    /** Whether the user has a passkey (a second factor). */
    hasPasskey: async (userId: string) => (await repository.listForUser(userId)).length > 0,

    /**
     * A passkey as a second factor or a step-up proof: the challenge issued to `binding` for
     * `purpose` is taken (used once), and only `userId`'s own passkeys are accepted. The caller
     * throttles; a failure is recorded with its reason, a cloned authenticator as its own event.
     */
    async verifyFor(purpose: 'second-factor' | 'step-up', binding: string, userId: string, response: AuthenticationResponse, ctx: RequestContext): Promise<boolean> {
      const expectedChallenge = await takeChallenge(purpose, binding);
      const result: AssertionResult = expectedChallenge === null ? { ok: false, reason: 'no_challenge' } : await verifyAssertion({ userId, response, expectedChallenge });
      if (result.ok) return true;
      const details = { method: 'passkey', purpose, reason: result.reason, credential: sha256(response.id) };
      ctx.audit('authn_mfa_fail', { actor: userId, details });
      if (result.reason === 'counter') ctx.audit('authn_passkey_counter_regression', { actor: userId, details });
      return false;
    },

    /** True while the user may still sign in (asked again once the session exists). */
    stillActive: async (userId: string) => (await findActiveUser(userId)) !== null,
    findActiveUser,
    maxPasskeys: MAX_PASSKEYS,
  };
}

export type PasskeysService = ReturnType<typeof createPasskeysService>;
