// Bench rows: warm verifyKey of a key with a per-key rate limit on PostgreSQL and Redis (the
// counter is its one store round trip), against one raw round trip through the same client in
// the same run (`SELECT 1`, `PING`); and warm verify without limits, which touches no store.
// Sequential calls (one at a time): the figure is the round trip, as a request handler sees it.
// Target: limited >= 0.8 x raw. Also measured in the same slices: the store's bare counting write
// through the same client (PostgreSQL: a prepared one-row `UPDATE ... SET n = n + 1 RETURNING n`;
// Redis: a two-command Lua script, `HMGET` then `HSET`, the least a windowed counter needs; a
// plain `INCR` and an EVALSHA of a script that does nothing, for reference), so that the report
// separates what the write costs the server from what keymint adds to it. Needs KEYMINT_TEST_POSTGRES_URL / KEYMINT_TEST_REDIS_URL
// (`node scripts/services.mjs run -- node bench/limits.mjs`).
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createKeymint, hmacSha256Hasher } from 'keymint';
import { POSTGRES_ENV, REDIS_ENV } from './subjects.mjs';

/** Calls per second of `call` run one at a time for about `ms` (after a warm-up). */
async function rate(call, ms) {
  for (let i = 0; i < 200; i++) await call();
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < ms) {
    for (let i = 0; i < 100; i++) await call();
    n += 100;
  }
  return n / ((performance.now() - start) / 1000);
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function keysOn(adapter) {
  const keymint = createKeymint({
    adapter,
    hasher: hmacSha256Hasher(randomBytes(32).toString('hex')),
    cache: { ttl: '1h' },
    lastUsedDelayMs: 60_000,
  });
  const limited = await keymint.createApiKey({
    name: 'limited',
    role: 'Viewer',
    ttl: '1d',
    rateLimit: { limit: 1_000_000_000, window: '1h' },
  });
  const plain = await keymint.createApiKey({ name: 'plain', role: 'Viewer', ttl: '1d' });
  for (const { key } of [limited, plain]) {
    const result = await keymint.verifyKey(key);
    if (!result.valid) throw new Error(`bench key refused: ${result.reason}`);
  }
  return { keymint, limited: limited.key, plain: plain.key };
}

/**
 * `raw` is the store's bare round trip, `writes` its bare counting writes by name (the first is
 * the floor keymint's own overhead is judged against).
 */
async function measure(store, raw, writes, adapter, { rounds, ms }) {
  const { keymint, limited, plain } = await keysOn(adapter);
  const names = Object.keys(writes);
  const results = {
    raw: [],
    limited: [],
    plain: [],
    ratio: [],
    ...Object.fromEntries(names.map((n) => [n, []])),
  };
  const overhead = [];
  for (let round = 0; round < rounds; round++) {
    // Raw, the bare writes and limited in alternating slices: drift on a shared machine hits
    // them alike.
    let r = 0;
    let l = 0;
    const w = Object.fromEntries(names.map((n) => [n, 0]));
    for (let slice = 0; slice < 4; slice++) {
      r += (await rate(raw, ms / 4)) / 4;
      for (const n of names) w[n] += (await rate(writes[n], ms / 4)) / 4;
      l += (await rate(() => keymint.verifyKey(limited), ms / 4)) / 4;
    }
    const p = await rate(() => keymint.verifyKey(plain), ms / 4);
    results.raw.push(r);
    results.limited.push(l);
    results.plain.push(p);
    results.ratio.push(l / r);
    for (const n of names) results[n].push(w[n] / r);
    overhead.push(l / w[names[0]]);
  }
  await keymint.close();
  const ratio = median(results.ratio);
  const own = median(overhead);
  const ops = (values) => `${Math.round(median(values)).toLocaleString('en-US')} ops/s`;
  const rawName = store === 'PostgreSQL' ? 'SELECT 1' : 'PING';
  return {
    rows: [
      `${store}: raw ${rawName}: ${ops(results.raw)}`,
      ...names.map((n) => `${store}: bare ${n}: ${median(results[n]).toFixed(2)} x raw ${rawName}`),
      `${store}: warm verify with a rate limit: ${ops(results.limited)} (${ratio.toFixed(2)} x raw ${rawName}, ${own.toFixed(2)} x the bare ${names[0]})`,
      `${store}: warm verify without limits: ${ops(results.plain)}`,
    ],
    targets: [
      {
        status: ratio >= 0.8 ? 'ok' : 'FAIL',
        row: `${store} warm verify with a rate limit`,
        text: 'at least 0.8 x a raw round trip',
        value: `${ratio.toFixed(2)} x`,
      },
      {
        status: own >= 0.8 ? 'ok' : 'FAIL',
        row: `${store} warm verify with a rate limit`,
        text: `at least 0.8 x the store's bare counting write (${names[0]})`,
        value: `${own.toFixed(2)} x`,
      },
    ],
  };
}

// The least a windowed counter asks of Redis: read the window and the count, write them back.
const BARE_WINDOW = `local s = redis.call('HMGET', KEYS[1], 'w', 'c')
local c = tonumber(s[2] or '0') + 1
redis.call('HSET', KEYS[1], 'w', ARGV[1], 'c', c)
return { 1, c, '' }`;

// What any script costs: EVALSHA of a script that touches nothing (the Lua call itself).
const EMPTY_SCRIPT = `return { 1, 1, '' }`;

/** `{ rows, targets }` in the shape bench/run.mjs prints; stores without a server are skipped. */
export async function limitsScenario({ quick = false } = {}) {
  const config = { rounds: quick ? 3 : 5, ms: quick ? 300 : 1_000 };
  const rows = [];
  const targets = [];
  const pgUrl = process.env[POSTGRES_ENV];
  if (pgUrl) {
    const { default: pg } = await import('pg');
    const { migrate, postgresAdapter } = await import('keymint/adapters/postgres');
    const pool = new pg.Pool({ connectionString: pgUrl, max: 4 });
    const table = `keymint_bench_limits_${randomBytes(4).toString('hex')}`;
    try {
      await migrate(pool, { table });
      await pool.query(`CREATE TABLE "${table}_bare" (id int PRIMARY KEY, n int8 NOT NULL)`);
      await pool.query(`INSERT INTO "${table}_bare" VALUES (1, 0)`);
      const bare = {
        name: `${table}_bare`,
        text: `UPDATE "${table}_bare" SET n = n + 1 WHERE id = $1 RETURNING n`,
        values: [1],
      };
      const out = await measure(
        'PostgreSQL',
        () => pool.query('SELECT 1'),
        { 'one-row UPDATE': () => pool.query(bare) },
        postgresAdapter(pool, { table }),
        config,
      );
      rows.push(...out.rows);
      targets.push(...out.targets);
    } finally {
      await pool.query(
        `DROP TABLE IF EXISTS "${table}", "${table}_bare", "${table}_usage", "${table}_failures", "${table}_migrations"`,
      );
      await pool.end();
    }
  } else rows.push(`PostgreSQL: skipped (${POSTGRES_ENV} is not set)`);
  const redisUrl = process.env[REDIS_ENV];
  if (redisUrl) {
    const { Redis } = await import('ioredis');
    const { redisAdapter } = await import('keymint/adapters/redis');
    const client = new Redis(redisUrl);
    const prefix = `keymint-bench-limits:${randomBytes(4).toString('hex')}:`;
    try {
      const sha = await client.script('LOAD', BARE_WINDOW);
      const empty = await client.script('LOAD', EMPTY_SCRIPT);
      const window = String(Date.now());
      const out = await measure(
        'Redis',
        () => client.ping(),
        {
          'HMGET + HSET script': () => client.evalsha(sha, 1, `${prefix}bare-window`, window),
          INCR: () => client.incr(`${prefix}bare-incr`),
          'empty script': () => client.evalsha(empty, 1, `${prefix}bare-empty`),
        },
        redisAdapter(client, { prefix }),
        config,
      );
      rows.push(...out.rows);
      targets.push(...out.targets);
    } finally {
      const keys = await client.keys(`${prefix}*`);
      if (keys.length > 0) await client.del(...keys);
      await client.quit();
    }
  } else rows.push(`Redis: skipped (${REDIS_ENV} is not set)`);
  return { rows, targets };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { rows, targets } = await limitsScenario({ quick: process.argv.includes('--quick') });
  for (const row of rows) console.log(row);
  for (const t of targets) console.log(`${t.status}: ${t.row}: ${t.text} (${t.value})`);
}
