#!/usr/bin/env node
// An upgrade run from keymint 0.1.0, with 0.1.0's own code: takes the source of the 0.1.0 commit
// from git (936bb92 by default), and with it migrates a PostgreSQL schema and a SQLite file and
// creates keys in them and in Redis. Then this checkout opens the same stores: migrate() upgrades
// them in place, and the 0.1.0 keys verify, update and rotate. Prints what it sees.
//
//   node scripts/services.mjs run -- node scripts/upgrade-from-0.1.0.mjs [--from <commit>]
//
// Needs KEYMINT_TEST_POSTGRES_URL and KEYMINT_TEST_REDIS_URL (services.mjs run sets them), git,
// and node_modules (npm ci). Leaves nothing behind: the schema, the Redis keys and the temp dir
// are removed at the end.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const fromIndex = process.argv.indexOf('--from');
const from = fromIndex > 0 ? process.argv[fromIndex + 1] : '936bb92';
const pgUrl = process.env.KEYMINT_TEST_POSTGRES_URL;
const redisUrl = process.env.KEYMINT_TEST_REDIS_URL;
if (!pgUrl || !redisUrl) {
  console.error('Run it as: node scripts/services.mjs run -- node scripts/upgrade-from-0.1.0.mjs');
  process.exit(2);
}

const tmp = mkdtempSync(path.join(os.tmpdir(), 'keymint-upgrade-'));
const old = path.join(tmp, 'v010');
const run = (file, args, options = {}) =>
  execFileSync(file, args, {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    ...options,
  });

const schema = `keymint_upgrade_${process.pid}`;
const sqliteFile = path.join(tmp, 'keys.db');
const redisPrefix = `keymint-upgrade:${process.pid}:`;
const env = {
  ...process.env,
  PG_URL: pgUrl,
  REDIS_URL: redisUrl,
  SCHEMA: schema,
  SQLITE_FILE: sqliteFile,
  REDIS_PREFIX: redisPrefix,
};

/** Bundles `entry` with esbuild (drivers stay external, loaded from this checkout) and runs it. */
function bundleAndRun(entry, name) {
  // Inside v010/, whose node_modules links to this checkout's: the drivers resolve from there.
  const out = path.join(old, `${name}.mjs`);
  run(path.join(root, 'node_modules/.bin/esbuild'), [
    entry,
    '--bundle',
    '--platform=node',
    '--format=esm',
    '--log-level=warning',
    '--packages=external',
    `--outfile=${out}`,
  ]);
  return run(process.execPath, [out], { env, cwd: root });
}

try {
  execFileSync('sh', [
    '-c',
    `git -C "${root}" archive ${from} src package.json | tar -x -C "${tmp}" --one-top-level=v010`,
  ]);
  symlinkSync(path.join(root, 'node_modules'), path.join(old, 'node_modules'));
  const version = JSON.parse(run('cat', [path.join(old, 'package.json')])).version;

  writeFileSync(
    path.join(old, 'writer.ts'),
    `import pg from 'pg';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import { createKeymint } from './src/index.js';
import { migrate as pgMigrate, postgresAdapter } from './src/adapters/postgres/index.js';
import { migrate as sqliteMigrate, sqliteAdapter } from './src/adapters/sqlite/index.js';
import { redisAdapter } from './src/adapters/redis/index.js';

const pool = new pg.Pool({ connectionString: process.env.PG_URL });
const db = new Database(process.env.SQLITE_FILE!);
const redis = new Redis(process.env.REDIS_URL!);
await pgMigrate(pool, { schema: process.env.SCHEMA });
sqliteMigrate(db);
const adapters = {
  postgres: postgresAdapter(pool, { schema: process.env.SCHEMA }),
  sqlite: sqliteAdapter(db),
  redis: redisAdapter(redis, { prefix: process.env.REDIS_PREFIX }),
};
const out: Record<string, unknown> = {};
for (const [store, adapter] of Object.entries(adapters)) {
  // The default argon2id hasher, as a deployment of 0.1.0 ran it.
  const keymint = createKeymint({ adapter, allowNonExpiring: true });
  const deploy = await keymint.createApiKey({ name: 'deploy', role: 'Editor', ttl: '1d', metadata: { team: 'ops' } });
  const old = await keymint.createApiKey({ name: 'old', role: 'Viewer', ttl: '1d' });
  await keymint.revokeApiKey(old.apiKey.id);
  const forever = await keymint.createApiKey({ name: 'forever', role: 'Viewer', ttl: null });
  out[store] = Object.fromEntries(
    Object.entries({ deploy, old, forever }).map(([name, c]) => [name, { id: c.apiKey.id, key: c.key }]),
  );
  await keymint.close();
}
console.log(JSON.stringify(out));
await pool.end();
db.close();
await redis.quit();
`,
  );

  writeFileSync(
    path.join(tmp, 'reader.ts'),
    `import pg from 'pg';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import { createKeymint, isKeymintError } from '${root}/src/index.js';
import { migrate as pgMigrate, postgresAdapter } from '${root}/src/adapters/postgres/index.js';
import { migrate as sqliteMigrate, sqliteAdapter } from '${root}/src/adapters/sqlite/index.js';
import { redisAdapter } from '${root}/src/adapters/redis/index.js';

type Made = Record<string, { id: string; key: string }>;
const made = JSON.parse(process.env.KEYS!) as Record<string, Made>;
const pool = new pg.Pool({ connectionString: process.env.PG_URL });
const db = new Database(process.env.SQLITE_FILE!);
const redis = new Redis(process.env.REDIS_URL!);
const show = (result: { valid: boolean; reason?: string; apiKey?: { role: string } }) =>
  result.valid ? \`valid (\${result.apiKey!.role})\` : result.reason;
const code = async (promise: Promise<unknown>) => {
  try { await promise; return 'ok'; } catch (error) { return isKeymintError(error) ? error.code : String(error); }
};

const table = \`"\${process.env.SCHEMA}".keymint_api_keys\`;
const pgColumns = async () => (await pool.query(
  \`SELECT string_agg(column_name, ', ' ORDER BY ordinal_position) AS c FROM information_schema.columns WHERE table_schema = $1 AND table_name = 'keymint_api_keys'\`,
  [process.env.SCHEMA])).rows[0].c;
const sqliteColumns = () => (db.prepare('SELECT group_concat(name, \\', \\') AS c FROM pragma_table_info(?)').get('keymint_api_keys') as { c: string }).c;

console.log('PostgreSQL before migrate(): columns', await pgColumns());
console.log('  versions table:', (await pool.query('SELECT to_regclass($1) AS t', [\`"\${process.env.SCHEMA}".keymint_api_keys_migrations\`])).rows[0].t ?? 'none');
console.log('  rows:', (await pool.query(\`SELECT count(*)::int AS n FROM \${table}\`)).rows[0].n);
await pgMigrate(pool, { schema: process.env.SCHEMA });
console.log('PostgreSQL after migrate(): columns', await pgColumns());
console.log('  versions:', (await pool.query(\`SELECT version, name FROM "\${process.env.SCHEMA}".keymint_api_keys_migrations ORDER BY version\`)).rows.map((r) => \`\${r.version} \${r.name}\`).join(', '));
console.log('SQLite before migrate(): columns', sqliteColumns());
sqliteMigrate(db);
console.log('SQLite after migrate(): columns', sqliteColumns());
try {
  console.log('  versions:', (db.prepare('SELECT version, name FROM keymint_api_keys_migrations ORDER BY version').all() as { version: number; name: string }[]).map((r) => \`\${r.version} \${r.name}\`).join(', '));
} catch (error) {
  console.log('  versions: (no versions table)', String(error));
}

const adapters = {
  postgres: postgresAdapter(pool, { schema: process.env.SCHEMA }),
  sqlite: sqliteAdapter(db),
  redis: redisAdapter(redis, { prefix: process.env.REDIS_PREFIX }),
};
for (const [store, adapter] of Object.entries(adapters)) {
  const keys = made[store]!;
  const keymint = createKeymint({ adapter, allowNonExpiring: true });
  console.log(\`\${store}: keys made by 0.1.0\`);
  console.log('  verify deploy (role Editor):', show(await keymint.verifyKey(keys.deploy!.key, { role: 'Editor' })));
  console.log('  verify old (revoked in 0.1.0):', show(await keymint.verifyKey(keys.old!.key)));
  console.log('  verify forever:', show(await keymint.verifyKey(keys.forever!.key)));
  const updated = await keymint.updateApiKey(keys.deploy!.id, { name: 'deploy (read-only)', role: 'Viewer' });
  console.log(\`  updateApiKey(deploy, { name, role: 'Viewer' }): name "\${updated.name}", role \${updated.role}\`);
  console.log('  verify deploy (role Editor) after the update:', show(await keymint.verifyKey(keys.deploy!.key, { role: 'Editor' })));
  const rotated = await keymint.rotateApiKey(keys.deploy!.id, { gracePeriod: '1h' });
  const ttlHours = (rotated.apiKey.expiresAt!.getTime() - rotated.apiKey.rotatedAt!.getTime()) / 3_600_000;
  console.log(\`  rotateApiKey(deploy, { gracePeriod: '1h' }): same id \${rotated.apiKey.id === keys.deploy!.id}, new expiry in \${ttlHours} h (its 0.1.0 ttl), old key until \${rotated.apiKey.previousKeyExpiresAt!.toISOString()}\`);
  console.log('  verify the 0.1.0 key during the grace period:', show(await keymint.verifyKey(keys.deploy!.key)));
  console.log('  verify the new key:', show(await keymint.verifyKey(rotated.key)));
  const again = await keymint.rotateApiKey(keys.deploy!.id);
  console.log('  rotate again (grace 0): the 0.1.0 key', show(await keymint.verifyKey(keys.deploy!.key)), '| the first new key', show(await keymint.verifyKey(rotated.key)), '| the newest', show(await keymint.verifyKey(again.key)));
  console.log('  rotate the revoked key:', await code(keymint.rotateApiKey(keys.old!.id)));
  const forever = await keymint.rotateApiKey(keys.forever!.id);
  console.log('  rotate forever: expiresAt', forever.apiKey.expiresAt, '| new key', show(await keymint.verifyKey(forever.key)));
  await keymint.close();
}
await pool.query(\`DROP SCHEMA "\${process.env.SCHEMA}" CASCADE\`);
await pool.end();
db.close();
const left = await redis.keys(\`\${process.env.REDIS_PREFIX}*\`);
if (left.length > 0) await redis.del(...left);
await redis.quit();
`,
  );

  console.log(
    `keymint ${version} (commit ${from}, its own source) creates the stores and their keys:`,
  );
  const keys = bundleAndRun(path.join(old, 'writer.ts'), 'writer').trim();
  const parsed = JSON.parse(keys);
  for (const [store, made] of Object.entries(parsed)) {
    console.log(
      `  ${store}: ${Object.entries(made)
        .map(([name, { id }]) => `${name} ${id}`)
        .join(', ')}`,
    );
  }
  console.log(`This checkout (${run('git', ['rev-parse', '--short', 'HEAD']).trim()}) opens them:`);
  env.KEYS = keys;
  process.stdout.write(bundleAndRun(path.join(tmp, 'reader.ts'), 'reader'));
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
