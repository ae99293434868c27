import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { ESLint, type Linter } from 'eslint';

const root = fileURLToPath(new URL('../../', import.meta.url));
const fixture = 'test/fixtures/lint/code-injection.ts';

/**
 * The bans issue 15 asks for; each must be an error somewhere in the fixture. On TypeScript
 * the typed `@typescript-eslint/no-implied-eval` is the working form of `no-implied-eval`
 * (the core rule cannot see that `setTimeout` is the global one without type information).
 */
const REQUIRED_RULES = [
  'no-eval',
  '@typescript-eslint/no-implied-eval',
  'no-new-func',
  'security/detect-child-process',
  'security/detect-non-literal-require',
  'security/detect-eval-with-expression',
  'no-restricted-syntax',
];

/** `// expect: rule, rule` comments, by 1-based line. */
function expectations(source: string): Map<number, string[]> {
  const out = new Map<number, string[]>();
  source.split('\n').forEach((line, index) => {
    const m = /\/\/ expect: (.+)$/.exec(line);
    if (m?.[1] !== undefined) out.set(index + 1, m[1].split(',').map((rule) => rule.trim()));
  });
  return out;
}

test('every code-injection construct in the fixture is a lint error, with the project configuration', async () => {
  const source = await readFile(new URL(`../../${fixture}`, import.meta.url), 'utf8');
  const expected = expectations(source);
  for (const rule of REQUIRED_RULES) {
    assert.ok([...expected.values()].some((rules) => rules.includes(rule)), `the fixture exercises ${rule}`);
  }

  // ignore: false, because the project ignores the fixture so `npm run lint` stays green.
  const eslint = new ESLint({ cwd: root, ignore: false });
  const [result] = await eslint.lintFiles([fixture]);
  assert.ok(result, 'ESLint linted the fixture');
  assert.equal(result.fatalErrorCount, 0, JSON.stringify(result.messages.filter((m) => m.fatal === true)));

  for (const [line, rules] of expected) {
    for (const rule of rules) {
      const hit: Linter.LintMessage | undefined = result.messages.find((m) => m.line === line && m.ruleId === rule);
      assert.ok(hit, `line ${line}: ${rule} fires`);
      assert.equal(hit.severity, 2, `line ${line}: ${rule} is an error, not a warning`);
    }
  }
});

test('the fixture is excluded from the normal lint run', async () => {
  const eslint = new ESLint({ cwd: root });
  assert.equal(await eslint.isPathIgnored(fixture), true);
});
