// The build: tsup, then scripts/build-finish.mjs, then a stamp (dist/.build-stamp) that records a
// finished build. `npm run build` always builds. `node scripts/build.mjs --if-stale` (what
// `npm run example` and `npm run bench` run) builds only when there is no stamp or a file the
// build reads is newer than it, so a run after `npm run build` does not build the same files again.
// The stamp goes before tsup starts (tsup's clean step keeps dotfiles), so a build that fails or is
// killed half-way leaves none, and it carries the time the build started, so a source saved while
// tsup ran is newer than it.
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
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
  'package-lock.json',
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
  rmSync(stamp, { force: true });
  const started = new Date();
  run(path.join(root, 'node_modules', '.bin', 'tsup'), ['--silent']);
  run(process.execPath, [path.join(root, 'scripts', 'build-finish.mjs')]);
  writeFileSync(stamp, `${started.toISOString()}\n`);
  utimesSync(stamp, started, started);
}

/** Waits without a busy loop (the callers are synchronous: test files, scripts). */
function sleep(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Whether the process `pid` is alive (a lock whose owner died is taken over). */
function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error?.code === 'EPERM';
  }
}

/**
 * Builds when stale, one process at a time: test files that need dist/ run in parallel workers,
 * and two tsup runs at once would delete each other's output. A lock file in the checkout,
 * created exclusively and holding its owner's pid, serializes them; the second finds dist/
 * current once the first is done. The lock of a process that died is taken over; a wait of more
 * than ten minutes on a live one fails with a message.
 * @returns whether this call built.
 */
export function buildIfStale() {
  if (!isStale()) return false;
  const lock = path.join(root, '.keymint-build.lock');
  const mine = String(process.pid);
  const giveUpAt = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      writeFileSync(lock, mine, { flag: 'wx' });
      break;
    } catch (error) {
      if (error?.code !== 'EEXIST') throw error;
      let owner;
      try {
        owner = Number(readFileSync(lock, 'utf8'));
      } catch {
        continue; // Removed meanwhile by its owner: try again.
      }
      // An empty file: its owner is between creating and writing it.
      if (owner > 0 && !alive(owner)) rmSync(lock, { force: true });
      else if (Date.now() > giveUpAt) {
        throw new Error(
          `scripts/build.mjs: process ${owner} has held ${lock} for ten minutes; ` +
            'if no build is running, remove the file.',
        );
      }
      sleep(250);
    }
  }
  try {
    if (!isStale()) return false;
    build();
    return true;
  } finally {
    // Only our own lock: one taken over from us meanwhile is not ours to remove.
    try {
      if (readFileSync(lock, 'utf8') === mine) rmSync(lock, { force: true });
    } catch {
      // Already gone.
    }
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--if-stale')) buildIfStale();
  else build();
}
