import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { PublicKeyCredentialRequestOptionsJSON } from '@simplewebauthn/server';
import type { FastifyBaseLogger } from 'fastify';
import type { Limited, RequestContext } from '../../kernel/http.js';
import type { PendingSignInInput, SecondFactorChallenge, SecondFactorProvider } from '../../kernel/identity.js';
import type { StateStore } from '../../platform/store.js';
import type { AttemptLimiter, LoginThrottle } from '../../security/brute-force.js';
import type { Keyring } from '../../security/keyring.js';
import type { AuthenticationResponse } from '../passkeys/schemas.js';
import type { MfaRepository } from './repository.js';
import { matchingStep, newRecoveryCode, newTotpSecret, normalizeRecoveryCode, otpauthUri, qrSvg } from './totp.js';

/** A sign-in between its password check and its second factor: 5 minutes, single use. */
export const PENDING_TTL_MS = 5 * 60_000;
/** Wrong codes one challenge takes before it is spent (the throttle counts them too). */
const MAX_CHALLENGE_ATTEMPTS = 5;
export const RECOVERY_CODE_COUNT = 10;
const CHALLENGE = /^[A-Za-z0-9_-]{43}$/;

export interface PendingSignIn extends PendingSignInInput {
  /** When the challenge was issued; it expires {@link PENDING_TTL_MS} later however often it is tried. */
  readonly issuedAt: number;
  readonly attempts: number;
}

/** How a second factor was proved. */
export type SecondFactorMethod = 'totp' | 'recovery_code' | (string & {});

/**
 * A second factor another module holds (a passkey): whether a user has one. A user with TOTP or
 * any such factor is enrolled, signs in in two steps, and is offered the factor's `method` there.
 */
export interface ExtraFactor {
  readonly method: string;
  enrolled(userId: string): Promise<boolean>;
  /** Options for a ceremony proving the factor for `userId` (only theirs), bound to `binding` under `purpose`. */
  options(purpose: 'second-factor' | 'step-up', binding: string, userId: string): Promise<PublicKeyCredentialRequestOptionsJSON>;
  /** Whether `proof` answers the options issued to `binding` for `purpose` with one of `userId`'s own credentials; the options are spent either way. */
  verify(purpose: 'second-factor' | 'step-up', binding: string, userId: string, proof: AuthenticationResponse, ctx: RequestContext): Promise<boolean>;
}

export interface MfaServiceOptions {
  readonly repository: MfaRepository;
  readonly keyring: Keyring;
  readonly store: StateStore;
  /** Wrong codes per (account, IP) and per IP, with back-off: the login throttle's own sequence. */
  readonly throttle: LoginThrottle;
  /** Code attempts per account from every client: a hard cap, whoever holds the password. */
  readonly perAccount: AttemptLimiter;
  /** The issuer shown in authenticator apps. */
  readonly issuer: string;
  /** The account's role, carried by `authn_mfa_disabled` (the alert on an administrator's). */
  readonly findRole: (userId: string) => Promise<string | null>;
  /** The owner's security notice (`app.accounts.notify`): a factor added or removed, a recovery code used. */
  readonly notify: (userId: string, kind: 'second_factor_added' | 'second_factor_removed' | 'recovery_code_used', details: { readonly ip?: string | null; readonly userAgent?: string; readonly via?: string }) => void;
  readonly logger: FastifyBaseLogger;
  readonly now: () => number;
}

type Invalid<R extends string> = { readonly ok: false; readonly reason: R };

const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');
const pendingKey = (challenge: string): string => `mfa-pend:${sha256(challenge)}`;
const aad = (userId: string) => ({ table: 'mfa_totp', column: 'secret', rowId: userId });

function parsePending(text: string | null): PendingSignIn | null {
  if (text === null) return null;
  try {
    const value = JSON.parse(text) as Partial<PendingSignIn> | null;
    if (typeof value?.userId === 'string' && (value.purpose === 'session' || value.purpose === 'token') && typeof value.fingerprint === 'string'
      && typeof value.issuedAt === 'number' && typeof value.attempts === 'number' && (value.scope === undefined || typeof value.scope === 'string')) {
      return { userId: value.userId, purpose: value.purpose, fingerprint: value.fingerprint, issuedAt: value.issuedAt, attempts: value.attempts, ...(value.scope === undefined ? {} : { scope: value.scope }) };
    }
  } catch {
    // Not ours: no challenge.
  }
  return null;
}

/**
 * Second factors: TOTP enrolment, activation and removal; recovery codes; the pending sign-in
 * between a password check and its second factor; and code checks for sign-in and step-up, all
 * under the brute-force throttle.
 */
export function createMfaService(options: MfaServiceOptions) {
  const { repository, keyring, store, throttle, perAccount, issuer, findRole, notify, now } = options;
  const factors: ExtraFactor[] = [];
  // Recovery codes carry 59 random bits: a keyed hash (HMAC-SHA-256 under a key derived from the
  // secret key) is enough. A slow hash defends low-entropy secrets (passwords) against offline
  // guessing; here a guess at a code is 2^59 HMACs, and without the key a database dump gives
  // nothing to guess against at all.
  const recoveryKey = keyring.deriveKey('mfa-recovery-codes');
  const hashRecoveryCode = (userId: string, normalized: string): string => createHmac('sha256', recoveryKey).update(`${userId}:${normalized}`, 'utf8').digest('hex');

  /** The methods a sign-in's second step accepts for `userId` (none: the user has no second factor). */
  async function methodsOf(userId: string): Promise<string[]> {
    const methods = (await repository.isEnabled(userId)) ? ['totp', 'recovery_code'] : [];
    for (const factor of factors) if (await factor.enrolled(userId)) methods.push(factor.method);
    return methods;
  }

  async function newRecoveryCodes(userId: string): Promise<string[]> {
    const codes = Array.from({ length: RECOVERY_CODE_COUNT }, newRecoveryCode);
    await repository.replaceRecoveryCodes(userId, codes.map((code) => hashRecoveryCode(userId, normalizeRecoveryCode(code) ?? '')));
    return codes;
  }

  /** Checks a TOTP code against the user's secret and spends its time step (once only). */
  async function checkTotp(userId: string, code: string, activate: boolean): Promise<boolean> {
    const record = await repository.findTotp(userId);
    if (record === null || record.enabled === activate) return false;
    const decrypted = keyring.decryptString(record.secretCiphertext, aad(userId));
    if (decrypted === null) return false;
    const at = now();
    const step = matchingStep(decrypted, code, at);
    return step !== null && repository.acceptStep(userId, step, { activate, now: new Date(at) });
  }

  /** Checks a TOTP code or a recovery code of an enrolled user; a recovery code is spent, recorded and mailed about. */
  async function checkCode(userId: string, code: string, ctx: RequestContext): Promise<SecondFactorMethod | null> {
    const trimmed = code.trim();
    if (/^\d{6}$/.test(trimmed)) return (await checkTotp(userId, trimmed, false)) ? 'totp' : null;
    const normalized = normalizeRecoveryCode(trimmed);
    if (normalized === null || !(await repository.isEnabled(userId))) return null;
    if (!(await repository.useRecoveryCode(userId, hashRecoveryCode(userId, normalized)))) return null;
    const left = await repository.countRecoveryCodes(userId);
    ctx.audit('authn_mfa_recovery_code_used', { actor: userId, details: { codes_left: left } });
    notify(userId, 'recovery_code_used', { ip: ctx.ip, userAgent: ctx.userAgent, via: `recovery code, ${String(left)} left` });
    return 'recovery_code';
  }

  /**
   * One code attempt for `userId` under the throttle: a blocked (account, IP) pair, client or
   * account is refused before the code is looked at; a failure is counted (and recorded by the
   * caller), a success resets the pair.
   */
  async function throttled(userId: string, ctx: RequestContext, attempt: () => Promise<SecondFactorMethod | null>): Promise<{ ok: true; method: SecondFactorMethod } | Limited | Invalid<'invalid'>> {
    const decision = await throttle.check(userId, ctx.ip);
    if (!decision.allowed) return { ok: false, reason: 'limited', retryAfterSeconds: decision.retryAfterSeconds };
    const account = await perAccount.consume(userId);
    if (!account.allowed) return { ok: false, reason: 'limited', retryAfterSeconds: account.retryAfterSeconds };
    const claim = await throttle.claim(userId, ctx.ip);
    if (claim === null) return { ok: false, reason: 'limited', retryAfterSeconds: 1 };
    try {
      const method = await attempt();
      if (method !== null) {
        await throttle.recordSuccess(userId, ctx.ip);
        return { ok: true, method };
      }
      const failure = await throttle.recordFailure(userId, ctx.ip);
      if (failure.locked) ctx.audit('authn_login_lock', { actor: userId, details: { scope: 'account_ip', factor: 'second' } });
      return { ok: false, reason: 'invalid' };
    } finally {
      await claim.release();
    }
  }

  const provider: SecondFactorProvider = {
    async enrolled(userId) {
      if (await repository.isEnabled(userId)) return true;
      for (const factor of factors) if (await factor.enrolled(userId)) return true;
      return false;
    },
    async challenge(input: PendingSignInInput): Promise<SecondFactorChallenge | null> {
      const methods = await methodsOf(input.userId);
      if (methods.length === 0) return null;
      const id = randomBytes(32).toString('base64url');
      const pending: PendingSignIn = { ...input, issuedAt: now(), attempts: 0 };
      await store.set(pendingKey(id), JSON.stringify(pending), { ttlMs: PENDING_TTL_MS });
      return { id, methods, expiresInSeconds: PENDING_TTL_MS / 1000 };
    },
  };

  return {
    provider,

    /** Another module's second factor (the passkeys module registers `passkey`). */
    useFactor(factor: ExtraFactor): void {
      if (factors.some((f) => f.method === factor.method)) throw new Error(`mfa: a factor "${factor.method}" is already registered`);
      factors.push(factor);
    },

    methodsOf,

    /** The factor registered for `method`, if any. */
    factor: (method: string): ExtraFactor | undefined => factors.find((f) => f.method === method),

    /**
     * The user of a live pending sign-in, without taking it (a passkey's options are bound to
     * it); null when `challenge` names none, names one for another purpose, or it expired.
     */
    async pendingUser(challenge: string, purpose: PendingSignIn['purpose']): Promise<string | null> {
      if (!CHALLENGE.test(challenge)) return null;
      const pending = parsePending(await store.get(pendingKey(challenge)));
      const at = now();
      return pending === null || pending.purpose !== purpose || at - pending.issuedAt >= PENDING_TTL_MS || at < pending.issuedAt ? null : pending.userId;
    },

    async status(userId: string): Promise<{ totp: boolean; recoveryCodesLeft: number }> {
      const enabled = await repository.isEnabled(userId);
      return { totp: enabled, recoveryCodesLeft: enabled ? await repository.countRecoveryCodes(userId) : 0 };
    },

    /** Starts an enrolment: a new secret (stored encrypted, pending until a code proves the app has it), its URI and QR code. */
    async beginTotp(userId: string, label: string): Promise<{ ok: true; secret: string; uri: string; qrSvg: string } | Invalid<'already_enrolled'>> {
      const secret = newTotpSecret();
      if (!(await repository.savePendingSecret(userId, keyring.encrypt(secret, aad(userId))))) return { ok: false, reason: 'already_enrolled' };
      const uri = otpauthUri(secret, label, issuer);
      return { ok: true, secret, uri, qrSvg: await qrSvg(uri) };
    },

    /** Activates the pending secret with a valid code; returns the recovery codes, shown this once. */
    async activateTotp(userId: string, code: string, ctx: RequestContext): Promise<{ ok: true; recoveryCodes: string[] } | Limited | Invalid<'invalid'>> {
      const result = await throttled(userId, ctx, async () => ((await checkTotp(userId, code.trim(), true)) ? 'totp' : null));
      if (!result.ok) {
        if (result.reason === 'invalid') ctx.audit('authn_mfa_fail', { actor: userId, details: { stage: 'enrolment' } });
        return result;
      }
      const recoveryCodes = await newRecoveryCodes(userId);
      ctx.audit('authn_mfa_enrolled', { actor: userId, details: { method: 'totp' } });
      notify(userId, 'second_factor_added', { ip: ctx.ip, userAgent: ctx.userAgent, via: 'totp' });
      return { ok: true, recoveryCodes };
    },

    async disableTotp(userId: string, ctx: RequestContext): Promise<boolean> {
      const removed = await repository.deleteAll(userId);
      if (removed) {
        ctx.audit('authn_mfa_disabled', { actor: userId, details: { method: 'totp', role: (await findRole(userId)) ?? 'unknown' } });
        notify(userId, 'second_factor_removed', { ip: ctx.ip, userAgent: ctx.userAgent, via: 'totp' });
      }
      return removed;
    },

    /** A new set of recovery codes; the old set is void. */
    async regenerateRecoveryCodes(userId: string, ctx: RequestContext): Promise<{ ok: true; recoveryCodes: string[] } | Invalid<'not_enrolled'>> {
      if (!(await repository.isEnabled(userId))) return { ok: false, reason: 'not_enrolled' };
      const recoveryCodes = await newRecoveryCodes(userId);
      ctx.audit('authn_mfa_recovery_codes_renewed', { actor: userId });
      return { ok: true, recoveryCodes };
    },

    /** Step-up with a code (TOTP or recovery code) for a signed-in user, under the throttle. */
    async confirmPresence(userId: string, code: string, ctx: RequestContext): Promise<{ ok: true; method: SecondFactorMethod } | Limited | Invalid<'invalid'>> {
      const result = await throttled(userId, ctx, () => checkCode(userId, code, ctx));
      if (!result.ok && result.reason === 'invalid') ctx.audit('authn_step_up_fail', { actor: userId, details: { method: 'code' } });
      return result;
    },

    /** Step-up with another factor's proof (a passkey assertion `verify` checks), under the same throttle as codes. */
    async confirmPresenceWith(userId: string, method: string, verify: () => Promise<boolean>, ctx: RequestContext): Promise<{ ok: true; method: SecondFactorMethod } | Limited | Invalid<'invalid'>> {
      const result = await throttled(userId, ctx, async () => ((await verify()) ? method : null));
      if (!result.ok && result.reason === 'invalid') ctx.audit('authn_step_up_fail', { actor: userId, details: { method } });
      return result;
    },

    /**
     * The second step of a sign-in: takes the pending sign-in `challenge` names (atomically, so
     * it is used once), has `verify` check the proof under the throttle, and answers the pending
     * sign-in for the caller to finish (start the session, issue the token pair). A wrong proof
     * puts the challenge back, unchanged but for its count, until {@link MAX_CHALLENGE_ATTEMPTS}
     * or its expiry (5 minutes after the password check, however often it is tried). Every
     * failure is the same `invalid` answer.
     *
     * `verify` is the method: {@link verifyCode} for TOTP and recovery codes; another module (a
     * passkey assertion) passes its own.
     */
    async completeSecondFactor(
      challenge: string,
      purpose: PendingSignIn['purpose'],
      verify: (pending: PendingSignIn) => Promise<SecondFactorMethod | null>,
      ctx: RequestContext,
    ): Promise<{ ok: true; pending: PendingSignIn; method: SecondFactorMethod } | Limited | Invalid<'invalid'>> {
      const taken = CHALLENGE.test(challenge) ? parsePending(await store.take(pendingKey(challenge))) : null;
      const at = now();
      if (taken === null || taken.purpose !== purpose || at - taken.issuedAt >= PENDING_TTL_MS || at < taken.issuedAt) {
        ctx.audit('authn_mfa_fail', { ...(taken === null ? {} : { actor: taken.userId }), details: { reason: taken === null ? 'unknown_challenge' : 'expired_or_misused_challenge' } });
        return { ok: false, reason: 'invalid' };
      }
      const putBack = async (pending: PendingSignIn) => {
        const ttlMs = PENDING_TTL_MS - (now() - pending.issuedAt);
        if (pending.attempts < MAX_CHALLENGE_ATTEMPTS && ttlMs > 0) await store.set(pendingKey(challenge), JSON.stringify(pending), { ttlMs });
      };
      const result = await throttled(taken.userId, ctx, () => verify(taken));
      if (!result.ok) {
        await putBack(result.reason === 'limited' ? taken : { ...taken, attempts: taken.attempts + 1 });
        if (result.reason === 'invalid') ctx.audit('authn_mfa_fail', { actor: taken.userId, details: { reason: 'wrong_code', stage: 'sign_in' } });
        return result;
      }
      ctx.audit('authn_mfa_success', { actor: taken.userId, details: { method: result.method, purpose } });
      return { ok: true, pending: taken, method: result.method };
    },

    /** The TOTP-or-recovery-code check for {@link completeSecondFactor}. */
    verifyCode(code: string, ctx: RequestContext): (pending: PendingSignIn) => Promise<SecondFactorMethod | null> {
      return (pending) => checkCode(pending.userId, code, ctx);
    },

    /** Active administrators with no second factor of any kind (RAMPART-W030). */
    async adminsWithoutSecondFactor(): Promise<number> {
      let count = 0;
      for (const id of await repository.adminsWithoutTotp()) if (!(await provider.enrolled(id))) count += 1;
      return count;
    },
  };
}

export type MfaService = ReturnType<typeof createMfaService>;
