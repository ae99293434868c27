// node:test's describe() and it() return promises that the runner itself awaits; this file has no
// other asynchronous code, so nothing else can float.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import fc from 'fast-check';
import {
  createKeyring,
  generateEncryptionKeyText,
  parseEncryptionKeys,
  type AssociatedData,
  type DecryptFailure,
  type EncryptionKey,
  type Keyring,
} from '../../src/security/keyring.js';

const secretKey = Buffer.alloc(32, 0x5a);
const oldKey: EncryptionKey = { id: 'k2024', key: Buffer.alloc(32, 0x01) };
const newKey: EncryptionKey = { id: 'k2025', key: Buffer.alloc(32, 0x02) };
const row: AssociatedData = { table: 'users', column: 'email', rowId: '42' };

function recordingKeyring(encryptionKeys: readonly EncryptionKey[] = [oldKey], secret: Buffer = secretKey) {
  const failures: DecryptFailure[] = [];
  const keyring = createKeyring({ secretKey: secret, encryptionKeys, onDecryptFailure: (failure) => failures.push(failure) });
  return { keyring, failures };
}

/** Asserts the envelope does not open for `aad` and exactly one failure with `reason` was reported; returns that failure. */
function assertRefused(keyring: Keyring, failures: DecryptFailure[], envelope: string, reason: DecryptFailure['reason'], aad = row): DecryptFailure {
  failures.length = 0;
  assert.equal(keyring.decrypt(envelope, aad), null);
  assert.equal(failures.length, 1);
  const [failure] = failures;
  assert.ok(failure !== undefined);
  assert.equal(failure.reason, reason);
  assert.deepEqual([failure.table, failure.column, failure.rowId], [aad.table, aad.column, aad.rowId]);
  return failure;
}

function parts(envelope: string): [string, string, string, string] {
  const [version, keyId, iv, body] = envelope.split('.');
  assert.ok(version !== undefined && keyId !== undefined && iv !== undefined && body !== undefined);
  return [version, keyId, iv, body];
}

function withBody(envelope: string, edit: (body: Buffer) => Buffer): string {
  const [version, keyId, iv, body] = parts(envelope);
  return [version, keyId, iv, edit(Buffer.from(body, 'base64url')).toString('base64url')].join('.');
}

function withIv(envelope: string, edit: (iv: Buffer) => Buffer): string {
  const [version, keyId, iv, body] = parts(envelope);
  return [version, keyId, edit(Buffer.from(iv, 'base64url')).toString('base64url'), body].join('.');
}

function flipByte(index: number): (bytes: Buffer) => Buffer {
  return (bytes) => {
    const copy = Buffer.from(bytes);
    copy[index] = (copy[index] ?? 0) ^ 0x01;
    return copy;
  };
}

describe('keyring: round trips', () => {
  it('decrypts what it encrypted: ASCII, empty, Unicode and binary values', () => {
    const { keyring, failures } = recordingKeyring();
    for (const text of ['alice@example.com', '', 'Zoë 🦊 東京 \u0000 \u202e']) {
      assert.equal(keyring.decryptString(keyring.encrypt(text, row), row), text);
    }
    const binary = randomBytes(1000);
    assert.deepEqual(keyring.decrypt(keyring.encrypt(binary, row), row), binary);
    assert.deepEqual(keyring.decrypt(keyring.encrypt(Buffer.alloc(0), row), row), Buffer.alloc(0));
    assert.equal(failures.length, 0);
  });

  it('writes envelopes as v1.<keyId>.<12-byte iv>.<ciphertext and 16-byte tag> in unpadded base64url', () => {
    const { keyring } = recordingKeyring();
    const envelope = keyring.encrypt('hello', row);
    assert.match(envelope, /^v1\.k2024\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+$/);
    const [, , iv, body] = parts(envelope);
    assert.equal(Buffer.from(iv, 'base64url').length, 12);
    assert.equal(Buffer.from(body, 'base64url').length, 'hello'.length + 16);
  });

  it('binds the documented additional data, interoperating with plain node:crypto both ways', () => {
    const { keyring } = recordingKeyring();
    const aadBytes = Buffer.from(JSON.stringify(['v1', 'k2024', 'users', 'email', '42']), 'utf8');

    const [, , ivText, bodyText] = parts(keyring.encrypt('sealed by the keyring', row));
    const body = Buffer.from(bodyText, 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', oldKey.key, Buffer.from(ivText, 'base64url'), { authTagLength: 16 });
    decipher.setAAD(aadBytes);
    decipher.setAuthTag(body.subarray(-16));
    assert.equal(Buffer.concat([decipher.update(body.subarray(0, -16)), decipher.final()]).toString('utf8'), 'sealed by the keyring');

    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', oldKey.key, iv, { authTagLength: 16 });
    cipher.setAAD(aadBytes);
    const sealed = Buffer.concat([cipher.update('sealed by node:crypto', 'utf8'), cipher.final(), cipher.getAuthTag()]);
    const envelope = `v1.k2024.${iv.toString('base64url')}.${sealed.toString('base64url')}`;
    assert.equal(keyring.decryptString(envelope, row), 'sealed by node:crypto');
  });

  it('uses a fresh IV for every encryption of the same plaintext', () => {
    const { keyring } = recordingKeyring();
    const envelopes = Array.from({ length: 200 }, () => keyring.encrypt('same value', row));
    assert.equal(new Set(envelopes.map((envelope) => parts(envelope)[2])).size, envelopes.length);
    assert.equal(new Set(envelopes).size, envelopes.length);
  });

  it('keeps working when the caller later overwrites the key buffers it passed in', () => {
    const key = Buffer.from(oldKey.key);
    const secret = Buffer.from(secretKey);
    const keyring = createKeyring({ secretKey: secret, encryptionKeys: [{ id: 'k2024', key }] });
    const envelope = keyring.encrypt('value', row);
    const index = keyring.blindIndex('value', 'users.email');
    key.fill(0);
    secret.fill(0);
    assert.equal(keyring.decryptString(envelope, row), 'value');
    assert.equal(keyring.blindIndex('value', 'users.email'), index);
  });

  it('refuses to encrypt without a full location or with ill-formed Unicode', () => {
    const { keyring } = recordingKeyring();
    assert.throws(() => keyring.encrypt('x', { ...row, rowId: '' }), { name: 'TypeError', message: /rowId/ });
    assert.throws(() => keyring.encrypt('x', { ...row, table: '' }), { name: 'TypeError', message: /table/ });
    assert.throws(() => keyring.encrypt('lone \uD800 surrogate', row), { name: 'TypeError', message: /surrogate/ });
  });
});

describe('keyring: tampering and misuse fail closed', () => {
  it('refuses ciphertext moved to another row', () => {
    const { keyring, failures } = recordingKeyring();
    assertRefused(keyring, failures, keyring.encrypt('secret', row), 'authentication_failed', { ...row, rowId: '43' });
  });

  it('refuses ciphertext moved to another column', () => {
    const { keyring, failures } = recordingKeyring();
    assertRefused(keyring, failures, keyring.encrypt('secret', row), 'authentication_failed', { ...row, column: 'phone' });
  });

  it('refuses ciphertext moved to another table', () => {
    const { keyring, failures } = recordingKeyring();
    assertRefused(keyring, failures, keyring.encrypt('secret', row), 'authentication_failed', { ...row, table: 'admins' });
  });

  it('refuses locations that only differ in where the field boundaries fall', () => {
    const { keyring, failures } = recordingKeyring();
    const envelope = keyring.encrypt('secret', { table: 'a', column: 'bc', rowId: '1' });
    assertRefused(keyring, failures, envelope, 'authentication_failed', { table: 'ab', column: 'c', rowId: '1' });
  });

  it('refuses an envelope opened with different bytes under the same key id', () => {
    const writer = recordingKeyring([oldKey]).keyring;
    const { keyring, failures } = recordingKeyring([{ id: oldKey.id, key: Buffer.alloc(32, 0x03) }]);
    assertRefused(keyring, failures, writer.encrypt('secret', row), 'authentication_failed');
  });

  it('refuses an envelope whose key-id header was edited, even to an id holding the same bytes', () => {
    const { keyring, failures } = recordingKeyring([{ id: 'alias', key: oldKey.key }, oldKey]);
    const [version, , iv, body] = parts(keyring.encrypt('secret', row));
    assertRefused(keyring, failures, [version, oldKey.id, iv, body].join('.'), 'authentication_failed');
  });

  it('refuses truncated ciphertext', () => {
    const { keyring, failures } = recordingKeyring();
    const envelope = keyring.encrypt('a secret long enough to cut', row);
    assertRefused(keyring, failures, withBody(envelope, (body) => body.subarray(0, body.length - 3)), 'authentication_failed');
    assertRefused(keyring, failures, withBody(envelope, (body) => body.subarray(3)), 'authentication_failed');
    assertRefused(keyring, failures, envelope.slice(0, -1), 'malformed');
  });

  it('refuses a flipped bit in the ciphertext, the IV or the tag', () => {
    const { keyring, failures } = recordingKeyring();
    const envelope = keyring.encrypt('secret value', row);
    assertRefused(keyring, failures, withBody(envelope, flipByte(0)), 'authentication_failed');
    assertRefused(keyring, failures, withIv(envelope, flipByte(11)), 'authentication_failed');
    assertRefused(keyring, failures, withBody(envelope, (body) => flipByte(body.length - 1)(body)), 'authentication_failed');
  });

  it('refuses a tag shorter than 16 bytes', () => {
    const { keyring, failures } = recordingKeyring();
    const envelope = keyring.encrypt('', row);
    assertRefused(keyring, failures, withBody(envelope, (body) => body.subarray(0, 12)), 'malformed');
    assertRefused(keyring, failures, withBody(envelope, () => Buffer.alloc(0)), 'malformed');
  });

  it('refuses an envelope under a key id it does not hold, naming that id', () => {
    const writer = recordingKeyring([newKey]).keyring;
    const { keyring, failures } = recordingKeyring([oldKey]);
    assert.equal(assertRefused(keyring, failures, writer.encrypt('secret', row), 'unknown_key').keyId, newKey.id);
  });

  it('treats inherited object property names as unknown key ids', () => {
    const { keyring, failures } = recordingKeyring();
    const [version, , iv, body] = parts(keyring.encrypt('secret', row));
    for (const id of ['__proto__', 'constructor', 'toString']) {
      assertRefused(keyring, failures, [version, id, iv, body].join('.'), 'unknown_key');
    }
  });

  it('refuses malformed envelopes without throwing', () => {
    const { keyring, failures } = recordingKeyring();
    const envelope = keyring.encrypt('secret', row);
    const [version, keyId, iv, body] = parts(envelope);
    const malformed = [
      '',
      'v1',
      `${version}.${keyId}.${iv}`,
      `${envelope}.extra`,
      `v2.${keyId}.${iv}.${body}`,
      `V1.${keyId}.${iv}.${body}`,
      `${version}..${iv}.${body}`,
      `${version}.bad id!.${iv}.${body}`,
      `${version}.${keyId}.${iv}=.${body}`,
      `${version}.${keyId}.${iv}.${body}=`,
      `${version}.${keyId}.${iv.replace(/^./, '+')}.${body}`,
      `${version}.${keyId}.${iv}.${body.replace(/^./, '/')}`,
      `${version}.${keyId}.${iv} .${body}`,
      `${version}.${keyId}.${Buffer.alloc(16).toString('base64url')}.${body}`,
      `${version}.${keyId}.${Buffer.alloc(8).toString('base64url')}.${body}`,
      `${version}.${keyId}..${body}`,
      '.'.repeat(10_000),
    ];
    for (const text of malformed) assertRefused(keyring, failures, text, 'malformed');
    assertRefused(keyring, failures, 42 as unknown as string, 'malformed');
  });

  it('reports the key id of a malformed envelope only when it is a valid id', () => {
    const { keyring, failures } = recordingKeyring();
    assert.equal(assertRefused(keyring, failures, 'v1.k2024.not-an-iv.x', 'malformed').keyId, 'k2024');
    assert.equal(assertRefused(keyring, failures, 'v1.<script>.AAAA.BBBB', 'malformed').keyId, null);
  });

  it('reports failures with the location only, never plaintext or key material', () => {
    const { keyring, failures } = recordingKeyring();
    const failure = assertRefused(keyring, failures, keyring.encrypt('top secret', row), 'authentication_failed', { ...row, rowId: '7' });
    assert.deepEqual(failure, { reason: 'authentication_failed', keyId: 'k2024', table: 'users', column: 'email', rowId: '7' });
  });

  it('returns null for a failed decryptString and reencrypt too', () => {
    const { keyring, failures } = recordingKeyring();
    const envelope = keyring.encrypt('secret', row);
    const moved = { ...row, rowId: '43' };
    assert.equal(keyring.decryptString(envelope, moved), null);
    assert.equal(keyring.reencrypt(envelope, moved), null);
    assert.deepEqual(failures.map((failure) => failure.reason), ['authentication_failed', 'authentication_failed']);
  });

  it('fails closed without a failure callback', () => {
    const keyring = createKeyring({ secretKey, encryptionKeys: [oldKey] });
    assert.equal(keyring.decrypt(keyring.encrypt('secret', row), { ...row, rowId: '43' }), null);
    assert.equal(keyring.decrypt('garbage', row), null);
  });
});

describe('keyring: key rotation', () => {
  it('still decrypts data written under the old key after a new key becomes first', () => {
    const before = recordingKeyring([oldKey]).keyring;
    const envelope = before.encrypt('written in 2024', row);
    const { keyring, failures } = recordingKeyring([newKey, oldKey]);
    assert.equal(keyring.activeKeyId, newKey.id);
    assert.equal(keyring.decryptString(envelope, row), 'written in 2024');
    assert.equal(failures.length, 0);
  });

  it('flags old-key envelopes for re-encryption and re-encrypts them under the active key', () => {
    const envelope = recordingKeyring([oldKey]).keyring.encrypt('written in 2024', row);
    const { keyring } = recordingKeyring([newKey, oldKey]);
    assert.equal(keyring.needsReencryption(envelope), true);

    const rewritten = keyring.reencrypt(envelope, row);
    assert.ok(rewritten !== null);
    assert.equal(parts(rewritten)[1], newKey.id);
    assert.equal(keyring.needsReencryption(rewritten), false);
    assert.equal(keyring.decryptString(rewritten, row), 'written in 2024');

    const retired = recordingKeyring([newKey]).keyring;
    assert.equal(retired.decryptString(rewritten, row), 'written in 2024');
  });

  it('does not flag envelopes already under the active key', () => {
    const { keyring } = recordingKeyring([newKey, oldKey]);
    assert.equal(keyring.needsReencryption(keyring.encrypt('fresh', row)), false);
  });

  it('flags unparseable envelopes so a rotation job reaches and reports them', () => {
    const { keyring } = recordingKeyring([newKey, oldKey]);
    assert.equal(keyring.needsReencryption('not an envelope'), true);
    assert.equal(keyring.needsReencryption(`v1.${newKey.id}.short.x`), true);
  });
});

describe('keyring: blind index and derived keys', () => {
  it('computes the same blind index as every earlier release (known answer)', () => {
    const { keyring } = recordingKeyring();
    assert.equal(keyring.blindIndex('alice@example.com', 'users.email'), '0VnDkb-ZimpTmxSnUPZOzBzG3Y8qRuJZ-HFnTETKrXU');
  });

  it('derives the same key as every earlier release (known answer)', () => {
    const { keyring } = recordingKeyring();
    assert.equal(keyring.deriveKey('session-id').toString('hex'), 'edbff7dc000144053b1bf34f6bdf046fc80ceb847dbb1a02e953296c05750096');
  });

  it('gives a deterministic blind index that differs per purpose and per secret', () => {
    const { keyring } = recordingKeyring();
    const other = recordingKeyring([oldKey], Buffer.alloc(32, 0x5b)).keyring;
    const index = keyring.blindIndex('alice@example.com', 'users.email');
    assert.match(index, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(keyring.blindIndex('alice@example.com', 'users.email'), index);
    assert.notEqual(keyring.blindIndex('alice@example.com', 'users.backup_email'), index);
    assert.notEqual(other.blindIndex('alice@example.com', 'users.email'), index);
  });

  it('hashes the value as given, leaving normalization to the caller', () => {
    const { keyring } = recordingKeyring();
    assert.notEqual(keyring.blindIndex('Alice@example.com', 'users.email'), keyring.blindIndex('alice@example.com', 'users.email'));
    assert.notEqual(keyring.blindIndex('alice@example.com ', 'users.email'), keyring.blindIndex('alice@example.com', 'users.email'));
  });

  it('keeps blind indexes stable across encryption key rotation', () => {
    const before = recordingKeyring([oldKey]).keyring;
    const after = recordingKeyring([newKey, oldKey]).keyring;
    assert.equal(after.blindIndex('alice@example.com', 'users.email'), before.blindIndex('alice@example.com', 'users.email'));
  });

  it('never hands out a blind-index key through deriveKey', () => {
    const { keyring } = recordingKeyring();
    const leaked = createHmac('sha256', keyring.deriveKey('users.email')).update('alice@example.com').digest('base64url');
    assert.notEqual(keyring.blindIndex('alice@example.com', 'users.email'), leaked);
  });

  it('derives distinct keys per purpose and secret, of the requested length', () => {
    const { keyring } = recordingKeyring();
    const other = recordingKeyring([oldKey], Buffer.alloc(48, 0x5a)).keyring;
    assert.equal(keyring.deriveKey('csrf').length, 32);
    assert.equal(keyring.deriveKey('csrf', 64).length, 64);
    assert.deepEqual(keyring.deriveKey('csrf'), keyring.deriveKey('csrf'));
    assert.notDeepEqual(keyring.deriveKey('csrf'), keyring.deriveKey('session-id'));
    assert.notDeepEqual(other.deriveKey('csrf'), keyring.deriveKey('csrf'));
  });

  it('refuses empty or unusual purposes and out-of-range lengths', () => {
    const { keyring } = recordingKeyring();
    assert.throws(() => keyring.deriveKey(''), TypeError);
    assert.throws(() => keyring.deriveKey('has space'), TypeError);
    assert.throws(() => keyring.blindIndex('x', ''), TypeError);
    assert.throws(() => keyring.deriveKey('csrf', 0), RangeError);
    assert.throws(() => keyring.deriveKey('csrf', 1.5), RangeError);
    assert.throws(() => keyring.deriveKey('csrf', 255 * 32 + 1), RangeError);
  });
});

describe('keyring: construction', () => {
  const keyHex = Buffer.alloc(31, 0xab).toString('hex');

  function assertConstructionFails(options: Parameters<typeof createKeyring>[0], message: RegExp): void {
    assert.throws(() => createKeyring(options), (error: unknown) => {
      assert.ok(error instanceof TypeError);
      assert.match(error.message, message);
      assert.ok(!error.message.includes(keyHex) && !error.message.includes('q6urq6ur'));
      return true;
    });
  }

  it('refuses a secretKey shorter than 32 bytes', () => {
    assertConstructionFails({ secretKey: Buffer.alloc(31, 0xab), encryptionKeys: [oldKey] }, /secretKey.*at least 32 bytes/);
  });

  it('refuses an empty key list', () => {
    assertConstructionFails({ secretKey, encryptionKeys: [] }, /at least one key/);
  });

  it('refuses invalid, overlong and duplicate key ids', () => {
    assertConstructionFails({ secretKey, encryptionKeys: [{ id: 'has.dot', key: oldKey.key }] }, /encryptionKeys\[0\]\.id/);
    assertConstructionFails({ secretKey, encryptionKeys: [{ id: 'a'.repeat(33), key: oldKey.key }] }, /encryptionKeys\[0\]\.id/);
    assertConstructionFails({ secretKey, encryptionKeys: [oldKey, { id: oldKey.id, key: newKey.key }] }, /encryptionKeys\[1\]\.id.*already used/);
  });

  it('refuses keys that are not exactly 32 bytes without echoing them', () => {
    assertConstructionFails({ secretKey, encryptionKeys: [{ id: 'short', key: Buffer.alloc(31, 0xab) }] }, /exactly 32 bytes \(got 31 bytes\)/);
    assertConstructionFails({ secretKey, encryptionKeys: [{ id: 'long', key: Buffer.alloc(33, 0xab) }] }, /exactly 32 bytes/);
  });

  it('refuses an encryption key that reuses the secretKey bytes', () => {
    assertConstructionFails({ secretKey: oldKey.key, encryptionKeys: [oldKey] }, /must not be the same bytes as secretKey/);
  });

  it('does not reveal key material when inspected or serialized', () => {
    const keyring = createKeyring({ secretKey, encryptionKeys: [oldKey, newKey] });
    const shown = `${inspect(keyring, { depth: 10, showHidden: true })}${JSON.stringify(keyring)}`;
    for (const bytes of [secretKey, oldKey.key, newKey.key]) {
      assert.ok(!shown.includes(bytes.toString('hex')));
      assert.ok(!shown.includes(bytes.toString('base64url')));
    }
  });
});

describe('keyring: key text', () => {
  const keyA = randomBytes(32);
  const keyB = randomBytes(32);

  function assertParseFails(text: string, message: RegExp, secrets: readonly string[] = []): void {
    assert.throws(() => parseEncryptionKeys(text), (error: unknown) => {
      assert.ok(error instanceof TypeError);
      assert.match(error.message, message);
      for (const secret of secrets) assert.ok(!error.message.includes(secret), 'the message echoes key material');
      return true;
    });
  }

  it('parses comma-separated id:key entries in base64 or base64url, first one active', () => {
    const text = ` a:${keyA.toString('base64url')} , b:${keyB.toString('base64')}\n`;
    const keys = parseEncryptionKeys(text);
    assert.deepEqual(keys.map((key) => key.id), ['a', 'b']);
    assert.deepEqual(keys[0]?.key, keyA);
    assert.deepEqual(keys[1]?.key, keyB);
    assert.equal(createKeyring({ secretKey, encryptionKeys: keys }).activeKeyId, 'a');
  });

  it('round-trips generated key text into a working keyring', () => {
    const text = generateEncryptionKeyText('k2026');
    assert.match(text, /^k2026:[A-Za-z0-9_-]{43}$/);
    assert.notEqual(generateEncryptionKeyText('k2026'), text);
    const keyring = createKeyring({ secretKey, encryptionKeys: parseEncryptionKeys(text) });
    assert.equal(keyring.decryptString(keyring.encrypt('value', row), row), 'value');
    assert.throws(() => generateEncryptionKeyText('bad id'), TypeError);
  });

  it('refuses empty text and empty entries', () => {
    assertParseFails('', /empty/);
    assertParseFails('  \n', /empty/);
    assertParseFails(`a:${keyA.toString('base64url')},`, /entry 2 is empty/);
  });

  it('refuses entries without an id, quoting neither the entry nor the key', () => {
    const key = keyA.toString('base64url');
    assertParseFails(key, /entry 1 is not in the form id:key/, [key, key.slice(0, 16)]);
    assertParseFails(`:${key}`, /entry 1 has an invalid id/, [key, key.slice(0, 16)]);
    assertParseFails(`${key}:${key}`, /entry 1 has an invalid id/, [key, key.slice(0, 16)]);
  });

  it('refuses duplicate ids', () => {
    assertParseFails(`a:${keyA.toString('base64url')},a:${keyB.toString('base64url')}`, /entry 2 repeats the id "a" of entry 1/, [
      keyA.toString('base64url'),
      keyB.toString('base64url'),
    ]);
  });

  it('refuses keys of the wrong length without echoing them', () => {
    const short = randomBytes(16).toString('base64url');
    const long = randomBytes(33).toString('base64');
    assertParseFails(`a:${short}`, /entry 1 \("a"\) must decode to 32 bytes, got 16/, [short]);
    assertParseFails(`a:${keyA.toString('base64url')},b:${long}`, /entry 2 \("b"\) must decode to 32 bytes, got 33/, [long, keyA.toString('base64url')]);
  });

  it('refuses key text that is not base64 without echoing it', () => {
    const key = keyA.toString('base64url');
    for (const bad of [`${key.slice(0, 20)}!${key.slice(21)}`, `${key}===`, key.slice(0, -1), `${key.slice(0, -1)}B`]) {
      assertParseFails(`a:${bad}`, /entry 1 \("a"\) (is not valid base64|must decode to 32 bytes)/, [bad, key.slice(0, 16)]);
    }
  });
});

describe('keyring: properties', () => {
  const plaintexts = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 200 }),
    fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
  );
  const locations = fc.record({
    table: fc.string({ minLength: 1, maxLength: 20 }),
    column: fc.string({ minLength: 1, maxLength: 20 }),
    rowId: fc.string({ minLength: 1, maxLength: 40 }),
  });

  it('decrypts every encrypted value back to itself', () => {
    const { keyring, failures } = recordingKeyring([newKey, oldKey]);
    fc.assert(
      fc.property(plaintexts, locations, (plaintext, aad) => {
        const envelope = keyring.encrypt(plaintext, aad);
        if (typeof plaintext === 'string') assert.equal(keyring.decryptString(envelope, aad), plaintext);
        else assert.deepEqual(keyring.decrypt(envelope, aad), plaintext);
      }),
    );
    assert.equal(failures.length, 0);
  });

  it('refuses any single-byte change to the ciphertext and tag', () => {
    const { keyring, failures } = recordingKeyring();
    fc.assert(
      fc.property(plaintexts, fc.nat(), fc.integer({ min: 1, max: 255 }), (plaintext, position, mask) => {
        const envelope = keyring.encrypt(plaintext, row);
        const mutated = withBody(envelope, (body) => {
          const copy = Buffer.from(body);
          const index = position % copy.length;
          copy[index] = (copy[index] ?? 0) ^ mask;
          return copy;
        });
        assertRefused(keyring, failures, mutated, 'authentication_failed');
      }),
    );
  });

  it('refuses any single-character change to the envelope text', () => {
    const { keyring, failures } = recordingKeyring();
    const alphabet = fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.+/= '.split(''));
    fc.assert(
      fc.property(plaintexts, fc.nat(), alphabet, (plaintext, position, replacement) => {
        const envelope = keyring.encrypt(plaintext, row);
        const index = position % envelope.length;
        fc.pre(envelope[index] !== replacement);
        const mutated = envelope.slice(0, index) + replacement + envelope.slice(index + 1);
        failures.length = 0;
        assert.equal(keyring.decrypt(mutated, row), null);
        assert.equal(failures.length, 1);
      }),
    );
  });
});
