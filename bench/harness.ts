import { measure, type LoadShape, type LoadTarget, type Sample } from './load.js';

/**
 * One benchmark: a subject measured against its baseline in the same run. Later issues add
 * scenarios (login flood, bearer vs cookie, posts list) to `scenarios/index.ts`.
 */
export interface Scenario {
  /** What `npm run bench -- <name>` selects. */
  readonly name: string;
  readonly description: string;
  /** How the ratio line names the pair, e.g. `rampart/bare`. */
  readonly ratioName: string;
  /** The subject's req/s must reach this fraction of the baseline's (median of rounds). */
  readonly targetRatio: number;
  /** Starts both servers and checks that each answers the request as expected. */
  start(): Promise<ScenarioTargets>;
}

/** What the command line set explicitly; a procedure scenario fills in its own defaults for the rest. */
export interface ProcedureOptions {
  /** `--duration`, when given: seconds of each loaded phase. */
  readonly durationSeconds?: number;
  /** `--connections`, when given. */
  readonly connections?: number;
  /** `--warmup` (or its default): seconds of unmeasured warm-up. */
  readonly warmupSeconds: number;
}

/** What a procedure scenario concluded. */
export interface ProcedureResult {
  /** The final line, ending in PASS, MISS or INVALID. */
  readonly verdictLine: string;
  /** Why the run is invalid (unexpected statuses, connection errors); empty when it is not. */
  readonly failures: readonly string[];
}

/**
 * A benchmark that is not the req/s ratio of a subject to a baseline: it drives its own load
 * and measures against its own target, e.g. the login flood, whose target is the event-loop
 * delay of the server while it is attacked. It prints as it goes and closes what it starts.
 */
export interface ProcedureScenario {
  readonly kind: 'procedure';
  readonly name: string;
  readonly description: string;
  /** The target, as `--list` prints it. */
  readonly target: string;
  run(options: ProcedureOptions, print: (line: string) => void): Promise<ProcedureResult>;
}

/** Anything `scenarios/index.ts` may list. */
export type BenchScenario = Scenario | ProcedureScenario;

export function isProcedure(scenario: BenchScenario): scenario is ProcedureScenario {
  return 'kind' in scenario;
}

/** The running servers of a scenario; the harness closes them whatever happens. */
export interface ScenarioTargets {
  readonly subject: LoadTarget;
  readonly baseline: LoadTarget;
  /** Printed before the measurements: what is on and how it is configured. */
  readonly notes: readonly string[];
  /** Runs after the measurements, before close: evidence for the report (e.g. the limiter counted). */
  afterRounds?(totals: RunTotals): Promise<readonly string[]>;
  close(): Promise<void>;
}

export interface RunTotals {
  /** Responses each target gave over the whole run, warm-up included. */
  readonly subjectResponses: number;
  readonly baselineResponses: number;
}

export interface BenchPlan {
  readonly warmupSeconds: number;
  readonly rounds: number;
  readonly load: LoadShape;
}

export interface Measurement {
  /** 0 for the warm-up. */
  readonly round: number;
  readonly role: 'subject' | 'baseline';
  readonly label: string;
  readonly sample: Sample;
}

export interface ScenarioResult {
  readonly scenario: Scenario;
  readonly subjectLabel: string;
  readonly baselineLabel: string;
  readonly notes: readonly string[];
  readonly measurements: readonly Measurement[];
  /** Subject req/s over baseline req/s, one per round. */
  readonly roundRatios: readonly number[];
  /** Median of the round ratios. */
  readonly ratio: number;
  /** Subject main-thread CPU per response over the baseline's, median of rounds; null off Linux. */
  readonly cpuRatio: number | null;
  readonly evidence: readonly string[];
  /** Why the run is invalid (unexpected statuses, connection errors); empty when it is not. */
  readonly failures: readonly string[];
}

/** What the caller sees while a scenario runs. */
export interface RunHooks {
  /** The scenario's notes, once its targets are up and before any load. */
  readonly started: (notes: readonly string[]) => void;
  /** Each measurement as it completes. */
  readonly measured: (m: Measurement) => void;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function mean(values: readonly number[]): number {
  return values.length === 0 ? Number.NaN : values.reduce((sum, v) => sum + v, 0) / values.length;
}

function problems(m: Measurement): string[] {
  const where = m.round === 0 ? 'warm-up' : `round ${m.round}`;
  const out: string[] = [];
  if (m.sample.unexpected > 0) {
    const statuses = Object.entries(m.sample.statusCounts).map(([status, count]) => `${status}×${count}`).join(', ');
    out.push(`${m.label}, ${where}: ${m.sample.unexpected} responses with an unexpected status (${statuses})`);
  }
  if (m.sample.errors > 0) out.push(`${m.label}, ${where}: ${m.sample.errors} connection errors or timeouts`);
  if (m.sample.responses === 0) out.push(`${m.label}, ${where}: no responses at all`);
  return out;
}

/**
 * Runs one scenario: a warm-up of each target, then rounds that alternate the two, the
 * first target swapping every round (ABBA) so neither always runs on a warmer machine.
 */
export async function runScenario(scenario: Scenario, plan: BenchPlan, hooks: RunHooks): Promise<ScenarioResult> {
  const targets = await scenario.start();
  try {
    hooks.started(targets.notes);
    const measurements: Measurement[] = [];
    const run = async (round: number, role: 'subject' | 'baseline', shape: LoadShape): Promise<Measurement> => {
      const target = role === 'subject' ? targets.subject : targets.baseline;
      const m: Measurement = { round, role, label: target.label, sample: await measure(target, shape) };
      measurements.push(m);
      hooks.measured(m);
      return m;
    };
    if (plan.warmupSeconds > 0) {
      const warmup = { ...plan.load, durationSeconds: plan.warmupSeconds };
      await run(0, 'baseline', warmup);
      await run(0, 'subject', warmup);
    }
    const roundRatios: number[] = [];
    const cpuRatios: number[] = [];
    for (let round = 1; round <= plan.rounds; round++) {
      const order: readonly ('subject' | 'baseline')[] = round % 2 === 1 ? ['baseline', 'subject'] : ['subject', 'baseline'];
      const pair: Partial<Record<'subject' | 'baseline', Sample>> = {};
      for (const role of order) pair[role] = (await run(round, role, plan.load)).sample;
      const subject = pair.subject!;
      const baseline = pair.baseline!;
      roundRatios.push(subject.requestsPerSecond / baseline.requestsPerSecond);
      if (subject.cpuMicrosPerResponse !== null && baseline.cpuMicrosPerResponse !== null) cpuRatios.push(subject.cpuMicrosPerResponse / baseline.cpuMicrosPerResponse);
    }
    const total = (role: 'subject' | 'baseline') => measurements.filter((m) => m.role === role).reduce((sum, m) => sum + m.sample.responses, 0);
    const evidence = targets.afterRounds === undefined ? [] : await targets.afterRounds({ subjectResponses: total('subject'), baselineResponses: total('baseline') });
    return {
      scenario,
      subjectLabel: targets.subject.label,
      baselineLabel: targets.baseline.label,
      notes: targets.notes,
      measurements,
      roundRatios,
      ratio: median(roundRatios),
      cpuRatio: cpuRatios.length === roundRatios.length && cpuRatios.length > 0 ? median(cpuRatios) : null,
      evidence,
      failures: measurements.flatMap(problems),
    };
  } finally {
    await targets.close();
  }
}
