// The wrong-secret limit counted in the store (issue 17): three real processes sharing
// PostgreSQL, Redis, SQLite or MySQL/MariaDB attack one key id with wrong secrets at the same moment, while
// the key's owner keeps verifying in each. Counted in the store, the fleet hashes the limit per
// window, not three times it; counted per process (rateLimit.shared: false), each process hashes
// its own budget. The owner's key, verified by each process before the attack, keeps working.
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import type mysql from 'mysql2/promise';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeyAdapter } from '../src/adapter.js';
import { migrate as migrateMysql, mysqlAdapter } from '../src/adapters/mysql/index.js';
import { migrate as migratePostgres, postgresAdapter } from '../src/adapters/postgres/index.js';
import { redisAdapter } from '../src/adapters/redis/index.js';
import { migrate as migrateSqlite, sqliteAdapter } from '../src/adapters/sqlite/index.js';
import { createKeymint, hmacSha256Hasher } from '../src/index.js';
import { bundleFixture, runOnce, type Bundle } from './fixtures/children.js';
import { dropDatabases, openPool as openMysqlPool, randomDatabase } from './fixtures/mysql.js';
import { dropSchemas, openPool, randomSchema } from './fixtures/postgres.js';
import { HMAC_SECRET } from './helpers.js';
import { describeWithServer } from './servers.js';

const PROCESSES = 3;
const FAILURES = 10;
const FLOOD_MS = 3_000;

interface ChildReport {
  first: string;
  wrongHashed: number;
  rightHashed: number;
  wrong: Record<string, number>;
  owner: Record<string, number>;
  errors: string[];
  backgroundErrors: string[];
}

let bundle: Bundle | undefined;
beforeAll(async () => {
  bundle = await bundleFixture('failure-flood.ts');
}, 60_000);
afterAll(() => bundle?.remove());

/** A store the children share: where it is, and an adapter over it for this process. */
interface Shared {
  store: 'postgres' | 'redis' | 'sqlite' | 'mysql';
  target: string;
  namespace: string;
  adapter: KeyAdapter;
}

/** Three processes flood one fresh key's id at the same moment; their reports. */
async function flood(shared: Shared, perProcess: boolean): Promise<ChildReport[]> {
  const keymint = createKeymint({ adapter: shared.adapter, hasher: hmacSha256Hasher(HMAC_SECRET) });
  const name = `owner-${randomBytes(4).toString('hex')}`;
  const { key } = await keymint.createApiKey({ name, role: 'Viewer', ttl: '1h' });
  await keymint.close();
  // Each child verifies the owner's key first, then waits for the others.
  const barrier = mkdtempSync(path.join(tmpdir(), 'keymint-fleet-barrier-'));
  const runs = await Promise.all(
    Array.from({ length: PROCESSES }, () =>
      runOnce(
        bundle!.file,
        {
          FLOOD_STORE: shared.store,
          FLOOD_TARGET: shared.target,
          FLOOD_NAMESPACE: shared.namespace,
          FLOOD_KEY: key,
          FLOOD_SHARED: perProcess ? '0' : '1',
          FLOOD_FAILURES: String(FAILURES),
          FLOOD_WINDOW: '1m',
          FLOOD_BARRIER: barrier,
          FLOOD_PROCESSES: String(PROCESSES),
          FLOOD_MS: String(FLOOD_MS),
        },
        30_000,
      ),
    ),
  );
  rmSync(barrier, { recursive: true, force: true });
  return runs.map((run) => {
    expect(run.code, run.stderr).toBe(0);
    return JSON.parse(run.stdout) as ChildReport;
  });
}

function checkFleet(reports: ChildReport[], expectedHashed: number, label: string): void {
  const hashed = reports.reduce((sum, r) => sum + r.wrongHashed, 0);
  const sent = reports.reduce(
    (sum, r) => sum + Object.values(r.wrong).reduce((a, b) => a + b, 0),
    0,
  );
  const ownerValid = reports.reduce((sum, r) => sum + (r.owner.valid ?? 0), 0);
  console.log(
    `[figures] ${label}: ${PROCESSES} processes sent ${sent} wrong secrets in ${FLOOD_MS} ms; hashed ${hashed} (${reports.map((r) => r.wrongHashed).join(' + ')}); the owner verified ${ownerValid} times, all valid`,
  );
  for (const report of reports) {
    expect(report.first).toBe('valid');
    expect(report.errors).toEqual([]);
    expect(report.backgroundErrors).toEqual([]);
    // Every call of the owner's key during the flood was valid, answered without a hash.
    expect(Object.keys(report.owner)).toEqual(['valid']);
    expect(report.owner.valid).toBeGreaterThan(10);
    // A wrong secret is hashed (then not_found) or refused without a hash (rate_limited).
    expect(report.wrong.valid).toBeUndefined();
    expect(report.wrong.not_found ?? 0).toBe(report.wrongHashed);
    expect((report.wrong.not_found ?? 0) + (report.wrong.rate_limited ?? 0)).toBe(
      Object.values(report.wrong).reduce((a, b) => a + b, 0),
    );
  }
  expect(hashed).toBe(expectedHashed);
  expect(sent).toBeGreaterThan(expectedHashed * 10);
}

function fleetTests(shared: () => Shared, label: string): void {
  it(`hashes ${FAILURES} wrong secrets for the whole fleet of ${PROCESSES} processes in a window, and the owner keeps working`, async () => {
    checkFleet(await flood(shared(), false), FAILURES, `${label}, counted in the store`);
  }, 60_000);

  it(`hashes ${FAILURES} per process with rateLimit.shared: false (${PROCESSES} x ${FAILURES})`, async () => {
    checkFleet(await flood(shared(), true), PROCESSES * FAILURES, `${label}, per process`);
  }, 60_000);
}

describeWithServer('postgres', 'the fleet-wide wrong-secret limit on PostgreSQL', (url) => {
  let pool: pg.Pool;
  const schema = randomSchema('keymint_fleet');
  beforeAll(async () => {
    pool = openPool(url);
    await migratePostgres(pool, { schema });
  });
  afterAll(async () => {
    await dropSchemas(pool, [schema]);
    await pool.end();
  });
  fleetTests(
    () => ({
      store: 'postgres',
      target: url,
      namespace: schema,
      adapter: postgresAdapter(pool, { schema }),
    }),
    'PostgreSQL',
  );
});

describeWithServer('redis', 'the fleet-wide wrong-secret limit on Redis', (url) => {
  let client: Redis;
  const prefix = `keymint-fleet-${randomBytes(4).toString('hex')}:`;
  beforeAll(() => {
    client = new Redis(url);
  });
  afterAll(async () => {
    const keys = await client.keys(`${prefix}*`);
    if (keys.length > 0) await client.del(...keys);
    await client.quit();
  });
  fleetTests(
    () => ({
      store: 'redis',
      target: url,
      namespace: prefix,
      adapter: redisAdapter(client, { prefix }),
    }),
    'Redis',
  );
});

describe('the fleet-wide wrong-secret limit on SQLite (one file)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'keymint-fleet-'));
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
  fleetTests(
    () => ({ store: 'sqlite', target: file, namespace: '', adapter: sqliteAdapter(db) }),
    'SQLite',
  );
});

describeWithServer('mysql', 'the fleet-wide wrong-secret limit on MySQL/MariaDB', (url) => {
  let pool: mysql.Pool;
  const database = randomDatabase('keymint_fleet');
  beforeAll(async () => {
    pool = openMysqlPool(url);
    await migrateMysql(pool, { database });
  });
  afterAll(async () => {
    await dropDatabases(pool, [database]);
    await pool.end();
  });
  fleetTests(
    () => ({
      store: 'mysql',
      target: url,
      namespace: database,
      adapter: mysqlAdapter(pool, { database }),
    }),
    'MySQL/MariaDB',
  );
});
