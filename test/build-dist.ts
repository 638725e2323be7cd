// dist/ for the tests that run the package as users do (the example server in the browser test,
// the CLI, the runtime smoke tests, the documentation's blocks): built by scripts/build.mjs when
// missing or older than what it is built from, so `npm test` alone works on a fresh clone. Files
// run in parallel workers: the build takes a lock, so two of them never run tsup at once. CI
// builds first, and then nothing is rebuilt here.
import { buildIfStale } from '../scripts/build.mjs';

export function ensureDistCurrent(): void {
  buildIfStale();
}
