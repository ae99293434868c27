import type { Role } from '../accounts/repository.js';

/** Every scope an API token may carry; routes declare one of these (`config.scope`). */
export const SCOPES = ['account:read', 'account:write', 'posts:read', 'posts:write', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

const MEMBER: readonly Scope[] = ['account:read', 'account:write', 'posts:read', 'posts:write'];
// What each role may delegate to a token: a token never exceeds its user's role.
const ROLE_SCOPES: Readonly<Record<Role, readonly Scope[]>> = {
  author: MEMBER,
  moderator: MEMBER,
  admin: [...MEMBER, 'admin'],
};

const KNOWN: ReadonlySet<string> = new Set(SCOPES);

export function isScope(value: string): value is Scope {
  return KNOWN.has(value);
}

/** The scopes a role may hold; none for a role this list does not know. */
export function scopesForRole(role: string): readonly Scope[] {
  return Object.hasOwn(ROLE_SCOPES, role) ? ROLE_SCOPES[role as Role] : [];
}

/** The scopes of `requested` that the role still allows, in vocabulary order (checked on every use, so a demotion takes effect at once). */
export function limitToRole(requested: readonly string[], role: string): Scope[] {
  const allowed = new Set(scopesForRole(role));
  return SCOPES.filter((scope) => allowed.has(scope) && requested.includes(scope));
}
