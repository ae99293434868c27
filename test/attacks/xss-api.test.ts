import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { buildUnmanaged, type BuildResult, randomIp, tables } from '../helpers/build.js';
import { Client, json } from '../helpers/client.js';
import { describeRemovals, domPurifyRemovals, unsafeHtmlFindings } from '../helpers/html-safety.js';
import { type CommentBody, type Page, type PostBody } from '../helpers/publishing.js';
import { type Actor, onFreshIp, signedIn } from '../helpers/users.js';

// Payloads checked at a time.
const IN_FLIGHT = 4;

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
    // New writers every 50 payloads keep each under the per-user content write limit.
    const writers = new Map<number, Promise<{ author: Actor; commenter: Actor }>>();
    const writersFor = (index: number) => {
      const block = Math.floor(index / 50);
      let pair = writers.get(block);
      if (pair === undefined) {
        pair = Promise.all([signedIn(rampart.app), signedIn(rampart.app)]).then(([author, commenter]) => ({ author, commenter }));
        writers.set(block, pair);
      }
      return pair;
    };

    async function check(index: number, category: string, payload: string): Promise<string[]> {
      const failures: string[] = [];
      const { author, commenter } = await writersFor(index);
      const label = `#${index} ${category} ${JSON.stringify(payload).slice(0, 80)}`;
      const writer = onFreshIp(author);
      const created = await writer.post('/api/posts', { title: `XSS ${index}`, body: payload });
      if (created.statusCode !== 201) {
        // Refused input is safe too, but it must be refused cleanly (a control character, say).
        if (created.statusCode !== 400) failures.push(`${label}: create answered ${created.statusCode}`);
        return failures;
      }
      const post = json<PostBody>(created);
      failures.push(...problems(`${label} (create answer)`, post.html));
      const published = await writer.post(`/api/posts/${post.id}/publish`);
      if (published.statusCode !== 200) return [...failures, `${label}: publish answered ${published.statusCode}`];
      const stored = await tables(rampart.app).selectFrom('posts').select('html').where('id', '=', post.id).executeTakeFirstOrThrow();
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
      return failures;
    }

    // Payloads are independent (a post and a comment each, read back by a new guest): a few run
    // at a time, so one payload's database round trips overlap another's work.
    const found: string[][] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < CORPUS.length) {
        const index = next;
        next += 1;
        const { category, payload } = CORPUS[index]!;
        found[index] = await check(index, category, payload);
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
    const failures = found.flat();
    assert.deepEqual(failures, []);
  });
});
