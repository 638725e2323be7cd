// The skip path itself: a local run without PostgreSQL, Redis, MariaDB and Chromium skips their groups
// without collecting their bodies, prints why after the summary (test/skip-reporter.ts) and
// passes; the same run under CI=true fails and says what is missing. KEYMINT_TEST_WITHOUT
// (scripts/test-env.mjs) withholds them from a nested vitest run, as on a machine without them.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { isCI } from './servers.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const VITEST = fileURLToPath(new URL('../node_modules/vitest/vitest.mjs', import.meta.url));
const FILES = [
  'test/cli-postgres.test.ts',
  'test/cli-redis.test.ts',
  'test/mysql-processes.test.ts',
  'test/e2e-admin.test.ts',
];

/** A nested `vitest run` of FILES with everything they need withheld; CI as given. */
function nestedRun(ci: string | undefined): Promise<{ code: number | null; output: string }> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) {
    // Nothing of this run's vitest, servers or CI setting leaks into the nested one.
    if (value === undefined || /^(VITEST|KEYMINT_TEST_|CI$)/.test(name)) continue;
    env[name] = value;
  }
  Object.assign(env, { KEYMINT_TEST_WITHOUT: 'postgres,redis,mysql,chromium', NO_COLOR: '1' });
  if (ci !== undefined) env.CI = ci;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [VITEST, 'run', '--coverage.enabled=false', ...FILES], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

describe('isCI(): one rule for the tests, scripts and benchmarks', () => {
  it('is true for CI set to anything but empty, false or 0', () => {
    const cases = [undefined, '', 'false', 'FALSE', '0', ' 0 ', 'true', '1', 'yes'];
    expect(cases.map((CI) => isCI(CI === undefined ? {} : { CI }))).toEqual([
      false,
      false,
      false,
      false,
      false,
      false,
      true,
      true,
      true,
    ]);
  });
});

describe('a run without PostgreSQL, Redis and Chromium', () => {
  it('skips their groups locally, says why after the summary, and passes', async () => {
    const { code, output } = await nestedRun(undefined);
    expect(code, output).toBe(0);
    expect(output).not.toMatch(/Invalid URL|FAIL/);
    const summary = output.slice(output.indexOf('Skipped here, and why'));
    expect(summary).toMatch(
      /^Skipped here, and why \(under CI=true a missing server, browser or runtime fails instead\):/,
    );
    expect(summary).toMatch(
      /needs a postgres server: install Debian's postgresql .* or set KEYMINT_TEST_POSTGRES_URL\n\s+- test\/cli-postgres\.test\.ts › keymint --db postgres:\/\/\n/,
    );
    expect(summary).toMatch(
      /needs a redis server: install Debian's redis-server .* or set KEYMINT_TEST_REDIS_URL\n\s+- test\/cli-redis\.test\.ts › keymint --db redis:\/\/\n/,
    );
    expect(summary).toMatch(
      /needs a mysql server: install Debian's mariadb-server .* or set KEYMINT_TEST_MYSQL_URL\n\s+- test\/mysql-processes\.test\.ts › mysqlAdapter\(\) across processes\n/,
    );
    expect(summary).toMatch(/needs Chromium: none at .*\n\s+- test\/e2e-admin\.test\.ts › /);
  }, 120_000);

  it('fails under CI=true, saying what each group needs', async () => {
    const { code, output } = await nestedRun('true');
    expect(code, output).toBe(1);
    for (const what of ['a postgres server', 'a redis server', 'a mysql server', 'Chromium']) {
      expect(output).toContain(`Under CI=true nothing is skipped, and this group needs ${what}: `);
    }
    expect(output).toMatch(/Tests\s+4 failed \(4\)/);
  }, 120_000);
});
