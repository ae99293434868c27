import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { build, buildUnmanaged, privateDatabase, randomIp, suiteApp, tables } from '../helpers/build.js';
import { Client, json } from '../helpers/client.js';
import { type Page } from '../helpers/publishing.js';
import { tokenPair, withBearer } from '../helpers/tokens.js';
import { type Actor, signedIn } from '../helpers/users.js';

interface AdminUser { id: string; name: string; email: string | null; role: string; disabled: boolean; emailVerified: boolean; createdAt: string }
interface EventItem { id: string; occurredAt: string; event: string; severity: string; actor: string | null; clientIp: string | null; details: Record<string, unknown> }

describe('administration', () => {
  const rampart = suiteApp();
  let admin: Actor;
  let author: Actor;
  let moderator: Actor;

  before(async () => {
    admin = await signedIn(rampart.app, 'admin');
    author = await signedIn(rampart.app);
    moderator = await signedIn(rampart.app, 'moderator');
  });

  it('is for administrators only: guests 401, authors and moderators 403, on every admin route', async () => {
    const guest = new Client(rampart.app);
    const target = (await signedIn(rampart.app)).user.id;
    for (const client of [author.client, moderator.client]) {
      assert.equal((await client.get('/api/admin/users')).statusCode, 403);
      assert.equal((await client.get('/api/admin/security-events')).statusCode, 403);
      const patch = await client.patch(`/api/admin/users/${target}`, { role: 'admin' });
      assert.equal(patch.statusCode, 403, patch.body);
      assert.equal((await client.patch(`/api/admin/users/${client === author.client ? author.user.id : moderator.user.id}`, { role: 'admin' })).statusCode, 403);
    }
    assert.equal((await guest.get('/api/admin/users')).statusCode, 401);
    assert.equal((await guest.patch(`/api/admin/users/${target}`, { role: 'admin' })).statusCode, 401);
    const row = await tables(rampart.app).selectFrom('users').select('role').where('id', '=', target).executeTakeFirstOrThrow();
    assert.equal(row.role, 'author');
  });

  it('lists users by name with a signed cursor, emails decrypted for the administrator, no hashes', async () => {
    const first = await admin.client.get('/api/admin/users?limit=2');
    assert.equal(first.statusCode, 200, first.body);
    const page = json<Page<AdminUser>>(first);
    assert.equal(page.items.length, 2);
    assert.deepEqual(Object.keys(page.items[0] ?? {}).sort(), ['createdAt', 'disabled', 'email', 'emailVerified', 'id', 'name', 'role']);
    assert.doesNotMatch(first.body, /argon2|\$2[aby]\$|ciphertext/);
    assert.ok(page.nextCursor !== null);
    const second = json<Page<AdminUser>>(await admin.client.get(`/api/admin/users?limit=2&cursor=${page.nextCursor}`));
    assert.ok(second.items.every((u) => !page.items.some((p) => p.id === u.id)));
    // Every page of administrators (the real target's database is shared by the whole run).
    const admins: AdminUser[] = [];
    for (let cursor: string | null = '', pages = 0; cursor !== null && pages < 200; pages += 1) {
      const listed: Page<AdminUser> = json<Page<AdminUser>>(await admin.client.get(`/api/admin/users?role=admin&limit=50${cursor === '' ? '' : `&cursor=${cursor}`}`));
      admins.push(...listed.items);
      cursor = listed.nextCursor;
    }
    assert.ok(admins.length > 0 && admins.every((u) => u.role === 'admin'));
    assert.ok(admins.some((u) => u.email === admin.user.email));
    for (const query of ['limit=100000', 'role=root', 'cursor=abc.def', 'orderBy=email']) {
      assert.equal((await admin.client.get(`/api/admin/users?${query}`)).statusCode, 400, query);
    }
  });

  it('changes a role: the target\'s sessions and API tokens die at once, and privilege_permissions_changed is recorded', async () => {
    const target = await signedIn(rampart.app);
    const pair = await tokenPair(rampart.app, target.user, 'posts:read');
    assert.equal((await target.client.get('/api/me')).statusCode, 200);
    const ip = randomIp();
    const adminHere = new Client(rampart.app, ip);
    for (const [name, value] of admin.client.cookies) adminHere.cookies.set(name, value);
    const res = await adminHere.patch(`/api/admin/users/${target.user.id}`, { role: 'moderator' });
    assert.equal(res.statusCode, 200, res.body);
    assert.equal(json<AdminUser>(res).role, 'moderator');
    assert.equal((await target.client.get('/api/me')).statusCode, 401, 'the old session is gone');
    assert.equal((await withBearer(rampart.app, pair.access_token, { url: '/api/posts' })).statusCode, 401, 'the old token is gone');
    await rampart.app.securityEvents.flush();
    const rows = await tables(rampart.app).selectFrom('security_events').select(['event', 'actor', 'details']).where('client_ip', '=', ip).execute();
    const changed = rows.find((r) => r.event === 'privilege_permissions_changed');
    assert.ok(changed !== undefined);
    assert.equal(changed.actor, admin.user.id);
    assert.deepEqual({ ...changed.details }, { target_id: target.user.id, from_role: 'author', to_role: 'moderator', disabled: false, was_disabled: false });
    const relogin = new Client(rampart.app);
    assert.equal((await relogin.post('/api/auth/login', { email: target.user.email, password: target.user.password })).statusCode, 200);
    assert.equal((await relogin.get('/api/posts')).statusCode, 200);
  });

  it('disables and re-enables an account: a disabled user cannot sign in and loses every session', async () => {
    const target = await signedIn(rampart.app);
    const disabled = await admin.client.patch(`/api/admin/users/${target.user.id}`, { disabled: true });
    assert.equal(disabled.statusCode, 200, disabled.body);
    assert.equal(json<AdminUser>(disabled).disabled, true);
    assert.equal((await target.client.get('/api/me')).statusCode, 401);
    const retry = new Client(rampart.app);
    assert.equal((await retry.post('/api/auth/login', { email: target.user.email, password: target.user.password })).statusCode, 401);
    assert.equal((await admin.client.patch(`/api/admin/users/${target.user.id}`, { disabled: false })).statusCode, 200);
    assert.equal((await retry.post('/api/auth/login', { email: target.user.email, password: target.user.password })).statusCode, 200);
  });

  it('never lets anyone change their own role or disable themselves', async () => {
    for (const [id, body] of [[admin.user.id, { role: 'author' }], [admin.user.id, { disabled: true }], [admin.user.id, { role: 'admin' }], [admin.user.id.toUpperCase(), { disabled: true }]] as const) {
      const res = await admin.client.patch(`/api/admin/users/${id}`, body);
      assert.equal(res.statusCode, 403, res.body);
      assert.equal(json(res).code, 'ADMIN_ERR_SELF_CHANGE');
    }
    const row = await tables(rampart.app).selectFrom('users').select(['role', 'disabled_at']).where('id', '=', admin.user.id).executeTakeFirstOrThrow();
    assert.deepEqual(row, { role: 'admin', disabled_at: null });
  });

  it('refuses mass assignment and unknown ids', async () => {
    const target = await signedIn(rampart.app);
    for (const body of [{}, { role: 'root' }, { name: 'x' }, { role: 'author', email: 'x@example.com' }, { role: 'author', passwordHash: 'x' }, { disabled: 'yes' }]) {
      assert.equal((await admin.client.patch(`/api/admin/users/${target.user.id}`, body)).statusCode, 400, JSON.stringify(body));
    }
    assert.equal((await admin.client.patch(`/api/admin/users/${crypto.randomUUID()}`, { role: 'author' })).statusCode, 404);
    assert.equal((await admin.client.patch('/api/admin/users/1%20OR%201=1', { role: 'author' })).statusCode, 400);
  });

  it('reads the security event log with filters and a signed cursor', async () => {
    const actor = await signedIn(rampart.app);
    const published = await actor.client.post('/api/posts', { title: 'x', body: 'y' });
    const postId = json<{ id: string }>(published).id;
    for (let i = 0; i < 3; i += 1) assert.equal((await author.client.delete(`/api/posts/${postId}`)).statusCode, 404);
    await rampart.app.securityEvents.flush();
    const mine = json<Page<EventItem>>(await admin.client.get(`/api/admin/security-events?event=authz_fail&actor=${author.user.id}&limit=2`));
    assert.equal(mine.items.length, 2);
    assert.ok(mine.items.every((e) => e.event === 'authz_fail' && e.actor === author.user.id));
    assert.ok(mine.nextCursor !== null);
    const rest = json<Page<EventItem>>(await admin.client.get(`/api/admin/security-events?event=authz_fail&actor=${author.user.id}&limit=2&cursor=${mine.nextCursor}`));
    assert.ok(rest.items.length >= 1);
    assert.ok(Number(rest.items[0]?.id) < Number(mine.items[1]?.id), 'the next page continues below the last id');
    const future = json<Page<EventItem>>(await admin.client.get(`/api/admin/security-events?from=${encodeURIComponent(new Date(Date.now() + 3_600_000).toISOString())}`));
    assert.equal(future.items.length, 0);
    for (const query of ['event=drop_table', 'actor=%27%20OR%201=1--', 'from=yesterday', 'limit=100000', 'cursor=eyJpIjoiMSJ9.AAAA']) {
      assert.equal((await admin.client.get(`/api/admin/security-events?${query}`)).statusCode, 400, query);
    }
  });

  it('keeps the admin API behind the admin scope for bearer tokens', async () => {
    const member = await tokenPair(rampart.app, admin.user, 'posts:read');
    assert.equal((await withBearer(rampart.app, member.access_token, { url: '/api/admin/users' })).statusCode, 403);
    const full = await tokenPair(rampart.app, admin.user, 'admin');
    assert.equal((await withBearer(rampart.app, full.access_token, { url: '/api/admin/users' })).statusCode, 200);
  });
});

describe('the last administrator', () => {
  it('cannot delete their own account; once another administrator exists, they can', async (t) => {
    const { app } = await buildUnmanaged({ env: await privateDatabase(t) });
    // Closed inside the test, before its private database is dropped.
    t.after(() => app.close());
    const others = await tables(app).selectFrom('users').select('id').where('role', '=', 'admin').execute();
    assert.equal(others.length, 0, 'a private database starts without administrators');
    const only = await signedIn(app, 'admin');
    const refused = await only.client.delete('/api/account', { password: only.user.password });
    assert.equal(refused.statusCode, 409, refused.body);
    assert.equal(json(refused).code, 'ACCOUNT_ERR_LAST_ADMIN');
    assert.equal((await only.client.get('/api/me')).statusCode, 200, 'nothing was deleted or revoked');
    await signedIn(app, 'admin');
    assert.equal((await only.client.delete('/api/account', { password: only.user.password })).statusCode, 204);
  });

  it('cannot be removed, even by two administrators demoting each other at the same moment', async (t) => {
    const { app } = await build(t, { env: await privateDatabase(t) });
    for (let round = 0; round < 4; round += 1) {
      const a = await signedIn(app, 'admin');
      const b = await signedIn(app, 'admin');
      // Every other administrator from earlier rounds is demoted first, so these two are the only ones.
      const others = await tables(app).selectFrom('users').select('id').where('role', '=', 'admin').where('id', 'not in', [a.user.id, b.user.id]).execute();
      for (const other of others) assert.equal((await a.client.patch(`/api/admin/users/${other.id}`, { role: 'author' })).statusCode, 200);
      const [ab, ba] = await Promise.all([
        a.client.patch(`/api/admin/users/${b.user.id}`, { role: 'author' }),
        b.client.patch(`/api/admin/users/${a.user.id}`, { disabled: true }),
      ]);
      assert.ok(!(ab.statusCode === 200 && ba.statusCode === 200), `round ${round}: both changes went through (${ab.statusCode}, ${ba.statusCode})`);
      const active = await tables(app).selectFrom('users').select('id').where('role', '=', 'admin').where('disabled_at', 'is', null).execute();
      assert.equal(active.length, 1, `round ${round}: exactly one active administrator is left`);
      for (const res of [ab, ba]) if (res.statusCode === 409) assert.equal(json(res).code, 'ADMIN_ERR_LAST_ADMIN');
    }
  });
});
