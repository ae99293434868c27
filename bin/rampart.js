#!/usr/bin/env node
// The `rampart` command. It runs the compiled CLI; in a checkout, `npm run rampart -- …` builds first.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../dist/cli/index.js', import.meta.url));
if (!existsSync(cli)) {
  process.stderr.write('rampart: dist/ is missing; run `npm run build` (or use `npm run rampart -- …` in a checkout).\n');
  process.exit(1);
}
await import(cli);
