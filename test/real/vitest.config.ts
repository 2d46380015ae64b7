import { defineConfig } from 'vitest/config';

/**
 * Opt-in real-package run (`npm run test:real`): the real `openclaw` from the
 * public npm registry, no verdaccio, no globalSetup. Installs are ~650 MB each.
 */
export default defineConfig({
  test: {
    include: ['test/real/**/*.test.ts'],
    testTimeout: 15 * 60_000,
    hookTimeout: 15 * 60_000,
    maxWorkers: 1,
    fileParallelism: false,
    reporters: ['default'],
  },
});
