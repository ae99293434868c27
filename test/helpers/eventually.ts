import { setTimeout as delay } from 'node:timers/promises';

// A change made on one instance must show on the others within a second. Polled a bounded
// number of times (10 × 100 ms), never timed: the assertion is on what the other instance answers.
const POLLS = 10;
const POLL_MS = 100;

/** True as soon as `check` holds, false when it still does not after about a second of polls. */
export async function withinOneSecond(check: () => Promise<boolean>): Promise<boolean> {
  for (let poll = 0; poll < POLLS; poll += 1) {
    if (await check()) return true;
    await delay(POLL_MS);
  }
  return false;
}
