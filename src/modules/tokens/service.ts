import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { AccessTokens } from '../../security/access-tokens.js';
import type { BearerResolution } from '../../security/authentication.js';
import type { Audit } from '../../kernel/http.js';
import type { ScopeVocabulary } from '../../kernel/module.js';
import { isWellFormedPersonalToken, generatePersonalToken, PERSONAL_TOKEN_PREFIX } from './personal-token.js';
import type { TokensRepository } from './repository.js';

export interface TokenUser {
  readonly id: string;
  readonly role: string;
}

export interface TokensServiceOptions {
  readonly repository: TokensRepository;
  readonly accessTokens: AccessTokens;
  /** The modules' scopes, and what each role may delegate. */
  readonly scopes: ScopeVocabulary;
  /** The user behind a token, or null when gone or disabled. */
  readonly findUser: (userId: string) => Promise<TokenUser | null>;
  readonly refreshTtlMs: number;
  /** The clock, injectable so tests let time pass without sleeping. Default `Date.now`. */
  readonly now?: () => number;
}

/** What the token endpoints answer (RFC 6749 field names). */
export interface TokenPair {
  readonly access_token: string;
  readonly token_type: 'Bearer';
  readonly expires_in: number;
  readonly refresh_token: string;
  readonly scope: string;
}

export interface PersonalTokenView {
  readonly id: string;
  readonly name: string;
  readonly scopes: string[];
  readonly createdAt: string;
  readonly expiresAt: string;
}

const MAX_PERSONAL_TOKENS = 50;
const REFRESH_TOKEN = /^[A-Za-z0-9_-]{43}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

/** API tokens: access/refresh pairs, personal access tokens, and bearer resolution for authentication. */
export function createTokensService(options: TokensServiceOptions) {
  const { repository, accessTokens, findUser, refreshTtlMs, scopes: vocabulary } = options;
  const now = options.now ?? Date.now;

  /**
   * A new pair in `familyId` (a new family on sign-in). Only the refresh token's SHA-256 is
   * stored. `stillValid` runs after both tokens exist: a revocation racing this request (a
   * password reset, a detected reuse) either ran before it, and the pair is withdrawn here, or
   * runs after it, and then deletes the new refresh token and refuses the access token (issued
   * before its marker). Without it, a thief refreshing in a loop could outlive a reset.
   */
  async function issuePair(userId: string, scopes: readonly string[], familyId: string, expiresAt: Date, stillValid: () => Promise<boolean>): Promise<TokenPair | null> {
    const refreshToken = randomBytes(32).toString('base64url');
    const scope = scopes.join(' ');
    await repository.deleteExpiredRefreshTokens(userId, new Date(now()));
    await repository.insertRefreshToken({ tokenHash: sha256(refreshToken), familyId, userId, scope, expiresAt });
    const access = await accessTokens.issue({ userId, scopes });
    if (!(await stillValid())) {
      await repository.deleteRefreshFamily(familyId);
      return null;
    }
    return { access_token: access.token, token_type: 'Bearer', expires_in: access.expiresIn, refresh_token: refreshToken, scope };
  }

  async function resolvePersonal(token: string): Promise<BearerResolution> {
    const kind = 'personal';
    // The checksum rejects a mistyped or made-up token before any database work.
    if (!isWellFormedPersonalToken(token)) return { ok: false, reason: 'malformed', kind };
    const found = await repository.findPersonalToken(sha256(token), new Date(now()));
    if (found === null) return { ok: false, reason: 'unknown_or_expired', kind };
    const user = await findUser(found.userId);
    if (user === null) return { ok: false, reason: 'user_gone', kind };
    return { ok: true, principal: { id: user.id, role: user.role, credential: 'bearer', scopes: vocabulary.limitToRole(found.scope.split(' '), user.role) }, user };
  }

  async function resolveAccess(token: string): Promise<BearerResolution> {
    const kind = 'access';
    const verified = await accessTokens.verify(token);
    if (!verified.ok) return { ok: false, reason: verified.reason, kind };
    // The user as of the version read with the revocation check: no second lookup.
    const { user } = verified;
    if (user === null) return { ok: false, reason: 'user_gone', kind };
    // Scopes are cut to the role the user has now, so a demotion shrinks every live token at once.
    return { ok: true, principal: { id: user.id, role: user.role, credential: 'bearer', scopes: vocabulary.limitToRole(verified.claims.scopes, user.role) }, user };
  }

  return {
    /**
     * A first pair after a password check: the requested scopes (all the role allows when
     * none are named); null when one is unknown or beyond the role.
     */
    async issueForUser(user: TokenUser, requested: string | undefined, audit: Audit, credentialsStillValid: () => Promise<boolean>): Promise<TokenPair | 'invalid_scope' | 'revoked'> {
      const allowed = vocabulary.forRole(user.role);
      const names = requested === undefined ? [...allowed] : requested.split(' ');
      if (names.some((name) => !allowed.includes(name))) return 'invalid_scope';
      const scopes = vocabulary.limitToRole(names, user.role);
      // A family lives refreshTtlMs from sign-in, however often it is refreshed.
      const pair = await issuePair(user.id, scopes, randomUUID(), new Date(now() + refreshTtlMs), credentialsStillValid);
      if (pair === null) {
        audit('authn_token_invalid', { actor: user.id, details: { kind: 'password', reason: 'credentials_changed' } });
        return 'revoked';
      }
      audit('authn_token_created', { actor: user.id, details: { kind: 'access_refresh', scopes } });
      return pair;
    },

    /**
     * One-time refresh: the presented token is spent and a new pair in the same family is
     * returned. Presenting a spent token is theft or a replay: the whole family is revoked.
     */
    async refresh(refreshToken: string, audit: Audit): Promise<TokenPair | null> {
      if (!REFRESH_TOKEN.test(refreshToken)) return null;
      const hash = sha256(refreshToken);
      const spent = await repository.useRefreshToken(hash, new Date(now()));
      if (spent === null) {
        const reused = await repository.findUsedRefreshToken(hash);
        if (reused !== null) {
          const revoked = await repository.deleteRefreshFamily(reused.familyId);
          // A replayed refresh token means one of two parties holds a stolen copy, and the
          // thief may also hold a live access token: every access token of the user is refused
          // from now on (the user's other clients recover by refreshing their own families).
          await accessTokens.revokeAllForUser(reused.userId);
          audit('authn_token_reuse', { actor: reused.userId, details: { kind: 'refresh', family_revoked: revoked } });
        } else {
          audit('authn_token_invalid', { details: { kind: 'refresh', reason: 'unknown_or_expired' } });
        }
        return null;
      }
      const user = await findUser(spent.userId);
      const scopes = user === null ? [] : vocabulary.limitToRole(spent.scope.split(' '), user.role);
      if (user === null || scopes.length === 0) {
        await repository.deleteRefreshFamily(spent.familyId);
        audit('authn_token_invalid', { actor: spent.userId, details: { kind: 'refresh', reason: user === null ? 'user_gone' : 'no_scope_left' } });
        return null;
      }
      // The spent token's row disappears when its family or the user's tokens are revoked: if
      // that happened while this request ran, the new pair is withdrawn (see issuePair).
      const pair = await issuePair(user.id, scopes, spent.familyId, spent.expiresAt, async () => (await repository.findUsedRefreshToken(hash)) !== null);
      if (pair === null) audit('authn_token_invalid', { actor: user.id, details: { kind: 'refresh', reason: 'revoked_during_refresh' } });
      return pair;
    },

    /**
     * RFC 7009 revocation of whatever the token is: an access token goes on the denylist, a
     * refresh token takes its family with it, a personal token is deleted. Unknown tokens are
     * ignored; the caller always answers 200.
     */
    async revoke(token: string, audit: Audit): Promise<void> {
      if (token.startsWith(PERSONAL_TOKEN_PREFIX)) {
        const userId = isWellFormedPersonalToken(token) ? await repository.deletePersonalTokenByHash(sha256(token)) : null;
        if (userId !== null) audit('authn_token_revoked', { actor: userId, details: { kind: 'personal' } });
        return;
      }
      if (REFRESH_TOKEN.test(token)) {
        const found = await repository.findRefreshToken(sha256(token));
        if (found !== null) {
          await repository.deleteRefreshFamily(found.familyId);
          audit('authn_token_revoked', { actor: found.userId, details: { kind: 'refresh' } });
        }
        return;
      }
      const claims = await accessTokens.revoke(token);
      if (claims !== null) audit('authn_token_revoked', { actor: claims.userId, details: { kind: 'access' } });
    },

    /** Authentication's bearer resolver: personal tokens by prefix, everything else as an access JWT. */
    resolveBearer(token: string): Promise<BearerResolution> {
      return token.startsWith(PERSONAL_TOKEN_PREFIX) ? resolvePersonal(token) : resolveAccess(token);
    },

    /** Ends the user's refresh families and outstanding access tokens, and with `personal` their personal tokens. */
    async revokeAllForUser(userId: string, revokeOptions: { readonly personal: boolean }): Promise<void> {
      await repository.deleteRefreshTokensOfUser(userId);
      if (revokeOptions.personal) await repository.deletePersonalTokensOfUser(userId);
      // Last: it ends with the shared store's marker, the one step that may fail after the commit.
      await accessTokens.revokeAllForUser(userId);
    },

    /** A personal access token, returned once; only its SHA-256 is kept. */
    async createPersonalToken(
      user: TokenUser,
      input: { readonly name: string; readonly scopes: readonly string[]; readonly expiresInDays: number },
      audit: Audit,
    ): Promise<{ ok: true; token: string; view: PersonalTokenView } | { ok: false; reason: 'scope' | 'limit' }> {
      const allowed = vocabulary.forRole(user.role);
      if (input.scopes.some((scope) => !allowed.includes(scope))) return { ok: false, reason: 'scope' };
      if ((await repository.countPersonalTokens(user.id)) >= MAX_PERSONAL_TOKENS) return { ok: false, reason: 'limit' };
      const token = generatePersonalToken();
      const id = randomUUID();
      const scopes = vocabulary.limitToRole(input.scopes, user.role);
      const createdAt = new Date(now());
      const expiresAt = new Date(now() + input.expiresInDays * 86_400_000);
      await repository.insertPersonalToken({ id, userId: user.id, name: input.name, tokenHash: sha256(token), scope: scopes.join(' '), expiresAt });
      audit('authn_token_created', { actor: user.id, details: { kind: 'personal', scopes, expires_in_days: input.expiresInDays } });
      return { ok: true, token, view: { id, name: input.name, scopes, createdAt: createdAt.toISOString(), expiresAt: expiresAt.toISOString() } };
    },

    async listPersonalTokens(userId: string): Promise<PersonalTokenView[]> {
      const rows = await repository.listPersonalTokens(userId, new Date(now()));
      return rows.map((row) => ({ id: row.id, name: row.name, scopes: row.scope.split(' '), createdAt: row.createdAt.toISOString(), expiresAt: row.expiresAt.toISOString() }));
    },

    async revokePersonalToken(userId: string, id: string, audit: Audit): Promise<boolean> {
      if (!UUID.test(id)) return false;
      const deleted = await repository.deletePersonalToken(userId, id);
      if (deleted) audit('authn_token_revoked', { actor: userId, details: { kind: 'personal' } });
      return deleted;
    },
  };
}

export type TokensService = ReturnType<typeof createTokensService>;
