// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import security from 'eslint-plugin-security';

/**
 * The layer direction is `modules -> security -> platform -> config`: a layer may import
 * only from layers to its right. Each entry lists what a layer must never import.
 */
const layers = {
  config: ['platform', 'security', 'modules', 'web', 'cli'],
  platform: ['security', 'modules', 'web', 'cli'],
  security: ['modules', 'web', 'cli'],
  modules: ['cli'],
};

const layerRules = Object.entries(layers).map(([layer, forbidden]) => ({
  files: [`src/${layer}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: forbidden.map((name) => ({
          group: [`**/${name}/**`, `../${name}`, `../../${name}`],
          message: `src/${layer} must not import src/${name}: the layer direction is modules -> security -> platform -> config.`,
        })),
      },
    ],
  },
}));

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'data/**', 'test-results/**', '.node-lts/**', 'coverage/**'] },
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
      'no-restricted-syntax': [
        'error',
        { selector: "ImportDeclaration[source.value=/^(fs|path|crypto|http|https|net|tls|os|url|util|events|stream|child_process|zlib|assert|buffer|timers|dns|worker_threads|perf_hooks|v8|readline)(\\u002F.*)?$/]", message: 'Use the node: prefix for Node.js built-in modules.' },
        { selector: "MemberExpression[object.name='Math'][property.name='random']", message: 'Use node:crypto for randomness.' },
      ],
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
  ...layerRules,
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    // The pages' one script runs in the browser.
    files: ['src/web/static/**/*.js'],
    languageOptions: {
      globals: {
        document: 'readonly', window: 'readonly', HTMLFormElement: 'readonly', HTMLTextAreaElement: 'readonly', HTMLInputElement: 'readonly',
        fetch: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', DOMParser: 'readonly',
      },
    },
  },
  {
    // Build and run scripts: they touch only the project's own paths.
    files: ['scripts/**/*.mjs', 'bin/**/*.js', '.ci/**/*.mjs'],
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
