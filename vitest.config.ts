import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    // git fixtures (creating and removing toy kernel repositories) on a loaded 2-core
    // machine: a hook must not fail for being slow
    hookTimeout: 180_000,
    pool: 'forks',
  },
});
