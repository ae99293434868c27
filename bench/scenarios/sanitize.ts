import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { ProcedureOptions, ProcedureResult, ProcedureScenario } from '../harness.js';
import type { ChildReport, SanitizeTarget } from '../sanitize-child.js';
import { REALISTIC_POST } from '../sanitize-post.js';

// Issue 7's acceptance: the sanitizer's cost per 10 KiB post over 1 000 writes, read as the
// main thread's CPU per post: what a write holds up the event loop for. Wall-clock time on a
// shared machine adds the time spent waiting for a core; process CPU adds the GC and compiler
// helper threads, which run beside the event loop. Both are printed next to it.
const TARGET_CPU_MS_PER_POST = 3;
// "Flat heap": what 1 000 rendered posts leave behind after a full collection. A renderer that
// kept each ~12 KiB output alive would retain about 12 MiB.
const TARGET_HEAP_GROWTH_MIB = 2;
const POSTS = 1_000;
const RAMPART_BUDGET_SECONDS = 60;
// The baseline is stopped after this long (or --duration) and its numbers are per post.
const DEFAULT_BASELINE_SECONDS = 20;
const CHILD_HEAP_MIB = 4_096;
const CHILD_GRACE_MS = 90_000;
const MIB = 1024 ** 2;

const LABELS: Readonly<Record<SanitizeTarget, string>> = {
  rampart: 'rampart',
  dompurify: 'dompurify+jsdom',
};

const decimal = (digits: number) => new Intl.NumberFormat('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const oneDecimal = decimal(1);
const twoDecimals = decimal(2);

/** Runs one side in a fresh `node --expose-gc` process and returns its report. */
function runChild(target: SanitizeTarget, budgetSeconds: number): Promise<ChildReport> {
  const script = fileURLToPath(new URL('../sanitize-child.ts', import.meta.url));
  const args = [`--max-old-space-size=${CHILD_HEAP_MIB}`, '--expose-gc', '--import', 'tsx', script, target, String(POSTS), String(budgetSeconds * 1_000)];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), budgetSeconds * 1_000 + CHILD_GRACE_MS);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const last = stdout.trim().split('\n').pop() ?? '';
      if (code !== 0) {
        reject(new Error(`${target} process ended with ${signal ?? `code ${code}`}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`));
        return;
      }
      try {
        resolve(JSON.parse(last) as ChildReport);
      } catch (err) {
        reject(new Error(`${target} process printed no report`, { cause: err }));
      }
    });
  });
}

/** Heap growth after forced collections, from the first sample to the last, scaled to 1 000 posts. */
function heapGrowthPer1000(report: ChildReport): number {
  const first = report.heap[0];
  const last = report.heap[report.heap.length - 1];
  if (first === undefined || last === undefined || last.posts === 0) return Number.NaN;
  return ((last.heapUsedBytes - first.heapUsedBytes) / MIB) * (POSTS / last.posts);
}

function row(cells: readonly string[]): string {
  const widths = [16, 6, 8, 8, 8, 8, 9, 9, 9, 14, 8];
  return '  ' + cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i] ?? 0) : cell.padStart(widths[i] ?? 0))).join('  ');
}

function reportRow(report: ChildReport): string {
  return row([
    LABELS[report.target],
    String(report.posts),
    twoDecimals.format(report.meanMs),
    twoDecimals.format(report.p50Ms),
    twoDecimals.format(report.p99Ms),
    twoDecimals.format(report.maxMs),
    report.mainThreadCpuMsPerPost === null ? 'n/a' : twoDecimals.format(report.mainThreadCpuMsPerPost),
    twoDecimals.format(report.cpuMsPerPost),
    report.runQueueWaitMsPerPost === null ? 'n/a' : twoDecimals.format(report.runQueueWaitMsPerPost),
    oneDecimal.format(heapGrowthPer1000(report)),
    oneDecimal.format(report.outputBytes / 1024),
  ]);
}

function heapLine(report: ChildReport): string {
  const samples = report.heap.map((s) => `${oneDecimal.format(s.heapUsedBytes / MIB)} @${s.posts}`).join(', ');
  const stopped = report.stoppedBy === null ? '' : `; stopped by its ${report.stoppedBy === 'budget' ? 'time budget' : 'heap guard'} after ${report.posts} posts, growth scaled to 1 000`;
  return `  ${LABELS[report.target]} heap after forced GC (MiB @ posts): ${samples}${stopped}`;
}

export const sanitizeScenario: ProcedureScenario = {
  kind: 'procedure',
  name: 'sanitize',
  description: 'post write path: a 10 KiB Markdown post rendered and sanitized 1 000 times (markdown-it + sanitize-html) vs markdown-it + DOMPurify on jsdom',
  target: `rampart <= ${TARGET_CPU_MS_PER_POST} ms CPU per post and heap growth <= ${TARGET_HEAP_GROWTH_MIB} MiB per 1 000 posts`,
  async run(options: ProcedureOptions, print: (line: string) => void): Promise<ProcedureResult> {
    const inputBytes = Buffer.byteLength(REALISTIC_POST);
    if (inputBytes < 10 * 1024 || inputBytes > 11 * 1024) throw new Error(`the bench post is ${inputBytes} bytes, not 10-11 KiB`);
    const baselineSeconds = options.durationSeconds ?? DEFAULT_BASELINE_SECONDS;
    print(`  post: ${oneDecimal.format(inputBytes / 1024)} KiB of Markdown (headings, links, lists, code, tables, images, inline HTML); each side runs in its own`);
    print(`  node --expose-gc process, renders 30 posts to warm up, then ${POSTS} posts; heap is sampled after two forced full collections.`);
    print(`  rampart: createContentRenderer().post (markdown-it, sanitize-html with the post allowlist, link rel).`);
    print(`  dompurify+jsdom: the same markdown-it, then DOMPurify on one jsdom window with the same tag/attribute allowlist, URI pattern and rel hook;`);
    print(`  stopped after ${baselineSeconds} s of rendering (--duration) if it has not finished.`);
    print(`  mean/p50/p99/max: wall-clock ms per post. main cpu: the main thread's CPU per post (the event loop's cost, the target);`);
    print(`  all cpu: the whole process's (GC and compiler helper threads too); wait: main thread runnable but no core free.`);
    print(row(['target', 'posts', 'mean ms', 'p50 ms', 'p99 ms', 'max ms', 'main cpu', 'all cpu', 'wait ms', 'heap MiB/1000', 'out KiB']));
    print(`  ${'-'.repeat(row(['', '', '', '', '', '', '', '', '', '', '']).length - 2)}`);
    const rampart = await runChild('rampart', RAMPART_BUDGET_SECONDS);
    print(reportRow(rampart));
    const baseline = await runChild('dompurify', baselineSeconds);
    print(reportRow(baseline));
    print(heapLine(rampart));
    print(heapLine(baseline));
    const timeRatio = baseline.meanMs / rampart.meanMs;
    const cpuRatio = baseline.cpuMsPerPost / rampart.cpuMsPerPost;
    const mainCpu = rampart.mainThreadCpuMsPerPost;
    const mainRatio = baseline.mainThreadCpuMsPerPost === null || mainCpu === null ? Number.NaN : baseline.mainThreadCpuMsPerPost / mainCpu;
    print(`  dompurify+jsdom / rampart: ${oneDecimal.format(timeRatio)}× wall time, ${oneDecimal.format(mainRatio)}× main-thread CPU, ${oneDecimal.format(cpuRatio)}× process CPU per post; heap growth per 1 000 posts ${oneDecimal.format(heapGrowthPer1000(baseline))} MiB vs ${oneDecimal.format(heapGrowthPer1000(rampart))} MiB`);
    const failures = [
      ...(rampart.stoppedBy === null ? [] : [`rampart stopped by its ${rampart.stoppedBy === 'budget' ? `${RAMPART_BUDGET_SECONDS} s budget` : 'heap guard'} after ${rampart.posts} of ${POSTS} posts`]),
      ...(mainCpu === null ? ['no per-thread CPU time here (/proc/self/task is Linux only), so the target cannot be checked'] : []),
    ];
    const growth = heapGrowthPer1000(rampart);
    const pass = failures.length === 0 && mainCpu !== null && mainCpu <= TARGET_CPU_MS_PER_POST && growth <= TARGET_HEAP_GROWTH_MIB;
    const verdict = failures.length > 0 ? 'INVALID' : pass ? 'PASS' : 'MISS';
    return {
      failures,
      verdictLine: `rampart: ${mainCpu === null ? 'n/a' : twoDecimals.format(mainCpu)} ms main-thread CPU per post (target <= ${TARGET_CPU_MS_PER_POST}; process CPU ${twoDecimals.format(rampart.cpuMsPerPost)} ms, wall mean ${twoDecimals.format(rampart.meanMs)} ms, p50 ${twoDecimals.format(rampart.p50Ms)} ms, p99 ${twoDecimals.format(rampart.p99Ms)} ms), heap growth ${oneDecimal.format(growth)} MiB per 1 000 posts (target <= ${TARGET_HEAP_GROWTH_MIB}): ${verdict}`,
    };
  },
};
