import { defineConfig } from 'tsup';

// One entry per subpath of package.json "exports" (test/package.test.ts checks they agree).
export const entry = {
  index: 'src/index.ts',
  errors: 'src/errors.ts',
  'adapters/memory': 'src/adapters/memory/index.ts',
  'adapters/sqlite': 'src/adapters/sqlite/index.ts',
  'adapters/postgres': 'src/adapters/postgres/index.ts',
  'adapters/mysql': 'src/adapters/mysql/index.ts',
  'adapters/redis': 'src/adapters/redis/index.ts',
  http: 'src/http/index.ts',
  express: 'src/http/express.ts',
  fastify: 'src/http/fastify.ts',
  hono: 'src/http/hono.ts',
  ttl: 'src/ttl.ts',
  testing: 'src/testing/index.ts',
};

export default defineConfig([
  {
    entry,
    format: ['esm', 'cjs'],
    dts: true,
    clean: true,
    sourcemap: true,
    target: 'node20',
    platform: 'node',
    // Shared chunks in both formats, so `keymint` and `keymint/errors` share one KeymintError class.
    splitting: true,
    treeshake: true,
    // nanoid 5 is ESM-only; bundling it keeps the CJS build loadable with require().
    noExternal: ['nanoid'],
    // Drivers and vitest are optional peers: adapters and keymint/testing import them, never the core.
    // keymint/testing is ESM-only (vitest cannot be require()d): `npm run build` then removes the
    // CommonJS copy tsup makes (scripts/build-finish.mjs; tsup writes .d.cts after onSuccess).
    // Frameworks are optional peers too: keymint/fastify and keymint/hono import their types only.
    external: [
      'better-sqlite3',
      'pg',
      'mysql2',
      'ioredis',
      'vitest',
      'fastify',
      'hono',
      'express',
      '@opentelemetry/api',
    ],
  },
  {
    // The `keymint` command (package.json "bin"): ESM only, no types, one file plus shared chunks.
    entry: { cli: 'src/cli/index.ts' },
    format: ['esm'],
    dts: false,
    clean: false,
    sourcemap: true,
    target: 'node20',
    platform: 'node',
    splitting: false,
    noExternal: ['nanoid'],
    external: ['better-sqlite3', 'pg', 'mysql2', 'ioredis', 'argon2'],
    banner: { js: '#!/usr/bin/env node' },
  },
]);
