// dist/ for the tests that run the package as users do (the example server in the browser test):
// rebuilt with tsup when missing or older than a file under src/, so `npm test` alone works on a
// fresh clone. CI runs `npm run build` first, and then nothing is rebuilt here.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
/** Files the browser test, the CLI and the runtime smoke tests need; each newer than every source. */
const OUTPUTS = [
  'index.js',
  'http.js',
  'ttl.js',
  'cli.js',
  'adapters/sqlite.js',
  'adapters/memory.js',
];

function newestSource(dir: string): number {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    const time = entry.isDirectory() ? newestSource(file) : statSync(file).mtimeMs;
    if (time > newest) newest = time;
  }
  return newest;
}

function oldestOutput(): number {
  let oldest = Infinity;
  for (const name of OUTPUTS) {
    try {
      oldest = Math.min(oldest, statSync(path.join(root, 'dist', name)).mtimeMs);
    } catch {
      return -Infinity;
    }
  }
  return oldest;
}

export function ensureDistCurrent(): void {
  const sources = Math.max(
    newestSource(path.join(root, 'src')),
    statSync(path.join(root, 'tsup.config.ts')).mtimeMs,
  );
  if (oldestOutput() > sources) return;
  const tsup = path.join(root, 'node_modules', '.bin', 'tsup');
  const result = spawnSync(tsup, ['--silent'], { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    throw new Error(`test/build-dist.ts: tsup failed (exit ${result.status}); run npm run build.`);
  }
}
