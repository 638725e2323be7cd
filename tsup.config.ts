import { rm } from 'node:fs/promises';
import { defineConfig } from 'tsup';

// One entry per subpath of package.json "exports" (test/package.test.ts checks they agree).
export const entry = {
  index: 'src/index.ts',
  errors: 'src/errors.ts',
  'adapters/memory': 'src/adapters/memory/index.ts',
  'adapters/sqlite': 'src/adapters/sqlite/index.ts',
  'adapters/postgres': 'src/adapters/postgres/index.ts',
  'adapters/redis': 'src/adapters/redis/index.ts',
  testing: 'src/testing/index.ts',
};

export default defineConfig({
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
  external: ['better-sqlite3', 'pg', 'ioredis', 'vitest'],
  // keymint/testing is ESM-only (vitest cannot be require()d): drop the CommonJS copy tsup makes.
  async onSuccess() {
    for (const file of ['testing.cjs', 'testing.cjs.map', 'testing.d.cts']) {
      await rm(new URL(`./dist/${file}`, import.meta.url), { force: true });
    }
  },
});
