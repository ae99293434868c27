import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import pg from 'pg';
import { buildUnmanaged, type BuildResult, randomIp, tables } from '../helpers/build.js';
import { Client, json } from '../helpers/client.js';
import { createComment, createPost, type Page, type PostBody } from '../helpers/publishing.js';
import { testTarget } from '../helpers/target.js';
import { type Actor, onFreshIp, signedIn } from '../helpers/users.js';

const PAYLOADS = JSON.parse(readFileSync(new URL('../fixtures/sql-injection-payloads.json', import.meta.url), 'utf8')) as string[];

describe('SQL injection corpus against the content and admin API', () => {
  let rampart: BuildResult;
  let alice: Actor;
  let admin: Actor;
  let moderator: Actor;
  let draft: PostBody;
  const secret = `DRAFT-SECRET-${crypto.randomUUID()}`;

  before(async () => {
    assert.ok(PAYLOADS.length >= 60, `the corpus holds ${PAYLOADS.length} payloads`);
    rampart = await buildUnmanaged();
    alice = await signedIn(rampart.app);
    admin = await signedIn(rampart.app, 'admin');
    moderator = await signedIn(rampart.app, 'moderator');
    draft = await createPost(alice, { title: secret, body: `${secret} body` });
  });
  after(async () => {
    await rampart.app.close();
  });

  it('never answers 5xx, never leaks another user\'s draft, and stores every payload as plain data', async () => {
    const guest = new Client(rampart.app);
    let attacker = await signedIn(rampart.app);
    let target = await createPost(attacker, { title: 'target' }, true);
    const failures: string[] = [];
    const check = (label: string, res: LightMyRequestResponse) => {
      if (res.statusCode >= 500) failures.push(`${label}: ${res.statusCode}`);
      if (res.body.includes(secret)) failures.push(`${label}: leaked the draft`);
      if (res.statusCode >= 400 && /syntax error|postgres|pglite|kysely|relation "|column "|at \w+ \(/i.test(res.body)) failures.push(`${label}: database detail in the answer`);
    };

    for (const [index, payload] of PAYLOADS.entries()) {
      // A fresh author every 20 payloads keeps each under the per-user content write limit.
      if (index > 0 && index % 20 === 0) {
        attacker = await signedIn(rampart.app);
        target = await createPost(attacker, { title: 'target' }, true);
      }
      const enc = encodeURIComponent(payload);
      const as = onFreshIp(attacker);
      const asGuest = new Client(rampart.app, randomIp());
      const asAdmin = onFreshIp(admin);
      const label = (what: string) => `${what} with ${JSON.stringify(payload)}`;

      for (const query of [`q=${enc}`, `author=${enc}`, `tag=${enc}`, `cursor=${enc}`, `limit=${enc}`, `status=${enc}`, `q=${enc}&status=draft`]) {
        const res = await as.get(`/api/posts?${query}`);
        check(label(`GET /api/posts?${query.split('=')[0] ?? ''}`), res);
        if (res.statusCode === 200) {
          const items = json<Page<PostBody>>(res).items;
          if (items.some((p) => p.status === 'draft' && p.author.id !== attacker.user.id)) failures.push(label(`GET /api/posts?${query}: another user's draft`));
        }
      }
      check(label('guest search'), await asGuest.get(`/api/posts?q=${enc}`));
      for (const path of [`/api/posts/${enc}`, `/api/posts/${enc}/comments`, `/api/posts/${target.id}/comments?cursor=${enc}`, `/api/posts/${target.id}/comments?limit=${enc}`]) {
        check(label(`GET ${path}`), await as.get(path));
      }
      check(label('PATCH /api/posts/:id'), await as.patch(`/api/posts/${enc}`, { title: 'x' }));
      check(label('DELETE /api/posts/:id'), await as.delete(`/api/posts/${enc}`));
      check(label('POST /api/posts/:id/publish'), await as.post(`/api/posts/${enc}/publish`));
      check(label('POST /api/posts/:id/comments'), await as.post(`/api/posts/${enc}/comments`, { body: 'x' }));
      check(label('DELETE /api/comments/:id'), await as.delete(`/api/comments/${enc}`));
      check(label('POST /api/comments/:id/hide'), await onFreshIp(moderator).post(`/api/comments/${enc}/hide`));
      check(label('POST /api/posts tags'), await as.post('/api/posts', { title: 'x', body: 'y', tags: [payload] }));

      const created = await as.post('/api/posts', { title: payload.trim() === '' ? 'x' : payload, body: payload });
      check(label('POST /api/posts'), created);
      if (created.statusCode === 201) {
        const post = json<PostBody>(created);
        const row = await tables(rampart.app).selectFrom('posts').select(['title', 'body']).where('id', '=', post.id).executeTakeFirstOrThrow();
        if (row.body !== payload) failures.push(label('POST /api/posts: the body was not stored as written'));
      } else if (created.statusCode !== 400) {
        failures.push(label(`POST /api/posts answered ${created.statusCode}`));
      }
      check(label('PATCH own post'), await as.patch(`/api/posts/${target.id}`, { title: payload.trim() === '' ? 'x' : payload }));
      const comment = await as.post(`/api/posts/${target.id}/comments`, { body: payload });
      check(label('POST comment'), comment);

      for (const query of [`role=${enc}`, `cursor=${enc}`, `limit=${enc}`]) check(label(`GET /api/admin/users?${query}`), await asAdmin.get(`/api/admin/users?${query}`));
      for (const query of [`event=${enc}`, `actor=${enc}`, `from=${enc}`, `to=${enc}`, `cursor=${enc}`]) check(label(`GET /api/admin/security-events?${query}`), await asAdmin.get(`/api/admin/security-events?${query}`));
      check(label('PATCH /api/admin/users/:id'), await asAdmin.patch(`/api/admin/users/${enc}`, { role: 'author' }));
      check(label('PATCH /api/admin/users role'), await asAdmin.patch(`/api/admin/users/${attacker.user.id}`, { role: payload }));
    }
    assert.deepEqual(failures, []);

    // Nothing changed that the attacker did not own.
    const stored = await tables(rampart.app).selectFrom('posts').select(['title', 'status']).where('id', '=', draft.id).executeTakeFirstOrThrow();
    assert.deepEqual(stored, { title: secret, status: 'draft' });
    const roles = await tables(rampart.app).selectFrom('users').select(['id', 'role']).where('id', 'in', [alice.user.id, admin.user.id, moderator.user.id, attacker.user.id]).execute();
    assert.deepEqual(Object.fromEntries(roles.map((r) => [r.id, r.role])), { [alice.user.id]: 'author', [admin.user.id]: 'admin', [moderator.user.id]: 'moderator', [attacker.user.id]: 'author' });
    const guestView = await guest.get(`/api/posts/${draft.id}`);
    assert.equal(guestView.statusCode, 404);
    await createComment(attacker, target.id, 'the tables are all still there');
  });

  const target = testTarget();
  if (target.kind === 'real') {
    it('never ran pg_sleep: PostgreSQL\'s own statement statistics hold no statement that calls it', async () => {
      const client = new pg.Client({ connectionString: target.databaseUrl });
      await client.connect();
      try {
        const preload = await client.query<{ shared_preload_libraries: string }>('show shared_preload_libraries');
        assert.match(preload.rows[0]?.shared_preload_libraries ?? '', /pg_stat_statements/, 'PostgreSQL must preload pg_stat_statements (.ci/run sets it up: scripts/enable-pg-stat-statements.sh)');
        await client.query('create extension if not exists pg_stat_statements');
        await rampart.app.securityEvents.flush();
        const ours = 'select query, calls from pg_stat_statements where dbid = (select oid from pg_database where datname = current_database())';
        const all = await client.query<{ query: string; calls: string }>(ours);
        // The statistics really cover this database: the search the corpus ran is in them.
        assert.ok(all.rows.some((row) => /"posts"\."title" ilike \$\d+/i.test(row.query)), 'pg_stat_statements recorded the corpus\'s search queries');
        const sleeping = all.rows.filter((row) => /pg_sleep/i.test(row.query));
        assert.deepEqual(sleeping, [], 'no statement that ran in this database calls pg_sleep');
      } finally {
        await client.end();
      }
    });
  }
});
