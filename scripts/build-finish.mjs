// Runs after tsup in `npm run build`. keymint/testing is ESM-only (vitest cannot be require()d),
// so the CommonJS files tsup writes for it are removed; tsup writes .d.cts files after its
// onSuccess hook, hence a step of its own.
import { rm } from 'node:fs/promises';

for (const file of ['testing.cjs', 'testing.cjs.map', 'testing.d.cts']) {
  await rm(new URL(`../dist/${file}`, import.meta.url), { force: true });
}

// The `keymint` command (package.json "bin") comes from a second tsup config that runs alongside
// the first, whose `clean` must not have removed it. Executable, for running it from a clone.
const cli = new URL('../dist/cli.js', import.meta.url);
const { chmod, readFile } = await import('node:fs/promises');
if (!(await readFile(cli, 'utf8')).startsWith('#!/usr/bin/env node')) {
  throw new Error('dist/cli.js is missing its #! line: check tsup.config.ts.');
}
await chmod(cli, 0o755);
