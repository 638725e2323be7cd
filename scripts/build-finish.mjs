// Runs after tsup in `npm run build`. keymint/testing is ESM-only (vitest cannot be require()d),
// so the CommonJS files tsup writes for it are removed; tsup writes .d.cts files after its
// onSuccess hook, hence a step of its own.
import { rm } from 'node:fs/promises';

for (const file of ['testing.cjs', 'testing.cjs.map', 'testing.d.cts']) {
  await rm(new URL(`../dist/${file}`, import.meta.url), { force: true });
}
