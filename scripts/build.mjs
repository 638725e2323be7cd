// The build: tsup, then scripts/build-finish.mjs, then a stamp (dist/.build-stamp) that records a
// finished build. `npm run build` always builds. `node scripts/build.mjs --if-stale` (what
// `npm run example` and `npm run bench` run) builds only when there is no stamp or a file the
// build reads is newer than it, so a run after `npm run build` does not build the same files again
// (tsup's clean step removes the stamp first: a build that fails half-way leaves none).
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const stamp = path.join(root, 'dist', '.build-stamp');
/** What the build reads: sources, the tsup and TypeScript configs, package.json, these scripts. */
const INPUTS = [
  'src',
  'tsup.config.ts',
  'tsconfig.json',
  'package.json',
  'scripts/build.mjs',
  'scripts/build-finish.mjs',
];

function newest(file) {
  const stat = statSync(file);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let time = 0;
  for (const entry of readdirSync(file)) time = Math.max(time, newest(path.join(file, entry)));
  return time;
}

/** Whether dist/ is missing, unfinished, or older than one of the build's inputs. */
export function isStale() {
  let built;
  try {
    built = statSync(stamp).mtimeMs;
  } catch {
    return true;
  }
  return INPUTS.some((input) => newest(path.join(root, input)) >= built);
}

function run(command, args) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit' });
  if (result.status !== 0) {
    throw new Error(`${command} ${args.join(' ')} failed (exit ${result.status ?? result.signal})`);
  }
}

/** Builds dist/ (tsup, build-finish), then writes the stamp. */
export function build() {
  run(path.join(root, 'node_modules', '.bin', 'tsup'), ['--silent']);
  run(process.execPath, [path.join(root, 'scripts', 'build-finish.mjs')]);
  writeFileSync(stamp, `${new Date().toISOString()}\n`);
}

/** Waits without a busy loop (the callers are synchronous: test files, scripts). */
function sleep(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Builds when stale, one process at a time: test files that need dist/ run in parallel workers,
 * and two tsup runs at once would delete each other's output. A lock directory in the checkout
 * (mkdir is atomic) serializes them; the second finds dist/ current once the first is done. A
 * lock older than five minutes is left over from a killed run and is taken over.
 * @returns whether this call built.
 */
export function buildIfStale() {
  if (!isStale()) return false;
  const lock = path.join(root, '.keymint-build.lock');
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (error) {
      if (error?.code !== 'EEXIST') throw error;
      try {
        if (Date.now() - statSync(lock).mtimeMs > 5 * 60_000) rmSync(lock, { recursive: true });
      } catch {
        // Removed meanwhile by its owner: try again.
      }
      sleep(250);
    }
  }
  try {
    if (!isStale()) return false;
    build();
    return true;
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--if-stale')) buildIfStale();
  else build();
}
