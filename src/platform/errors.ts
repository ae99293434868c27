import createError, { type FastifyErrorConstructor } from '@fastify/error';

declare const argumentsBrand: unique symbol;

/** The constructor arguments of a coded error whose message has `%s` placeholders; see {@link withArguments}. */
export interface ErrorArguments<A extends unknown[]> {
  readonly [argumentsBrand]?: A;
}

/**
 * Types a definition's constructor arguments, for a message with `%s` placeholders:
 * `DB_ERR_UNAVAILABLE: ['The database is unavailable: %s', 503, withArguments<[reason: string]>()]`.
 */
export function withArguments<A extends unknown[]>(): ErrorArguments<A> {
  return {};
}

/** `[message, status]` or `[message, status, withArguments<…>()]`; the message is safe to show a client. */
export type ErrorDefinition = readonly [message: string, statusCode: number, args?: ErrorArguments<unknown[]>];

/** What every coded error carries, on the constructor as on its instances. */
export interface CodedErrorInfo {
  readonly code: string;
  readonly statusCode: number;
  readonly message: string;
}

/** An @fastify/error constructor that also carries its code, status and message (no instance needed to read them). */
export type CodedError<C extends string, S extends number, A extends unknown[]> =
  FastifyErrorConstructor<{ code: C; statusCode: S }, A> & { readonly code: C; readonly statusCode: S; readonly message: string };

// Without placeholders a coded error takes at most the options that attach a cause.
type NoArguments = [options?: { cause: unknown }];

/** The frozen object {@link defineErrors} returns: each key is its error's code. */
export type CodedErrors<D extends Readonly<Record<string, ErrorDefinition>>> = {
  readonly [C in keyof D & string]: CodedError<C, D[C][1], D[C] extends readonly [string, number, ErrorArguments<infer A>] ? A : NoArguments>;
};

/** One owner's coded errors (the kernel's, the platform's, a module's), as {@link defineErrors} returns them. */
export type ErrorOwner = Readonly<Record<string, CodedErrorInfo>>;

const CODE = /^(?!FST_)[A-Z][A-Z0-9]*_ERR_[A-Z0-9_]+$/;

/**
 * Defines an owner's coded errors: `{ CODE: [message, status] }` becomes a frozen object whose
 * key is the constructor's code, so a code is written once and cannot differ from its name.
 * A malformed code or a status outside 400-599 throws when the owning file loads.
 */
export function defineErrors<const D extends Readonly<Record<string, ErrorDefinition>>>(definitions: D): CodedErrors<D> {
  const errors: Record<string, unknown> = {};
  for (const [code, [message, statusCode]] of Object.entries(definitions)) {
    if (!CODE.test(code)) throw new TypeError(`${code} is not an error code: capitals, an owner, _ERR_ and a reason (never FST_, which is Fastify's)`);
    if (!Number.isInteger(statusCode) || statusCode < 400 || statusCode > 599) throw new TypeError(`${code} needs an HTTP status from 400 to 599, not ${statusCode}`);
    errors[code] = Object.freeze(Object.assign(createError(code, message, statusCode), { code, statusCode, message }));
  }
  return Object.freeze(errors) as CodedErrors<D>;
}

/**
 * Every owner's coded errors in one map keyed by code, in the owners' order. Throws when a key
 * is not its error's code or when two owners define the same code: a code names one error.
 */
export function collectErrors(owners: readonly ErrorOwner[]): ReadonlyMap<string, CodedErrorInfo> {
  const all = new Map<string, CodedErrorInfo>();
  for (const owner of owners) {
    for (const [key, error] of Object.entries(owner)) {
      if (error.code !== key) throw new TypeError(`the error under ${key} has the code ${error.code}`);
      if (all.has(key)) throw new TypeError(`${key} is defined twice`);
      all.set(key, error);
    }
  }
  return all;
}

/**
 * The platform's coded errors: the state store, PostgreSQL and mail. Most reach a client only as
 * the kernel's `RAMPART_ERR_UNAVAILABLE` or `RAMPART_ERR_INTERNAL`; the log and the CLI show them as they are.
 */
export const PLATFORM_ERRORS = defineErrors({
  /** Redis is down, the connection dropped mid-command, or the store is closed. The cause is attached. */
  STORE_ERR_UNAVAILABLE: ['The shared state store is unavailable', 503],
  /** The key holds another kind of value (a set where a string was expected, a non-integer counter). */
  STORE_ERR_WRONG_TYPE: ['The stored value does not support this operation', 500],
  /** The memory store cannot fit one set even after evicting everything else. */
  STORE_ERR_FULL: ['The in-memory store is full', 503],
  /** `createRedisStore` could not connect; the message names the URL with its password redacted. */
  STORE_ERR_CONNECT: ['Cannot connect to Redis at %s', 500, withArguments<[redactedUrl: string, options: { cause: unknown }]>()],
  /** The database cannot be reached. The message names the host and a reason, never the URL or password. */
  DB_ERR_UNAVAILABLE: ['The database is unavailable: %s', 503, withArguments<[reason: string, options?: { cause: unknown }]>()],
  /** `openDatabase` was given options it cannot use. */
  DB_ERR_INVALID_OPTIONS: ['Invalid database options: %s', 500, withArguments<[reason: string]>()],
  /** A migration failed; the whole run was rolled back. The cause carries the database error. */
  DB_ERR_MIGRATION_FAILED: ['Database migration failed: %s', 500, withArguments<[reason: string, options?: { cause: unknown }]>()],
  /** Raised when the owner and application roles cannot give the application least privilege. */
  DB_ERR_PRIVILEGE_SEPARATION: ['Database privileges cannot be separated: %s', 500, withArguments<[reason: string]>()],
  /**
   * The message could not be delivered: the SMTP server is unreachable, refused the login or the
   * message, or the outbox cannot be written; also after `close()`. The cause describes the failure
   * from error codes only, never from the server's words or the message.
   */
  MAIL_ERR_UNAVAILABLE: ['The mail service is unavailable', 503, withArguments<[options: { cause: unknown }]>()],
});

export const {
  STORE_ERR_UNAVAILABLE, STORE_ERR_WRONG_TYPE, STORE_ERR_FULL, STORE_ERR_CONNECT,
  DB_ERR_UNAVAILABLE, DB_ERR_INVALID_OPTIONS, DB_ERR_MIGRATION_FAILED, DB_ERR_PRIVILEGE_SEPARATION,
  MAIL_ERR_UNAVAILABLE,
} = PLATFORM_ERRORS;
