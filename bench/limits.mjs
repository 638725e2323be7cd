// Bench rows: warm verifyKey of a key with a per-key rate limit on PostgreSQL and Redis (the
// counter is its one store round trip), against one raw round trip through the same client in
// the same run (`SELECT 1`, `PING`); and warm verify without limits, which touches no store.
// Sequential calls (one at a time): the figure is the round trip, as a request handler sees it.
// Target: limited >= 0.8 x raw. Needs KEYMINT_TEST_POSTGRES_URL / KEYMINT_TEST_REDIS_URL
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

async function measure(store, raw, adapter, { rounds, ms }) {
  const { keymint, limited, plain } = await keysOn(adapter);
  const results = { raw: [], limited: [], plain: [], ratio: [] };
  for (let round = 0; round < rounds; round++) {
    // Raw and limited in alternating slices: drift on a shared machine hits both alike.
    let r = 0;
    let l = 0;
    for (let slice = 0; slice < 4; slice++) {
      r += (await rate(raw, ms / 4)) / 4;
      l += (await rate(() => keymint.verifyKey(limited), ms / 4)) / 4;
    }
    const p = await rate(() => keymint.verifyKey(plain), ms / 4);
    results.raw.push(r);
    results.limited.push(l);
    results.plain.push(p);
    results.ratio.push(l / r);
  }
  await keymint.close();
  const ratio = median(results.ratio);
  const ops = (values) => `${Math.round(median(values)).toLocaleString('en-US')} ops/s`;
  return {
    rows: [
      `${store}: raw ${store === 'PostgreSQL' ? 'SELECT 1' : 'PING'}: ${ops(results.raw)}`,
      `${store}: warm verify with a rate limit: ${ops(results.limited)} (${ratio.toFixed(2)} x raw)`,
      `${store}: warm verify without limits: ${ops(results.plain)}`,
    ],
    targets: [
      {
        status: ratio >= 0.8 ? 'ok' : 'FAIL',
        row: `${store} warm verify with a rate limit`,
        text: 'at least 0.8 x a raw round trip',
        value: `${ratio.toFixed(2)} x`,
      },
    ],
  };
}

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
      const out = await measure(
        'PostgreSQL',
        () => pool.query('SELECT 1'),
        postgresAdapter(pool, { table }),
        config,
      );
      rows.push(...out.rows);
      targets.push(...out.targets);
    } finally {
      await pool.query(
        `DROP TABLE IF EXISTS "${table}", "${table}_usage", "${table}_failures", "${table}_migrations"`,
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
      const out = await measure(
        'Redis',
        () => client.ping(),
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
