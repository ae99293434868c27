import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { hash as argon2Hash } from '@node-rs/argon2';
import { hash as bcryptHash } from '@node-rs/bcrypt';
import {
  createPasswordHasher,
  MINIMUM_ARGON2,
  type Argon2Parameters,
  type PasswordHasher,
  type PasswordHasherOptions,
} from '../../src/security/password-hashing.js';
import { PASSWORD_ERR_BUSY } from '../../src/security/errors.js';

const CURRENT_PREFIX = '$argon2id$v=19$m=19456,t=2,p=1$';
const PASSWORD = 'correct horse battery staple';

let hasher: PasswordHasher;
let stored: string;

before(async () => {
  hasher = await createPasswordHasher();
  stored = await hasher.hash(PASSWORD);
});

function isBusy(err: unknown): boolean {
  return err instanceof PASSWORD_ERR_BUSY;
}

describe('password hashing: Argon2id', () => {
  it('writes Argon2id PHC strings with the OWASP minimum parameters and a fresh salt each time', async () => {
    assert.ok(stored.startsWith(CURRENT_PREFIX), stored);
    assert.match(stored, /^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    const again = await hasher.hash(PASSWORD);
    assert.notEqual(again, stored);
    assert.equal(hasher.needsRehash(stored), false);
  });

  it('verifies the right password and refuses wrong ones', async () => {
    assert.equal(await hasher.verify(stored, PASSWORD), true);
    for (const wrong of ['', 'correct horse battery stapl', 'Correct horse battery staple', `${PASSWORD} `, `${PASSWORD}\u0000`]) {
      assert.equal(await hasher.verify(stored, wrong), false, JSON.stringify(wrong));
    }
  });

  it('round-trips Unicode passwords: emoji, combining marks and right-to-left text', async () => {
    const passwords = [
      '🦊🌲 family 👨‍👩‍👧 ride 🚲 at dawn',
      'Ame\u0301lie s\u0327a va tre\u0300s bien',
      'كلمة المرور الطويلة جدا',
      'שלום \u202eעולם\u202c מה נשמע',
      '東京タワーの夜景はきれい',
      '\u0000\u0001 control and \u00a0 spaces',
    ];
    const hashes = await Promise.all(passwords.map(async (password) => hasher.hash(password)));
    for (const [index, password] of passwords.entries()) {
      const hash = hashes[index]!;
      assert.ok(hash.startsWith(CURRENT_PREFIX));
      assert.equal(await hasher.verify(hash, password), true, password);
    }
  });

  it('does not normalize: another Unicode normalization form of the password does not verify', async () => {
    const nfc = 'Crème brûlée à la café, naïve résumé';
    const nfd = nfc.normalize('NFD');
    assert.notEqual(nfc, nfd);
    const hash = await hasher.hash(nfc);
    assert.equal(await hasher.verify(hash, nfc), true);
    assert.equal(await hasher.verify(hash, nfd), false);
    // Compatibility forms too: the ligature and full-width letters are kept as typed.
    const compatibility = 'ﬁne ＦＵＬＬＷＩＤＴＨ words here';
    const compatibilityHash = await hasher.hash(compatibility);
    assert.equal(await hasher.verify(compatibilityHash, compatibility.normalize('NFKC')), false);
  });

  it('uses every byte: a 73-byte password and its 72-byte prefix do not verify as each other (no bcrypt-style truncation)', async () => {
    const prefix = 'a'.repeat(36) + 'b'.repeat(36);
    const long = `${prefix}c`;
    assert.equal(Buffer.byteLength(prefix, 'utf8'), 72);
    assert.equal(Buffer.byteLength(long, 'utf8'), 73);
    const [longHash, prefixHash] = await Promise.all([hasher.hash(long), hasher.hash(prefix)]);
    assert.equal(await hasher.verify(longHash, long), true);
    assert.equal(await hasher.verify(longHash, prefix), false);
    assert.equal(await hasher.verify(prefixHash, long), false);
  });

  it('hashes a lone surrogate as U+FFFD (UTF-8 encoding) instead of throwing', async () => {
    const hash = await hasher.hash('broken \uD800 surrogate password');
    assert.equal(await hasher.verify(hash, 'broken \uD800 surrogate password'), true);
    assert.equal(await hasher.verify(hash, 'broken \uFFFD surrogate password'), true);
  });

  it('refuses a password that is not a string', async () => {
    await assert.rejects(hasher.hash(undefined as unknown as string), TypeError);
    await assert.rejects(hasher.verify(stored, null as unknown as string), TypeError);
    await assert.rejects(hasher.verifyDummy(42 as unknown as string), TypeError);
  });
});

describe('password hashing: legacy and weaker hashes', () => {
  it('verifies legacy bcrypt hashes ($2a$, $2b$, $2y$, cost 10) and asks for a rehash', async () => {
    const password = 'legacy pässword from the old site 🔑';
    for (const version of ['2a', '2b', '2y'] as const) {
      // The binding writes $2b$; $2a$ and $2y$ hashes of the same password and salt are identical
      // apart from the prefix (the variants differ only on passwords over 255 bytes).
      const legacy = (await bcryptHash(password, 10)).replace(/^\$2b\$/, `$${version}$`);
      assert.ok(legacy.startsWith(`$${version}$10$`), legacy);
      assert.equal(await hasher.verify(legacy, password), true, version);
      assert.equal(await hasher.verify(legacy, 'not the legacy password'), false, version);
      assert.equal(hasher.needsRehash(legacy), true, version);
    }
  });

  it('verifies an Argon2id hash with lower parameters (m=4096) and asks for a rehash', async () => {
    const weaker = await argon2Hash(PASSWORD, { memoryCost: 4096, timeCost: 2, parallelism: 1 });
    assert.ok(weaker.startsWith('$argon2id$v=19$m=4096,t=2,p=1$'), weaker);
    assert.equal(await hasher.verify(weaker, PASSWORD), true);
    assert.equal(await hasher.verify(weaker, 'wrong'), false);
    assert.equal(hasher.needsRehash(weaker), true);
    const fewerPasses = await argon2Hash(PASSWORD, { memoryCost: 19_456, timeCost: 1, parallelism: 1 });
    assert.equal(await hasher.verify(fewerPasses, PASSWORD), true);
    assert.equal(hasher.needsRehash(fewerPasses), true);
  });

  it('asks for a rehash of other Argon2 variants, old versions, short salts and short outputs', () => {
    const salt16 = 'c29tZXNhbHRzb21lc2FsdA';
    const output32 = 'a'.repeat(43);
    const good = `$argon2id$v=19$m=19456,t=2,p=1$${salt16}$${output32}`;
    assert.equal(hasher.needsRehash(good), false);
    assert.equal(hasher.needsRehash(`$argon2id$v=19$m=65536,t=3,p=4$${salt16}$${output32}`), false, 'stronger than current');
    for (const weaker of [
      `$argon2i$v=19$m=19456,t=2,p=1$${salt16}$${output32}`,
      `$argon2d$v=19$m=19456,t=2,p=1$${salt16}$${output32}`,
      `$argon2id$v=16$m=19456,t=2,p=1$${salt16}$${output32}`,
      `$argon2id$m=19456,t=2,p=1$${salt16}$${output32}`,
      `$argon2id$v=19$m=19455,t=2,p=1$${salt16}$${output32}`,
      `$argon2id$v=19$m=19456,t=1,p=1$${salt16}$${output32}`,
      `$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$${output32}`,
      `$argon2id$v=19$m=19456,t=2,p=1$${salt16}$${'a'.repeat(22)}`,
    ]) {
      assert.equal(hasher.needsRehash(weaker), true, weaker);
    }
  });

  it('asks for a rehash of minimum-parameter hashes once the configured parameters rise', async () => {
    const stronger = await createPasswordHasher({ parameters: { memoryKiB: 19_456, timeCost: 3, parallelism: 2 } });
    assert.equal(stronger.needsRehash(stored), true);
    assert.equal(await stronger.verify(stored, PASSWORD), true, 'old hashes still verify');
    const rehashed = await stronger.hash(PASSWORD);
    assert.ok(rehashed.startsWith('$argon2id$v=19$m=19456,t=3,p=2$'), rehashed);
    assert.equal(stronger.needsRehash(rehashed), false);
    assert.equal(hasher.needsRehash(rehashed), false, 'a stronger hash is fine for the weaker configuration');
  });

  it('returns false for malformed and unknown hashes and asks to rehash them', async () => {
    const bcrypt = await bcryptHash(PASSWORD, 4);
    const malformed: unknown[] = [
      '', PASSWORD, 'x'.repeat(10_000), '$'.repeat(1000), '$argon2id$', '$argon2id$v=19$m=19456,t=2,p=1$$',
      stored.slice(0, -5), `${stored}$`, `${stored}AA`, stored.replace('argon2id', 'argon2x'),
      stored.replace('v=19', 'v=18'), stored.replace('m=19456', 'm=abc'), stored.replace('m=19456', 'm=019456'),
      stored.replace('m=19456,t=2,p=1', 't=2,m=19456,p=1'), stored.replace('$argon2id', 'argon2id'), ` ${stored}`,
      stored.replace(/\$[^$]+$/, '$!!!!'), bcrypt.replace('$2b$', '$2x$'), bcrypt.slice(0, -1), `${bcrypt}A`,
      bcrypt.replace('$04$', '$03$'), '$scrypt$ln=16,r=8,p=1$c2FsdA$aGFzaA', '$1$salt$hash', 'sha256:deadbeef',
      null, undefined, 42, {}, Buffer.from(stored),
    ];
    for (const value of malformed) {
      const label = typeof value === 'string' ? value.slice(0, 80) : typeof value;
      assert.equal(await hasher.verify(value as string, PASSWORD), false, label);
      assert.equal(hasher.needsRehash(value as string), true, label);
    }
  });

  it('refuses a tampered hash: another digest or salt does not verify', async () => {
    // The first character of each base64 field carries only significant bits (the last one has padding bits).
    const flipFirst = (text: string): string => (text.startsWith('A') ? 'B' : 'A') + text.slice(1);
    const [empty, variant, version, params, salt, digest] = stored.split('$') as [string, string, string, string, string, string];
    const tamperedSalt = [empty, variant, version, params, flipFirst(salt), digest].join('$');
    const tamperedDigest = [empty, variant, version, params, salt, flipFirst(digest)].join('$');
    assert.equal(await hasher.verify(tamperedSalt, PASSWORD), false);
    assert.equal(await hasher.verify(tamperedDigest, PASSWORD), false);
  });

  it('refuses, without running them, stored hashes whose cost would tie up the server (m=4 GiB, bcrypt cost 31)', async () => {
    const [, , , , salt, digest] = stored.split('$');
    const huge = `$argon2id$v=19$m=4194304,t=2,p=1$${salt!}$${digest!}`;
    assert.equal(await hasher.verify(huge, PASSWORD), false);
    assert.equal(await hasher.verify(`$argon2id$v=19$m=19456,t=4000000000,p=1$${salt!}$${digest!}`, PASSWORD), false);
    const bcrypt = await bcryptHash(PASSWORD, 4);
    assert.equal(await hasher.verify(bcrypt.replace('$04$', '$31$'), PASSWORD), false);
    assert.equal(hasher.pending, 0);
  });
});

describe('password hashing: options', () => {
  it('publishes the OWASP minimum, frozen', () => {
    assert.deepEqual({ ...MINIMUM_ARGON2 }, { memoryKiB: 19_456, timeCost: 2, parallelism: 1 });
    assert.ok(Object.isFrozen(MINIMUM_ARGON2));
  });

  it('refuses parameters below the OWASP minimum, and malformed options, with a TypeError naming the option', async () => {
    const bad: [PasswordHasherOptions, RegExp][] = [
      [{ parameters: { memoryKiB: 19_455, timeCost: 2, parallelism: 1 } }, /memoryKiB/],
      [{ parameters: { memoryKiB: 4096, timeCost: 3, parallelism: 1 } }, /memoryKiB/],
      [{ parameters: { memoryKiB: 19_456, timeCost: 1, parallelism: 1 } }, /timeCost/],
      [{ parameters: { memoryKiB: 19_456, timeCost: 2, parallelism: 0 } }, /parallelism/],
      [{ parameters: { memoryKiB: 19_456.5, timeCost: 2, parallelism: 1 } }, /memoryKiB/],
      [{ parameters: { memoryKiB: Number.NaN, timeCost: 2, parallelism: 1 } }, /memoryKiB/],
      [{ parameters: { memoryKiB: '65536' as unknown as number, timeCost: 2, parallelism: 1 } }, /memoryKiB/],
      [{ parameters: { memoryKiB: 19_456, timeCost: 2 } as unknown as Argon2Parameters }, /parallelism/],
      [{ maxConcurrent: 0 }, /maxConcurrent/],
      [{ maxConcurrent: 1.5 }, /maxConcurrent/],
      [{ maxQueued: -1 }, /maxQueued/],
      [{ maxQueued: Number.POSITIVE_INFINITY }, /maxQueued/],
    ];
    for (const [options, message] of bad) {
      await assert.rejects(createPasswordHasher(options), (err: unknown) => err instanceof TypeError && message.test(err.message), JSON.stringify(options));
    }
  });
});

describe('password hashing: bounded concurrency', () => {
  it('runs maxConcurrent at once, queues maxQueued, and refuses the overflow at once with PASSWORD_ERR_BUSY', async () => {
    const small = await createPasswordHasher({ maxConcurrent: 1, maxQueued: 4 });
    const events: string[] = [];
    const attempts = Array.from({ length: 12 }, async (_, index) => {
      try {
        const result = await small.verify(stored, index % 2 === 0 ? PASSWORD : 'wrong');
        events.push('done');
        return result;
      } catch (err) {
        events.push('busy');
        throw err;
      }
    });
    assert.equal(small.pending, 5, 'one running and four queued');
    const settled = await Promise.allSettled(attempts);
    const fulfilled = settled.filter((s) => s.status === 'fulfilled');
    const rejected = settled.filter((s) => s.status === 'rejected');
    assert.equal(fulfilled.length, 5);
    assert.equal(rejected.length, 7);
    assert.ok(rejected.every((s) => isBusy(s.reason)));
    assert.deepEqual(fulfilled.map((s) => s.value), [true, false, true, false, true], 'the first five callers got the slots, in order');
    assert.deepEqual(events.slice(0, 7), Array<string>(7).fill('busy'), 'refusals come before any hash finishes');
    assert.equal(small.pending, 0);
    assert.equal(await small.verify(stored, PASSWORD), true, 'accepts work again once drained');
  });

  it('serves waiters first in, first out', async () => {
    const serial = await createPasswordHasher({ maxConcurrent: 1, maxQueued: 8 });
    const order: number[] = [];
    await Promise.all(Array.from({ length: 5 }, async (_, index) => {
      await serial.verify(stored, PASSWORD);
      order.push(index);
    }));
    assert.deepEqual(order, [0, 1, 2, 3, 4]);
  });

  it('sends hash and verifyDummy through the same queue', async () => {
    const tiny = await createPasswordHasher({ maxConcurrent: 1, maxQueued: 0 });
    const running = tiny.hash(PASSWORD);
    await assert.rejects(tiny.verifyDummy(PASSWORD), isBusy);
    await assert.rejects(tiny.hash(PASSWORD), isBusy);
    await assert.rejects(tiny.verify(stored, PASSWORD), isBusy);
    assert.ok((await running).startsWith(CURRENT_PREFIX));
    assert.equal(tiny.pending, 0);
  });

  it('gives each hasher its own queue', async () => {
    const [first, second] = await Promise.all([
      createPasswordHasher({ maxConcurrent: 1, maxQueued: 0 }),
      createPasswordHasher({ maxConcurrent: 1, maxQueued: 0 }),
    ]);
    const results = await Promise.all([first.verify(stored, PASSWORD), second.verify(stored, PASSWORD)]);
    assert.deepEqual(results, [true, true]);
  });

  it('resolves verifyDummy to false, whatever the password', async () => {
    for (const password of ['', PASSWORD, 'x'.repeat(1000), '🦊']) {
      assert.equal(await hasher.verifyDummy(password), false);
    }
    assert.equal(hasher.pending, 0);
  });

  it('keeps the event loop turning while 8 hashes run', async () => {
    const busy = await createPasswordHasher({ maxConcurrent: 2, maxQueued: 8 });
    const histogram = monitorEventLoopDelay({ resolution: 10 });
    let ticks = 0;
    let running = true;
    const tick = (): void => {
      ticks += 1;
      if (running) setTimeout(tick, 1);
    };
    histogram.enable();
    const started = process.hrtime.bigint();
    setTimeout(tick, 1);
    const hashes = await Promise.all(Array.from({ length: 8 }, async (_, index) => busy.hash(`${PASSWORD} ${index}`)));
    const elapsed = process.hrtime.bigint() - started;
    running = false;
    histogram.disable();
    assert.equal(hashes.length, 8);
    assert.ok(ticks > 0, 'timers fired while the hashes were computed');
    // The longest stall is a fraction of the whole: the hashing never held the loop throughout.
    assert.ok(BigInt(Math.round(histogram.max)) < elapsed, `max delay ${histogram.max} ns, hashing took ${elapsed} ns`);
  });

  it('reports PASSWORD_ERR_BUSY as a 503 with a stable code and a safe message', () => {
    const err = new PASSWORD_ERR_BUSY();
    assert.equal(err.code, 'PASSWORD_ERR_BUSY');
    assert.equal(err.statusCode, 503);
    assert.equal(err.message, 'The server is busy: retry shortly.');
  });
});
