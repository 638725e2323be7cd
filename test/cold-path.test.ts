// Issue 12, item 4: the cold path (cache off). Synchronous twins of findById (SQLite, memory) and
// of the HMAC verify are called directly; they stay fail-closed, and a host's own method always
// wins over a twin. PostgreSQL's lookup is a named prepared statement that survives schema
// changes and reconnects; Redis reads a record through a script, with HGETALL as the fallback.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeymint, hmacSha256Hasher, type KeyAdapter, type Keymint } from '../src/index.js';
import { memoryAdapter } from '../src/adapters/memory/index.js';
import { migrate as migrateSqlite, sqliteAdapter } from '../src/adapters/sqlite/index.js';
import { migrate as migratePostgres, postgresAdapter } from '../src/adapters/postgres/index.js';
import { redisAdapter } from '../src/adapters/redis/index.js';
import { HMAC_SECRET } from './helpers.js';
import { describeWithServer } from './servers.js';

const cold = (adapter: KeyAdapter, extra: object = {}) =>
  createKeymint({ adapter, hasher: hmacSha256Hasher(HMAC_SECRET), cache: false, ...extra });

async function oneKey(keymint: Keymint) {
  return keymint.createApiKey({ name: `k${Math.random()}`, role: 'Viewer', ttl: '1h' });
}

describe('the cold path with synchronous twins', () => {
  it('a findById the host replaced on the adapter is the one called: one that never answers fails closed at storeTimeout', async () => {
    const adapter = memoryAdapter();
    const keymintOk = cold(adapter);
    const { key } = await oneKey(keymintOk);
    let calls = 0;
    adapter.findById = () => (calls++, new Promise(() => {}));
    const keymint = cold(adapter, { storeTimeout: '1s' });
    const started = Date.now();
    await expect(keymint.verifyKey(key)).rejects.toMatchObject({ code: 'STORE_FAILURE' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(calls).toBe(1);
  });

  it('a spread copy of an adapter with its own findById gets that findById, not the twin', async () => {
    const inner = memoryAdapter();
    const { key, apiKey } = await oneKey(cold(inner));
    const seen: string[] = [];
    const wrapped: KeyAdapter = {
      ...inner,
      findById: async (id) => (seen.push(id), inner.findById(id)),
    };
    expect((await cold(wrapped).verifyKey(key)).valid).toBe(true);
    expect(seen).toEqual([apiKey.id]);
  });

  it('a hasher copied with spread and given its own verify gets that verify called', async () => {
    const base = hmacSha256Hasher(HMAC_SECRET);
    let verifies = 0;
    const adapter = memoryAdapter();
    const { key } = await oneKey(cold(adapter));
    const keymint = createKeymint({
      adapter,
      cache: false,
      hasher: { ...base, verify: async () => (verifies++, false) },
    });
    expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'not_found' });
    expect(verifies).toBe(1);
  });

  describe('SQLite', () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(path.join(tmpdir(), 'keymint-cold-'));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('a synchronous findById that throws (the database closed) fails closed with STORE_FAILURE and its cause', async () => {
      const db = new Database(path.join(dir, 'closed.db'));
      migrateSqlite(db);
      const keymint = cold(sqliteAdapter(db));
      const { key } = await oneKey(keymint);
      expect((await keymint.verifyKey(key)).valid).toBe(true);
      db.close();
      const error = await keymint.verifyKey(key).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'STORE_FAILURE' });
      expect(String((error as Error).cause)).toMatch(/not open/);
    });

    it("verification's own read (the synchronous twin) gives the record findById gives, every field set, with read-only dates; before and after a column is added", async () => {
      const db = new Database(path.join(dir, 'twin.db'));
      migrateSqlite(db);
      const adapter = sqliteAdapter(db);
      const twin = (adapter as unknown as Record<symbol, { run: (id: string) => unknown }>)[
        Symbol.for('keymint.internal.findByIdSync')
      ]!.run;
      const at = (ms: number) => new Date(1_780_000_000_000 + ms);
      const record = {
        id: 'twin00000001',
        name: 'twin',
        role: 'Editor',
        scope: 'tenant-a',
        secretHash: 'hmac-sha256:new',
        createdAt: at(0),
        expiresAt: at(9_000),
        lastUsedAt: at(1_000),
        revokedAt: at(2_000),
        metadata: { team: 'a', nested: { n: 1 } },
        ttlSeconds: 9,
        previousSecretHash: 'hmac-sha256:old',
        previousSecretExpiresAt: at(3_000),
        rotatedAt: at(500),
        owner: 'svc-1',
        permissions: ['read:a', 'write:b'],
        limits: {
          rateLimit: { limit: 100, windowMs: 60_000 },
          credits: {
            remaining: 5,
            setAt: 1_780_000_000_000,
            refill: { amount: 5, intervalMs: 3_600_000 },
          },
        },
      };
      expect(await adapter.insert(record)).toEqual({ ok: true });
      for (const step of ['before', 'after'] as const) {
        if (step === 'after')
          db.exec(`ALTER TABLE keymint_api_keys ADD COLUMN extra TEXT DEFAULT 'x'`);
        const found = await adapter.findById(record.id);
        expect(found).toEqual(record);
        const read = twin(record.id) as typeof record;
        expect(read).toEqual(record);
        if (step === 'before') {
          for (const date of [read.createdAt, read.expiresAt, read.lastUsedAt, read.rotatedAt]) {
            expect(Object.isFrozen(date)).toBe(true);
            expect(() => date.setTime(0)).toThrow(TypeError);
          }
        }
        // findById's dates stay the caller's own.
        found!.createdAt.setTime(0);
        expect(found!.createdAt.getTime()).toBe(0);
        expect(twin('nope00000000')).toBeNull();
      }
    });

    it('reads every field after a column is added while the adapter is in use, and the added column reaches the record by name', async () => {
      const db = new Database(path.join(dir, 'altered.db'));
      migrateSqlite(db);
      const adapter = sqliteAdapter(db);
      const keymint = cold(adapter);
      const { key, apiKey } = await keymint.createApiKey({
        name: 'altered',
        role: 'Editor',
        ttl: '1h',
        metadata: { team: 'a' },
      });
      const before = await adapter.findById(apiKey.id);
      expect((await keymint.verifyKey(key)).valid).toBe(true);
      db.exec(`ALTER TABLE keymint_api_keys ADD COLUMN extra TEXT DEFAULT 'x'`);
      const after = await adapter.findById(apiKey.id);
      expect(after).toEqual(before);
      const result = await keymint.verifyKey(key);
      expect(result).toMatchObject({ valid: true, apiKey: { name: 'altered', role: 'Editor' } });
      expect(result.valid && result.apiKey.metadata).toEqual({ team: 'a' });
      expect(await adapter.findById('nope00000000')).toBeNull();
    });
  });
});

describeWithServer('postgres', 'the PostgreSQL lookup as a named prepared statement', (url) => {
  let pool: pg.Pool;
  let tables: string[] = [];
  beforeAll(() => {
    // One connection: pg_prepared_statements shows the statements of the session that asks.
    pool = new pg.Pool({ connectionString: url, max: 1 });
    pool.on('error', () => {});
  });
  afterAll(async () => {
    for (const table of tables) {
      await pool.query(`DROP TABLE IF EXISTS "${table}", "${table}_migrations"`);
    }
    await pool.end();
  });
  async function fresh(options: { preparedStatements?: boolean } = {}) {
    const table = `kcold_${process.pid}_${tables.length}`;
    tables.push(table);
    await migratePostgres(pool, { table });
    const adapter = postgresAdapter(pool, { table, ...options });
    return { table, adapter, keymint: cold(adapter) };
  }
  const prepared = async (table: string) =>
    Number(
      (
        await pool.query(
          `SELECT count(*) AS n FROM pg_prepared_statements WHERE statement LIKE $1`,
          [`%FROM "${table}" WHERE id = $1%`],
        )
      ).rows[0].n,
    );

  it('prepares the lookup by id once per connection and verifies through it', async () => {
    const { table, keymint } = await fresh();
    const { key } = await oneKey(keymint);
    expect(await prepared(table)).toBe(0);
    for (let i = 0; i < 5; i++) expect((await keymint.verifyKey(key)).valid).toBe(true);
    expect(await prepared(table)).toBe(1);
  });

  it('keeps verifying after a column is added, after a column type changes under the statement, and after its connections are terminated', async () => {
    const { table, keymint, adapter } = await fresh();
    const { key, apiKey } = await oneKey(keymint);
    for (let i = 0; i < 4; i++) expect((await keymint.verifyKey(key)).valid).toBe(true);
    await pool.query(`ALTER TABLE "${table}" ADD COLUMN extra text`);
    for (let i = 0; i < 4; i++) expect((await keymint.verifyKey(key)).valid).toBe(true);
    // The result type changes: PostgreSQL refuses the old plan ("cached plan must not change
    // result type"); the adapter retries unnamed and takes a new name.
    await pool.query(`ALTER TABLE "${table}" ALTER COLUMN name TYPE varchar(200)`);
    for (let i = 0; i < 4; i++) expect((await keymint.verifyKey(key)).valid).toBe(true);
    expect((await adapter.findById(apiKey.id))?.name).toBe(apiKey.name);
    // Only this pool's connection: other test files share the server.
    const pid = (await pool.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
    const admin = new pg.Client({ connectionString: url });
    await admin.connect();
    try {
      await admin.query('SELECT pg_terminate_backend($1)', [pid]);
    } finally {
      await admin.end();
    }
    // The terminated connections fail once (fail closed), then new ones prepare again.
    let valid = 0;
    for (let i = 0; i < 6; i++) {
      const outcome = await keymint.verifyKey(key).catch((e: { code?: string }) => e.code);
      if (outcome !== 'STORE_FAILURE') {
        expect(outcome).toMatchObject({ valid: true });
        valid++;
      }
    }
    expect(valid).toBeGreaterThanOrEqual(4);
  });

  it('with preparedStatements: false, and over a queryable that takes only the text, sends no named statement', async () => {
    const { table, keymint } = await fresh({ preparedStatements: false });
    const { key } = await oneKey(keymint);
    const texts: unknown[] = [];
    const textOnly = {
      query: (text: string, values?: unknown[]) => (texts.push(text), pool.query(text, values)),
    };
    const viaWrapper = cold(postgresAdapter(textOnly, { table }));
    await pool.query('DEALLOCATE ALL');
    for (let i = 0; i < 3; i++) {
      expect((await keymint.verifyKey(key)).valid).toBe(true);
      expect((await viaWrapper.verifyKey(key)).valid).toBe(true);
    }
    expect(texts.every((text) => typeof text === 'string')).toBe(true);
    expect(await prepared(table)).toBe(0);
    expect(() => postgresAdapter(pool, { table, preparedStatements: 'yes' as never })).toThrow(
      expect.objectContaining({ code: 'CONFIG' }),
    );
  });
});

describeWithServer('redis', 'the Redis lookup through its script', (url) => {
  let client: Redis;
  const prefix = `kcold:${process.pid}:`;
  beforeAll(() => {
    client = new Redis(url, { maxRetriesPerRequest: 1 });
  });
  afterAll(async () => {
    const keys = await client.keys(`${prefix}*`);
    if (keys.length > 0) await client.del(...keys);
    await client.quit();
  });

  it('reads the same record as HGETALL would, and null for a missing one', async () => {
    const adapter = redisAdapter(client, { prefix });
    const keymint = cold(adapter);
    const { key, apiKey } = await keymint.createApiKey({
      name: 'redis "cold" ✓',
      role: 'Editor',
      ttl: '1h',
      metadata: { nested: { list: [1, 'two', null] }, text: 'a/b\\c"d' },
    });
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    const record = await adapter.findById(apiKey.id);
    expect(record).toMatchObject({
      id: apiKey.id,
      name: 'redis "cold" ✓',
      metadata: { nested: { list: [1, 'two', null] }, text: 'a/b\\c"d' },
    });
    expect(await adapter.findById('nope00000000')).toBeNull();
  });

  it('falls back to HGETALL for good when the server refuses the script, and keeps verifying', async () => {
    const refused = new Error('ERR Error running script: cjson is not available');
    refused.name = 'ReplyError';
    let scripted = 0;
    let plain = 0;
    const picky = new Proxy(client, {
      get(target, property, receiver) {
        if (property === 'evalsha' || property === 'eval') {
          return (...args: unknown[]) => {
            // Only the one-key read (the find script) is refused; the others run.
            if (args[1] === 1 && args.length === 3) {
              scripted++;
              return Promise.reject(refused);
            }
            return (target[property] as (...a: unknown[]) => Promise<unknown>)(...args);
          };
        }
        if (property === 'hgetall') {
          return (key: string) => (plain++, target.hgetall(key));
        }
        const value = Reflect.get(target, property, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const keymint = cold(redisAdapter(picky, { prefix }));
    const { key } = await oneKey(keymint);
    for (let i = 0; i < 3; i++) expect((await keymint.verifyKey(key)).valid).toBe(true);
    expect(scripted).toBe(1);
    expect(plain).toBe(3);
  });
});
