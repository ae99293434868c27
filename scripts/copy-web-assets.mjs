#!/usr/bin/env node
// tsc compiles only TypeScript: the pages' templates and static files are copied next to the
// compiled web plugin (dist/web/views, dist/web/static), where it looks for them.
import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function copyWebAssets(root = fileURLToPath(new URL('..', import.meta.url))) {
  for (const dir of ['views', 'static']) {
    const target = join(root, 'dist', 'web', dir);
    rmSync(target, { recursive: true, force: true });
    cpSync(join(root, 'src', 'web', dir), target, { recursive: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) copyWebAssets();
