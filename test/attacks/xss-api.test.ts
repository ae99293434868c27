import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { buildUnmanaged, type BuildResult, randomIp } from '../helpers/build.js';
import { Client, json } from '../helpers/client.js';
import { describeRemovals, domPurifyRemovals, unsafeHtmlFindings } from '../helpers/html-safety.js';
import { onFreshIp, signedIn, type Actor, type CommentBody, type Page, type PostBody } from '../helpers/publishing.js';

const CORPUS = (JSON.parse(readFileSync(new URL('../fixtures/xss-payloads.json', import.meta.url), 'utf8')) as { category: string; payload: string }[]);

// Every output a browser could be handed, checked the same two ways: no script element, on*
// attribute, non-http(s)/mailto URL or base/meta/form/iframe/object/embed/style element, and
// DOMPurify (the classic tool) finding nothing left to remove.
function problems(label: string, html: string): string[] {
  return [...unsafeHtmlFindings(html), ...describeRemovals(domPurifyRemovals(html))].map((finding) => `${label}: ${finding}`);
}

describe('XSS corpus through the API', () => {
  let rampart: BuildResult;

  before(async () => {
    assert.ok(CORPUS.length >= 150, `the corpus holds ${CORPUS.length} payloads`);
    rampart = await buildUnmanaged();
  });
  after(async () => {
    await rampart.app.close();
  });

  it('stores and serves every payload, as a post body and as a comment, with nothing active left for a second user', async () => {
    const failures: string[] = [];
    let author: Actor | null = null;
    let commenter: Actor | null = null;
    for (const [index, { category, payload }] of CORPUS.entries()) {
      // New writers every 50 payloads keep each under the per-user content write limit.
      if (index % 50 === 0) {
        author = await signedIn(rampart.app);
        commenter = await signedIn(rampart.app);
      }
      if (author === null || commenter === null) throw new Error('no writers');
      const label = `#${index} ${category} ${JSON.stringify(payload).slice(0, 80)}`;
      const writer = onFreshIp(author);
      const created = await writer.post('/api/posts', { title: `XSS ${index}`, body: payload });
      if (created.statusCode !== 201) {
        // Refused input is safe too, but it must be refused cleanly (a control character, say).
        if (created.statusCode !== 400) failures.push(`${label}: create answered ${created.statusCode}`);
        continue;
      }
      const post = json<PostBody>(created);
      failures.push(...problems(`${label} (create answer)`, post.html));
      assert.equal((await writer.post(`/api/posts/${post.id}/publish`)).statusCode, 200);
      const stored = await rampart.app.database.db.selectFrom('posts').select('html').where('id', '=', post.id).executeTakeFirstOrThrow();
      failures.push(...problems(`${label} (stored)`, stored.html));

      const commented = await onFreshIp(commenter).post(`/api/posts/${post.id}/comments`, { body: payload });
      if (commented.statusCode !== 201 && commented.statusCode !== 400) failures.push(`${label}: comment answered ${commented.statusCode}`);

      // The second user: a guest reading the post and its comments.
      const reader = new Client(rampart.app, randomIp());
      const read = json<PostBody>(await reader.get(`/api/posts/${post.id}`));
      failures.push(...problems(`${label} (served post)`, read.html));
      const comments = json<Page<CommentBody>>(await reader.get(`/api/posts/${post.id}/comments`));
      for (const comment of comments.items) {
        failures.push(...problems(`${label} (served comment)`, comment.html));
        if (comment.body !== payload.replace(/\r\n?/g, '\n').normalize('NFC').trimEnd()) failures.push(`${label}: the comment text was altered`);
      }
    }
    assert.deepEqual(failures, []);
  });
});
