import { accessSync, constants, statfsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Finding } from './findings.js';

/**
 * Why the data directory cannot be used, as a finding with a stable id, the path and the fix.
 * The error an operation reports is often not the cause: a recursive mkdir on a read-only
 * file system says ENOENT, and PGlite's virtual file system reports a bare errno number. So
 * the directory itself is examined (the nearest existing ancestor, its writability, the free
 * space) and the cause named from what is found.
 */
export function dataDirectoryFinding(path: string, err: unknown): Finding {
  const target = resolve(path);
  const code = errorCode(err);
  if (code === 'ENOSPC' || code === 'EDQUOT' || freeBytes(target) === 0) return diskFull(target, code === 'EDQUOT' ? 'EDQUOT' : 'ENOSPC');
  const probed = probe(target);
  if (probed !== null) return probed;
  return {
    id: 'RAMPART-E070',
    severity: 'error',
    setting: 'RAMPART_DATA_DIR',
    reason: `${target} cannot be used (${code ?? 'unknown error'})`,
    fix: 'Check that the directory exists or can be created, is writable by the user running Rampart, and that its file system is healthy; or point RAMPART_DATA_DIR at another directory.',
  };
}

/** The finding for an embedded database that another live process has open. */
export function databaseLockedFinding(databaseDir: string, holder: { readonly pid: number; readonly command: string; readonly since: string }): Finding {
  return {
    id: 'RAMPART-E072',
    severity: 'error',
    setting: 'RAMPART_DATA_DIR',
    reason: `the embedded database ${resolve(databaseDir)} is in use by process ${holder.pid} (${holder.command}, since ${holder.since}); two processes writing one PGlite directory lose data, so only one may open it`,
    fix: `Stop process ${holder.pid} first (a running Rampart server: make the change through it, e.g. its setup URL or the admin pages), or use another RAMPART_DATA_DIR. If no such process exists, delete ${resolve(databaseDir)}.lock.`,
  };
}

function diskFull(target: string, code: 'ENOSPC' | 'EDQUOT'): Finding {
  return {
    id: 'RAMPART-E071',
    severity: 'error',
    setting: 'RAMPART_DATA_DIR',
    reason: `the file system holding ${target} is full (${code}): the embedded database cannot write its files`,
    fix: 'Free space on that file system (or raise the quota, or grow the volume; a fresh embedded database needs about 50 MB), then start again. A database directory left half-created by the failed start can be deleted if it holds no data yet.',
  };
}

/** Names the cause when the directory or its nearest existing ancestor cannot be written. */
function probe(target: string): Finding | null {
  let existing = target;
   
  while (!exists(existing) && dirname(existing) !== existing) existing = dirname(existing);
  // eslint-disable-next-line security/detect-non-literal-fs-filename -- as above
  if (!statSync(existing).isDirectory()) {
    return {
      id: 'RAMPART-E070',
      severity: 'error',
      setting: 'RAMPART_DATA_DIR',
      reason: `${existing} is a file, so ${target} cannot be a directory (ENOTDIR)`,
      fix: 'Point RAMPART_DATA_DIR at a directory, or move the file out of the way.',
    };
  }
  try {
     
    accessSync(existing, constants.W_OK | constants.X_OK);
    return null;
  } catch (err) {
    const code = errorCode(err) ?? 'EACCES';
    const readOnly = code === 'EROFS';
    return {
      id: 'RAMPART-E070',
      severity: 'error',
      setting: 'RAMPART_DATA_DIR',
      reason: readOnly
        ? `${existing} is on a read-only file system (EROFS), so ${target} cannot be written`
        : `the user running Rampart (uid ${process.getuid?.() ?? 'unknown'}) may not write to ${existing} (${code})`,
      fix: readOnly
        ? 'Point RAMPART_DATA_DIR at a writable location (in a container, a volume mounted read-write), or remount the file system read-write.'
        : `Give that user write access (for example \`chown\` the directory to it), or point RAMPART_DATA_DIR at a directory it owns.`,
    };
  }
}

function exists(path: string): boolean {
  try {
    // eslint-disable-next-line security/detect-non-literal-fs-filename -- the path comes from validated configuration
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

function freeBytes(target: string): number | null {
  let existing = target;
  while (!exists(existing) && dirname(existing) !== existing) existing = dirname(existing);
  try {
     
    const stats = statfsSync(existing);
    return stats.bavail * stats.bsize;
  } catch {
    return null;
  }
}

// PGlite's Emscripten file system throws ErrnoError with its own errno numbers, not the host's.
const EMSCRIPTEN_ERRNO: Readonly<Record<number, string>> = Object.freeze({ 2: 'EACCES', 19: 'EDQUOT', 29: 'EIO', 44: 'ENOENT', 51: 'ENOSPC', 54: 'ENOTDIR', 63: 'EPERM', 69: 'EROFS' });
const MAX_CAUSE_DEPTH = 5;

/** The errno name of an error or of one in its cause chain (Node's `code`, or PGlite's ErrnoError number). */
function errorCode(err: unknown): string | undefined {
  let current: unknown = err;
  for (let depth = 0; depth < MAX_CAUSE_DEPTH && typeof current === 'object' && current !== null; depth += 1) {
    const { code, errno, name } = current as { code?: unknown; errno?: unknown; name?: unknown };
    if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return code;
    if (name === 'ErrnoError' && typeof errno === 'number') return EMSCRIPTEN_ERRNO[errno] ?? `errno ${errno}`;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}
