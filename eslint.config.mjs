// Lint: typescript-eslint's recommended rules, with the few exceptions NestJS code needs, and the
// type-aware rules that catch what tests rarely do: promises nobody awaits or that are handed where
// a callback's result is ignored, a switch that forgets a case of a union, and `any`.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.cache/**', 'coverage/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': 'off',
      '@typescript-eslint/no-extraneous-class': 'off',
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
    },
  },
  {
    // Migrations are written against the schema as it was when each ran, not today's types
    // (Kysely's documented `Kysely<any>`); tests and benchmarks read JSON answers whose shape they
    // then assert or print.
    files: ['migrations/**/*.ts', 'test/**/*.ts', 'load-tests/**/*.ts', '**/*.spec.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // The carrier simulator is a test and demo tool: the engine never imports it.
    files: ['src/modules/**/*.ts', 'src/infra/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/simulator', '**/simulator/*'],
              message:
                'src/simulator is a test and demo tool; the engine (src/modules, src/infra) must not import it.',
            },
          ],
        },
      ],
    },
  },
);
