import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/unit/**/*.test.ts', 'test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
    globalSetup: ['test/setup/global.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    // Tests spawn real registries, installs and gateways: keep parallelism modest on 2 cores.
    maxWorkers: 2,
    reporters: ['default', './test/setup/plain-reporter.ts'],
  },
});
