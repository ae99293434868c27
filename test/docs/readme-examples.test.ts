/**
 * The README's shell examples are run as written. Every fenced `sh` block that follows a
 * `<!-- readme-test -->` line is taken, in order, into one bash script, which runs against a
 * development server (embedded defaults on the embedded target, the run's PostgreSQL and Redis
 * on the real one) started from its own empty working directory, so `./data/...` paths in the
 * examples mean what they mean for a new user. Only the port differs: `127.0.0.1:3000` and
 * `localhost:3000` become the test server's port. A curl that gets an HTTP error status, or any
 * failing command, fails the test with the script's output.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { childEnvironment, LoggingProcess, REPO_ROOT, within } from '../fixtures/processes.js';
import { freePort } from '../helpers/build.js';
import { targetServiceEnvironment } from '../helpers/stores.js';

const MARKER = '<!-- readme-test -->';

/** The marked `sh` blocks of the README, in order, with the line each starts on. */
export function markedShellBlocks(markdown: string): { readonly line: number; readonly code: string }[] {
  const lines = markdown.split('\n');
  const blocks: { line: number; code: string }[] = [];
  for (let i = 0; i < lines.length; i += 1) {
    if (lines[i]?.trim() !== MARKER) continue;
    const fence = lines[i + 1]?.trim();
    if (fence !== '```sh') throw new Error(`README line ${i + 1}: ${MARKER} must be followed by a \`\`\`sh fence`);
    const body: string[] = [];
    let j = i + 2;
    for (; j < lines.length && lines[j]?.trim() !== '```'; j += 1) body.push(lines[j] ?? '');
    if (j >= lines.length) throw new Error(`README line ${i + 2}: unclosed code block`);
    blocks.push({ line: i + 3, code: body.join('\n') });
    i = j;
  }
  return blocks;
}

async function waitUntilServing(origin: string, server: LoggingProcess): Promise<void> {
  const deadline = Date.now() + 180_000;
  for (;;) {
    if (!server.running) throw new Error(`the server exited before serving\nstdout:\n${server.stdoutText}\nstderr:\n${server.stderr}`);
    try {
      const response = await fetch(`${origin}/healthz`);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`the server did not serve within 180 s\nstdout:\n${server.stdoutText}\nstderr:\n${server.stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

function runBash(script: string, cwd: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', script], { cwd, env: childEnvironment({ HOME: cwd }), stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
    });
    child.on('close', (code) => {
      resolve({ code, output });
    });
  });
}

describe('the README examples', () => {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const blocks = markedShellBlocks(readme);
  let workdir = '';
  let server: LoggingProcess | undefined;
  let port = 0;

  before(async () => {
    workdir = mkdtempSync(join(tmpdir(), 'rampart-readme-'));
    port = await freePort();
    const env: Record<string, string> = {
      NODE_ENV: 'development',
      RAMPART_PORT: String(port),
      RAMPART_DATA_DIR: join(workdir, 'data'),
      RAMPART_LOG_LEVEL: 'warn',
      ...targetServiceEnvironment('readme'),
    };
    const entry = join(REPO_ROOT, 'test', 'fixtures', 'server.ts');
    server = new LoggingProcess(entry, [], childEnvironment(env));
    await waitUntilServing(`http://127.0.0.1:${port}`, server);
  });

  after(async () => {
    if (server?.running === true) {
      server.child.kill('SIGTERM');
      await within(server.exited, 30_000, 'the README server to stop').catch(() => server?.stop());
    }
    rmSync(workdir, { recursive: true, force: true });
  });

  test('marks the examples that a new user types', () => {
    assert.ok(blocks.length >= 4, `expected the README to mark its curl examples with ${MARKER}, found ${blocks.length}`);
    for (const block of blocks) assert.match(block.code, /curl /, `README line ${block.line}: a marked block runs curl`);
  });

  test('run as written against a development server, every request succeeds', async () => {
    const script = [
      'set -euo pipefail',
      // A failed HTTP status fails the example, with the body in the output.
      'curl() { command curl --fail-with-body --silent --show-error --max-time 30 "$@"; }',
      ...blocks.map((block) => `echo "== README line ${block.line}"\n${block.code}`),
    ].join('\n').replaceAll('127.0.0.1:3000', `127.0.0.1:${port}`).replaceAll('localhost:3000', `localhost:${port}`);
    const { code, output } = await runBash(script, workdir);
    assert.equal(code, 0, `the README examples failed:\n${output}`);
  });
});
