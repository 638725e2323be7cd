// Checks the package as users get it: packs the tarball, lints it with publint and
// @arethetypeswrong/cli, installs it into an empty project and loads every entry point
// through both import and require. `npm pack` builds dist/ first (the prepack script).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname ?? new URL('.', import.meta.url).pathname, '..');
const run = (cmd, args, cwd = root) => execFileSync(cmd, args, { cwd, stdio: 'inherit' });
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const work = mkdtempSync(join(tmpdir(), 'keymint-pack-'));

try {
  // `npm pack` runs the prepack script (npm run build), whose output shares stdout with the
  // tarball's name: the name is known, so take it from package.json.
  run('npm', ['pack', '--silent', '--pack-destination', work]);
  const tarball = join(work, `${pkg.name}-${pkg.version}.tgz`);
  if (!existsSync(tarball)) throw new Error(`npm pack wrote no ${tarball}`);
  console.log(`packed ${tarball}`);

  run('npx', ['--no-install', 'publint', 'run', tarball, '--strict']);
  const listing = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' });
  if (/package\/dist\/testing\.(cjs|d\.cts)/.test(listing)) {
    throw new Error(
      'keymint/testing is ESM-only: the tarball must not ship testing.cjs or testing.d.cts',
    );
  }
  // node10 resolution predates "exports"; subpaths there are out of scope (Node >= 20 only).
  // keymint/testing is ESM-only (vitest cannot be require()d); the .sql files are not modules.
  const notModules = [
    './sql/sqlite.sql',
    './sql/sqlite/*',
    './sql/postgres.sql',
    './sql/mysql.sql',
  ];
  run('npx', [
    '--no-install',
    'attw',
    tarball,
    '--profile',
    'node16',
    '--exclude-entrypoints',
    './testing',
    ...notModules,
  ]);
  run('npx', [
    '--no-install',
    'attw',
    tarball,
    '--profile',
    'esm-only',
    '--entrypoints',
    './testing',
  ]);

  const app = join(work, 'app');
  execFileSync('mkdir', ['-p', app]);
  writeFileSync(
    join(app, 'package.json'),
    JSON.stringify({ name: 'app', private: true, type: 'module' }),
  );
  run('npm', ['install', '--no-audit', '--no-fund', '--silent', '--prefer-offline', tarball], app);

  // vitest is an optional peer of keymint/testing: link ours in, as a host's devDependency.
  execFileSync('ln', [
    '-s',
    join(root, 'node_modules', 'vitest'),
    join(app, 'node_modules', 'vitest'),
  ]);

  const subpaths = Object.keys(pkg.exports).filter(
    (p) => p !== './package.json' && p !== './testing' && !p.startsWith('./sql/'),
  );
  const specs = subpaths.map((p) => (p === '.' ? 'keymint' : `keymint/${p.slice(2)}`));
  writeFileSync(
    join(app, 'smoke.mjs'),
    `import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const specs = ${JSON.stringify(specs)};
for (const spec of specs) {
  const esm = await import(spec);
  const cjs = require(spec);
  const a = Object.keys(esm).filter((k) => k !== 'default').sort().join();
  const b = Object.keys(cjs).sort().join();
  if (!a || a !== b) throw new Error(spec + ': ESM exports [' + a + '] differ from CJS [' + b + ']');
}
const core = await import('keymint');
const errors = await import('keymint/errors');
if (core.KeymintError !== errors.KeymintError) throw new Error('two KeymintError classes in the ESM build');
if (require('keymint').KeymintError !== require('keymint/errors').KeymintError) throw new Error('two KeymintError classes in the CJS build');
const { memoryAdapter } = await import('keymint/adapters/memory');
const km = core.createKeymint({ adapter: memoryAdapter(), hasher: core.hmacSha256Hasher('k'.repeat(32)) });
const { key } = await km.createApiKey({ name: 'smoke', role: 'viewer', ttl: '1h' });
const result = await km.verifyKey(key);
if (!result.valid) throw new Error('packed build failed to verify its own key');
const cjsKm = require('keymint').createKeymint({ adapter: require('keymint/adapters/memory').memoryAdapter() });
const cjsCreated = await cjsKm.createApiKey({ name: 'cjs', role: 'Admin', ttl: '1h' });
if (!(await cjsKm.verifyKey(cjsCreated.key)).valid) throw new Error('CJS build with argon2id failed to verify its own key');
const testing = await import('keymint/testing');
if (typeof testing.describeAdapterConformance !== 'function' || typeof testing.createTestKeymint !== 'function') throw new Error('keymint/testing is incomplete');
const testKm = testing.createTestKeymint();
const testKey = await testKm.keymint.createApiKey({ name: 't', role: 'Viewer', ttl: '1h' });
if (!(await testKm.keymint.verifyKey(testKey.key)).valid) throw new Error('createTestKeymint() failed to verify its own key');
try { require('keymint/testing'); throw new Error('keymint/testing should be ESM-only'); } catch (error) { if (error.code !== 'ERR_PACKAGE_PATH_NOT_EXPORTED') throw error; }
const { readFileSync } = await import('node:fs');
for (const name of ['sqlite', 'postgres']) {
  const sql = readFileSync(require.resolve('keymint/sql/' + name + '.sql'), 'utf8');
  if (!/CREATE TABLE IF NOT EXISTS "keymint_api_keys"/.test(sql)) throw new Error('keymint/sql/' + name + '.sql is not the schema');
}
if (!/CREATE TABLE IF NOT EXISTS \x60keymint_api_keys\x60/.test(readFileSync(require.resolve('keymint/sql/mysql.sql'), 'utf8'))) throw new Error('keymint/sql/mysql.sql is not the schema');
if (!readFileSync(require.resolve('keymint/sql/mysql/0001-initial.sql'), 'utf8').startsWith('-- keymint MySQL / MariaDB schema, step 1')) throw new Error('keymint/sql/mysql/0001-initial.sql is not a schema step');
for (const step of ['0001-initial', '0002-change-log']) {
  const sql = readFileSync(require.resolve('keymint/sql/sqlite/' + step + '.sql'), 'utf8');
  if (!sql.startsWith('-- keymint SQLite schema, step ')) throw new Error('keymint/sql/sqlite/' + step + '.sql is not a schema step');
}
console.log('packed package OK: ' + specs.join(', ') + ' load through import and require; keymint/testing through import; keymint/sql/*.sql resolve');
`,
  );
  run('node', ['smoke.mjs'], app);

  // The `keymint` command, as npm links it from "bin": it runs, knows its version, and without
  // the SQLite driver (not installed here) says which package to install, with exit code 4.
  const bin = join(app, 'node_modules', '.bin', 'keymint');
  const version = execFileSync(bin, ['--version'], { cwd: app, encoding: 'utf8' }).trim();
  if (version !== pkg.version) throw new Error(`keymint --version printed ${version}`);
  const noDriver = spawnSync(bin, ['create', '--name', 'x', '--role', 'Viewer', '--ttl', '1h'], {
    cwd: app,
    encoding: 'utf8',
  });
  if (noDriver.status !== 4 || !/npm install better-sqlite3/.test(noDriver.stderr)) {
    throw new Error(
      `keymint create without better-sqlite3: exit ${noDriver.status}, ${noDriver.stderr}`,
    );
  }
  console.log(`packed bin OK: keymint --version is ${version}; without a driver it exits 4`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
