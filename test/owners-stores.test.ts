// Owners on real stores: an owner listing over 10,000 keys stays paged and ordered and is served
// by the (scope, owner, name) index (EXPLAIN of the adapter's own statement, PostgreSQL and
// SQLite), and revokeApiKeys() on one instance refuses the keys that another instance over the
// same store has cached, within the push bound (PostgreSQL, Redis, SQLite).
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeyAdapter, StoredApiKey } from '../src/adapter.js';
import { migrate as migratePostgres, postgresAdapter } from '../src/adapters/postgres/index.js';
import { redisAdapter } from '../src/adapters/redis/index.js';
import { migrate as migrateSqlite, sqliteAdapter } from '../src/adapters/sqlite/index.js';
import { generateKeyId } from '../src/core/key-format.js';
import { compareCodePoints } from '../src/internal/compare.js';
import { createKeymint, hmacSha256Hasher, type Keymint } from '../src/index.js';
import { dropSchemas, openPool, randomSchema } from './fixtures/postgres.js';
import { until } from './fixtures/wait.js';
import { HMAC_SECRET, storedRecord } from './helpers.js';
import { describeWithServer } from './servers.js';

/** How long a revocation may take to reach another instance's cache (SQLite polls every 200 ms). */
const PUSH_BOUND_MS = 2_000;
const OWNED = 10_000;

const keymintOver = (adapter: KeyAdapter) =>
  createKeymint({ adapter, hasher: hmacSha256Hasher(HMAC_SECRET), cache: { ttl: '10m' } });

function records(): { owned: StoredApiKey[]; others: StoredApiKey[] } {
  const now = Date.now();
  const rec = (owner: string, name: string) =>
    storedRecord({
      id: generateKeyId(),
      name,
      owner,
      createdAt: new Date(now),
      expiresAt: new Date(now + 3_600_000),
    });
  const owned = Array.from({ length: OWNED }, (_, i) =>
    rec('big', `key ${String((i * 7_919) % OWNED).padStart(5, '0')} ${i % 3 ? 'é' : '🔑'}`),
  );
  const others = Array.from({ length: 2_000 }, (_, i) => rec(`o${i % 20}`, `other ${i}`));
  return { owned, others };
}

async function insertAll(adapter: KeyAdapter, all: StoredApiKey[]) {
  for (let i = 0; i < all.length; i += 250) {
    const results = await Promise.all(all.slice(i, i + 250).map((r) => adapter.insert(r)));
    expect(results.every((r) => r.ok)).toBe(true);
  }
}

/** Pages through one owner with listApiKeys (limit 1000), checking each page's owner. */
async function pageOwner(keymint: Keymint, owner: string) {
  const names: string[] = [];
  for (let after: string | undefined; ;) {
    const page = await keymint.listApiKeys({ owner, limit: 1000, ...(after && { after }) });
    expect(page.every((k) => k.owner === owner)).toBe(true);
    names.push(...page.map((k) => k.name));
    if (page.length < 1000) return names;
    after = page.at(-1)!.name;
  }
}

/** B caches a valid key of the owner; A revokes the owner's keys; B refuses it within the bound. */
async function revokeReachesOtherInstance(a: Keymint, b: Keymint) {
  const owner = `leaver-${randomBytes(3).toString('hex')}`;
  const keys = [];
  for (const name of ['x', 'y', 'z']) {
    keys.push(await a.createApiKey({ name: `${owner} ${name}`, role: 'Viewer', ttl: '1h', owner }));
  }
  const kept = await a.createApiKey({ name: `${owner} kept`, role: 'Viewer', ttl: '1h' });
  for (const { key } of [...keys, kept]) expect((await b.verifyKey(key)).valid).toBe(true);
  const started = Date.now();
  expect(await a.revokeApiKeys({ owner })).toBe(3);
  for (const { key } of keys) {
    await until(
      async () => !(await b.verifyKey(key)).valid,
      'the revocation to reach instance B',
      PUSH_BOUND_MS,
    );
    expect(await b.verifyKey(key)).toEqual({ valid: false, reason: 'revoked' });
  }
  expect(Date.now() - started).toBeLessThan(PUSH_BOUND_MS);
  expect((await b.verifyKey(kept.key)).valid).toBe(true);
}

describeWithServer('postgres', 'owners on PostgreSQL', (url) => {
  const schema = randomSchema('keymint_owners');
  const pools: pg.Pool[] = [];
  let a: Keymint;
  let b: Keymint;
  let queries: string[];
  let adapter: KeyAdapter;

  beforeAll(async () => {
    const pool = openPool(url, { max: 8 });
    const other = openPool(url, { max: 4 });
    pools.push(pool, other);
    await migratePostgres(pool, { schema });
    queries = [];
    // The pool as the adapter sees it, recording each statement's text.
    const recording = new Proxy(pool, {
      get(target, property, receiver) {
        if (property === 'query') {
          return (text: string, values?: unknown[]) => {
            queries.push(text);
            return target.query(text, values);
          };
        }
        return Reflect.get(target, property, receiver) as unknown;
      },
    });
    adapter = postgresAdapter(recording, { schema });
    a = keymintOver(adapter);
    b = keymintOver(postgresAdapter(other, { schema }));
  });

  afterAll(async () => {
    await a?.close();
    await b?.close();
    if (pools[0]) await dropSchemas(pools[0], [schema]);
    await Promise.all(pools.map((p) => p.end()));
  });

  it('pages one owner of 10,000 keys in code point order through the (scope, owner, name) index', async () => {
    const { owned, others } = records();
    await insertAll(adapter, [...owned, ...others]);
    await pools[0]!.query(`ANALYZE "${schema}".keymint_api_keys`);
    const expected = owned.map((r) => r.name).sort(compareCodePoints);
    queries.length = 0;
    expect(await pageOwner(a, 'big')).toEqual(expected);
    const statement = queries.find((text) => /owner = \$2/.test(text))!;
    expect(statement).toBeDefined();
    const { rows } = await pools[0]!.query(`EXPLAIN (FORMAT JSON) ${statement}`, [
      'default',
      'big',
      expected[4_000],
      new Date().toISOString(),
      1000,
    ]);
    const plan = JSON.stringify(rows[0]['QUERY PLAN']);
    expect(plan).toContain('"Index Name":"keymint_api_keys_scope_owner_name_idx"');
    expect(plan).not.toContain('"Node Type":"Sort"');
  }, 120_000);

  it('revokeApiKeys() on instance A refuses the keys instance B has cached, within the bound', async () => {
    await revokeReachesOtherInstance(a, b);
  });
});

describeWithServer('redis', 'owners on Redis', (url) => {
  const prefix = `keymint-owners:${randomBytes(4).toString('hex')}:`;
  const clients: Redis[] = [];

  afterAll(async () => {
    const keys = clients[0] ? await clients[0].keys(`${prefix}*`) : [];
    if (keys.length > 0) await clients[0]!.del(...keys);
    await Promise.all(clients.map((c) => c.quit()));
  });

  it('revokeApiKeys() on instance A refuses the keys instance B has cached, within the bound', async () => {
    clients.push(new Redis(url), new Redis(url));
    const a = keymintOver(redisAdapter(clients[0]!, { prefix }));
    const b = keymintOver(redisAdapter(clients[1]!, { prefix }));
    try {
      await revokeReachesOtherInstance(a, b);
    } finally {
      await a.close();
      await b.close();
    }
  });
});

describe('owners on SQLite', () => {
  const dir = mkdtempSync(join(tmpdir(), 'keymint-owners-'));
  const file = join(dir, 'keys.db');
  const open = () => {
    const db = new Database(file);
    db.pragma('journal_mode = WAL');
    return db;
  };
  let first: Database.Database;
  let second: Database.Database;

  beforeAll(() => {
    first = open();
    migrateSqlite(first);
    second = open();
  });

  afterAll(() => {
    first?.close();
    second?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('pages one owner of 10,000 keys in code point order through the (scope, owner, name) index', async () => {
    const sources: string[] = [];
    // The Database as the adapter sees it, recording each statement it prepares.
    const recording = new Proxy(first, {
      get(target, property) {
        if (property === 'prepare') {
          return (source: string) => {
            sources.push(source);
            return target.prepare(source);
          };
        }
        const value = Reflect.get(target, property, target) as unknown;
        return typeof value === 'function' ? (value as () => unknown).bind(target) : value;
      },
    });
    const adapter = sqliteAdapter(recording);
    const { owned, others } = records();
    first.exec('BEGIN');
    await insertAll(adapter, [...owned, ...others]);
    first.exec('COMMIT');
    first.exec('ANALYZE');
    const keymint = keymintOver(adapter);
    const expected = owned.map((r) => r.name).sort(compareCodePoints);
    expect(await pageOwner(keymint, 'big')).toEqual(expected);
    const statement = sources.find(
      (source) => /owner = @owner/.test(source) && /SELECT/.test(source),
    )!;
    expect(statement).toBeDefined();
    const plan = first
      .prepare(`EXPLAIN QUERY PLAN ${statement}`)
      .all({
        scope: 'default',
        owner: 'big',
        after: expected[4_000],
        activeAt: Date.now(),
        limit: 1000,
      })
      .map((row) => (row as { detail: string }).detail);
    expect(plan.join('\n')).toMatch(/USING INDEX keymint_api_keys_scope_owner_name/);
    expect(plan.join('\n')).not.toMatch(/TEMP B-TREE/);
    await keymint.close();
  }, 120_000);

  it('revokeApiKeys() on instance A refuses the keys instance B (another connection) has cached, within the bound', async () => {
    const a = keymintOver(sqliteAdapter(first));
    const b = keymintOver(sqliteAdapter(second));
    try {
      await revokeReachesOtherInstance(a, b);
    } finally {
      await a.close();
      await b.close();
    }
  });
});
