import { defineConfig } from 'vitest/config';

// Test files that saturate both cores (argon2id herds, HTTP floods) or bound latency under load
// run one at a time, after the others: next to another file their timings would measure the
// neighbour. Every other file runs in parallel (the default, one worker per core minus one, is a
// single worker on a 2-core machine, and most files wait on servers, processes and timers).
const SERIAL = [
  'test/fair-hashing.test.ts',
  'test/abuse.test.ts',
  'test/concurrency-scale.test.ts',
  'test/fleet-failures.test.ts',
];

export default defineConfig({
  test: {
    // PostgreSQL, Redis and MariaDB for the tests: from the environment, or throwaway servers
    // (started once for both projects).
    globalSetup: ['./test/global-setup.ts'],
    // After the summary: which groups were skipped here (no server, browser or runtime), and why.
    reporters: ['default', './test/skip-reporter.ts'],
    testTimeout: 20_000,
    projects: [
      {
        extends: true,
        test: {
          name: 'parallel',
          include: ['test/**/*.test.ts'],
          exclude: SERIAL,
          maxWorkers: 2,
          typecheck: {
            enabled: true,
            include: ['test/**/*.test-d.ts'],
            tsconfig: './tsconfig.json',
          },
        },
      },
      {
        extends: true,
        test: { name: 'serial', include: SERIAL, maxWorkers: 1 },
      },
    ],
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
