// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import security from 'eslint-plugin-security';

/**
 * The layers, bottom up: config, platform, security, kernel (the three with src/kernel form the
 * kernel), modules, web, and on top app.ts with the entry points (server.ts, cli/). A layer
 * imports only from layers below it. Each entry lists what a layer must never import.
 */
const layers = {
  config: ['platform', 'security', 'kernel', 'modules', 'web', 'cli'],
  platform: ['security', 'kernel', 'modules', 'web', 'cli'],
  security: ['kernel', 'modules', 'web', 'cli'],
  kernel: ['modules', 'web', 'cli'],
  modules: ['web', 'cli'],
  web: ['cli'],
};

/** app.ts composes the application: only the entry points (server.ts, cli/) may import it. */
const appImport = { group: ['**/app.js', '**/app'], message: 'Only src/server.ts and src/cli/ import src/app.ts: it composes the application, nothing builds on it.' };
/** A module's routes are its own; what others may share lives in its service, schemas or decisions. */
const routesImport = (from) => ({
  group: from === 'modules' ? ['../*/routes.js', '../*/routes', '**/modules/*/routes.js'] : ['**/modules/*/routes.js', '**/modules/*/routes'],
  message: 'Import a module\'s service, schemas or decisions, never its routes: routes are registered by the module itself.',
});

const layerRules = Object.entries(layers).map(([layer, forbidden]) => ({
  files: [`src/${layer}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          ...forbidden.map((name) => ({
            group: [`**/${name}/**`, `../${name}`, `../../${name}`],
            message: `src/${layer} must not import src/${name}: a layer imports only the layers below it (config, platform, security, kernel, modules, web).`,
          })),
          appImport,
          ...(layer === 'modules' || layer === 'web' ? [routesImport(layer)] : []),
        ],
      },
    ],
  },
}));

/** Selectors every file is checked against (no-restricted-syntax takes one list per file). */
const everywhereSyntax = [
  { selector: "ImportDeclaration[source.value=/^(fs|path|crypto|http|https|net|tls|os|url|util|events|stream|child_process|zlib|assert|buffer|timers|dns|worker_threads|perf_hooks|v8|readline)(\\u002F.*)?$/]", message: 'Use the node: prefix for Node.js built-in modules.' },
  { selector: "MemberExpression[object.name='Math'][property.name='random']", message: 'Use node:crypto for randomness.' },
];

/**
 * Code injection in the application: node:vm is not a security boundary (its own docs say
 * so) and compiles strings as code; an import() whose specifier is computed loads whatever
 * a caller can steer it to. Lazy loading keeps working with a literal specifier.
 */
const codeInjectionSyntax = [
  { selector: "ImportDeclaration[source.value=/^(node:)?vm$/]", message: 'node:vm runs strings as code and is no sandbox; Rampart never compiles code at run time.' },
  { selector: "ImportExpression[source.value=/^(node:)?vm$/]", message: 'node:vm runs strings as code and is no sandbox; Rampart never compiles code at run time.' },
  { selector: ":matches(ExportNamedDeclaration, ExportAllDeclaration)[source.value=/^(node:)?vm$/]", message: 'node:vm runs strings as code and is no sandbox; Rampart never compiles code at run time.' },
  { selector: "CallExpression[callee.name='require'][arguments.0.value=/^(node:)?vm$/]", message: 'node:vm runs strings as code and is no sandbox; Rampart never compiles code at run time.' },
  { selector: "ImportExpression[source.type!='Literal']", message: 'import() only with a literal specifier: a computed one loads whatever reaches it.' },
];

export default tseslint.config(
  { ignores: ['test/fixtures/lint/**', 'dist/**', 'node_modules/**', 'data/**', 'test-results/**', '.node-lts/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  security.configs.recommended,
  {
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['*.js', 'scripts/*.mjs', 'bin/*.js'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // node:test's describe/it/test return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': ['error', { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite'] }] }],
      '@typescript-eslint/ban-ts-comment': ['error', { 'ts-ignore': true, 'ts-expect-error': 'allow-with-description', 'ts-nocheck': true }],
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-imports': ['error', { patterns: [] }],
      'no-restricted-syntax': ['error', ...everywhereSyntax],
      // Code-injection bans are errors, everywhere (issue 15); a test lints a fixture holding
      // each banned construct (test/lint/code-injection-bans.test.ts), so switching one off fails CI.
      'no-eval': 'error',
      'no-implied-eval': 'error',
      '@typescript-eslint/no-implied-eval': 'error',
      'no-new-func': 'error',
      'security/detect-child-process': 'error',
      'security/detect-non-literal-require': 'error',
      'security/detect-eval-with-expression': 'error',
      // Object-injection findings are noise on typed code; real sinks are covered by schemas.
      'security/detect-object-injection': 'off',
    },
  },
  {
    files: ['src/**/*.ts'],
    // The process entry points hand the environment to src/config; nothing else reads it.
    ignores: ['src/config/**', 'src/server.ts', 'src/cli/**'],
    rules: {
      'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'Read configuration only in src/config/.' }],
    },
  },
  {
    // The lint-ban fixture stands for application code; it is linted only by its test.
    files: ['src/**/*.ts', 'test/fixtures/lint/**/*.ts'],
    rules: { 'no-restricted-syntax': ['error', ...everywhereSyntax, ...codeInjectionSyntax] },
  },
  ...layerRules,
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    // The pages' scripts run in the browser.
    files: ['src/web/static/**/*.js'],
    languageOptions: {
      globals: {
        document: 'readonly', window: 'readonly', HTMLFormElement: 'readonly', HTMLTextAreaElement: 'readonly', HTMLInputElement: 'readonly',
        fetch: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', DOMParser: 'readonly',
        navigator: 'readonly', atob: 'readonly', btoa: 'readonly',
      },
    },
  },
  {
    // Build and run scripts: they touch only the project's own paths.
    files: ['scripts/**/*.mjs', 'scripts/**/*.ts', 'bin/**/*.js', '.ci/**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', Buffer: 'readonly' } },
    rules: { 'security/detect-non-literal-fs-filename': 'off', 'security/detect-child-process': 'off' },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      'security/detect-non-literal-fs-filename': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
);
