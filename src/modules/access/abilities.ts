import { AbilityBuilder, createMongoAbility, type MongoAbility } from '@casl/ability';
import type { Principal } from '../../security/authentication.js';

/** Every action a route or a service may check. */
export const ACTIONS = ['read', 'create', 'update', 'delete', 'publish', 'unpublish', 'hide', 'manage'] as const;
/** Every subject type: the application's objects. */
export const SUBJECTS = ['Post', 'Comment', 'User', 'SecurityEvent'] as const;

export type Action = (typeof ACTIONS)[number];
export type SubjectType = (typeof SUBJECTS)[number];
export type AppAbility = MongoAbility<[Action, SubjectType | Record<string, unknown>]>;

/** The roles, least to most privileged; a guest is anyone not signed in. */
export const ROLES = ['author', 'moderator', 'admin'] as const;

/**
 * What each role may do, deny by default: nothing is allowed unless a rule below says so.
 * - guest: read published posts and visible comments;
 * - author (every signed-in user): also create posts, read, edit, delete, publish and
 *   unpublish their own, comment, delete their own comments (not once a moderator hid them);
 * - moderator: also unpublish any post, read and hide any comment;
 * - admin: also read and manage users (roles, disabling) and read security events.
 * A role this code does not know gets the guest's abilities.
 */
export function abilityFor(principal: Principal | null): AppAbility {
  const { can, cannot, build } = new AbilityBuilder<AppAbility>(createMongoAbility);
  can('read', 'Post', { status: 'published' });
  can('read', 'Comment', { hidden: false, postPublished: true });
  if (principal === null || !(ROLES as readonly string[]).includes(principal.role)) return build();

  const own = { authorId: principal.id };
  can('read', 'Post', own);
  can('create', 'Post');
  can(['update', 'delete', 'publish', 'unpublish'], 'Post', own);
  can('read', 'Comment', own);
  can('create', 'Comment');
  can('delete', 'Comment', own);
  // A hidden comment is a moderation record: its author may still see it, not erase it.
  cannot('delete', 'Comment', { hidden: true });
  if (principal.role === 'author') return build();

  can('unpublish', 'Post');
  can(['read', 'hide'], 'Comment', { postPublished: true });
  if (principal.role === 'moderator') return build();

  can(['read', 'manage'], 'User');
  can('read', 'SecurityEvent');
  return build();
}
