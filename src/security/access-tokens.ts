import { randomBytes } from 'node:crypto';
import { decodeProtectedHeader, errors as joseErrors, jwtVerify, SignJWT, type JWTPayload } from 'jose';
import type { PrincipalUser } from './authentication.js';
import type { StateStore } from '../platform/store.js';
import { KID, SIGNING_KEYS_VERSION_KEY, type SigningKeySet } from './signing-keys.js';
import type { UserStates } from './user-states.js';

/** What a verified access token says. */
export interface AccessTokenClaims {
  readonly userId: string;
  readonly scopes: readonly string[];
  readonly jti: string;
  /** Seconds since the epoch. */
  readonly issuedAt: number;
  /** Seconds since the epoch. */
  readonly expiresAt: number;
}

/** Why a token was refused: recorded in `authn_token_invalid`, never told to the client. */
export type AccessTokenFailure =
  | 'malformed' | 'header' | 'algorithm' | 'unknown_kid' | 'signature' | 'expired' | 'not_yet_valid'
  | 'issuer' | 'audience' | 'claims' | 'lifetime' | 'revoked';

export type AccessTokenResult = { readonly ok: true; readonly claims: AccessTokenClaims } | { readonly ok: false; readonly reason: AccessTokenFailure };

/** A token that verified and is not revoked, with its user as of now (null when gone or disabled). */
export type VerifiedAccessToken =
  | { readonly ok: true; readonly claims: AccessTokenClaims; readonly user: PrincipalUser | null }
  | { readonly ok: false; readonly reason: AccessTokenFailure };

export interface AccessTokensOptions {
  readonly keys: SigningKeySet;
  /** Revocations (durable in PostgreSQL, versioned through the shared store) and the token's user. */
  readonly states: UserStates;
  /** `iss`: the public URL. */
  readonly issuer: string;
  /** `aud`: the API these tokens are for. */
  readonly audience: string;
  /** Lifetime of a new token, in seconds (at most {@link MAX_ACCESS_TOKEN_SECONDS}). */
  readonly ttlSeconds: number;
  /** The clock, injectable so tests let time pass without sleeping. Default `Date.now`. */
  readonly now?: () => number;
  /**
   * The shared store: verification reads the user's version marker and the signing keys'
   * version marker in one round trip, so a key retired on one instance is refused on all at
   * once. Without it, the user's marker is read alone and the key set follows its cache interval.
   */
  readonly store?: StateStore;
}

/**
 * Short-lived EdDSA access tokens (RFC 9068 `at+jwt`). Verification trusts nothing in the
 * token's header except the kid, and that only after a format check and only as a lookup in
 * Rampart's own key set: the algorithm list is pinned to EdDSA, and `jku`, `jwk`, `x5u`,
 * `x5c` or any other header parameter makes the token invalid. Revocation (one jti, or every
 * token of a user issued before an instant) is written to PostgreSQL and announced through the
 * user's version marker (see user-states.ts), so it reaches every instance at once and
 * survives the loss of Redis's data.
 */
export interface AccessTokens {
  issue(input: { readonly userId: string; readonly scopes: readonly string[] }): Promise<{ readonly token: string; readonly expiresIn: number }>;
  /** Signature, claims and revocation; one shared-store read (the user's version marker) on the way. */
  verify(token: string): Promise<VerifiedAccessToken>;
  /** Denies a valid token on every instance until it expires; false when the token does not verify. */
  revoke(token: string): Promise<AccessTokenClaims | null>;
  /** Every access token of the user issued until now is refused from now on. */
  revokeAllForUser(userId: string): Promise<void>;
}

/** An hour: the boot check refuses a longer configured lifetime. */
export const MAX_ACCESS_TOKEN_SECONDS = 3600;
/** Accepted clock skew between instances (and clients) on `exp` and `nbf`. */
export const CLOCK_TOLERANCE_SECONDS = 30;

const ALGORITHM = 'EdDSA';
const TYPE = 'at+jwt';
// Exactly the parameters Rampart writes; anything else (jku, jwk, x5u, x5c, crit, ...) was not made here.
const HEADER_PARAMETERS: ReadonlySet<string> = new Set(['alg', 'kid', 'typ']);
const MAX_TOKEN_LENGTH = 2048;
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const USER_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const JTI = /^[A-Za-z0-9_-]{22}$/;
const SCOPE_STRING = /^[a-z: ]{1,256}$/;
const SCOPE = /^[a-z]{1,32}$|^[a-z]{1,32}:[a-z]{1,32}$/;
const MAX_SCOPES = 16;
// Verified tokens remembered per instance (the oldest dropped first).
const MAX_VERIFIED_TOKENS = 10_000;

/** `scope`: space-separated scope names, each `name` or `name:action`. */
function parseScope(scope: unknown): string[] | null {
  if (typeof scope !== 'string' || !SCOPE_STRING.test(scope)) return null;
  const scopes = scope.split(' ');
  return scopes.length <= MAX_SCOPES && scopes.every((entry) => SCOPE.test(entry)) ? scopes : null;
}

function failureOf(err: unknown): AccessTokenFailure {
  if (err instanceof joseErrors.JWTExpired) return 'expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'nbf') return 'not_yet_valid';
    if (err.claim === 'iss') return 'issuer';
    if (err.claim === 'aud') return 'audience';
    return 'claims';
  }
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'signature';
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'algorithm';
  return 'malformed';
}

function claimsOf(payload: JWTPayload): AccessTokenClaims | null {
  const { sub, jti, iat, exp, scope } = payload;
  if (typeof sub !== 'string' || !USER_ID.test(sub) || typeof jti !== 'string' || !JTI.test(jti)) return null;
  const scopes = parseScope(scope);
  if (typeof iat !== 'number' || typeof exp !== 'number' || scopes === null) return null;
  return { userId: sub, jti, issuedAt: iat, expiresAt: exp, scopes };
}

/** Creates the issuer and verifier; options are checked here, once. */
export function createAccessTokens(options: AccessTokensOptions): AccessTokens {
  const { keys, states, issuer, audience, ttlSeconds } = options;
  const now = options.now ?? Date.now;
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0 || ttlSeconds > MAX_ACCESS_TOKEN_SECONDS) {
    throw new TypeError(`access tokens: ttlSeconds must be a positive integer of at most ${MAX_ACCESS_TOKEN_SECONDS}`);
  }
  if (typeof issuer !== 'string' || issuer === '' || typeof audience !== 'string' || audience === '') throw new TypeError('access tokens: issuer and audience are required');

  // Tokens whose signature and claims verified, by their exact text: a client sends the same
  // token for its whole life, and an EdDSA verification costs more than the rest of a request.
  // A hit re-checks what can change (expiry, and that the key still verifies); a token whose
  // text differs by one byte is a different key here and is verified in full.
  const verified = new Map<string, { readonly claims: AccessTokenClaims; readonly kid: string; readonly key: unknown }>();

  async function verifySignatureAndClaims(token: string): Promise<AccessTokenResult> {
    if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH || !COMPACT_JWS.test(token)) return { ok: false, reason: 'malformed' };
    const hit = verified.get(token);
    if (hit !== undefined) {
      const expired = hit.claims.expiresAt + CLOCK_TOLERANCE_SECONDS <= now() / 1000;
      if (!expired && (await keys.verificationKey(hit.kid)) === hit.key) return { ok: true, claims: hit.claims };
      // Expired or its key retired: forgotten, and verified in full below for the exact reason.
      verified.delete(token);
    }
    const result = await verifyInFull(token);
    if (!result.ok) return result;
    if (verified.size >= MAX_VERIFIED_TOKENS) verified.delete(verified.keys().next().value ?? '');
    verified.set(token, { claims: result.claims, kid: result.kid, key: result.key });
    return { ok: true, claims: result.claims };
  }

  async function verifyInFull(token: string): Promise<{ ok: false; reason: AccessTokenFailure } | { ok: true; claims: AccessTokenClaims; kid: string; key: unknown }> {
    let header: Record<string, unknown>;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      return { ok: false, reason: 'malformed' };
    }
    if (Object.keys(header).some((name) => !HEADER_PARAMETERS.has(name)) || header.typ !== TYPE) return { ok: false, reason: 'header' };
    if (header.alg !== ALGORITHM) return { ok: false, reason: 'algorithm' };
    // The kid is checked for shape before it is used as a lookup key, and only ever looked up
    // in the local set: never a path, a URL or a query.
    const kid = header.kid;
    if (typeof kid !== 'string' || !KID.test(kid)) return { ok: false, reason: 'unknown_kid' };
    const key = await keys.verificationKey(kid);
    if (key === null) return { ok: false, reason: 'unknown_kid' };
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, key, {
        algorithms: [ALGORITHM],
        typ: TYPE,
        issuer,
        audience,
        clockTolerance: CLOCK_TOLERANCE_SECONDS,
        requiredClaims: ['iss', 'aud', 'sub', 'iat', 'nbf', 'exp', 'jti', 'scope'],
        currentDate: new Date(now()),
      }));
    } catch (err) {
      return { ok: false, reason: failureOf(err) };
    }
    const claims = claimsOf(payload);
    if (claims === null) return { ok: false, reason: 'claims' };
    // A token living longer than any Rampart issues was not issued by this configuration.
    if (claims.expiresAt - claims.issuedAt > MAX_ACCESS_TOKEN_SECONDS) return { ok: false, reason: 'lifetime' };
    return { ok: true, claims, kid, key };
  }

  return Object.freeze({
    async issue(input: { readonly userId: string; readonly scopes: readonly string[] }) {
      const scope = input.scopes.join(' ');
      if (!USER_ID.test(input.userId) || parseScope(scope) === null) throw new TypeError('access tokens: a user id and at least one well-formed scope are required');
      const { kid, privateKey } = await keys.signingKey();
      // Issued no earlier than the user's last "revoke all": that marker refuses anything older.
      // Read from PostgreSQL, not the cache: issuing must not warm a principal nobody used yet.
      const tokensNotBefore = await states.tokensNotBefore(input.userId);
      const issuedAt = Math.max(Math.floor(now() / 1000), Math.ceil(tokensNotBefore / 1000));
      const token = await new SignJWT({ scope })
        .setProtectedHeader({ alg: ALGORITHM, kid, typ: TYPE })
        .setIssuer(issuer)
        .setAudience(audience)
        .setSubject(input.userId)
        .setIssuedAt(issuedAt)
        .setNotBefore(issuedAt)
        .setExpirationTime(issuedAt + ttlSeconds)
        .setJti(randomBytes(16).toString('base64url'))
        .sign(privateKey);
      return { token, expiresIn: ttlSeconds };
    },

    async verify(token: string): Promise<VerifiedAccessToken> {
      const result = await verifySignatureAndClaims(token);
      if (!result.ok) return result;
      let { claims } = result;
      let marker: string | null | undefined;
      if (options.store !== undefined) {
        // One round trip for both markers: the user's (revocations) and the key set's (retirements).
        const [userMarker = null, keysVersion = null] = await options.store.getMany([states.markerKey(claims.userId), SIGNING_KEYS_VERSION_KEY]);
        marker = userMarker;
        if (await keys.observeVersion(keysVersion)) {
          // The key set changed: verified again against the fresh set (a retired key is gone).
          const again = await verifySignatureAndClaims(token);
          if (!again.ok) return again;
          claims = again.claims;
        }
      }
      const state = await states.get(claims.userId, marker);
      if (state.revokedJtis.has(claims.jti) || claims.issuedAt * 1000 < state.tokensNotBefore) return { ok: false, reason: 'revoked' };
      return { ok: true, claims, user: state.principal };
    },

    async revoke(token: string) {
      const result = await verifySignatureAndClaims(token);
      if (!result.ok) return null;
      const expiresAt = (result.claims.expiresAt + CLOCK_TOLERANCE_SECONDS) * 1000;
      if (expiresAt > now()) await states.revokeToken(result.claims.userId, result.claims.jti, expiresAt);
      return result.claims;
    },

    async revokeAllForUser(userId: string) {
      await states.revokeTokensBefore(userId, now());
    },
  });
}
