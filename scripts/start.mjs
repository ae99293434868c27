#!/usr/bin/env node
// `npm start` and `npm run rampart`: build dist/ when any source is newer than the last
// build, then run the server (or, with --cli, the rampart command with the remaining args).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { copyWebAssets } from './copy-web-assets.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const stamp = join(root, 'dist', '.build-stamp');

function newestSource(dir) {
  let newest = 0;
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    const stats = statSync(path);
    newest = Math.max(newest, stats.isDirectory() ? newestSource(path) : stats.mtimeMs);
  }
  return newest;
}

const sources = Math.max(newestSource(join(root, 'src')), statSync(join(root, 'tsconfig.json')).mtimeMs, statSync(join(root, 'tsconfig.build.json')).mtimeMs);
if (!existsSync(stamp) || statSync(stamp).mtimeMs < sources) {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  if (!existsSync(tsc)) {
    console.error('dist/ is out of date and TypeScript is not installed: run `npm ci` first.');
    process.exit(1);
  }
  process.stderr.write('Building Rampart (tsc)…\n');
  const result = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
  copyWebAssets(root);
  writeFileSync(stamp, new Date().toISOString());
}

const cli = process.argv[2] === '--cli';
if (cli) process.argv.splice(2, 1);
if (cli) await import(pathToFileURL(join(root, 'dist', 'cli', 'index.js')).href);
else await (await import(pathToFileURL(join(root, 'dist', 'server.js')).href)).runServer();
