import { hash as argon2Hash, verify as argon2Verify, type Algorithm, type Options as Argon2Options, type Version } from '@node-rs/argon2';
import { verify as bcryptVerify } from '@node-rs/bcrypt';
import { randomBytes } from 'node:crypto';
import { PASSWORD_ERR_BUSY } from './errors.js';

/** Argon2 cost parameters: memory in KiB, passes, lanes. */
export interface Argon2Parameters {
  readonly memoryKiB: number;
  readonly timeCost: number;
  readonly parallelism: number;
}

/** OWASP's minimum for Argon2id (Password Storage Cheat Sheet): 19 MiB, 2 passes, 1 lane. Configuration may only raise it. */
export const MINIMUM_ARGON2: Argon2Parameters = Object.freeze({ memoryKiB: 19_456, timeCost: 2, parallelism: 1 });

/** Options for {@link createPasswordHasher}. */
export interface PasswordHasherOptions {
  /** Argon2id cost for new hashes; each parameter at least {@link MINIMUM_ARGON2}'s. */
  readonly parameters?: Argon2Parameters;
  /**
   * Hash and verify operations running at once (default 2). Each holds `memoryKiB` of memory on
   * a libuv threadpool thread, whose default size of 4 is shared with `fs` and `dns`.
   */
  readonly maxConcurrent?: number;
  /** Operations allowed to wait for a slot (default 64); one more is refused with {@link PASSWORD_ERR_BUSY}. */
  readonly maxQueued?: number;
}

/**
 * Argon2id password hashing with bounded concurrency.
 *
 * Passwords are hashed exactly as given: any Unicode, no truncation, no normalization. NIST SP
 * 800-63B suggests normalizing Unicode passwords; that choice belongs to the caller, applied
 * identically before `hash` and `verify`, because changing it later silently invalidates every
 * stored hash, and legacy bcrypt hashes were made from whatever the old system received. A
 * hidden normalization here would make that decision invisible and impossible to version.
 * Strings are encoded as UTF-8, so a lone surrogate is hashed as U+FFFD, in both directions.
 *
 * Every operation runs on libuv's threadpool, off the event loop, through one FIFO queue per
 * hasher: at most `maxConcurrent` run at once, at most `maxQueued` wait, and any further call
 * rejects immediately with {@link PASSWORD_ERR_BUSY}, so a login flood gets fast 503s instead of
 * holding ~19 MiB per attempt.
 */
export interface PasswordHasher {
  /** A PHC string: `$argon2id$v=19$m=<memoryKiB>,t=<timeCost>,p=<parallelism>$<salt>$<hash>`, with a fresh 16-byte salt. */
  hash(password: string): Promise<string>;
  /**
   * Checks `password` against an Argon2 PHC string or a legacy bcrypt hash (`$2a$`, `$2b$`,
   * `$2y$`; bcrypt reads only the first 72 bytes, which is why {@link PasswordHasher.needsRehash}
   * is true for them). Resolves `false` for a wrong password and for anything malformed or
   * unknown, including stored costs far above the current ones (a planted row must not make one
   * login allocate gigabytes). Rejects only with {@link PASSWORD_ERR_BUSY}, or a TypeError when
   * `password` is not a string.
   */
  verify(storedHash: string, password: string): Promise<boolean>;
  /** Verifies against a dummy hash made with the current parameters at creation, so an unknown user costs what a known one does. Always `false`. */
  verifyDummy(password: string): Promise<false>;
  /** True when a stored hash should be replaced after a successful login: bcrypt, not Argon2id v19, any parameter below the current ones, a short salt or output, or malformed. */
  needsRehash(storedHash: string): boolean;
  /** Operations running plus waiting. */
  readonly pending: number;
}

// The package declares these as const enums, which verbatimModuleSyntax cannot read (and the
// runtime object is empty); the values are fixed by its binding (index.d.ts).
// eslint-disable-next-line @typescript-eslint/no-unsafe-enum-assignment -- Algorithm.Argon2id, see above
const ARGON2ID = 2 as Algorithm;
// eslint-disable-next-line @typescript-eslint/no-unsafe-enum-assignment -- Version.V0x13, see above
const VERSION_0X13 = 1 as Version;
const CURRENT_VERSION = 19;
// OWASP and RFC 9106 recommend a 16-byte salt and a 32-byte output.
const SALT_BYTES = 16;
const OUTPUT_BYTES = 32;
const DEFAULT_MAX_CONCURRENT = 2;
const DEFAULT_MAX_QUEUED = 64;
const MAX_CONCURRENT_LIMIT = 64;
const MAX_QUEUED_LIMIT = 10_000;
// Upper bounds for configured parameters: 4 GiB and 16 lanes match the configuration schema.
const MAXIMUM_ARGON2: Argon2Parameters = { memoryKiB: 4 * 1024 * 1024, timeCost: 100, parallelism: 16 };
// A stored hash names its own cost. A corrupted or planted row must not make one login allocate
// gigabytes or spin for minutes, so verification refuses costs beyond these (or the current ones).
const STORED_ARGON2_CEILING: Argon2Parameters = { memoryKiB: 1024 * 1024, timeCost: 100, parallelism: 16 };
const STORED_BCRYPT_MAX_COST = 16;
// Real PHC strings are about 100 characters; the cap keeps parsing cheap on garbage.
const MAX_STORED_HASH_LENGTH = 512;
const ARGON2_PARAMS = /^m=([1-9][0-9]{0,9}),t=([1-9][0-9]{0,9}),p=([1-9][0-9]{0,2})$/;
const PHC_BASE64 = /^[A-Za-z0-9+/]+$/;
const BCRYPT = /^\$2[aby]\$([0-9]{2})\$[./A-Za-z0-9]{53}$/;

/**
 * Creates a hasher, validating every option (a TypeError names the bad one), and computes the
 * dummy hash for {@link PasswordHasher.verifyDummy} once.
 */
export async function createPasswordHasher(options: PasswordHasherOptions = {}): Promise<PasswordHasher> {
  const { parameters, maxConcurrent, maxQueued } = validateOptions(options);
  const hashOptions: Argon2Options = {
    algorithm: ARGON2ID,
    version: VERSION_0X13,
    memoryCost: parameters.memoryKiB,
    timeCost: parameters.timeCost,
    parallelism: parameters.parallelism,
    outputLen: OUTPUT_BYTES,
  };
  const ceiling: Argon2Parameters = {
    memoryKiB: Math.max(parameters.memoryKiB, STORED_ARGON2_CEILING.memoryKiB),
    timeCost: Math.max(parameters.timeCost, STORED_ARGON2_CEILING.timeCost),
    parallelism: Math.max(parameters.parallelism, STORED_ARGON2_CEILING.parallelism),
  };
  const gate = createGate(maxConcurrent, maxQueued);
  // The dummy's password is random and discarded, so nothing can ever match it.
  const dummyHash = await argon2Hash(randomBytes(32), hashOptions);

  async function verifyArgon2(storedHash: string, password: string): Promise<boolean> {
    return gate.run(async () => {
      try {
        return await argon2Verify(storedHash, password);
      } catch {
        // The parser upstream is stricter than the library's, but any refusal is still "no".
        return false;
      }
    });
  }

  return Object.freeze({
    async hash(password: string): Promise<string> {
      assertPassword(password);
      return gate.run(async () => {
        try {
          return await argon2Hash(password, hashOptions);
        } catch (err) {
          throw new Error('Argon2id hashing failed', { cause: err });
        }
      });
    },
    async verify(storedHash: string, password: string): Promise<boolean> {
      assertPassword(password);
      if (typeof storedHash !== 'string' || storedHash.length > MAX_STORED_HASH_LENGTH) return false;
      const argon2 = parseArgon2(storedHash);
      if (argon2 !== null) {
        const tooCostly = argon2.memoryKiB > ceiling.memoryKiB || argon2.timeCost > ceiling.timeCost || argon2.parallelism > ceiling.parallelism;
        return tooCostly ? false : verifyArgon2(storedHash, password);
      }
      const bcryptCost = parseBcryptCost(storedHash);
      if (bcryptCost === null || bcryptCost > STORED_BCRYPT_MAX_COST) return false;
      return gate.run(async () => {
        try {
          return await bcryptVerify(password, storedHash);
        } catch {
          return false;
        }
      });
    },
    async verifyDummy(password: string): Promise<false> {
      assertPassword(password);
      // Verify a dummy hash so unknown emails cost the same time and take the same queue slot.
      await verifyArgon2(dummyHash, password);
      return false;
    },
    needsRehash(storedHash: string): boolean {
      if (typeof storedHash !== 'string' || storedHash.length > MAX_STORED_HASH_LENGTH) return true;
      const stored = parseArgon2(storedHash);
      if (stored === null) return true;
      return (
        stored.variant !== 'argon2id' ||
        stored.version !== CURRENT_VERSION ||
        stored.memoryKiB < parameters.memoryKiB ||
        stored.timeCost < parameters.timeCost ||
        stored.parallelism < parameters.parallelism ||
        stored.saltBytes < SALT_BYTES ||
        stored.outputBytes < OUTPUT_BYTES
      );
    },
    get pending(): number {
      return gate.pending();
    },
  });
}

interface Gate {
  run<T>(task: () => Promise<T>): Promise<T>;
  pending(): number;
}

/** A FIFO semaphore: a finishing task hands its slot straight to the oldest waiter. */
function createGate(maxConcurrent: number, maxQueued: number): Gate {
  let running = 0;
  const waiting: (() => void)[] = [];

  function release(): void {
    const next = waiting.shift();
    if (next === undefined) running -= 1;
    else next();
  }

  return {
    async run<T>(task: () => Promise<T>): Promise<T> {
      // Decided synchronously, before any await, so the count is exact under any interleaving.
      if (running < maxConcurrent) {
        running += 1;
      } else {
        if (waiting.length >= maxQueued) throw new PASSWORD_ERR_BUSY();
        await new Promise<void>((resolve) => waiting.push(resolve));
      }
      try {
        return await task();
      } finally {
        release();
      }
    },
    pending(): number {
      return running + waiting.length;
    },
  };
}

interface ParsedArgon2 extends Argon2Parameters {
  readonly variant: 'argon2id' | 'argon2i' | 'argon2d';
  readonly version: number;
  readonly saltBytes: number;
  readonly outputBytes: number;
}

/**
 * Parses `$<variant>[$v=<version>]$m=<m>,t=<t>,p=<p>$<salt>$<hash>` strictly; `null` for
 * anything else. A missing version means Argon2 1.0 (v=16), as in the reference implementation.
 */
function parseArgon2(text: string): ParsedArgon2 | null {
  // The limit keeps a string full of dollars from allocating one array slot per dollar.
  const parts = text.split('$', 7);
  if (parts[0] !== '' || (parts.length !== 5 && parts.length !== 6)) return null;
  const variant = parts[1];
  if (variant !== 'argon2id' && variant !== 'argon2i' && variant !== 'argon2d') return null;
  const [versionText, paramsText, salt, output] = parts.length === 6 ? parts.slice(2) : ['v=16', ...parts.slice(2)];
  const version = versionText === 'v=19' ? 19 : versionText === 'v=16' ? 16 : null;
  const params = ARGON2_PARAMS.exec(paramsText ?? '');
  const saltBytes = phcBase64Bytes(salt);
  const outputBytes = phcBase64Bytes(output);
  if (version === null || params === null || saltBytes === null || outputBytes === null) return null;
  const [, m, t, p] = params;
  return { variant, version, memoryKiB: Number(m), timeCost: Number(t), parallelism: Number(p), saltBytes, outputBytes };
}

/** Decoded length of unpadded standard base64 (the PHC encoding), or `null` when it cannot be one. */
function phcBase64Bytes(text: string | undefined): number | null {
  if (text === undefined || !PHC_BASE64.test(text) || text.length % 4 === 1) return null;
  return Math.floor((text.length * 3) / 4);
}

function parseBcryptCost(text: string): number | null {
  const match = BCRYPT.exec(text);
  if (match === null) return null;
  const cost = Number(match[1]);
  return cost >= 4 && cost <= 31 ? cost : null;
}

function assertPassword(password: unknown): asserts password is string {
  if (typeof password !== 'string') throw new TypeError('password must be a string');
}

interface ValidOptions {
  readonly parameters: Argon2Parameters;
  readonly maxConcurrent: number;
  readonly maxQueued: number;
}

function validateOptions(options: PasswordHasherOptions): ValidOptions {
  if (typeof options !== 'object' || (options as unknown) === null) {
    throw new TypeError('createPasswordHasher options must be an object');
  }
  const parameters = options.parameters ?? MINIMUM_ARGON2;
  if (typeof parameters !== 'object' || (parameters as unknown) === null) {
    throw new TypeError('parameters must be an object with memoryKiB, timeCost and parallelism');
  }
  for (const name of ['memoryKiB', 'timeCost', 'parallelism'] as const) {
    const value: unknown = parameters[name];
    const min = MINIMUM_ARGON2[name];
    const max = MAXIMUM_ARGON2[name];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      // Lowering the cost is refused outright: it would weaken every hash written from then on.
      throw new TypeError(`parameters.${name} must be an integer from ${min} (the OWASP minimum) to ${max} (got ${describe(value)})`);
    }
  }
  const maxConcurrent = integerOption('maxConcurrent', options.maxConcurrent, DEFAULT_MAX_CONCURRENT, 1, MAX_CONCURRENT_LIMIT);
  const maxQueued = integerOption('maxQueued', options.maxQueued, DEFAULT_MAX_QUEUED, 0, MAX_QUEUED_LIMIT);
  const { memoryKiB, timeCost, parallelism } = parameters;
  return { parameters: Object.freeze({ memoryKiB, timeCost, parallelism }), maxConcurrent, maxQueued };
}

function integerOption(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new TypeError(`${name} must be an integer from ${min} to ${max} (got ${describe(value)})`);
  }
  return value;
}

function describe(value: unknown): string {
  return typeof value === 'number' ? String(value) : typeof value;
}
