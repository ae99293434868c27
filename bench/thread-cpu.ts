import { readFileSync } from 'node:fs';

// Linux reports per-thread CPU in clock ticks; USER_HZ is 100 on every mainstream kernel.
const MICROS_PER_TICK = 10_000;

/** user + system CPU (µs) from a /proc `stat` file, or null where it cannot be read. */
function statCpuMicros(path: string): number | null {
  let stat: string;
  try {
    stat = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may hold spaces; count fields after it.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return Number.isFinite(utime) && Number.isFinite(stime) ? (utime + stime) * MICROS_PER_TICK : null;
}

/**
 * CPU time (user + system, µs) the main thread has used so far, from
 * /proc/self/task/<pid>/stat; null where that file does not exist (not Linux). The login
 * flood's server runs on this process's main thread (its load in processes of its own), so the
 * difference over a phase is the server thread's CPU alone. Resolution is 10 ms, fine over a
 * run of seconds.
 */
export function mainThreadCpuMicros(): number | null {
  return statCpuMicros(`/proc/self/task/${process.pid}/stat`);
}

/**
 * How long (µs) the main thread has waited on a run queue so far: runnable, but no CPU free
 * to run it (field 2 of /proc/self/task/<pid>/schedstat); null where the kernel does not
 * report it. Event-loop delay that is not the server's own work shows up here.
 */
export function mainThreadRunQueueWaitMicros(): number | null {
  let text: string;
  try {
    text = readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8');
  } catch {
    return null;
  }
  const waitNs = Number(text.trim().split(' ')[1]);
  return Number.isFinite(waitNs) ? waitNs / 1_000 : null;
}

/** CPU time (µs) of the calling thread (a worker reads its own), from /proc/thread-self/stat; null off Linux. */
export function currentThreadCpuMicros(): number | null {
  return statCpuMicros('/proc/thread-self/stat');
}

/** CPU time (µs) of the whole process, every thread included (libuv's threadpool, where Argon2 runs, too). */
export function processCpuMicros(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}
