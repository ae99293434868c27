import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';

const root = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The import rules of the kernel/module split, each tried on a file that breaks it. The text
 * is linted as if it lived at `filePath`, with the project's own configuration (type-aware
 * rules off: the file does not exist), so switching a rule off or narrowing its pattern fails.
 */
const eslint = new ESLint({
  cwd: root,
  overrideConfig: [{ ...tseslint.configs.disableTypeChecked, languageOptions: { parserOptions: { projectService: false, project: null } } }],
});

async function restrictedImports(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: `${root}${filePath}` });
  assert.ok(result, 'ESLint linted the text');
  assert.equal(result.fatalErrorCount, 0, JSON.stringify(result.messages));
  return result.messages.filter((m) => m.ruleId === 'no-restricted-imports' && m.severity === 2).map((m) => m.message);
}

const BAD: readonly (readonly [string, string, string])[] = [
  ['the kernel importing a module', 'src/security/example.ts', "import { accountsModule } from '../modules/accounts/index.js';"],
  ['the kernel importing a module table type', 'src/platform/example.ts', "import type { UsersTable } from '../modules/accounts/tables.js';"],
  ['src/kernel importing a module', 'src/kernel/example.ts', "import type { PostsService } from '../modules/posts/service.js';"],
  ['a module importing another module\'s routes', 'src/modules/bookmarks/example.ts', "import { postsRoutes } from '../posts/routes.js';"],
  ['a module importing the web layer', 'src/modules/posts/example.ts', "import { renderPage } from '../../web/render.js';"],
  ['a page importing a module\'s routes', 'src/web/pages/example.ts', "import { postsRoutes } from '../../modules/posts/routes.js';"],
  ['a module importing app.ts', 'src/modules/posts/example.ts', "import { MODULES } from '../../app.js';"],
  ['the kernel importing app.ts', 'src/kernel/example.ts', "import { MODULES } from '../app.js';"],
  ['the web layer importing app.ts', 'src/web/example.ts', "import { MODULES } from '../app.js';"],
  ['platform importing security', 'src/platform/example.ts', "import { sendProblem } from '../security/problem-details.js';"],
];

const GOOD: readonly (readonly [string, string, string])[] = [
  ['a module importing the kernel', 'src/modules/bookmarks/example.ts', "import { fail } from '../../kernel/http.js';"],
  ['a module importing another module\'s decisions', 'src/modules/comments/example.ts', "import { authorizedPost } from '../posts/decisions.js';"],
  ['a module importing its own routes', 'src/modules/posts/example.ts', "import { postsRoutes } from './routes.js';"],
  ['the server importing app.ts', 'src/server.ts', "import { buildRampart } from './app.js';"],
];

describe('layer rules', () => {
  for (const [label, filePath, code] of BAD) {
    it(`refuses ${label}`, async () => {
      assert.ok((await restrictedImports(filePath, `${code}\n`)).length > 0, `${filePath}: ${code}`);
    });
  }
  for (const [label, filePath, code] of GOOD) {
    it(`allows ${label}`, async () => {
      assert.deepEqual(await restrictedImports(filePath, `${code}\n`), []);
    });
  }
});
