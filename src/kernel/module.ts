import { AbilityBuilder, createMongoAbility, type MongoAbility } from '@casl/ability';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import fp from 'fastify-plugin';
import type { Migration } from 'kysely';
import { z } from 'zod';
import type { NamedMigration } from '../platform/database.js';
import type { Principal } from '../security/authentication.js';
import { ROLES, roleAtLeast, type Role } from '../security/authorization.js';
import type { ErrorOwner } from '../security/errors.js';
import { checkEncryptedColumn, type EncryptedColumn } from '../security/key-maintenance.js';

/**
 * The shape of a Rampart module: a Fastify plugin with what the kernel must know about it
 * before it starts (its tables, abilities, token scopes and errors). `app.ts` lists the
 * modules; the kernel migrates their tables, composes their abilities and scopes, and
 * registers their plugins in that order. See docs/add-a-module.md.
 */
export interface RampartModule {
  /** Lowercase letters, digits and dashes; names its migrations (`<name>/0001-…`) and its plugin. */
  readonly name: string;
  /** Modules that must be registered before this one (their decorators are used here). */
  readonly dependencies?: readonly string[];
  /** The module's migrations, in order. A released migration is never renamed or edited. */
  readonly migrations?: readonly ModuleMigration[];
  /** The subject types its routes and services check (`config.access.subject`). */
  readonly subjects?: readonly string[];
  /** Actions beyond the kernel's read, create, update, delete and manage. */
  readonly actions?: readonly string[];
  /**
   * The module's rules for its own subjects, deny by default. `principal` is null for a guest
   * and for a role the kernel does not know; use `roleAtLeast` for role tiers.
   */
  readonly abilities?: AbilityRules;
  /** The API-token scopes its routes declare, each with the least role that may delegate it. */
  readonly scopes?: Readonly<Record<string, Role>>;
  /** Its coded errors (`defineErrors` in its errors.ts): collected with the kernel's into one registry. */
  readonly errors?: ErrorOwner;
  /**
   * Every column of its tables holding keyring ciphertext (`app.keyring.encrypt`), with the
   * associated data it binds and any blind index beside it: `rampart keys rotate-encryption`
   * re-encrypts them, `rampart keys rebuild-index` rebuilds the indexes, and boot refuses to
   * start while a row needs a key that is no longer configured (RAMPART-E080).
   */
  readonly encryptedColumns?: readonly EncryptedColumn[];
  /** The plugin: builds its services from the kernel's decorators and registers its routes. */
  readonly plugin: FastifyPluginAsync;
  /**
   * The module's part of a user's data export (`GET /api/account/export`): what it holds about
   * `userId`, under the module's name. Only the fields `schema` declares leave the server, so a
   * secret or hash a query returns by mistake is dropped.
   */
  readonly exportData?: ModuleExport;
}

/** A module's contribution to a user's data export; see {@link RampartModule.exportData}. */
export interface ModuleExport {
  readonly schema: z.ZodType;
  /** Runs after every plugin registered, with the app's decorators. Reads only `userId`'s own rows. */
  collect(app: FastifyInstance, userId: string): Promise<unknown>;
}

/** Every module's export contribution as one: `app.userData`. */
export interface UserDataExport {
  /** The export's shape: one key per contributing module. */
  readonly schema: z.ZodType<Record<string, unknown>>;
  /** Everything the modules hold about `userId`, each part passed through its schema. */
  collect(userId: string): Promise<Record<string, unknown>>;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** The modules' data-export contributions (see {@link RampartModule.exportData}). */
    userData: UserDataExport;
  }
}

/** The modules' export contributions, in list order, as one export. */
export function composeExports(app: FastifyInstance, modules: readonly RampartModule[]): UserDataExport {
  const parts = modules.flatMap((module) => (module.exportData === undefined ? [] : [[module.name, module.exportData] as const]));
  const schema = z.object(Object.fromEntries(parts.map(([name, part]) => [name, part.schema])));
  return Object.freeze({
    schema,
    async collect(userId: string) {
      const out: Record<string, unknown> = {};
      for (const [name, part] of parts) out[name] = part.schema.parse(await part.collect(app, userId));
      return out;
    },
  });
}

export interface ModuleMigration {
  /** `NNNN-short-name`; the kernel stores it as `<module>/NNNN-short-name`. */
  readonly name: string;
  readonly migration: Migration;
  /** The name this migration had before modules owned their tables, when it had one (see database.ts). */
  readonly replaces?: string;
}

export type AppAbility = MongoAbility;
export type AbilityRules = (rules: Pick<AbilityBuilder<AppAbility>, 'can' | 'cannot'>, principal: Principal | null) => void;

/** Checks a module definition at once, so a mistake fails at boot with the module's name. */
export function defineModule(module: RampartModule): RampartModule {
  if (!/^[a-z][a-z0-9-]{0,39}$/.test(module.name)) throw new TypeError(`module name "${module.name}" must be lowercase letters, digits and dashes`);
  if (typeof module.plugin !== 'function') throw new TypeError(`module ${module.name}: plugin must be a Fastify plugin`);
  for (const migration of module.migrations ?? []) {
    if (!/^\d{4}-[a-z0-9-]+$/.test(migration.name)) throw new TypeError(`module ${module.name}: migration "${migration.name}" must be named NNNN-short-name`);
  }
  for (const column of module.encryptedColumns ?? []) checkEncryptedColumn(`module ${module.name}`, column);
  for (const [scope, role] of Object.entries(module.scopes ?? {})) {
    if (!scope.split(':').every((part, i, parts) => parts.length <= 2 && /^[a-z]{1,32}$/.test(part))) throw new TypeError(`module ${module.name}: scope "${scope}" must look like name or name:action`);
    if (!(ROLES as readonly string[]).includes(role)) throw new TypeError(`module ${module.name}: scope "${scope}" names the unknown role "${role}"`);
  }
  return Object.freeze({ ...module });
}

/** Every migration of the kernel and the modules, in the order they run: the kernel's, then each module's in list order. */
export function collectMigrations(kernel: readonly ModuleMigration[], modules: readonly RampartModule[]): NamedMigration[] {
  const owned = (owner: string, list: readonly ModuleMigration[]) => list.map((m) => ({ name: `${owner}/${m.name}`, migration: m.migration, ...(m.replaces === undefined ? {} : { replaces: m.replaces }) }));
  return [...owned('kernel', kernel), ...modules.flatMap((module) => owned(module.name, module.migrations ?? []))];
}

/** The kernel's encrypted columns, then each module's, in list order. */
export function collectEncryptedColumns(kernel: readonly EncryptedColumn[], modules: readonly RampartModule[]): EncryptedColumn[] {
  const all = [...kernel, ...modules.flatMap((module) => module.encryptedColumns ?? [])];
  const labels = all.map((column) => `${column.table}.${column.column}`);
  const duplicate = labels.find((label, i) => labels.indexOf(label) !== i);
  if (duplicate !== undefined) throw new TypeError(`the encrypted column ${duplicate} is declared twice`);
  return all;
}

/** The actions every subject may use; modules add their own. */
export const KERNEL_ACTIONS = ['read', 'create', 'update', 'delete', 'manage'] as const;

/** The modules' abilities as one deny-by-default function, with the vocabulary routes are checked against at boot. */
export function composeAbilities(modules: readonly RampartModule[]): { abilityFor: (principal: Principal | null) => AppAbility; actions: string[]; subjects: string[] } {
  const actions = [...new Set([...KERNEL_ACTIONS, ...modules.flatMap((m) => m.actions ?? [])])];
  const subjects = modules.flatMap((m) => m.subjects ?? []);
  const duplicate = subjects.find((s, i) => subjects.indexOf(s) !== i);
  if (duplicate !== undefined) throw new TypeError(`two modules declare the subject "${duplicate}"`);
  const rules = modules.flatMap((m) => (m.abilities === undefined ? [] : [m.abilities]));
  return {
    actions,
    subjects,
    abilityFor(principal) {
      const { can, cannot, build } = new AbilityBuilder<AppAbility>(createMongoAbility);
      // A role this code does not know gets the guest's abilities.
      const known = principal !== null && (ROLES as readonly string[]).includes(principal.role) ? principal : null;
      for (const rule of rules) rule({ can, cannot }, known);
      return build();
    },
  };
}

/** The API-token scopes of every module, and which a role may delegate to a token. */
export interface ScopeVocabulary {
  /** Every scope, in module order. */
  readonly all: readonly string[];
  /** The scopes a role may hold; none for a role the kernel does not know. */
  forRole(role: string): readonly string[];
  /** The scopes of `requested` that the role still allows, in vocabulary order (checked on every use, so a demotion takes effect at once). */
  limitToRole(requested: readonly string[], role: string): string[];
  has(scope: string): boolean;
}

export function composeScopes(modules: readonly RampartModule[]): ScopeVocabulary {
  const least = new Map<string, Role>();
  for (const module of modules) {
    for (const column of module.encryptedColumns ?? []) checkEncryptedColumn(`module ${module.name}`, column);
  for (const [scope, role] of Object.entries(module.scopes ?? {})) {
      if (least.has(scope)) throw new TypeError(`two modules declare the scope "${scope}"`);
      least.set(scope, role);
    }
  }
  const all = Object.freeze([...least.keys()]);
  const forRole = (role: string) => all.filter((scope) => roleAtLeast(role, least.get(scope) ?? 'admin'));
  return Object.freeze({
    all,
    forRole,
    limitToRole(requested: readonly string[], role: string) {
      const allowed = new Set(forRole(role));
      return all.filter((scope) => allowed.has(scope) && requested.includes(scope));
    },
    has: (scope: string) => least.has(scope),
  });
}

/** Registers each module's plugin in list order, sharing the kernel's scope, after checking its dependencies are registered. */
export async function registerModules(app: FastifyInstance, modules: readonly RampartModule[]): Promise<void> {
  const registered = new Set<string>();
  app.decorate('userData', composeExports(app, modules));
  for (const module of modules) {
    if (registered.has(module.name)) throw new TypeError(`the module ${module.name} is listed twice`);
    const missing = (module.dependencies ?? []).filter((name) => !registered.has(name));
    if (missing.length > 0) throw new TypeError(`the module ${module.name} needs ${missing.join(', ')} listed before it`);
    registered.add(module.name);
    await app.register(fp(module.plugin, { name: `rampart-module-${module.name}` }));
  }
}
