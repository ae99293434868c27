/** One line of a job's progress. */
export interface ProgressLine {
  readonly job: string;
  readonly column: string;
  readonly done: number;
  readonly total: number;
}

const BAR_WIDTH = 30;

/**
 * Progress on stderr: a bar redrawn in place on a terminal; one JSON line per batch otherwise
 * (`{"progress":"rotate-encryption","column":"users.email_ciphertext","done":500,"total":1200}`),
 * for a log collector or a script. Stdout keeps the summary only.
 */
export function progressReporter(stream: NodeJS.WriteStream = process.stderr): { update(line: ProgressLine): void; end(): void } {
  let drawn = false;
  return {
    update({ job, column, done, total }) {
      if (stream.isTTY) {
        const share = total === 0 ? 1 : Math.min(1, done / total);
        const filled = Math.round(share * BAR_WIDTH);
        stream.write(`\r${job} ${column} [${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${done}/${total} (${Math.round(share * 100)}%)`);
        drawn = true;
        if (done >= total) {
          stream.write('\n');
          drawn = false;
        }
        return;
      }
      stream.write(`${JSON.stringify({ progress: job, column, done, total })}\n`);
    },
    end() {
      if (drawn) stream.write('\n');
      drawn = false;
    },
  };
}
