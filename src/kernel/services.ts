import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/config.js';
import { developmentLoopbackOrigins } from '../config/hosts.js';
import type { Database } from '../platform/database.js';
import type { Mailer } from '../platform/mailer.js';
import type { StateStore } from '../platform/store.js';
import { createAccessTokens, CLOCK_TOLERANCE_SECONDS, type AccessTokens } from '../security/access-tokens.js';
import { createKeyring, type Keyring } from '../security/keyring.js';
import type { PasswordHasher } from '../security/password-hashing.js';
import type { PasswordPolicy } from '../security/password-policy.js';
import { createSessionManager, type SessionChange, type SessionManager } from '../security/sessions.js';
import { createSigningKeySet, type SigningKeySet } from '../security/signing-keys.js';
import { createUserStates, type UserStates } from '../security/user-states.js';
import { createIdentity, type Identity } from './identity.js';
import { composeScopes, type RampartModule, type ScopeVocabulary } from './module.js';
import type { Resources } from './resources.js';

declare module 'fastify' {
  interface FastifyInstance {
    config: Config;
    /** The clock tokens, signing keys and limits run on (`Date.now`, or a test's). */
    clock: () => number;
    database: Database;
    store: StateStore;
    mailer: Mailer;
    passwords: PasswordHasher;
    passwordPolicy: PasswordPolicy;
    keyring: Keyring;
    identity: Identity;
    userStates: UserStates;
    sessions: SessionManager;
    signingKeys: SigningKeySet;
    accessTokens: AccessTokens;
    /** Every module's API-token scopes. */
    scopes: ScopeVocabulary;
    /** The loopback origins a development server also answers at (none in production). */
    loopbackOrigins: readonly string[];
  }
}

/**
 * Decorates the instance with what every module builds on: the opened resources, the keyring,
 * sessions, the per-instance user cache, signing keys and access tokens, the identity seam
 * and the modules' scope vocabulary. Called once, right after the security-event recorder.
 */
/**
 * The keyring of the configuration. Created before the security-event recorder (whose chain
 * key it derives); a failed decryption is recorded through `app.securityEvents`, looked up when
 * it happens.
 */
export function createKernelKeyring(app: FastifyInstance, config: Config): Keyring {
  return createKeyring({
    secretKey: config.secrets.secretKey,
    secretKeyFallbacks: config.secrets.secretKeyFallbacks,
    encryptionKeys: config.secrets.encryptionKeys,
    onDecryptFailure: (failure) => {
      app.securityEvents.record('crypt_decrypt_fail', { details: { reason: failure.reason, key_id: failure.keyId, table: failure.table, column: failure.column, row_id: failure.rowId } });
    },
  });
}

export function decorateKernel(app: FastifyInstance, options: { readonly config: Config; readonly resources: Resources; readonly clock: () => number; readonly modules: readonly RampartModule[]; readonly keyring: Keyring }): void {
  const { config, resources, clock, modules, keyring } = options;
  app.decorate('config', config);
  app.decorate('clock', clock);
  app.decorate('database', resources.database);
  app.decorate('store', resources.store);
  app.decorate('mailer', resources.mailer);
  app.decorate('passwords', resources.passwords);
  app.decorate('passwordPolicy', resources.policy);
  app.decorate('loopbackOrigins', config.isProduction ? [] : developmentLoopbackOrigins({ publicOrigin: config.publicOrigin, port: config.port, tls: config.tls !== null }));
  app.decorate('keyring', keyring);
  const identity = createIdentity();
  app.decorate('identity', identity);
  // Principals and token revocations cached per instance, invalidated by a per-user version
  // marker that each request reads in the one store round trip it makes (user-states.ts).
  const userStates = createUserStates({ store: resources.store, db: resources.database.db, loadUser: (userId) => identity.loadUser(userId), now: clock });
  app.decorate('userStates', userStates);
  app.decorate('sessions', createSessionManager({
    store: resources.store,
    keyring,
    idleTimeoutMs: config.sessions.idleTimeoutMs,
    absoluteTimeoutMs: config.sessions.absoluteTimeoutMs,
    touchIntervalMs: 60_000,
    companionKey: userStates.markerKey,
    ...(app.hasDecorator('metrics') ? { onChange: (change: SessionChange, count: number) => {
      app.metrics.observeSessions(change, count);
    } } : {}),
  }));
  // EdDSA access tokens signed with keys kept (encrypted) in the database, so every instance
  // signs and verifies with the same set.
  const signingKeys = createSigningKeySet({
    db: resources.database.db,
    keyring,
    tokenLifetimeSeconds: config.tokens.accessTtlSeconds,
    clockToleranceSeconds: CLOCK_TOLERANCE_SECONDS,
    now: clock,
    store: resources.store,
    onTamperedKey: (kid) => {
      app.securityEvents.record('crypt_decrypt_fail', { details: { reason: 'integrity', table: 'signing_keys', row_id: kid } });
    },
  });
  app.decorate('signingKeys', signingKeys);
  app.decorate('accessTokens', createAccessTokens({
    keys: signingKeys,
    states: userStates,
    issuer: config.publicUrl,
    audience: `${config.publicUrl}/api`,
    ttlSeconds: config.tokens.accessTtlSeconds,
    now: clock,
    store: resources.store,
  }));
  app.decorate('scopes', composeScopes(modules));
}
