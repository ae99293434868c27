import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it, type TestContext } from 'node:test';
import { decodeProtectedHeader } from 'jose';
import { rampartEncryptedColumns } from '../../src/app.js';
import { ConfigError } from '../../src/config/findings.js';
import { openDatabase, type Database } from '../../src/platform/database.js';
import { rebuildBlindIndex, reencryptColumn, type Progress } from '../../src/security/key-maintenance.js';
import { createKeyring } from '../../src/security/keyring.js';
import { buildUnmanaged, privateDatabase, randomIp, tables, testEnvironment, type BuildResult } from '../helpers/build.js';
import { Client, json } from '../helpers/client.js';
import { sharedByInstances } from '../helpers/stores.js';
import { tokenPair, withBearer } from '../helpers/tokens.js';
import { createVerifiedUser, signIn } from '../helpers/users.js';

const key = () => randomBytes(32).toString('base64url');

/**
 * One deployment's database and store for instances configured one after the other with
 * different keys: a database of its own (rotating keys must not disturb the run's other apps),
 * shared as objects on the embedded target and through the same URLs and Redis prefix on the real one.
 */
async function deployment(t: TestContext): Promise<{ env: Record<string, string>; boot: (keys: Record<string, string>) => Promise<BuildResult>; database: () => Promise<Database> }> {
  const env = { ...testEnvironment(), ...(await privateDatabase(t)) };
  const shared = await sharedByInstances();
  t.after(() => shared?.close());
  return {
    env,
    boot: async (keys) => {
      const built = await buildUnmanaged({ env: { ...env, ...keys }, shared });
      t.after(() => built.app.close());
      return built;
    },
    database: async () => {
      if (shared !== undefined) return shared.database;
      const database = await openDatabase({ url: env.DATABASE_URL ?? '' });
      t.after(() => database.close());
      return database;
    },
  };
}

describe('re-encryption under a new data key', () => {
  it('re-encrypts every declared column in resumable batches; boot refuses (RAMPART-E080) while a row needs a removed key, and starts once none does', async (t) => {
    const secret = key();
    const [oldKey, newKey] = [`old-1:${key()}`, `new-1:${key()}`];
    const { boot, database } = await deployment(t);
    const first = await boot({ RAMPART_SECRET_KEY: secret, RAMPART_ENCRYPTION_KEYS: oldKey });
    const users = await Promise.all([1, 2, 3].map(() => createVerifiedUser(first.app)));
    await tokenPair(first.app, users[0]!); // creates the signing key, its private half under old-1
    await first.app.close();

    // The old key removed too early: boot names the column, the key and the fix, and stops.
    await assert.rejects(boot({ RAMPART_SECRET_KEY: secret, RAMPART_ENCRYPTION_KEYS: newKey }), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      const finding = err.findings[0];
      assert.equal(finding?.id, 'RAMPART-E080');
      assert.match(finding.reason, /users\.email_ciphertext: 3 row\(s\) under "old-1"/);
      assert.match(finding.reason, /signing_keys\.private_key_ciphertext: 1 row\(s\) under "old-1"/);
      return true;
    });

    // New key first, old key still there to decrypt: what `rampart keys rotate-encryption` runs.
    const keyring = createKeyring({ secretKey: Buffer.from(secret, 'base64url'), encryptionKeys: [newKey, oldKey].map((entry) => ({ id: entry.slice(0, entry.indexOf(':')), key: Buffer.from(entry.slice(entry.indexOf(':') + 1), 'base64url') })) });
    const db = (await database()).db;
    const progress: Progress[] = [];
    const columns = rampartEncryptedColumns();
    assert.deepEqual(columns.map((c) => `${c.table}.${c.column}`), ['signing_keys.private_key_ciphertext', 'users.email_ciphertext', 'email_change_tokens.email_ciphertext', 'mfa_totp.secret_ciphertext'], 'the kernel\'s, the accounts module\'s and the mfa module\'s declarations');
    for (const column of columns) {
      const outcome = await reencryptColumn(db, keyring, column, { batchSize: 2, onProgress: (line) => progress.push(line) });
      assert.deepEqual(outcome.failed, []);
    }
    assert.deepEqual(progress.filter((p) => p.column === 'users.email_ciphertext').map((p) => [p.done, p.total]), [[0, 3], [2, 3], [3, 3]], 'batches of 2, each reported');
    const emails = await tables({ database: await database() }).selectFrom('users').select('email_ciphertext').execute();
    assert.ok(emails.length === 3 && emails.every((row) => row.email_ciphertext.startsWith('v1.new-1.')));
    // Run again (as after an interruption): nothing is left to do.
    for (const column of columns) assert.equal((await reencryptColumn(db, keyring, column)).changed, 0);

    const second = await boot({ RAMPART_SECRET_KEY: secret, RAMPART_ENCRYPTION_KEYS: newKey });
    const client = new Client(second.app);
    await signIn(client, users[1]!);
    assert.equal(json<{ user: { email: string } }>(await client.get('/api/me')).user.email, users[1]!.email, 'the address decrypts under the new key alone');
    assert.equal((await tokenPair(second.app, users[2]!)).token_type, 'Bearer', 'the signing key decrypts under the new key alone');
  });

  it('names a row that does not decrypt (tampered) and leaves it, re-encrypting the rest', async (t) => {
    const secret = key();
    const [oldKey, newKey] = [`old-2:${key()}`, `new-2:${key()}`];
    const { boot, database } = await deployment(t);
    const first = await boot({ RAMPART_SECRET_KEY: secret, RAMPART_ENCRYPTION_KEYS: oldKey });
    const [alice, bob] = [await createVerifiedUser(first.app), await createVerifiedUser(first.app)];
    await first.app.close();
    const rows = tables({ database: await database() });
    // Bob's ciphertext copied onto Alice's row: bound to Bob's row, it must not open there.
    const bobs = await rows.selectFrom('users').select('email_ciphertext').where('id', '=', bob.id).executeTakeFirstOrThrow();
    await rows.updateTable('users').set({ email_ciphertext: bobs.email_ciphertext }).where('id', '=', alice.id).execute();
    const keyring = createKeyring({ secretKey: Buffer.from(secret, 'base64url'), encryptionKeys: [newKey, oldKey].map((entry) => ({ id: entry.slice(0, entry.indexOf(':')), key: Buffer.from(entry.slice(entry.indexOf(':') + 1), 'base64url') })) });
    const users = rampartEncryptedColumns().find((c) => c.table === 'users');
    assert.ok(users !== undefined);
    const outcome = await reencryptColumn((await database()).db, keyring, users);
    assert.deepEqual(outcome.failed, [alice.id]);
    assert.equal(outcome.changed, 1);
  });
});

describe('root secret rotation (RAMPART_SECRET_KEY_FALLBACKS)', () => {
  it('keeps old CSRF tokens, cursors and blind indexes working after the switch, rebuilds the index, and locks nobody out', async (t) => {
    const [oldSecret, newSecret] = [key(), key()];
    const keys = `k:${key()}`;
    const { boot, database } = await deployment(t);
    const before = await boot({ RAMPART_SECRET_KEY: oldSecret, RAMPART_ENCRYPTION_KEYS: keys });
    const user = await createVerifiedUser(before.app);
    const author = new Client(before.app);
    await signIn(author, user);
    for (const title of ['one', 'two']) assert.equal((await author.post('/api/posts', { title, body: 'text' })).statusCode, 201);
    const cursor = json<{ nextCursor: string | null }>(await author.get('/api/posts?status=draft&limit=1')).nextCursor;
    assert.ok(cursor !== null);
    const visitor = new Client(before.app);
    const oldCsrf = await visitor.csrfToken();
    const oldBearer = (await tokenPair(before.app, user)).access_token;
    await before.app.close();

    // The switch: the new secret, the old one as a fallback.
    const during = await boot({ RAMPART_SECRET_KEY: newSecret, RAMPART_SECRET_KEY_FALLBACKS: oldSecret, RAMPART_ENCRYPTION_KEYS: keys });
    const stillVisitor = new Client(during.app, visitor.ip, visitor.userAgent, visitor.jar.copy());
    const login = await stillVisitor.post('/api/auth/login', { email: user.email, password: user.password }, { headers: { 'x-csrf-token': oldCsrf } });
    assert.equal(login.statusCode, 200, `a CSRF token made under the old secret and an index stored under it both still work: ${login.body}`);
    const sameAuthor = new Client(during.app, author.ip, author.userAgent, author.jar.copy());
    assert.equal((await sameAuthor.get(`/api/posts?status=draft&limit=1&cursor=${encodeURIComponent(cursor)}`)).statusCode, 200, 'a cursor signed under the old secret');
    assert.equal((await withBearer(during.app, oldBearer, { url: '/api/me' })).statusCode, 200, 'the signing key\'s MAC made under the old secret still verifies');
    // Registering the same address again during the rotation makes no second account.
    const again = await during.app.accounts.createUser({ name: 'Twin', email: user.email, password: user.password, role: 'author', verified: true });
    assert.deepEqual(again, { ok: false, reason: 'email_taken' });

    // What `rampart keys rebuild-index` runs.
    const keyring = createKeyring({ secretKey: Buffer.from(newSecret, 'base64url'), secretKeyFallbacks: [Buffer.from(oldSecret, 'base64url')], encryptionKeys: [{ id: 'k', key: Buffer.from(keys.slice(2), 'base64url') }] });
    const usersColumn = rampartEncryptedColumns().find((c) => c.table === 'users');
    assert.ok(usersColumn !== undefined);
    const rebuilt = await rebuildBlindIndex((await database()).db, keyring, usersColumn);
    assert.equal(rebuilt.changed, 1);
    assert.deepEqual([rebuilt.failed, rebuilt.conflicts], [[], []]);
    assert.equal((await rebuildBlindIndex((await database()).db, keyring, usersColumn)).changed, 0, 'a second run finds nothing left');
    await signIn(new Client(during.app), user);
    await during.app.signingKeys.resealMacs();
    await during.app.close();

    // The fallback removed: the user still signs in (the index was rebuilt), tokens still verify
    // (the MACs were resealed); what only the old secret made is now refused.
    const after = await boot({ RAMPART_SECRET_KEY: newSecret, RAMPART_ENCRYPTION_KEYS: keys });
    await signIn(new Client(after.app), user);
    assert.equal((await tokenPair(after.app, user)).token_type, 'Bearer');
    const laterAuthor = new Client(after.app, author.ip, author.userAgent, author.jar.copy());
    assert.equal((await laterAuthor.get(`/api/posts?status=draft&limit=1&cursor=${encodeURIComponent(cursor)}`)).statusCode, 400, 'without the fallback the old cursor is refused');
    const lateVisitor = new Client(after.app, randomIp(), visitor.userAgent, visitor.jar.copy());
    const refused = await lateVisitor.post('/api/auth/login', { email: user.email, password: user.password }, { headers: { 'x-csrf-token': oldCsrf } });
    assert.equal(refused.statusCode, 403, 'without the fallback the old CSRF token is refused');
  });
});

describe('retiring a compromised signing key', () => {
  it('refuses its tokens at once on every instance, the one that retired it and another sharing the database and store', async (t) => {
    const { boot } = await deployment(t);
    const settings = { RAMPART_SECRET_KEY: key(), RAMPART_ENCRYPTION_KEYS: `k:${key()}` };
    const first = await boot(settings);
    const second = await boot(settings);
    const user = await createVerifiedUser(first.app);
    const token = (await tokenPair(first.app, user)).access_token;
    const kid = String(decodeProtectedHeader(token).kid);
    for (const app of [first.app, second.app]) assert.equal((await withBearer(app, token, { url: '/api/me' })).statusCode, 200, 'both instances have the key cached');

    // The same function `rampart keys retire-signing KID --now` runs, here on the first instance.
    const retired = await first.app.signingKeys.retire(kid);
    assert.ok(retired !== null && retired.replacedBy !== null, 'it was the active key: a new one replaces it');
    for (const app of [second.app, first.app]) assert.equal((await withBearer(app, token, { url: '/api/me' })).statusCode, 401, 'refused at once, without waiting for the key cache');
    const jwks = json<{ keys: { kid: string }[] }>(await second.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).keys.map((k) => k.kid);
    assert.ok(!jwks.includes(kid) && jwks.includes(retired.replacedBy));
    const fresh = (await tokenPair(second.app, user)).access_token;
    assert.equal(decodeProtectedHeader(fresh).kid, retired.replacedBy);
    assert.equal((await withBearer(first.app, fresh, { url: '/api/me' })).statusCode, 200);
    assert.equal(await first.app.signingKeys.retire(kid), null, 'a retired key cannot be retired again');
    assert.equal(await first.app.signingKeys.retire('A'.repeat(43)), null, 'an unknown kid names nothing');
  });
});

