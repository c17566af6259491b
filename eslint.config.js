// ESLint: typescript-eslint with type information, import cycles refused, size limits that keep files readable,
// and the Temporal samples' rule that workflow code imports no Node built-in and no I/O module.
import tseslint from 'typescript-eslint';
import importX, { createNodeResolver } from 'eslint-plugin-import-x';
import { builtinModules } from 'node:module';

const nodeBuiltins = builtinModules.flatMap((m) => [m, `node:${m}`]);
const ioModules = [
  'postgres',
  'drizzle-orm',
  'drizzle-orm/*',
  '@azure/*',
  'pino',
  'ssh2',
  '@temporalio/client',
  '@temporalio/worker',
  '@temporalio/activity',
];

export default tseslint.config(
  {
    ignores: ['node_modules/**', '.build/**', '.tools/**', 'data/**', 'db/migrations/**', 'ops/temporal-server/e2e/**'],
  },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    plugins: { 'import-x': importX },
    settings: {
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.js'] })],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/extensions': ['.ts', '.js'],
    },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['describe', 'it', 'test', 'suite'] },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: false }],
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
    },
  },
  {
    files: [
      'activities/**/*.ts',
      'api/**/*.ts',
      'workflows/**/*.ts',
      'common/**/*.ts',
      'db/**/*.ts',
      'workers/**/*.ts',
      'ops/**/*.ts',
    ],
    ignores: ['**/*.test.ts'],
    rules: {
      'max-lines': ['error', { max: 300 }],
      'max-lines-per-function': ['error', { max: 80 }],
    },
  },
  {
    // Tests read answers as loose JSON on purpose: their assertions are the type check.
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({ name, message: 'Workflows are deterministic: no Node built-ins.' })),
          patterns: [{ group: ioModules, message: 'Workflows do no I/O: call an activity instead.' }],
        },
      ],
    },
  },
);
