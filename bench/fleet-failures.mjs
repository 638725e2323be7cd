// Issue 17's figure: how many wrong secrets for one key id a fleet of 3 processes hashes per
// minute, with the wrong-secret limit counted in the store (the default where the adapter can)
// and counted per process (rateLimit.shared: false), on PostgreSQL, Redis and SQLite. Each
// process runs test/fixtures/failure-flood.ts: it verifies the owner's key, then sends wrong
// secrets for its id (--rate a second) and the owner's key every 100 ms, for --minutes minutes
// less one second; every run of the six starts at the same time. Needs PostgreSQL and Redis:
//
//   npx tsup --silent && node scripts/build-finish.mjs
//   node scripts/services.mjs run -- node bench/fleet-failures.mjs [--minutes 2] [--rate 50]
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { build } from 'esbuild';
import { Redis } from 'ioredis';
import pg from 'pg';
import { createKeymint, hmacSha256Hasher } from 'keymint';
import { migrate as migratePostgres, postgresAdapter } from 'keymint/adapters/postgres';
import { redisAdapter } from 'keymint/adapters/redis';
import { migrate as migrateSqlite, sqliteAdapter } from 'keymint/adapters/sqlite';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '2' },
    rate: { type: 'string', default: '50' },
    // A shorter flood, for a quick check of the script itself.
    seconds: { type: 'string' },
  },
});
const minutes = Number(values.minutes);
const PROCESSES = 3;
const FAILURES = 10;
const HMAC_SECRET = 'x'.repeat(32); // test/helpers.ts's, which the fixture uses
const root = fileURLToPath(new URL('..', import.meta.url));
const work = mkdtempSync(path.join(tmpdir(), 'keymint-fleet-bench-'));
const child = path.join(root, 'node_modules/.cache/keymint-bench/failure-flood.mjs');
await build({
  entryPoints: [path.join(root, 'test/fixtures/failure-flood.ts')],
  outfile: child,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  logLevel: 'silent',
});

const pgUrl = process.env.KEYMINT_TEST_POSTGRES_URL;
const redisUrl = process.env.KEYMINT_TEST_REDIS_URL;
if (!pgUrl || !redisUrl) throw new Error('Run under node scripts/services.mjs run -- ...');
const schema = `keymint_fleet_bench_${randomBytes(4).toString('hex')}`;
const prefix = `keymint-fleet-bench-${randomBytes(4).toString('hex')}:`;
const pool = new pg.Pool({ connectionString: pgUrl });
await migratePostgres(pool, { schema });
const redis = new Redis(redisUrl);
const sqliteFile = path.join(work, 'keys.db');
const db = new Database(sqliteFile);
db.pragma('journal_mode = WAL');
migrateSqlite(db);
const stores = [
  {
    store: 'postgres',
    target: pgUrl,
    namespace: schema,
    adapter: postgresAdapter(pool, { schema }),
  },
  { store: 'redis', target: redisUrl, namespace: prefix, adapter: redisAdapter(redis, { prefix }) },
  { store: 'sqlite', target: sqliteFile, namespace: '', adapter: sqliteAdapter(db) },
];

function run(env, label) {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [child], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    proc.stdout.on('data', (chunk) => (out += chunk));
    proc.on('exit', (code) => {
      // The report comes before the child closes its clients: a close that hangs (exit code
      // 13, the child says where on stderr) is noted, and the figures are kept.
      try {
        resolve({ ...JSON.parse(out), exitCode: code });
      } catch {
        reject(new Error(`${label}: child exited ${code} without a report`));
      }
    });
  });
}

const barrier = path.join(work, 'barrier');
rmSync(barrier, { recursive: true, force: true });
mkdirSync(barrier);
const configs = [];
for (const shared of stores) {
  for (const mode of ['store', 'process']) {
    const keymint = createKeymint({
      adapter: shared.adapter,
      hasher: hmacSha256Hasher(HMAC_SECRET),
    });
    const { key } = await keymint.createApiKey({
      name: `owner-${mode}-${randomBytes(3).toString('hex')}`,
      role: 'Viewer',
      ttl: '1h',
    });
    await keymint.close();
    configs.push({ ...shared, mode, key });
  }
}
console.log(
  `${configs.length * PROCESSES} processes (${PROCESSES} per row), ${values.rate} wrong secrets/s each, ${minutes} min less 1 s, rateLimit { failures: ${FAILURES}, window: '1m' }...`,
);
const results = await Promise.all(
  configs.map(async (config) => {
    const reports = await Promise.all(
      Array.from({ length: PROCESSES }, () =>
        run(
          {
            FLOOD_STORE: config.store,
            FLOOD_TARGET: config.target,
            FLOOD_NAMESPACE: config.namespace,
            FLOOD_KEY: config.key,
            FLOOD_SHARED: config.mode === 'store' ? '1' : '0',
            FLOOD_FAILURES: String(FAILURES),
            FLOOD_WINDOW: '1m',
            FLOOD_BARRIER: barrier,
            FLOOD_PROCESSES: String(configs.length * PROCESSES),
            FLOOD_MS: String(
              values.seconds ? Number(values.seconds) * 1000 : minutes * 60_000 - 1_000,
            ),
            FLOOD_RATE: values.rate,
          },
          `${config.store} ${config.mode}`,
        ),
      ),
    );
    return { config, reports };
  }),
);

const sum = (list) => list.reduce((a, b) => a + b, 0);
console.log(
  '\n| store | counted | wrong secrets sent | hashed per minute (each minute) | owner checks valid |',
);
console.log(
  '| ----- | ------- | -----------------: | ------------------------------- | -----------------: |',
);
for (const { config, reports } of results) {
  const sent = sum(reports.map((r) => sum(Object.values(r.wrong))));
  const perMinute = Array.from({ length: minutes }, (_, m) =>
    sum(
      reports.map(
        (r) => r.hashedAt.filter((at) => at >= m * 60_000 && at < (m + 1) * 60_000).length,
      ),
    ),
  );
  const ownerValid = sum(reports.map((r) => r.owner.valid ?? 0));
  const ownerAll = sum(reports.map((r) => sum(Object.values(r.owner))));
  const errors = reports.flatMap((r) => [...r.errors, ...r.backgroundErrors]);
  const badExits = reports.filter((r) => r.exitCode !== 0).length;
  if (badExits > 0) errors.push(`${badExits} process(es) did not exit 0 after the report`);
  console.log(
    `| ${config.store} | ${config.mode === 'store' ? 'in the store (fleet)' : 'per process'} | ${sent.toLocaleString('en')} | ${perMinute.join(', ')} | ${ownerValid} of ${ownerAll} |${errors.length ? ` errors: ${errors.join('; ')}` : ''}`,
  );
}

await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
await pool.end();
const keys = await redis.keys(`${prefix}*`);
if (keys.length > 0) await redis.del(...keys);
await redis.quit();
db.close();
rmSync(work, { recursive: true, force: true });
