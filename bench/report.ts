import type { BenchPlan, Measurement, ScenarioResult } from './harness.js';
import { mean, median } from './harness.js';

type Row = readonly string[];

const COLUMNS = ['round', 'target', 'req/s', 'p50 ms', 'p99 ms', 'cpu µs/req', 'responses', 'non-2xx', 'errors'] as const;
const WIDTHS = [8, 14, 10, 8, 8, 10, 11, 8, 7] as const;
// Numbers are right-aligned, labels left-aligned.
const RIGHT = [false, false, true, true, true, true, true, true, true] as const;

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const oneDecimal = new Intl.NumberFormat('en-US', { maximumFractionDigits: 1 });

function cpu(micros: number | null): string {
  return micros === null || Number.isNaN(micros) ? 'n/a' : integer.format(micros);
}

function line(cells: Row): string {
  return '  ' + cells.map((cell, i) => (RIGHT[i] === true ? cell.padStart(WIDTHS[i] ?? 0) : cell.padEnd(WIDTHS[i] ?? 0))).join('  ').trimEnd();
}

export function tableHeader(): string {
  const header = line(COLUMNS);
  return `${header}\n  ${'-'.repeat(header.length - 2)}`;
}

/** One row per measurement, printed as it completes. */
export function measurementRow(m: Measurement): string {
  const s = m.sample;
  return line([m.round === 0 ? 'warm-up' : String(m.round), m.label, integer.format(s.requestsPerSecond), oneDecimal.format(s.p50Ms), oneDecimal.format(s.p99Ms), cpu(s.cpuMicrosPerResponse), integer.format(s.responses), integer.format(s.unexpected), integer.format(s.errors)]);
}

function summaryRow(result: ScenarioResult, role: 'subject' | 'baseline'): string {
  const rounds = result.measurements.filter((m) => m.role === role && m.round > 0);
  const all = result.measurements.filter((m) => m.role === role);
  const label = role === 'subject' ? result.subjectLabel : result.baselineLabel;
  const sum = (pick: (m: Measurement) => number) => all.reduce((total, m) => total + pick(m), 0);
  return line([
    'all',
    label,
    integer.format(mean(rounds.map((m) => m.sample.requestsPerSecond))),
    oneDecimal.format(median(rounds.map((m) => m.sample.p50Ms))),
    oneDecimal.format(median(rounds.map((m) => m.sample.p99Ms))),
    cpu(rounds.some((m) => m.sample.cpuMicrosPerResponse === null) ? null : median(rounds.map((m) => m.sample.cpuMicrosPerResponse ?? 0))),
    integer.format(sum((m) => m.sample.responses)),
    integer.format(sum((m) => m.sample.unexpected)),
    integer.format(sum((m) => m.sample.errors)),
  ]);
}

export function describePlan(plan: BenchPlan): string {
  const warmup = plan.warmupSeconds > 0 ? ` after a ${plan.warmupSeconds} s warm-up of each` : '';
  return `load: autocannon in a worker thread, ${plan.load.connections} connections, pipelining ${plan.load.pipelining}, ${plan.rounds} round(s) × ${plan.load.durationSeconds} s per target${warmup}, alternating (ABBA)`;
}

/** The summary rows, the per-round ratios, the evidence, and the final ratio line. */
export function scenarioSummary(result: ScenarioResult, extra: readonly string[] = []): string {
  const { scenario } = result;
  const verdict = result.ratio >= scenario.targetRatio ? 'PASS' : 'MISS';
  const out = [
    `  ${'-'.repeat(tableHeader().split('\n')[0]!.length - 2)}`,
    summaryRow(result, 'baseline'),
    summaryRow(result, 'subject'),
    '  (all: req/s is the mean of the rounds; p50, p99 and cpu the median of the rounds; responses, non-2xx and errors include the warm-up)',
    '  (cpu µs/req: main-thread CPU per response, the servers\' own cost; unlike req/s it hardly moves when other processes share the cores)',
    `  round ratios ${scenario.ratioName} req/s: ${result.roundRatios.map((r) => r.toFixed(2)).join(', ')}`,
    ...(result.cpuRatio === null ? [] : [`  cpu per response ${scenario.ratioName}: ${result.cpuRatio.toFixed(2)}x (median of rounds)`]),
    ...[...result.evidence, ...extra].map((e) => `  ${e}`),
    ...result.failures.map((f) => `  FAILED: ${f}`),
    `ratio ${scenario.ratioName} req/s: ${result.ratio.toFixed(2)} (target >= ${scenario.targetRatio.toFixed(2)}) ${result.failures.length > 0 ? 'INVALID' : verdict}`,
  ];
  return out.join('\n');
}
