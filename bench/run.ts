import { availableParallelism, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { isProcedure, runScenario, type BenchPlan, type BenchScenario, type ProcedureOptions } from './harness.js';
import { describePlan, measurementRow, scenarioSummary, tableHeader } from './report.js';
import { scenarios } from './scenarios/index.js';

const USAGE = `Usage: npm run bench -- [scenario ...] [options]

Runs every scenario, or only those named, each against its baseline in the same run.
Exit code 1 when a scenario cannot run or a response has an unexpected status or a
connection error; missing a ratio target is reported (MISS) but is not an error.

Options (bounded):
  --duration <s>       seconds per measured round and target   (1-30, default 5)
  --rounds <n>         measured rounds per target               (1-9, default 3)
  --warmup <s>         warm-up seconds per target, 0 for none   (0-30, default 2)
  --connections <n>    concurrent connections                   (1-500, default 50)
  --list               list the scenarios and exit
  --help               this text

login-flood has its own shape: 200 connections and 10 s per flood phase unless
--connections or --duration is given; it has no rounds.`;

function bounded(name: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) throw new RangeError(`--${name} must be an integer from ${min} to ${max} (got ${text})`);
  return value;
}

function parse(): { plan: BenchPlan; procedure: ProcedureOptions; selected: readonly BenchScenario[] } | null {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      duration: { type: 'string' },
      rounds: { type: 'string', default: '3' },
      warmup: { type: 'string', default: '2' },
      connections: { type: 'string' },
      list: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return null;
  }
  if (values.list) {
    for (const s of scenarios) console.log(`${s.name.padEnd(20)} ${s.description} (target ${isProcedure(s) ? s.target : `${s.ratioName} >= ${s.targetRatio}`})`);
    return null;
  }
  const names = scenarios.map((s) => s.name);
  const duplicate = names.find((name, i) => names.indexOf(name) !== i);
  if (duplicate !== undefined) throw new Error(`two scenarios are named ${duplicate}: names must be unique`);
  const unknown = positionals.filter((name) => !scenarios.some((s) => s.name === name));
  if (unknown.length > 0) throw new RangeError(`unknown scenario ${unknown.join(', ')}; known: ${scenarios.map((s) => s.name).join(', ')}`);
  // Given explicitly or not: a procedure scenario has its own defaults.
  const duration = values.duration === undefined ? undefined : bounded('duration', values.duration, 1, 30);
  const connections = values.connections === undefined ? undefined : bounded('connections', values.connections, 1, 500);
  const warmupSeconds = bounded('warmup', values.warmup, 0, 30);
  const plan: BenchPlan = {
    warmupSeconds,
    rounds: bounded('rounds', values.rounds, 1, 9),
    load: { durationSeconds: duration ?? 5, connections: connections ?? 50, pipelining: 1 },
  };
  const procedure: ProcedureOptions = {
    warmupSeconds,
    ...(duration === undefined ? {} : { durationSeconds: duration }),
    ...(connections === undefined ? {} : { connections }),
  };
  return { plan, procedure, selected: positionals.length === 0 ? scenarios : scenarios.filter((s) => positionals.includes(s.name)) };
}

function loadLine(): string {
  const [oneMinute = 0] = loadavg();
  const busy = oneMinute > availableParallelism() ? ': other processes competed for the cores, so req/s is noisy; the cpu column is not' : '';
  return `load average now ${loadavg().map((l) => l.toFixed(2)).join(' ')} on ${availableParallelism()} CPUs${busy}`;
}

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parse();
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${USAGE}`);
    return 2;
  }
  if (parsed === null) return 0;
  const { plan, procedure, selected } = parsed;
  console.log(`rampart bench: node ${process.version}; ${loadLine()}`);
  if (selected.some((s) => !isProcedure(s))) console.log(describePlan(plan));
  let failed = false;
  for (const scenario of selected) {
    console.log(`\n${scenario.name}: ${scenario.description}`);
    if (isProcedure(scenario)) {
      try {
        const result = await scenario.run(procedure, (line) => {
          console.log(line);
        });
        console.log(`  ${loadLine()}`);
        for (const failure of result.failures) console.log(`  FAILED: ${failure}`);
        console.log(result.verdictLine);
        if (result.failures.length > 0) failed = true;
      } catch (err) {
        failed = true;
        const cause = err instanceof Error && err.cause instanceof Error ? ` (${err.cause.message})` : '';
        console.error(`${scenario.name}: could not run: ${err instanceof Error ? err.message : String(err)}${cause}`);
      }
      continue;
    }
    try {
      const result = await runScenario(scenario, plan, {
        started: (notes) => {
          for (const note of notes) console.log(`  ${note}`);
          console.log(tableHeader());
        },
        measured: (m) => {
          console.log(measurementRow(m));
        },
      });
      console.log(scenarioSummary(result, [loadLine()]));
      if (result.failures.length > 0) failed = true;
    } catch (err) {
      failed = true;
      const cause = err instanceof Error && err.cause instanceof Error ? ` (${err.cause.message})` : '';
      console.error(`${scenario.name}: could not run: ${err instanceof Error ? err.message : String(err)}${cause}`);
    }
  }
  return failed ? 1 : 0;
}

process.exitCode = await main();
