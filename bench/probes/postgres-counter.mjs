// Probe (not a bench row): where the time of a rate-limited warm verify on PostgreSQL goes, one
// call at a time through one pg.Pool, each layer as a ratio to `SELECT 1` in the same round:
// a bare one-row UPDATE on a logged and on an UNLOGGED table, the adapter's consumeUsage (its
// rate-only counting UPDATE), and verifyKey. Also client CPU per call.
//   node scripts/build.mjs --if-stale
//   node scripts/services.mjs run -- node bench/probes/postgres-counter.mjs
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createKeymint, hmacSha256Hasher } from 'keymint';
import { migrate, postgresAdapter } from 'keymint/adapters/postgres';

const url = process.env.KEYMINT_TEST_POSTGRES_URL;
if (!url) throw new Error('KEYMINT_TEST_POSTGRES_URL is not set: run through scripts/services.mjs');
const pool = new pg.Pool({ connectionString: url, max: 4 });
const table = `keymint_probe_${randomBytes(3).toString('hex')}`;
await migrate(pool, { table });
for (const [suffix, kind] of [
  ['logged', 'TABLE'],
  ['unlogged', 'UNLOGGED TABLE'],
]) {
  await pool.query(`CREATE ${kind} "${table}_${suffix}" (id int PRIMARY KEY, n int8 NOT NULL)`);
  await pool.query(`INSERT INTO "${table}_${suffix}" VALUES (1, 0)`);
}
const adapter = postgresAdapter(pool, { table });
const keymint = createKeymint({
  adapter,
  hasher: hmacSha256Hasher(randomBytes(32).toString('hex')),
  cache: { ttl: '1h' },
  lastUsedDelayMs: 60_000,
});
const { key, apiKey } = await keymint.createApiKey({
  name: 'probe',
  role: 'Viewer',
  ttl: '1d',
  rateLimit: { limit: 1_000_000_000, window: '1h' },
});
await keymint.verifyKey(key);
const windowStart = Date.now() - (Date.now() % 3_600_000);
const bare = (suffix) => ({
  name: `probe_${suffix}`,
  text: `UPDATE "${table}_${suffix}" SET n = n + 1 WHERE id = $1 RETURNING n`,
  values: [1],
});
const calls = {
  'SELECT 1': () => pool.query({ name: 'probe_select', text: 'SELECT 1' }),
  'bare UPDATE, logged': () => pool.query(bare('logged')),
  'bare UPDATE, UNLOGGED': () => pool.query(bare('unlogged')),
  'adapter.consumeUsage': () =>
    adapter.consumeUsage(apiKey.id, { rate: { limit: 1e9, windowStart } }),
  verifyKey: () => keymint.verifyKey(key),
};

/** Calls per second and client CPU µs per call, one call at a time for about `ms`. */
async function rate(call, ms) {
  for (let i = 0; i < 100; i++) await call();
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  let n = 0;
  while (performance.now() - start < ms) {
    for (let i = 0; i < 100; i++) await call();
    n += 100;
  }
  const cpu = process.cpuUsage(cpu0);
  return { ops: n / ((performance.now() - start) / 1000), cpuUs: (cpu.user + cpu.system) / n };
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const ratios = Object.fromEntries(Object.keys(calls).map((name) => [name, []]));
const cpus = Object.fromEntries(Object.keys(calls).map((name) => [name, []]));
for (let round = 0; round < 6; round++) {
  const out = {};
  for (const [name, call] of Object.entries(calls)) out[name] = await rate(call, 400);
  for (const name of Object.keys(calls)) {
    ratios[name].push(out[name].ops / out['SELECT 1'].ops);
    cpus[name].push(out[name].cpuUs);
  }
}
for (const name of Object.keys(calls)) {
  console.log(
    `${name}: ${median(ratios[name]).toFixed(2)} x SELECT 1 (rounds ${ratios[name].map((r) => r.toFixed(2)).join(', ')}), client CPU ${median(cpus[name]).toFixed(1)} us per call`,
  );
}
await keymint.close();
await pool.query(
  `DROP TABLE IF EXISTS "${table}", "${table}_logged", "${table}_unlogged", "${table}_usage", "${table}_failures", "${table}_migrations"`,
);
await pool.end();
