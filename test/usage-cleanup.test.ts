// A key's usage counters go with the key: delete() and deleteExpired() drop them in the same
// statement or script (PostgreSQL, Redis) or by a trigger (SQLite), so the counter table or the
// `usage:<id>` hashes never outlive the keys they count.
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeyAdapter } from '../src/adapter.js';
import { migrate as migratePostgres, postgresAdapter } from '../src/adapters/postgres/index.js';
import { redisAdapter } from '../src/adapters/redis/index.js';
import { migrate as migrateSqlite, sqliteAdapter } from '../src/adapters/sqlite/index.js';
import { dropSchemas, openPool, randomSchema } from './fixtures/postgres.js';
import { HOUR, storedRecord, T0 } from './helpers.js';
import { describeWithServer } from './servers.js';

const RATE = { rate: { limit: 10, windowStart: T0 - (T0 % HOUR) } };
const CREDITS = { credits: { cost: 1, setAt: T0, fresh: 5 } };

function cleanup(adapter: () => KeyAdapter, counters: (id: string) => Promise<number>) {
  it('delete() drops the counters of the key, and only of that key', async () => {
    const gone = storedRecord({ id: 'UsageGone001', name: 'gone' });
    const kept = storedRecord({ id: 'UsageKept001', name: 'kept' });
    for (const record of [gone, kept]) {
      await adapter().insert(record);
      expect((await adapter().consumeUsage!(record.id, RATE)).ok).toBe(true);
      expect((await adapter().consumeUsage!(record.id, CREDITS)).ok).toBe(true);
      expect(await counters(record.id)).toBe(1);
    }
    expect(await adapter().delete(gone.id)).toBe(true);
    expect(await counters(gone.id)).toBe(0);
    expect(await counters(kept.id)).toBe(1);
  });

  it('deleteExpired() drops the counters of the keys it deletes', async () => {
    const expired = storedRecord({
      id: 'UsageExpd001',
      name: 'expired',
      expiresAt: new Date(T0 + 1_000),
    });
    const live = storedRecord({ id: 'UsageLive001', name: 'live', expiresAt: new Date(T0 + HOUR) });
    for (const record of [expired, live]) {
      await adapter().insert(record);
      expect((await adapter().consumeUsage!(record.id, RATE)).ok).toBe(true);
    }
    expect(await adapter().deleteExpired(new Date(T0 + 2_000))).toBe(1);
    expect(await counters(expired.id)).toBe(0);
    expect(await counters(live.id)).toBe(1);
  });
}

describeWithServer('postgres', 'usage counters go with the key: PostgreSQL', (url) => {
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
  cleanup(
    () => postgresAdapter(pool, { schema }),
    async (id) =>
      (
        await pool.query(
          `SELECT count(*)::int AS n FROM "${schema}".keymint_api_keys_usage WHERE id = $1`,
          [id],
        )
      ).rows[0].n,
  );
});

describeWithServer('redis', 'usage counters go with the key: Redis', (url) => {
  const prefix = `keymint-usage-cleanup-${randomBytes(4).toString('hex')}:`;
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
  cleanup(
    () => redisAdapter(redis, { prefix }),
    (id) => redis.exists(`${prefix}usage:${id}`),
  );
});

describe('usage counters go with the key: SQLite', () => {
  const db = new Database(':memory:');
  migrateSqlite(db);
  afterAll(() => db.close());
  cleanup(
    () => sqliteAdapter(db),
    async (id) =>
      (
        db.prepare('SELECT count(*) AS n FROM keymint_api_keys_usage WHERE id = ?').get(id) as {
          n: number;
        }
      ).n,
  );
});
