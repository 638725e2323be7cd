// Permissions (issue 16) through the real stores: SQLite files, PostgreSQL and Redis servers.
// Each store round-trips a key's explicit list (and `null`), an update and a role change narrow
// it, and a second instance over the same store sees the change (pushed) even from its cache.
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeyAdapter } from '../src/adapter.js';
import { migrate as migratePostgres, postgresAdapter } from '../src/adapters/postgres/index.js';
import { redisAdapter } from '../src/adapters/redis/index.js';
import { migrate as migrateSqlite, sqliteAdapter } from '../src/adapters/sqlite/index.js';
import { createKeymint, hmacSha256Hasher, type Keymint } from '../src/index.js';
import { dropSchemas, openPool, randomSchema } from './fixtures/postgres.js';
import { until } from './fixtures/wait.js';
import { HMAC_SECRET } from './helpers.js';
import { describeWithServer } from './servers.js';

const PERMISSIONS = {
  Viewer: ['dashboards:read', 'folders:read'],
  Editor: ['dashboards:write', 'annotations:*'],
};

const instance = (adapter: KeyAdapter): Keymint =>
  createKeymint({
    adapter,
    permissions: PERMISSIONS,
    hasher: hmacSha256Hasher(HMAC_SECRET),
    cache: { ttl: '1h' },
    lastUsedDelayMs: 0,
  });

/** The checks every store passes; `pair()` gives two adapters over one store. */
function permissionsOver(pair: () => Promise<[KeyAdapter, KeyAdapter]>) {
  let a: Keymint;
  let b: Keymint;
  let rawA: KeyAdapter;
  beforeAll(async () => {
    const [first, second] = await pair();
    rawA = first;
    a = instance(first);
    b = instance(second);
  });
  afterAll(async () => {
    await a?.close();
    await b?.close();
  });

  it('stores an explicit list in canonical order, and null for all of the role', async () => {
    const narrowed = await a.createApiKey({
      name: `narrow-${randomBytes(4).toString('hex')}`,
      role: 'Editor',
      ttl: '1h',
      permissions: ['dashboards:write', 'annotations:create', 'dashboards:read'],
    });
    expect((await rawA.findById(narrowed.apiKey.id))?.permissions).toEqual([
      'annotations:create',
      'dashboards:read',
      'dashboards:write',
    ]);
    const full = await a.createApiKey({
      name: `full-${randomBytes(4).toString('hex')}`,
      role: 'Viewer',
      ttl: '1h',
    });
    expect((await rawA.findById(full.apiKey.id))?.permissions).toBeNull();
    const read = await b.verifyKey(narrowed.key, { permissions: ['annotations:create'] });
    expect(read.valid && read.apiKey.permissions).toEqual([
      'annotations:create',
      'dashboards:read',
      'dashboards:write',
    ]);
    expect(await b.verifyKey(narrowed.key, { permissions: ['annotations:delete'] })).toEqual({
      valid: false,
      reason: 'insufficient_permission',
    });
  });

  it('an update and a role change on A narrow the key on B, which had it cached', async () => {
    const { key, apiKey } = await a.createApiKey({
      name: `shared-${randomBytes(4).toString('hex')}`,
      role: 'Editor',
      ttl: '1h',
    });
    expect((await b.verifyKey(key, { permissions: ['dashboards:write'] })).valid).toBe(true);
    await a.updateApiKey(apiKey.id, { permissions: ['dashboards:read', 'folders:read'] });
    expect((await rawA.findById(apiKey.id))?.permissions).toEqual([
      'dashboards:read',
      'folders:read',
    ]);
    await until(
      async () => !(await b.verifyKey(key, { permissions: ['dashboards:write'] })).valid,
      'B to see the narrowed permissions',
    );
    expect(await b.verifyKey(key, { permissions: ['dashboards:write'] })).toEqual({
      valid: false,
      reason: 'insufficient_permission',
    });
    await a.updateApiKey(apiKey.id, { role: 'Viewer', permissions: ['folders:read'] });
    await until(async () => {
      const result = await b.verifyKey(key);
      return result.valid && result.apiKey.role === 'Viewer';
    }, 'B to see the new role');
    const now = await b.verifyKey(key, { permissions: ['folders:read'] });
    expect(now.valid && now.apiKey.permissions).toEqual(['folders:read']);
    await a.updateApiKey(apiKey.id, { permissions: null });
    expect((await rawA.findById(apiKey.id))?.permissions).toBeNull();
  });
}

describe('permissions on SQLite (two connections to one file)', () => {
  let dir: string;
  const dbs: Database.Database[] = [];
  afterAll(async () => {
    for (const db of dbs) db.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  permissionsOver(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'keymint-permissions-'));
    const file = path.join(dir, 'keys.db');
    const first = new Database(file);
    migrateSqlite(first);
    const second = new Database(file);
    dbs.push(first, second);
    return [sqliteAdapter(first), sqliteAdapter(second)];
  });
});

describeWithServer('postgres', 'permissions on PostgreSQL (two pools)', (url) => {
  const schema = randomSchema();
  const pools = [openPool(url), openPool(url)];
  afterAll(async () => {
    await dropSchemas(pools[0]!, [schema]);
    await Promise.all(pools.map((pool) => pool.end()));
  });
  permissionsOver(async () => {
    await migratePostgres(pools[0]!, { schema });
    return [postgresAdapter(pools[0]!, { schema }), postgresAdapter(pools[1]!, { schema })];
  });
});

describeWithServer('redis', 'permissions on Redis (two clients)', (url) => {
  const prefix = `km-permissions-${randomBytes(4).toString('hex')}:`;
  const clients = [new Redis(url), new Redis(url)];
  afterAll(async () => {
    const keys = await clients[0]!.keys(`${prefix}*`);
    if (keys.length > 0) await clients[0]!.del(...keys);
    clients.forEach((client) => client.disconnect());
  });
  permissionsOver(async () => [
    redisAdapter(clients[0]!, { prefix }),
    redisAdapter(clients[1]!, { prefix }),
  ]);
});
