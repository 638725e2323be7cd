// Per-key limits are exact across processes: 4 real processes, each firing 500 verifications at
// once, against one key in PostgreSQL, Redis, SQLite (one file) and MySQL/MariaDB. Clocks are injected, so the
// windows and refill periods are where the test puts them, whatever the wall clock.
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type mysql from 'mysql2/promise';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeyAdapter } from '../src/adapter.js';
import { migrate as migrateMysql, mysqlAdapter } from '../src/adapters/mysql/index.js';
import { migrate as migratePostgres, postgresAdapter } from '../src/adapters/postgres/index.js';
import { redisAdapter } from '../src/adapters/redis/index.js';
import { migrate as migrateSqlite, sqliteAdapter } from '../src/adapters/sqlite/index.js';
import { createKeymint, hmacSha256Hasher, type CreateApiKeyInput } from '../src/index.js';
import { bundleFixture, runOnce, type Bundle } from './fixtures/children.js';
import { dropDatabases, openPool as openMysqlPool, randomDatabase } from './fixtures/mysql.js';
import { dropSchemas, openPool, randomSchema } from './fixtures/postgres.js';
import { HMAC_SECRET, HOUR } from './helpers.js';
import { describeWithServer } from './servers.js';

const PROCESSES = 4;
const PER_PROCESS = 500;
/** Half past an hour: a run of a few seconds of real time cannot reach a window edge. */
const NOW = Date.UTC(2030, 0, 1, 12, 30, 0);

let bundle: Bundle | undefined;
beforeAll(async () => {
  bundle = await bundleFixture('limits-child.ts');
}, 120_000);
afterAll(() => bundle?.remove());

interface Store {
  adapter: KeyAdapter;
  env: Record<string, string>;
}

/** Creates a key in the store, then runs the processes against it; returns their summed counts. */
async function run(
  store: Store,
  input: Omit<CreateApiKeyInput, 'name' | 'role' | 'ttl'>,
  later?: number,
) {
  const keymint = createKeymint({
    adapter: store.adapter,
    hasher: hmacSha256Hasher(HMAC_SECRET),
    now: () => new Date(NOW),
  });
  const { key } = await keymint.createApiKey({
    name: `k-${randomBytes(4).toString('hex')}`,
    role: 'Viewer',
    ttl: '30d',
    ...input,
  });
  const at = Date.now() + 1_500;
  const runs = await Promise.all(
    Array.from({ length: PROCESSES }, () =>
      runOnce(
        bundle!.file,
        {
          ...store.env,
          KEYMINT_LIMITS_KEY: key,
          KEYMINT_LIMITS_SECRET: HMAC_SECRET,
          KEYMINT_LIMITS_NOW: String(NOW),
          KEYMINT_LIMITS_COUNT: String(PER_PROCESS),
          KEYMINT_LIMITS_AT: String(at),
          ...(later !== undefined && { KEYMINT_LIMITS_LATER: String(later) }),
        },
        90_000,
      ),
    ),
  );
  let valid = 0;
  const reasons: Record<string, number> = {};
  for (const result of runs) {
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const summary = JSON.parse(result.stdout) as { valid: number; reasons: Record<string, number> };
    valid += summary.valid;
    for (const [reason, n] of Object.entries(summary.reasons))
      reasons[reason] = (reasons[reason] ?? 0) + n;
  }
  return { valid, reasons };
}

function exactness(store: () => Store) {
  it('4 processes x 500 concurrent verifications against a limit of 100 in one window: exactly 100 valid', async () => {
    const { valid, reasons } = await run(store(), { rateLimit: { limit: 100, window: '1h' } });
    expect(valid).toBe(100);
    expect(reasons).toEqual({ rate_limited: PROCESSES * PER_PROCESS - 100 });
  }, 120_000);

  it('credits of 1,000 spent by 4 processes x 500: exactly 1,000 valid', async () => {
    const { valid, reasons } = await run(store(), { credits: { remaining: 1_000 } });
    expect(valid).toBe(1_000);
    expect(reasons).toEqual({ usage_exceeded: PROCESSES * PER_PROCESS - 1_000 });
  }, 120_000);

  it('a refill boundary crossed during the run: the balance, then exactly one refill', async () => {
    // 200 credits in the hour of NOW; each process spends 250 at NOW, then 250 in the next hour,
    // where the balance is refilled to 600 once: 800 valid, whatever the interleaving.
    const { valid } = await run(
      store(),
      { credits: { remaining: 200, refill: { amount: 600, interval: '1h' } } },
      NOW + HOUR,
    );
    expect(valid).toBe(800);
  }, 120_000);
}

describeWithServer('postgres', 'per-key limits across processes: PostgreSQL', (url) => {
  const schema = randomSchema();
  let pool: pg.Pool;
  beforeAll(async () => {
    pool = openPool(url, { max: 2 });
    await migratePostgres(pool, { schema });
  });
  afterAll(async () => {
    await dropSchemas(pool, [schema]);
    await pool.end();
  });
  exactness(() => ({
    adapter: postgresAdapter(pool, { schema }),
    env: {
      KEYMINT_LIMITS_STORE: 'postgres',
      KEYMINT_LIMITS_URL: url,
      KEYMINT_LIMITS_SCHEMA: schema,
    },
  }));
});

describeWithServer('redis', 'per-key limits across processes: Redis', (url) => {
  const prefix = `keymint-limits-${randomBytes(4).toString('hex')}:`;
  let redis: Redis;
  beforeAll(() => {
    redis = new Redis(url);
    redis.on('error', () => {});
  });
  afterAll(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });
  exactness(() => ({
    adapter: redisAdapter(redis, { prefix }),
    env: { KEYMINT_LIMITS_STORE: 'redis', KEYMINT_LIMITS_URL: url, KEYMINT_LIMITS_PREFIX: prefix },
  }));
});

describe('per-key limits across processes: SQLite, one file', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'keymint-limits-'));
  const file = path.join(dir, 'keys.db');
  let db: Database.Database;
  beforeAll(() => {
    db = new Database(file);
    db.pragma('journal_mode = WAL');
    migrateSqlite(db);
  });
  afterAll(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });
  exactness(() => ({
    adapter: sqliteAdapter(db),
    env: { KEYMINT_LIMITS_STORE: 'sqlite', KEYMINT_LIMITS_URL: file },
  }));
});

describeWithServer('mysql', 'per-key limits across processes: MySQL/MariaDB', (url) => {
  const database = randomDatabase('keymint_limits');
  let pool: mysql.Pool;
  beforeAll(async () => {
    pool = openMysqlPool(url, { connectionLimit: 2 });
    await migrateMysql(pool, { database });
  });
  afterAll(async () => {
    await dropDatabases(pool, [database]);
    await pool.end();
  });
  exactness(() => ({
    adapter: mysqlAdapter(pool, { database }),
    env: {
      KEYMINT_LIMITS_STORE: 'mysql',
      KEYMINT_LIMITS_URL: url,
      KEYMINT_LIMITS_DATABASE: database,
    },
  }));
});
