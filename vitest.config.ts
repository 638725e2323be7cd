import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // PostgreSQL and Redis for the tests: from the environment, or throwaway servers.
    globalSetup: ['./test/global-setup.ts'],
    // After the summary: which groups were skipped here (no server, browser or runtime), and why.
    reporters: ['default', './test/skip-reporter.ts'],
    typecheck: {
      enabled: true,
      include: ['test/**/*.test-d.ts'],
      tsconfig: './tsconfig.json',
    },
    testTimeout: 20_000,
    coverage: {
      provider: 'v8',
      include: ['src/**/*.ts'],
      reporter: ['text-summary', 'text'],
      thresholds: {
        // The core (create, verify, ttl, key format, roles, hashers) is held to 90% of lines.
        'src/core/**': { lines: 90 },
        // The adapters run the conformance suite against real servers.
        'src/adapters/**': { lines: 90 },
        lines: 85,
      },
    },
  },
});
