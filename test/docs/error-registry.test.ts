import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { ERROR_OWNERS, ERRORS } from '../../src/app.js';
import { collectErrors, defineErrors } from '../../src/security/errors.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const readme = readFileSync(join(root, 'README.md'), 'utf8');

/** An error code as a string: what may be written only once, as a key of `defineErrors`. */
const QUOTED_CODE = /\b[A-Z][A-Z0-9]*_ERR_[A-Z0-9_]+/;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.(?:ts|js|mjs)$/.test(entry.name) ? [path] : [];
  });
}

interface Finding {
  readonly line: number;
  readonly text: string;
}

/**
 * Every string literal (quoted, or a template's text) holding an error code, and every call of
 * `defineErrors`, in one file's source. Comments and identifiers are not literals: a JSDoc
 * naming `AUTH_ERR_UNAUTHENTICATED`, or an import of the constant, is fine.
 */
function scan(fileName: string, text: string): { quoted: Finding[]; definitions: number; fastifyErrorImports: number } {
  const file = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, fileName.endsWith('.ts') ? ts.ScriptKind.TS : ts.ScriptKind.JS);
  const quoted: Finding[] = [];
  let definitions = 0;
  let fastifyErrorImports = 0;
  const visit = (node: ts.Node): void => {
    if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node) || ts.isTemplateHead(node) || ts.isTemplateMiddle(node) || ts.isTemplateTail(node)) {
      if (QUOTED_CODE.test(node.text)) {
        quoted.push({ line: file.getLineAndCharacterOfPosition(node.getStart(file)).line + 1, text: node.text });
      }
    }
    if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === 'defineErrors') definitions++;
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier !== undefined && ts.isStringLiteral(node.moduleSpecifier) && node.moduleSpecifier.text === '@fastify/error') fastifyErrorImports++;
    ts.forEachChild(node, visit);
  };
  visit(file);
  return { quoted, definitions, fastifyErrorImports };
}

/** README's error table: code → status, from the rows under "## Error codes". */
function documentedCodes(): Map<string, number> {
  const section = readme.slice(readme.indexOf('\n## Error codes\n'));
  const table = section.slice(0, section.indexOf('\n\n', section.indexOf('| Code |')));
  const rows = new Map<string, number>();
  for (const m of table.matchAll(/^\| `([A-Z][A-Z0-9]*_ERR_[A-Z0-9_]+)` \| (\d{3}) \|/gm)) {
    assert.ok(!rows.has(m[1] ?? ''), `${m[1] ?? ''} has two rows in README's error table`);
    rows.set(m[1] ?? '', Number(m[2]));
  }
  return rows;
}

describe('the error registry', () => {
  it('keys every coded error by its own code, on the constructor and on its instances', () => {
    for (const owner of ERROR_OWNERS) {
      for (const [key, E] of Object.entries(owner)) {
        assert.equal(E.code, key);
        assert.ok(Object.isFrozen(owner), `the owner of ${key} is not frozen`);
        const error = new (E as unknown as new () => Error & { code: string; statusCode: number })();
        assert.equal(error.code, key);
        assert.equal(error.statusCode, E.statusCode, key);
      }
    }
  });

  it('holds every owner\'s codes once: no code is defined by two owners, or twice by one', () => {
    const defined = ERROR_OWNERS.reduce((sum, owner) => sum + Object.keys(owner).length, 0);
    assert.ok(defined >= 50, `only ${defined} codes`);
    assert.equal(ERRORS.size, defined);
    assert.equal(new Set([...ERRORS.values()].map((E) => E.code)).size, defined);
  });

  it('refuses a key that is not its code, a code two owners define, and a malformed definition', () => {
    const accounts = ERROR_OWNERS.find((owner) => 'AUTH_ERR_INVALID_CREDENTIALS' in owner);
    assert.ok(accounts !== undefined);
    assert.throws(() => collectErrors([...ERROR_OWNERS, defineErrors({ AUTH_ERR_INVALID_CREDENTIALS: ['again', 401] })]), /AUTH_ERR_INVALID_CREDENTIALS is defined twice/);
    assert.throws(() => collectErrors([{ AUTH_ERR_LOCKED: { code: 'AUTH_ERR_LOCKOUT', statusCode: 429, message: 'x' } }]), /the error under AUTH_ERR_LOCKED has the code AUTH_ERR_LOCKOUT/);
    assert.throws(() => defineErrors({ auth_err_lower: ['x', 400] }), TypeError);
    assert.throws(() => defineErrors({ FST_ERR_OURS: ['x', 400] }), TypeError);
    assert.throws(() => defineErrors({ DEMO_ERR_STATUS: ['x', 302] }), TypeError);
    assert.throws(() => { (accounts as Record<string, unknown>).AUTH_ERR_NEW = {}; }, TypeError, 'an owner cannot be added to after it is defined');
  });

  it('has a row in README\'s error table, with the same status, for every code, and no row for a code that does not exist', () => {
    const rows = documentedCodes();
    for (const [code, E] of ERRORS) {
      assert.ok(rows.has(code), `${code} is missing from README's error table`);
      assert.equal(rows.get(code), E.statusCode, `README gives ${code} another status`);
    }
    for (const code of rows.keys()) assert.ok(ERRORS.has(code), `README documents ${code}, which no owner defines`);
  });

  it('finds no error code written as a string in src/: each is written once, as a defineErrors key', () => {
    const files = sourceFiles(join(root, 'src'));
    assert.ok(files.some((f) => f.endsWith(join('src', 'app.ts'))) && files.length > 100, `scanned only ${files.length} files`);
    const quoted: string[] = [];
    let definitions = 0;
    const fastifyErrorImports: string[] = [];
    for (const file of files) {
      const found = scan(file, readFileSync(file, 'utf8'));
      const name = relative(root, file);
      quoted.push(...found.quoted.map((f) => `${name}:${f.line} ${JSON.stringify(f.text)}`));
      if (found.fastifyErrorImports > 0) fastifyErrorImports.push(name);
      definitions += found.definitions;
    }
    assert.deepEqual(quoted, [], 'import the error and use its .code (or pass it to fail) instead');
    assert.deepEqual(fastifyErrorImports, [join('src', 'platform', 'errors.ts')], 'coded errors are made with defineErrors only');
    assert.equal(definitions, ERROR_OWNERS.length, 'every defineErrors call is an owner in the registry (the platform, the kernel, or a module definition\'s errors)');
  });

  it('catches a planted code in a string, a template and an object, and not in comments or identifiers', () => {
    const planted = [
      "import { AUTH_ERR_UNAUTHENTICATED } from './errors.js';",
      '/** Answers `AUTH_ERR_UNAUTHENTICATED` (401). */',
      "// falls back to 'RAMPART_ERR_INTERNAL'",
      "const a = fail(reply, { code: 'AUTH_ERR_UNAUTHENTICATED', message: 'Sign in first.', statusCode: 401 });",
      'const b = "SETUP_ERR_EMAIL_TAKEN";',
      'const c = `${prefix} RAMPART_ERR_UNAVAILABLE`;',
      "const d = AUTH_ERR_UNAUTHENTICATED.code === code;",
      "const e = { FST_ERR_CTP_BODY_TOO_LARGE: { error: RAMPART_ERR_BODY_TOO_LARGE } };",
    ].join('\n');
    const found = scan('fixture.ts', planted);
    assert.deepEqual(found.quoted.map((f) => [f.line, f.text]), [[4, 'AUTH_ERR_UNAUTHENTICATED'], [5, 'SETUP_ERR_EMAIL_TAKEN'], [6, ' RAMPART_ERR_UNAVAILABLE']]);
    assert.equal(scan('fixture.ts', "import createError from '@fastify/error';\nexport const X = defineErrors({});").fastifyErrorImports, 1);
  });
});
