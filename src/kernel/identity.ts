import type { BearerResolution, PrincipalUser } from '../security/authentication.js';

/** What a sign-in carries into its second step: who, for what (a browser session or an API token pair), and the password check it passed. */
export interface PendingSignInInput {
  readonly userId: string;
  /** `session`: the login API or page; `token`: the password grant. */
  readonly purpose: 'session' | 'token';
  /** An opaque fingerprint of the credentials checked (a password reset in between makes the second step fail). */
  readonly fingerprint: string;
  /** The scopes a password grant asked for. */
  readonly scope?: string;
}

/** A short-lived, single-use challenge that continues a sign-in at the second-factor step. */
export interface SecondFactorChallenge {
  readonly id: string;
  /** What the second step accepts (`totp`, `recovery_code`; a module may add more). */
  readonly methods: readonly string[];
  readonly expiresInSeconds: number;
}

/** The module that holds second factors: whether a user has one, and a challenge for a sign-in that needs one. */
export interface SecondFactorProvider {
  enrolled(userId: string): Promise<boolean>;
  /** A challenge for the sign-in's second step, or null when the user has no second factor. */
  challenge(input: PendingSignInInput): Promise<SecondFactorChallenge | null>;
}

/** Ends a user's API credentials (refresh families, outstanding access tokens; with `personal`, personal tokens too). */
export type CredentialRevoker = (userId: string, options: { readonly personal: boolean }) => Promise<void>;

/**
 * Where the kernel's authentication meets the modules that know users and tokens. The kernel
 * authenticates cookies and bearer tokens, but who a user is lives in a module (accounts) and
 * which bearer tokens exist in another (tokens): each provides its part here while it
 * registers. The kernel refuses to start without a principal loader; without a bearer
 * resolver every Authorization header is refused.
 */
export interface Identity {
  /** The accounts module: loads a user's principal (null when gone or disabled). Once. */
  usePrincipals(loader: (userId: string) => Promise<PrincipalUser | null>): void;
  /** The tokens module: resolves a bearer token. Once. */
  useBearer(resolver: (token: string) => Promise<BearerResolution>): void;
  /** A module holding API credentials ends a user's when asked (a password change, a reset, a deletion). */
  onRevokeCredentials(revoker: CredentialRevoker): void;

  /** The mfa module: second factors. Once. */
  useSecondFactors(provider: SecondFactorProvider): void;
  /** Whether `userId` has an active second factor (false when no module provides them). */
  secondFactorEnrolled(userId: string): Promise<boolean>;
  /** After a password check: a challenge when the user has a second factor, else null (sign in at once). */
  challengeSecondFactor(input: PendingSignInInput): Promise<SecondFactorChallenge | null>;

  /** For the kernel: the principal of `userId`. */
  loadUser(userId: string): Promise<PrincipalUser | null>;
  /** For the kernel: the bearer resolution, or a refusal when no module resolves bearer tokens. */
  resolveBearer(token: string): Promise<BearerResolution>;
  /** Runs every revoker, in registration order. */
  revokeCredentials(userId: string, options: { readonly personal: boolean }): Promise<void>;
  /** Throws when no module provided the principal loader; checked when the app is ready. */
  assertComplete(): void;
}

export function createIdentity(): Identity {
  let loader: ((userId: string) => Promise<PrincipalUser | null>) | null = null;
  let resolver: ((token: string) => Promise<BearerResolution>) | null = null;
  const revokers: CredentialRevoker[] = [];
  let secondFactors: SecondFactorProvider | null = null;
  const identity: Identity = {
    useSecondFactors(next) {
      if (secondFactors !== null) throw new Error('identity: a second-factor provider is already provided');
      secondFactors = next;
    },
    secondFactorEnrolled(userId) {
      return secondFactors === null ? Promise.resolve(false) : secondFactors.enrolled(userId);
    },
    challengeSecondFactor(input) {
      return secondFactors === null ? Promise.resolve(null) : secondFactors.challenge(input);
    },
    usePrincipals(next) {
      if (loader !== null) throw new Error('identity: a principal loader is already provided');
      loader = next;
    },
    useBearer(next) {
      if (resolver !== null) throw new Error('identity: a bearer resolver is already provided');
      resolver = next;
    },
    onRevokeCredentials(revoker) {
      revokers.push(revoker);
    },
    loadUser(userId) {
      if (loader === null) throw new Error('identity: no module provides principals');
      return loader(userId);
    },
    resolveBearer(token) {
      return resolver === null ? Promise.resolve({ ok: false, reason: 'no_resolver', kind: 'unknown' } as const) : resolver(token);
    },
    async revokeCredentials(userId, options) {
      for (const revoke of revokers) await revoke(userId, options);
    },
    assertComplete() {
      if (loader === null) throw new Error('Rampart needs a module that provides principals (app.identity.usePrincipals): register the accounts module');
    },
  };
  return Object.freeze(identity);
}
