import { randomUUID } from 'node:crypto';
import type { Keyring } from '../../security/keyring.js';
import type { PasswordHasher } from '../../security/password-hashing.js';
import type { PasswordPolicy, PasswordRule } from '../../security/password-policy.js';
import type { Role } from '../../security/authorization.js';
import type { AccountsRepository, UserRecord } from './repository.js';
import type { UserView } from './schemas.js';

const EMAIL_INDEX_PURPOSE = 'users.email';

export interface UserDependencies {
  readonly repository: AccountsRepository;
  readonly keyring: Keyring;
  readonly passwords: PasswordHasher;
  readonly policy: PasswordPolicy;
}

export type WeakPassword = { readonly ok: false; readonly reason: 'weak_password'; readonly rule: PasswordRule; readonly message: string };

/** The blind index an email is found by; the email itself is stored only encrypted. */
export function emailIndex(keyring: Keyring, email: string): string {
  return keyring.blindIndex(email, EMAIL_INDEX_PURPOSE);
}

/**
 * Every blind index an email may be stored under: the current secret's first, then each
 * fallback secret's. Lookups use them all, so rotating RAMPART_SECRET_KEY locks nobody out
 * while `rampart keys rebuild-index` rewrites the stored ones.
 */
export function emailIndexes(keyring: Keyring, email: string): readonly string[] {
  return keyring.blindIndexes(email, EMAIL_INDEX_PURPOSE);
}

/** The blind index's purpose, for the columns declaration (`encryptedColumns`). */
export const EMAIL_INDEX = EMAIL_INDEX_PURPOSE;

/** The email ciphertext is bound to its user's row, so it cannot be copied to another account. */
export function emailAad(userId: string): { table: string; column: string; rowId: string } {
  return { table: 'users', column: 'email', rowId: userId };
}

export function checkPolicy(policy: PasswordPolicy, password: string, context: { email?: string; name?: string }): WeakPassword | null {
  const result = policy.check(password, context);
  return result.ok ? null : { ok: false, reason: 'weak_password', rule: result.rule, message: result.message };
}

export function toView(keyring: Keyring, user: UserRecord): UserView {
  const email = keyring.decryptString(user.emailCiphertext, emailAad(user.id));
  // A row that no longer decrypts has been tampered with or moved; crypt_decrypt_fail is already recorded.
  if (email === null) throw new Error(`the email of user ${user.id} does not decrypt`);
  return { id: user.id, name: user.name, email, role: user.role, emailVerified: user.emailVerifiedAt !== null, createdAt: user.createdAt.toISOString() };
}

/** Creates a user after the password policy passes; used by registration, first-run setup and the CLI. */
export async function createUser(
  deps: UserDependencies,
  input: { name: string; email: string; password: string; role: Role; verified: boolean },
): Promise<{ ok: true; user: UserRecord } | WeakPassword | { ok: false; reason: 'email_taken' }> {
  const weak = checkPolicy(deps.policy, input.password, { email: input.email, name: input.name });
  if (weak !== null) return weak;
  // During a secret rotation the unique index only sees the current secret's index: an address
  // still stored under a fallback's index is taken all the same.
  if (deps.keyring.hasFallbacks && (await deps.repository.findByEmailIndex(emailIndexes(deps.keyring, input.email).slice(1))) !== null) return { ok: false, reason: 'email_taken' };
  const id = randomUUID();
  const passwordHash = await deps.passwords.hash(input.password);
  const inserted = await deps.repository.insertUser({
    id, name: input.name, emailCiphertext: deps.keyring.encrypt(input.email, emailAad(id)), emailIndex: emailIndex(deps.keyring, input.email),
    passwordHash, role: input.role, emailVerifiedAt: input.verified ? new Date() : null,
  });
  if (!inserted) return { ok: false, reason: 'email_taken' };
  const user = await deps.repository.findById(id);
  if (user === null) throw new Error('a user vanished right after its insert');
  return { ok: true, user };
}
