// What the tests, the benchmarks and their scripts read from the environment about where they run.
// One rule for CI everywhere (test/servers.ts re-exports isCI for the test files). Only plain
// JavaScript and no imports: scripts/services.mjs loads it before `npm ci`.

/** True under CI: the CI variable is set to anything but '', 'false' or '0'. */
export function isCI(env = process.env) {
  const value = (env.CI ?? '').trim().toLowerCase();
  return value !== '' && value !== 'false' && value !== '0';
}

/**
 * True when KEYMINT_TEST_WITHOUT (a comma-separated list of postgres, redis, mysql,
 * chromium, bun, deno) names `what`: the
 * tests then behave as on a machine without it (skipped locally, failing under CI=true), even when
 * it is installed or its KEYMINT_TEST_*_URL is set. That is how the skip path itself is tested.
 */
export function withheld(what, env = process.env) {
  const names = (env.KEYMINT_TEST_WITHOUT ?? '').split(',').map((name) => name.trim());
  return names.includes(what);
}
