import { defineConfig } from 'vitest/config';

export default defineConfig({
  ssr: { resolve: { conditions: ['source'] } },
  test: {
    include: ['core/test/**/*.test.ts', 'plugins/*/test/**/*.test.ts', 'adapters/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Tests spawn real daemon processes; two cores do not reward more parallelism.
    fileParallelism: false,
    globalSetup: ['test/helpers/global-setup.ts'],
  },
});
