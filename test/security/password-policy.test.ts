// node:test's describe() and it() return promises that the runner itself awaits; this file has no
// other asynchronous code, so nothing else can float.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import fc from 'fast-check';
import { createPasswordPolicy, type PasswordRule, type PolicyResult } from '../../src/security/password-policy.js';

const policy = createPasswordPolicy();
const RULES: readonly PasswordRule[] = ['too_short', 'too_long', 'common', 'guessable', 'personal_info'];
const ALPHABET = 'ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789!#%&*+-=?';
const STRONG = 'velvet-canyon-orbit-lantern';
const person = { email: 'zephyrine.okonkwo@example.com', name: 'Zephyrine Okonkwo' };

function randomPassword(length: number): string {
  return Array.from({ length }, () => ALPHABET[randomInt(ALPHABET.length)]).join('');
}

function refusedFor(result: PolicyResult): PasswordRule | null {
  return result.ok ? null : result.rule;
}

/** Asserts a refusal for `rule` whose message neither quotes the password nor is empty; returns the message. */
function assertRefused(password: string, rule: PasswordRule | readonly PasswordRule[], context?: { email?: string; name?: string }): string {
  const result = policy.check(password, context);
  assert.equal(result.ok, false, `expected ${String(rule)} for ${JSON.stringify(password)}`);
  const rules = typeof rule === 'string' ? [rule] : rule;
  assert.ok(rules.includes(result.rule), `${JSON.stringify(password)} was refused as ${result.rule}, expected ${rules.join(' or ')}`);
  assert.ok(result.message.length > 20);
  assert.ok(!result.message.toLowerCase().includes(password.toLowerCase()), `the message quotes ${JSON.stringify(password)}`);
  return result.message;
}

describe('password policy: length', () => {
  it('refuses 14 characters as too_short and says how long and how to fix it', () => {
    const message = assertRefused('Xk9#mQ2$vL7!pR', 'too_short');
    assert.equal(message, 'Use at least 15 characters; a few unrelated words make a strong, memorable password.');
  });

  it('accepts 15 random characters', () => {
    for (let i = 0; i < 10; i++) {
      const password = randomPassword(15);
      assert.deepEqual(policy.check(password), { ok: true }, password);
    }
  });

  it('refuses 129 characters as too_long and accepts 128 strong ones', () => {
    for (let i = 0; i < 3; i++) {
      const password = randomPassword(128);
      assert.deepEqual(policy.check(password), { ok: true });
      const message = assertRefused(`${password}x`, 'too_long');
      assert.match(message, /at most 128 characters/);
    }
  });

  it('counts Unicode code points, not UTF-16 units', () => {
    const emoji = Array.from('🦊🌲🚲🎻🧭🪁🦉🍄🛶🧲🎲🪐🦔🌋🧊');
    assert.equal(emoji.length, 15);
    assert.deepEqual(policy.check(emoji.join('')), { ok: true }, '15 emoji are 30 UTF-16 units but 15 characters');
    assertRefused(emoji.slice(0, 14).join(''), 'too_short');
    const long = Array.from({ length: 128 }, (_, i) => emoji[i % emoji.length]).join('');
    assert.equal(long.length, 256);
    assert.equal(refusedFor(policy.check(long)), null);
    assertRefused(`${long}🦊`, 'too_long');
  });

  it('refuses an over-long input as too_long without analysing it', () => {
    assertRefused('x'.repeat(1_000_000), 'too_long');
    assertRefused('🦊'.repeat(129), 'too_long');
  });

  it('judges strength on the first 40 characters, which bounds the work: a strong opening is enough, a weak one is refused', () => {
    const weak = 'a'.repeat(72);
    assertRefused(weak, 'guessable');
    assertRefused(`${weak}${randomPassword(30)}`, 'guessable');
    assert.deepEqual(policy.check(`${randomPassword(40)}${weak}`), { ok: true });
  });
});

describe('password policy: common and guessable passwords', () => {
  it('refuses common and guessable 16-character passwords', () => {
    for (const password of ['password123456789', 'qwertyuiopasdfgh', 'aaaaaaaaaaaaaaaa', '1234567890123456']) {
      assertRefused(password, ['common', 'guessable']);
    }
    assertRefused('password123456789', 'common');
    assertRefused('aaaaaaaaaaaaaaaa', 'guessable');
  });

  it('refuses entries of the common-password list whatever their case, even ones that look random', () => {
    for (const password of ['hd764nw5d7e1vb1', 'PASSWORDPASSWORD', 'PasswordPassword', '1qaz2wsx3edc4rfv']) {
      const message = assertRefused(password, 'common');
      assert.match(message, /commonly used passwords/);
    }
  });

  it('refuses keyboard walks, sequences, repeats and l33t spellings as guessable', () => {
    for (const password of ['abcdefghijklmnop', 'zxcvbnm,./asdfghjkl', 'iloveyouiloveyou1', 'P@ssw0rdP@ssw0rd', 'summer2024summer2024']) {
      assertRefused(password, ['common', 'guessable']);
    }
  });

  it('accepts passphrases of unrelated words, with no composition rules', () => {
    for (const password of [STRONG, 'correcthorsebatterystaple', 'purple tractor whispers at noon', 'ŝtelo de la blua kafo', 'кот бегемот ест ананасы']) {
      assert.deepEqual(policy.check(password), { ok: true }, password);
    }
  });
});

describe('password policy: personal information', () => {
  it('refuses a strong password containing the email local part or the name, case-insensitively', () => {
    assert.deepEqual(policy.check(STRONG, person), { ok: true });
    const cases = [
      'velvet-canyon-zephyrine.okonkwo-lantern',
      'velvet-canyon-Zephyrine-lantern',
      'velvet-canyon-OKONKWO-lantern',
      'velvetzephyrinecanyonorbit',
    ];
    for (const password of cases) {
      assert.deepEqual(policy.check(password), { ok: true }, `${password} is strong on its own`);
      const message = assertRefused(password, 'personal_info', person);
      assert.equal(message, 'Do not use your name or email address in your password; use a few unrelated words instead.');
    }
  });

  it('checks the email alone and the name alone', () => {
    assertRefused('velvet-canyon-okonkwo-lantern', 'personal_info', { email: 'okonkwo@example.com' });
    assertRefused('velvet-canyon-jean-lantern', 'personal_info', { name: 'Jean-Luc Picard' });
    assertRefused('velvet-canyon-picard-lantern', 'personal_info', { name: '  Jean-Luc Picard ' });
  });

  it('compares compatibility forms: full-width letters spell the same name', () => {
    assertRefused('velvet-canyon-ＯＫＯＮＫＷＯ-lantern', 'personal_info', person);
  });

  it('ignores a local part or name token shorter than 3 characters', () => {
    const context = { email: 'zo@example.com', name: 'Al Bo' };
    assert.deepEqual(policy.check('velvet zo canyon al orbit bo lantern', context), { ok: true });
  });

  it('treats missing, empty or odd context fields as no personal information', () => {
    for (const context of [{}, { email: '' }, { name: '' }, { email: 'no-at-sign' }, { email: '@', name: '   ' }, { email: undefined, name: undefined }]) {
      assert.deepEqual(policy.check(STRONG, context), { ok: true }, JSON.stringify(context));
    }
  });
});

describe('password policy: messages', () => {
  it('never quotes the password, whichever rule failed', () => {
    assertRefused('short', 'too_short');
    assertRefused(randomPassword(129), 'too_long');
    assertRefused('passwordpassword', 'common');
    assertRefused('abcdefghijklmnop', 'guessable');
    assertRefused('velvet-canyon-okonkwo-lantern', 'personal_info', person);
  });

  it('gives every rule its own message', () => {
    const messages = new Set([
      assertRefused('short', 'too_short'),
      assertRefused(randomPassword(129), 'too_long'),
      assertRefused('passwordpassword', 'common'),
      assertRefused('abcdefghijklmnop', 'guessable'),
      assertRefused('velvet-canyon-okonkwo-lantern', 'personal_info', person),
    ]);
    assert.equal(messages.size, RULES.length);
  });
});

describe('password policy: options', () => {
  it('defaults to 15 to 128 characters', () => {
    assert.equal(policy.minLength, 15);
    assert.equal(policy.maxLength, 128);
  });

  it('allows a minimum length of 8, and then accepts strong passwords shorter than 15', () => {
    const relaxed = createPasswordPolicy({ minLength: 8 });
    assert.equal(relaxed.minLength, 8);
    const password = randomPassword(11);
    assert.deepEqual(relaxed.check(password), { ok: true }, password);
    assert.deepEqual(relaxed.check('7kX#q2!'), {
      ok: false,
      rule: 'too_short',
      message: 'Use at least 8 characters; a few unrelated words make a strong, memorable password.',
    });
  });

  it('refuses a minimum below 8, a maximum below the minimum or above 1024, and non-integers', () => {
    for (const options of [{ minLength: 7 }, { minLength: 0 }, { minLength: 15.5 }, { minLength: Number.NaN }, { maxLength: 14 }, { minLength: 20, maxLength: 19 }, { maxLength: 1025 }, { maxLength: 64.5 }]) {
      assert.throws(() => createPasswordPolicy(options), TypeError, JSON.stringify(options));
    }
    const custom = createPasswordPolicy({ minLength: 12, maxLength: 64 });
    assert.deepEqual([custom.minLength, custom.maxLength], [12, 64]);
    assert.equal(refusedFor(custom.check(randomPassword(65))), 'too_long');
  });

  it('refuses a password that is not a string', () => {
    assert.throws(() => policy.check(undefined as unknown as string), TypeError);
  });

  it('never throws on arbitrary Unicode strings up to 300 code points, lone surrogates included', () => {
    const unit = fc.oneof(
      fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
      fc.constantFrom('\uD800', '\uDFFF', '4', '@', '$', '|', '0', 'a', 'e'),
    );
    const context = fc.record({ email: fc.string({ unit: 'binary', maxLength: 300 }), name: fc.string({ unit, maxLength: 300 }) }, { requiredKeys: [] });
    fc.assert(
      fc.property(fc.string({ unit, maxLength: 300 }), context, (password, ctx) => {
        const result = policy.check(password, ctx);
        if (result.ok) return;
        assert.ok(RULES.includes(result.rule));
        assert.equal(typeof result.message, 'string');
      }),
      { numRuns: 150 },
    );
  });
});
