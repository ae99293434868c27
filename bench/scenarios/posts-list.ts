import { startBareFastify, type BareFastify } from '../bare-fastify.js';
import type { Scenario, ScenarioTargets } from '../harness.js';
import type { LoadTarget } from '../load.js';
import { probe } from '../probe.js';
import { startBenchRampart } from '../rampart.js';
import { createPostsRepository } from '../../src/modules/posts/repository.js';
import { postView } from '../../src/modules/posts/service.js';

// As in api-status: the global limit stays on and counts every request, but never trips.
const RATE_LIMIT_POINTS = 1_000_000;
const RATE_LIMIT_WINDOW_SECONDS = 10;
const PATH = '/api/posts?limit=20';
const POSTS = 20;

/** A realistic post of about 3 KiB: headings, lists, links, code, a table, an image. */
function markdown(n: number): string {
  const paragraph = `Rampart keeps every protection on by default, and post ${n} explains one of them in plain words with a [reference](https://owasp.org/www-project-top-ten/) and some *emphasis*, **strong text** and \`inline code\`.`;
  return [
    `# Post ${n}: defence in depth`, '', paragraph, '', '## What it does', '',
    '- validates every input at the edge', '- renders Markdown and sanitizes it on write', '- escapes everything else', '',
    '```ts', 'const ability = abilityFor(principal);', "if (!ability.can('read', post)) return notFound();", '```', '',
    '| setting | default |', '|---|---|', '| body limit | 10 KiB |', '| page size | 50 |', '',
    '![diagram](https://example.com/diagram.png)', '', '> Deny by default.', '',
    ...Array.from({ length: 8 }, () => paragraph), '',
  ].join('\n');
}

/**
 * Issue 7's benchmark: the public post list, `GET /api/posts?limit=20` (20 published posts of
 * realistic Markdown), through the whole Rampart stack (headers, rate limit, authentication,
 * CASL, zod validation and serialization, logging) against a bare Fastify route that runs the
 * same query on the same database and returns the same rows as JSON.
 */
export const postsListScenario: Scenario = {
  name: 'posts-list',
  description: `GET ${PATH}: 20 published posts through the whole stack against bare Fastify returning the same rows`,
  ratioName: 'rampart/bare',
  targetRatio: 0.6,
  async start(): Promise<ScenarioTargets> {
    const rampart = await startBenchRampart({
      env: { RAMPART_RATE_LIMIT_POINTS: String(RATE_LIMIT_POINTS), RAMPART_RATE_LIMIT_WINDOW_SECONDS: String(RATE_LIMIT_WINDOW_SECONDS) },
    });
    let bare: BareFastify | undefined;
    const close = async (): Promise<void> => {
      const outcomes = await Promise.allSettled([rampart.close(), bare?.close()]);
      const failure = outcomes.find((o) => o.status === 'rejected');
      if (failure !== undefined) throw failure.reason;
    };
    try {
      const { app } = rampart;
      const created = await app.accounts.createUser({ name: 'Bench author', email: `posts-${Date.now()}@bench.example`, password: `harbor lantern ${crypto.randomUUID()} willow`, role: 'author', verified: true });
      if (!created.ok) throw new Error(`could not create the bench author: ${created.reason}`);
      for (let n = 0; n < POSTS; n += 1) {
        const post = await app.posts.create(created.user.id, { title: `Post ${n}`, body: markdown(n), tags: ['security', 'bench'] });
        if (post === null) throw new Error('the bench author vanished');
        await app.posts.setStatus(post.id, 'published');
      }
      const repository = createPostsRepository(app.database.db);
      bare = await startBareFastify((server) => {
        server.get('/api/posts', async () => ({ items: (await repository.list({ status: 'published', limit: POSTS })).map(postView), nextCursor: null }));
      });
      const subject: LoadTarget = { label: 'rampart', origin: rampart.origin, request: { path: PATH } };
      const baseline: LoadTarget = { label: 'bare fastify', origin: bare.origin, request: { path: PATH } };
      const [mine, theirs] = await Promise.all([probe(subject), probe(baseline)]);
      if (mine.status !== 200 || theirs.status !== 200) throw new Error(`GET ${PATH} answered ${mine.status} / ${theirs.status}`);
      const items = (body: string) => (JSON.parse(body) as { items: { id: string; html: string }[] }).items;
      const ours = items(mine.body);
      if (ours.length !== POSTS || JSON.stringify(ours.map((p) => p.id)) !== JSON.stringify(items(theirs.body).map((p) => p.id))) {
        throw new Error('rampart and bare fastify did not return the same 20 posts');
      }
      const database = rampart.config.database.url === null ? 'embedded PGlite, in memory' : 'PostgreSQL from RAMPART_BENCH_DATABASE_URL';
      return {
        subject,
        baseline,
        notes: [
          `rampart: buildRampart with every protection on, NODE_ENV=test, ${app.store.kind} store, ${database}`,
          `both: the same query (posts joined with their authors, keyset order) on the same database; ${POSTS} posts, ${Math.round(mine.body.length / 1024)} KiB of JSON per answer`,
          'rampart: anonymous caller; headers, global rate limit, authentication, CASL route check, zod query validation and response serialization, access log',
          'bare fastify: no plugins, hooks or schemas; JSON.stringify of the same objects',
        ],
        close,
      };
    } catch (err) {
      await close();
      throw err;
    }
  },
};
