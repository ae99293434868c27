/**
 * The bench's arithmetic, kept pure so `test/bench/stats.test.ts` can check it: CPU time from
 * /proc stat lines, CPU per request, medians and spread, and the validity rule.
 */

/** Linux reports CPU in clock ticks of USER_HZ, 100 on every mainstream kernel. */
export const TICKS_PER_SECOND = 100;
/** A run whose load generator used more than this share of its core measured the generator. */
export const GENERATOR_SATURATION_PERCENT = 90;

/** user + system CPU time, in clock ticks, from the text of a `/proc/<pid>/stat` (or `task/<tid>/stat`) file. */
export function parseProcStatTicks(stat: string): { utime: number; stime: number } {
  // Field 2 (the command name) is in parentheses and may hold spaces or parentheses: count after the last `)`.
  const close = stat.lastIndexOf(')');
  if (close < 0) throw new Error('not a /proc stat line: no command name');
  const fields = stat.slice(close + 2).trim().split(/\s+/);
  // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name (index 11 and 12).
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isInteger(utime) || !Number.isInteger(stime) || utime < 0 || stime < 0) throw new Error('not a /proc stat line: utime/stime missing');
  return { utime, stime };
}

/** CPU µs spent between two stat samples of the same process. */
export function cpuMicrosBetween(before: string, after: string, ticksPerSecond = TICKS_PER_SECOND): number {
  const a = parseProcStatTicks(before);
  const b = parseProcStatTicks(after);
  const ticks = b.utime + b.stime - (a.utime + a.stime);
  if (ticks < 0) throw new Error('CPU time went backwards: the two samples are not of the same process');
  return (ticks * 1_000_000) / ticksPerSecond;
}

/** Server CPU µs per request: the utime+stime delta over the requests answered; null with no requests. */
export function cpuMicrosPerRequest(before: string, after: string, requests: number, ticksPerSecond = TICKS_PER_SECOND): number | null {
  if (requests <= 0) return null;
  return cpuMicrosBetween(before, after, ticksPerSecond) / requests;
}

/** The children's user and system seconds from bash's `times` builtin (its second line). */
export function parseBashTimes(output: string): { userSeconds: number; systemSeconds: number } {
  const lines = output.trim().split('\n').map((l) => l.trim()).filter((l) => /^\d+m[\d.]+s\s+\d+m[\d.]+s$/.test(l));
  const children = lines.at(-1);
  if (lines.length < 2 || children === undefined) throw new Error(`no children's times in: ${output.slice(0, 200)}`);
  const seconds = (text: string): number => {
    const match = /^(\d+)m([\d.]+)s$/.exec(text);
    if (match === null) throw new Error(`bad time ${text}`);
    return Number(match[1]) * 60 + Number(match[2]);
  };
  const [user = '', system = ''] = children.split(/\s+/);
  return { userSeconds: seconds(user), systemSeconds: seconds(system) };
}

/** Share of one core (in %) that `cpuSeconds` of CPU over `wallSeconds` is. */
export function percentOfCore(cpuSeconds: number, wallSeconds: number): number {
  return wallSeconds <= 0 ? Number.NaN : (cpuSeconds / wallSeconds) * 100;
}

/** The validity rule: a measurement is invalid when its load generator was saturated. */
export function generatorSaturated(generatorPercent: number, threshold = GENERATOR_SATURATION_PERCENT): boolean {
  return !(generatorPercent <= threshold);
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** Median, range and the range relative to the median (0.1 = the rounds spread over 10% of it). */
export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly relative: number;
}

export function spread(values: readonly number[]): Spread {
  if (values.length === 0) return { median: Number.NaN, min: Number.NaN, max: Number.NaN, relative: Number.NaN };
  const m = median(values);
  const min = Math.min(...values);
  const max = Math.max(...values);
  return { median: m, min, max, relative: m === 0 ? Number.NaN : (max - min) / m };
}

/** `a / b`, or null when either is missing or b is 0. */
export function ratio(a: number | null, b: number | null): number | null {
  return a === null || b === null || b === 0 || !Number.isFinite(a) || !Number.isFinite(b) ? null : a / b;
}

/**
 * The order of the targets in round `round` (1-based): rotated every round, so no target
 * always runs first, right after another's load, or on a warmer machine.
 */
export function roundOrder<T>(targets: readonly T[], round: number): T[] {
  const shift = (round - 1) % Math.max(1, targets.length);
  return [...targets.slice(shift), ...targets.slice(0, shift)];
}
