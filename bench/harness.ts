/**
 * The benchmarks that are not the request-path matrix (`matrix.ts`, `server-child.ts`): the
 * login flood and the sanitizer. Each drives its own load and has its own target.
 */

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
