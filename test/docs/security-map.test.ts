import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

// The map in SECURITY.md ("Protections and the tests that attack them") is only useful while it
// is true: these checks fail when a linked file moves or a security plugin has no row.
const root = new URL('../../', import.meta.url);
const security = readFileSync(new URL('SECURITY.md', root), 'utf8');
const HEADING = '## Protections and the tests that attack them';

interface MapRow {
  readonly protection: string;
  readonly implementation: readonly string[];
  readonly attacks: readonly string[];
}

function links(cell: string): string[] {
  return [...cell.matchAll(/\[([^\]]+)\]\(([^)]+)\)/g)].map((m) => {
    const [, text, target] = m;
    assert.ok(text !== undefined && target !== undefined);
    assert.equal(text, target, `a link's text names its file exactly: [${text}](${target})`);
    return target;
  });
}

function mapRows(): MapRow[] {
  const start = security.indexOf(HEADING);
  assert.ok(start >= 0, `SECURITY.md has the section "${HEADING.slice(3)}"`);
  const rest = security.slice(start + HEADING.length);
  const end = rest.search(/^## /m);
  const lines = (end === -1 ? rest : rest.slice(0, end)).split('\n').filter((line) => line.startsWith('|'));
  assert.equal(lines[0], '| Protection | Implemented in | Attacked by |');
  assert.equal(lines[1], '| --- | --- | --- |');
  return lines.slice(2).map((line) => {
    const cells = line.slice(1, -1).split('|').map((cell) => cell.trim());
    assert.equal(cells.length, 3, `a row has three cells: ${line}`);
    const [protection = '', implementation = '', attacks = ''] = cells;
    return { protection, implementation: links(implementation), attacks: links(attacks) };
  });
}

describe('the protection map in SECURITY.md', () => {
  const rows = mapRows();

  it('names each protection once, with one implementing file and at least one attack test', () => {
    assert.ok(rows.length >= 30, `the map has ${String(rows.length)} rows`);
    const names = rows.map((row) => row.protection);
    assert.equal(new Set(names).size, names.length, 'no protection is listed twice');
    for (const row of rows) {
      assert.ok(row.protection.length > 0, 'every row names its protection');
      assert.equal(row.implementation.length, 1, `${row.protection}: exactly one implementing file`);
      assert.ok(row.attacks.length > 0, `${row.protection}: at least one attack test`);
      for (const test of row.attacks) assert.match(test, /^test\/.+\.test\.ts$/, `${row.protection}: ${test} is a test file under test/`);
    }
  });

  it('links only files that exist', () => {
    for (const row of rows) {
      for (const path of [...row.implementation, ...row.attacks]) {
        assert.ok(!path.startsWith('/') && !path.includes('..'), `${path} is relative to the repository root`);
        assert.ok(existsSync(new URL(path, root)), `${row.protection}: ${path} does not exist`);
      }
    }
  });

  it('has a row for every Fastify plugin under src/security/', () => {
    const mapped = new Set(rows.flatMap((row) => row.implementation));
    const plugins = readdirSync(new URL('src/security/', root))
      .filter((name) => name.endsWith('.ts'))
      .map((name) => `src/security/${name}`)
      .filter((path) => /\bfp\s*[<(]|Plugin\s*=/.test(readFileSync(new URL(path, root), 'utf8')));
    assert.ok(plugins.length >= 10, `found ${String(plugins.length)} plugin files`);
    const missing = plugins.filter((path) => !mapped.has(path));
    assert.deepEqual(missing, [], 'every security plugin implements a protection listed in the map');
  });
});
