import { ZxcvbnFactory, type MatchExtended } from '@zxcvbn-ts/core';
import { adjacencyGraphs, dictionary as commonDictionary } from '@zxcvbn-ts/language-common';
import { dictionary as englishDictionary, translations } from '@zxcvbn-ts/language-en';

/** Why a password was refused. */
export type PasswordRule = 'too_short' | 'too_long' | 'common' | 'guessable' | 'personal_info';

/** The verdict; a refusal names the rule and says how to fix it, never quoting the password. */
export type PolicyResult = { readonly ok: true } | { readonly ok: false; readonly rule: PasswordRule; readonly message: string };

/** Options for {@link createPasswordPolicy}. */
export interface PasswordPolicyOptions {
  /** Shortest accepted password in code points (default 15, never below 8). */
  readonly minLength?: number;
  /** Longest accepted password in code points (default 128; at least `minLength`, at most 1024). */
  readonly maxLength?: number;
}

/** Who the password belongs to, so it cannot be built from their own name or email. */
export interface PasswordContext {
  readonly email?: string;
  readonly name?: string;
}

/**
 * The password rules of NIST SP 800-63B (rev. 4, §3.1.1.2): at least 15 characters where the
 * password is a single factor, counted in Unicode code points; any characters and no truncation;
 * no composition rules (they push people to predictable patterns such as `Password1!`); and a
 * check against commonly used and easily guessed passwords and the user's own name and email.
 * Guessability is zxcvbn-ts's estimate (score 3 or more, at least 10^8 guesses) of the first
 * 40 code points, with the common and English dictionaries and the user's details as inputs.
 */
export interface PasswordPolicy {
  readonly minLength: number;
  readonly maxLength: number;
  /**
   * Checks in this order: too_short, too_long, personal_info (the email's local part, the name,
   * or any of their words of 3 or more characters, case-insensitively), common, guessable.
   * Throws only when `password` is not a string.
   */
  check(password: string, context?: PasswordContext): PolicyResult;
}

const DEFAULT_MIN_LENGTH = 15;
const DEFAULT_MAX_LENGTH = 128;
// SP 800-63B allows 8 only where the password is not the sole factor; Rampart never goes lower.
const MIN_LENGTH_FLOOR = 8;
const MAX_LENGTH_CEILING = 1024;
// zxcvbn scores 3 and up need at least 10^8 guesses ("safely unguessable" against online attacks).
const MIN_SCORE = 3;
// zxcvbn's cost grows with length times l33t variants: with its defaults, 128 l33t symbols take
// over a second on a 2-core server, an easy way to stall the event loop. A password is at least
// as strong as its prefix, so the first 40 code points are enough to judge it (the longest entry
// of the common list has 20), and 30 l33t variants instead of 100 missed 3 of 907 l33t-spelled
// common passwords in our sample. Together they cut the worst case by a factor of 10 to 20.
const ANALYSED_CODE_POINTS = 40;
const L33T_VARIANTS = 30;
const COMMON_DICTIONARY = 'passwords-common';
const MIN_PERSONAL_TOKEN = 3;
// Contexts come from validated fields, but the policy bounds its own work either way.
const MAX_CONTEXT_CODE_POINTS = 256;
const MAX_PERSONAL_TOKENS = 16;
const NOT_LETTER_OR_DIGIT = /[^\p{L}\p{N}]+/u;

const MESSAGES: Readonly<Record<Exclude<PasswordRule, 'too_short' | 'too_long'>, string>> = {
  common: 'This password is on lists of commonly used passwords (or is built from them), so attackers try it first; use a few unrelated words instead.',
  guessable: 'This password is easy to guess (a keyboard pattern, sequence, repetition, date or common words); add more unrelated words or characters.',
  personal_info: 'Do not use your name or email address in your password; use a few unrelated words instead.',
};

/** Builds a policy; the strength estimator and its dictionaries are loaded here, once (about 0.2 s). */
export function createPasswordPolicy(options: PasswordPolicyOptions = {}): PasswordPolicy {
  const { minLength, maxLength } = validateOptions(options);
  const zxcvbn = new ZxcvbnFactory({
    dictionary: { ...commonDictionary, ...englishDictionary },
    graphs: adjacencyGraphs,
    translations,
    l33tMaxSubstitutions: L33T_VARIANTS,
  });
  // zxcvbn matches lower-case forms too, but a repeated common password ("passwordpassword")
  // scores as a repeat; the direct lookup names it for what it is.
  const commonPasswords = new Set(commonDictionary[COMMON_DICTIONARY].map((word) => word.toLowerCase()));
  const tooShort = refusal('too_short', `Use at least ${minLength} characters; a few unrelated words make a strong, memorable password.`);
  const tooLong = refusal('too_long', `Use at most ${maxLength} characters; a few unrelated words are plenty.`);

  function check(password: string, context: PasswordContext = {}): PolicyResult {
    if (typeof password !== 'string') throw new TypeError('password must be a string');
    // UTF-16 length bounds the code-point count from both sides, so an over-long input is
    // refused before anything walks it.
    if (password.length < minLength) return tooShort;
    if (password.length > maxLength * 2) return tooLong;
    const codePoints = Array.from(password);
    if (codePoints.length < minLength) return tooShort;
    if (codePoints.length > maxLength) return tooLong;

    const folded = fold(password);
    const personal = personalTokens(context);
    if (personal.some((token) => folded.includes(token))) return refusal('personal_info', MESSAGES.personal_info);
    if (commonPasswords.has(password.toLowerCase())) return refusal('common', MESSAGES.common);

    const result = zxcvbn.check(codePoints.slice(0, ANALYSED_CODE_POINTS).join(''), personal);
    if (result.score >= MIN_SCORE) return OK;
    return builtFromCommonPasswords(result.sequence) ? refusal('common', MESSAGES.common) : refusal('guessable', MESSAGES.guessable);
  }

  return Object.freeze({ minLength, maxLength, check });
}

const OK: PolicyResult = Object.freeze({ ok: true });

function refusal(rule: PasswordRule, message: string): PolicyResult {
  return Object.freeze({ ok: false, rule, message });
}

function builtFromCommonPasswords(sequence: readonly MatchExtended[]): boolean {
  return sequence.length > 0 && sequence.every((match) => match.pattern === 'dictionary' && match.dictionaryName === COMMON_DICTIONARY);
}

// Compatibility folding makes full-width and styled letters compare equal to plain ones; it is
// used for comparison only, never for what gets hashed.
function fold(text: string): string {
  return text.normalize('NFKC').toLowerCase();
}

/** The email's local part and the name, whole and split into words, each of at least 3 code points. */
function personalTokens(context: PasswordContext): string[] {
  if (typeof context !== 'object' || (context as unknown) === null) return [];
  const tokens = new Set<string>();
  const add = (value: string): void => {
    if (Array.from(value).length >= MIN_PERSONAL_TOKEN && tokens.size < MAX_PERSONAL_TOKENS) tokens.add(value);
  };
  const email = bounded(context.email);
  const localPart = email.includes('@') ? email.slice(0, email.lastIndexOf('@')) : email;
  const name = bounded(context.name);
  for (const value of [localPart, name]) {
    add(value.trim());
    for (const word of value.split(NOT_LETTER_OR_DIGIT)) add(word);
  }
  return [...tokens];
}

function bounded(value: unknown): string {
  return typeof value === 'string' ? fold(Array.from(value.slice(0, MAX_CONTEXT_CODE_POINTS * 2)).slice(0, MAX_CONTEXT_CODE_POINTS).join('')) : '';
}

function validateOptions(options: PasswordPolicyOptions): { minLength: number; maxLength: number } {
  if (typeof options !== 'object' || (options as unknown) === null) {
    throw new TypeError('createPasswordPolicy options must be an object');
  }
  const minLength = options.minLength ?? DEFAULT_MIN_LENGTH;
  if (!Number.isInteger(minLength) || minLength < MIN_LENGTH_FLOOR || minLength > MAX_LENGTH_CEILING) {
    throw new TypeError(`minLength must be an integer of at least ${MIN_LENGTH_FLOOR} (NIST SP 800-63B) and at most ${MAX_LENGTH_CEILING} (got ${String(minLength)})`);
  }
  const maxLength = options.maxLength ?? Math.max(DEFAULT_MAX_LENGTH, minLength);
  if (!Number.isInteger(maxLength) || maxLength < minLength || maxLength > MAX_LENGTH_CEILING) {
    throw new TypeError(`maxLength must be an integer from minLength (${minLength}) to ${MAX_LENGTH_CEILING} (got ${String(maxLength)})`);
  }
  return { minLength, maxLength };
}
