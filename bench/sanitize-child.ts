/**
 * One side of the `sanitize` scenario, in a process of its own started with `--expose-gc`, so
 * that its heap is measured alone (the baseline's growth cannot inflate Rampart's) and a
 * forced collection leaves only what is really retained. Prints one JSON line: `ChildReport`.
 *
 *   node --expose-gc --import tsx bench/sanitize-child.ts <rampart|dompurify> <posts> <budget ms>
 */
import { performance } from 'node:perf_hooks';
import MarkdownIt from 'markdown-it';
import { ALLOWED_ATTRIBUTES, ALLOWED_TAGS, createContentRenderer, LINK_REL } from '../src/modules/posts/rendering.js';
import { REALISTIC_POST } from './sanitize-post.js';
import { mainThreadCpuMicros, mainThreadRunQueueWaitMicros } from './thread-cpu.js';

export type SanitizeTarget = 'rampart' | 'dompurify';

export interface HeapSample {
  /** Posts rendered when the sample was taken (after a forced, full collection). */
  readonly posts: number;
  readonly heapUsedBytes: number;
}

export interface ChildReport {
  readonly target: SanitizeTarget;
  readonly posts: number;
  /** Why the run ended before all posts were rendered: its time budget, or the heap guard; null when it did not. */
  readonly stoppedBy: 'budget' | 'heap' | null;
  readonly inputBytes: number;
  readonly outputBytes: number;
  readonly meanMs: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** CPU (user + system, all threads of the process: GC and compiler helpers too) while rendering, per post. */
  readonly cpuMsPerPost: number;
  /** CPU of the main thread alone (what holds up the event loop) per post; null off Linux. 10 ms ticks, so read over the whole run. */
  readonly mainThreadCpuMsPerPost: number | null;
  /** Time the main thread waited for a CPU while rendering, per post; null off Linux. */
  readonly runQueueWaitMsPerPost: number | null;
  readonly heap: readonly HeapSample[];
  readonly rssBytes: number;
}

const WARMUP_POSTS = 30;
const SAMPLES = 4;
// A leaking renderer stops here rather than at the heap limit (the parent allows 4 GiB).
const HEAP_GUARD_BYTES = 2.5 * 1024 ** 3;

function gcTwice(): void {
  const gc = globalThis.gc;
  if (gc === undefined) throw new Error('start this process with --expose-gc');
  // The second pass collects what the first one's finalizers released.
  gc();
  gc();
}

/** Rampart's write path: markdown-it, then sanitize-html with the allowlist. */
function rampartRenderer(): (markdown: string) => string {
  const renderer = createContentRenderer();
  return (markdown) => renderer.post(markdown) ?? (() => { throw new Error('a bench post renders to more HTML than a post may hold'); })();
}

/**
 * The classic advice, configured to the same allowlist so both produce comparable HTML:
 * markdown-it, then DOMPurify on one jsdom window, with a hook adding the link rel.
 */
async function domPurifyRenderer(): Promise<(markdown: string) => string> {
  // Loaded only on this side, so that jsdom's own heap does not count against Rampart's.
  const [{ default: createDOMPurify }, { JSDOM }] = await Promise.all([import('dompurify'), import('jsdom')]);
  const markdown = new MarkdownIt({ html: true, linkify: false, typographer: false });
  const purify = createDOMPurify(new JSDOM('').window);
  purify.addHook('afterSanitizeAttributes', (node) => {
    if (node.nodeName === 'A') node.setAttribute('rel', LINK_REL);
  });
  const config = {
    ALLOWED_TAGS: [...ALLOWED_TAGS],
    ALLOWED_ATTR: [...new Set(Object.values(ALLOWED_ATTRIBUTES).flat())],
    ALLOWED_URI_REGEXP: /^(?:https?|mailto):/i,
  };
  return (source) => purify.sanitize(markdown.render(source), config);
}

function cpuNow(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

const runQueueWait = mainThreadRunQueueWaitMicros;

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

async function measure(target: SanitizeTarget, posts: number, budgetMs: number): Promise<ChildReport> {
  const render = target === 'rampart' ? rampartRenderer() : await domPurifyRenderer();
  let outputBytes = 0;
  for (let i = 0; i < WARMUP_POSTS; i++) outputBytes += render(REALISTIC_POST).length;
  gcTwice();
  const heap: HeapSample[] = [{ posts: 0, heapUsedBytes: process.memoryUsage().heapUsed }];
  const sampleEvery = Math.max(1, Math.floor(posts / SAMPLES));
  const durations: number[] = [];
  // CPU and run-queue wait are read around the whole loop, minus the forced collections: read
  // around every call, the reads themselves would be a measurable part of a 2 ms render.
  const cpuStart = cpuNow();
  const mainStart = mainThreadCpuMicros();
  const waitStart = runQueueWait();
  let cpuInGc = 0;
  let mainInGc = 0;
  let waitInGc = 0;
  const started = performance.now();
  let stoppedBy: ChildReport['stoppedBy'] = null;
  outputBytes = 0;
  for (let i = 1; i <= posts; i++) {
    const t0 = performance.now();
    outputBytes += render(REALISTIC_POST).length;
    const t1 = performance.now();
    durations.push(t1 - t0);
    const budgetSpent = t1 - started > budgetMs;
    const heapFull = i % 10 === 0 && process.memoryUsage().heapUsed > HEAP_GUARD_BYTES;
    if (i % sampleEvery === 0 || i === posts || budgetSpent || heapFull) {
      const cpuBefore = cpuNow();
      const mainBefore = mainThreadCpuMicros() ?? 0;
      const waitBefore = runQueueWait() ?? 0;
      gcTwice();
      heap.push({ posts: i, heapUsedBytes: process.memoryUsage().heapUsed });
      cpuInGc += cpuNow() - cpuBefore;
      mainInGc += (mainThreadCpuMicros() ?? 0) - mainBefore;
      waitInGc += (runQueueWait() ?? 0) - waitBefore;
    }
    if ((budgetSpent || heapFull) && i < posts) {
      stoppedBy = budgetSpent ? 'budget' : 'heap';
      break;
    }
  }
  const cpuMicros = cpuNow() - cpuStart - cpuInGc;
  const mainEnd = mainThreadCpuMicros();
  const mainMicros = mainStart === null || mainEnd === null ? null : mainEnd - mainStart - mainInGc;
  const waitEnd = runQueueWait();
  const waitMicros = waitStart === null || waitEnd === null ? null : waitEnd - waitStart - waitInGc;
  const done = durations.length;
  const sorted = [...durations].sort((a, b) => a - b);
  return {
    target,
    posts: done,
    stoppedBy,
    inputBytes: Buffer.byteLength(REALISTIC_POST),
    outputBytes: outputBytes / done,
    meanMs: durations.reduce((sum, d) => sum + d, 0) / done,
    p50Ms: percentile(sorted, 50),
    p99Ms: percentile(sorted, 99),
    maxMs: sorted[sorted.length - 1] ?? Number.NaN,
    cpuMsPerPost: cpuMicros / 1_000 / done,
    mainThreadCpuMsPerPost: mainMicros === null ? null : mainMicros / 1_000 / done,
    runQueueWaitMsPerPost: waitMicros === null ? null : waitMicros / 1_000 / done,
    heap,
    rssBytes: process.memoryUsage().rss,
  };
}

const [target, postsText, budgetText] = process.argv.slice(2);
if ((target !== 'rampart' && target !== 'dompurify') || postsText === undefined || budgetText === undefined) {
  console.error('usage: sanitize-child.ts <rampart|dompurify> <posts> <budget ms>');
  process.exit(2);
}
console.log(JSON.stringify(await measure(target, Number(postsText), Number(budgetText))));
