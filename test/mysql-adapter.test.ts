import { readFileSync } from 'node:fs';
import mysql from 'mysql2/promise';
import mysqlCallback from 'mysql2';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  migrate,
  mysqlAdapter,
  mysqlSchema,
  mysqlSteps,
  type MysqlPool,
} from '../src/adapters/mysql/index.js';
import { memoryAdapter } from '../src/adapters/memory/index.js';
import { createKeymint, hmacSha256Hasher, KeymintError, type KeyAdapter } from '../src/index.js';
import { compareCodePoints } from '../src/internal/compare.js';
import { failureGroups } from '../src/testing/groups/failures.js';
import { usageGroups } from '../src/testing/groups/usage.js';
import { describeAdapterConformance } from '../src/testing/index.js';
import { dropDatabases, openPool, randomDatabase } from './fixtures/mysql.js';
import { expectCode, expectThrowsCode, HMAC_SECRET, rejectionOf, storedRecord } from './helpers.js';
import { describeWithServer } from './servers.js';

const hasher = hmacSha256Hasher(HMAC_SECRET);

let counter = 0;
/** A record with a fresh id and name. */
function rec(overrides: Parameters<typeof storedRecord>[0] = {}) {
  counter++;
  const id = `MY${String(counter).padStart(10, '0')}`;
  return storedRecord({ id, name: `key ${id}`, ...overrides });
}

async function waitFor(check: () => boolean | Promise<boolean>, what: string, ms = 5_000) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// Compile-time: mysql2's promise pool is accepted as it is.
const _acceptsPool: (pool: mysql.Pool) => MysqlPool = (pool) => pool;
void _acceptsPool;

describeWithServer('mysql', 'mysqlAdapter()', (url) => {
  const database = randomDatabase();
  const databases = [database];
  const pools: mysql.Pool[] = [];
  let pool: mysql.Pool;

  const open = (options: mysql.PoolOptions = {}, sessionSql: string[] = []) => {
    const opened = openPool(url, options, sessionSql);
    pools.push(opened);
    return opened;
  };
  /** A migrated table of its own for one test, so tests never see each other's rows. */
  async function freshTable(table: string): Promise<KeyAdapter> {
    await migrate(pool, { database, table });
    return mysqlAdapter(pool, { database, table });
  }
  const rowsOf = async (sql: string, values: unknown[] = []) =>
    (await pool.query(sql, values))[0] as Record<string, unknown>[];

  beforeAll(async () => {
    pool = open();
    await migrate(pool, { database });
  });

  afterAll(async () => {
    if (pool) await dropDatabases(pool, databases);
    await Promise.all(pools.map((p) => p.end()));
  });

  describeAdapterConformance({
    name: 'mysql',
    createAdapter: async () => {
      await pool.query(`TRUNCATE \`${database}\`.keymint_api_keys`);
      return mysqlAdapter(pool, { database });
    },
  });

  describe('migrate() and the schema', () => {
    it('creates InnoDB tables with binary names, DATETIME(3) timestamps and the indexes', async () => {
      const columns = await rowsOf(
        `SELECT column_name AS c, column_type AS t, is_nullable AS n, collation_name AS k
           FROM information_schema.columns
          WHERE table_schema = ? AND table_name = 'keymint_api_keys' ORDER BY ordinal_position`,
        [database],
      );
      expect(columns.map((c) => [c.c, c.t, c.n, c.k])).toEqual([
        ['id', 'varbinary(255)', 'NO', null],
        ['scope', 'varbinary(760)', 'NO', null],
        ['name', 'varbinary(760)', 'NO', null],
        ['role', 'varchar(64)', 'NO', 'utf8mb4_bin'],
        ['secret_hash', 'varbinary(1024)', 'NO', null],
        ['created_at', 'datetime(3)', 'NO', null],
        ['expires_at', 'datetime(3)', 'YES', null],
        ['last_used_at', 'datetime(3)', 'YES', null],
        ['revoked_at', 'datetime(3)', 'YES', null],
        ['metadata', 'longtext', 'YES', 'utf8mb4_bin'],
        ['ttl_seconds', 'bigint(20)', 'YES', null],
        ['previous_secret_hash', 'varbinary(1024)', 'YES', null],
        ['previous_secret_expires_at', 'datetime(3)', 'YES', null],
        ['rotated_at', 'datetime(3)', 'YES', null],
        ['owner', 'varbinary(760)', 'YES', null],
        ['permissions', 'longtext', 'YES', 'utf8mb4_bin'],
        ['limits', 'longtext', 'YES', 'utf8mb4_bin'],
      ]);
      const tables = await rowsOf(
        `SELECT table_name AS t, engine AS e FROM information_schema.tables
          WHERE table_schema = ? ORDER BY table_name`,
        [database],
      );
      expect(tables.map((t) => [t.t, t.e])).toEqual([
        ['keymint_api_keys', 'InnoDB'],
        ['keymint_api_keys_changes', 'InnoDB'],
        ['keymint_api_keys_failures', 'InnoDB'],
        ['keymint_api_keys_migrations', 'InnoDB'],
        ['keymint_api_keys_usage', 'InnoDB'],
      ]);
      const indexes = await rowsOf(
        `SELECT index_name AS i, GROUP_CONCAT(column_name ORDER BY seq_in_index) AS c,
                MIN(non_unique) AS u
           FROM information_schema.statistics
          WHERE table_schema = ? AND table_name = 'keymint_api_keys'
          GROUP BY index_name ORDER BY index_name`,
        [database],
      );
      expect(indexes.map((i) => [i.i, i.c, Number(i.u)])).toEqual([
        ['keymint_api_keys_expires_at', 'expires_at', 1],
        ['keymint_api_keys_scope_name', 'scope,name', 0],
        ['keymint_api_keys_scope_owner_name', 'scope,owner,name', 1],
        ['PRIMARY', 'id', 0],
      ]);
      const versions = await rowsOf(
        `SELECT version, name FROM \`${database}\`.keymint_api_keys_migrations ORDER BY version`,
      );
      expect(versions).toEqual(mysqlSteps().map(({ version, name }) => ({ version, name })));
    });

    it('is idempotent: running it again keeps the table and its rows', async () => {
      const adapter = await freshTable('idempotent_keys');
      const record = rec();
      await adapter.insert(record);
      await migrate(pool, { database, table: 'idempotent_keys' });
      await migrate(pool, { database, table: 'idempotent_keys' });
      expect(await adapter.findById(record.id)).toEqual(record);
    });

    it('lets three pools migrate one new database at the same moment', async () => {
      for (let round = 0; round < 3; round++) {
        const target = randomDatabase('keymint_race');
        databases.push(target);
        const racing = [open({ connectionLimit: 1 }), open({ connectionLimit: 1 }), open()];
        await Promise.all(racing.map((p) => migrate(p, { database: target })));
        const [row] = await rowsOf(
          `SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = ?`,
          [target],
        );
        expect(Number(row!.n)).toBe(5);
        const versions = await rowsOf(
          `SELECT version FROM \`${target}\`.keymint_api_keys_migrations`,
        );
        expect(versions).toHaveLength(mysqlSteps().length);
      }
    });

    it('ships sql/mysql.sql equal to mysqlSchema(), and each step file equal to mysqlSteps()', () => {
      const file = readFileSync(new URL('../sql/mysql.sql', import.meta.url), 'utf8');
      expect(file).toBe(mysqlSchema());
      for (const step of mysqlSteps()) {
        const shipped = readFileSync(new URL(`../sql/mysql/${step.file}`, import.meta.url), 'utf8');
        expect(shipped).toBe(step.sql);
        expect(mysqlSchema()).toContain(step.sql.split('\n').slice(1).join('\n').trim());
      }
    });

    it('sql/mysql.sql applied by the mysql client gives a table the adapter uses, and migrate() keeps', async () => {
      const target = randomDatabase('keymint_file');
      databases.push(target);
      const multi = open({ multipleStatements: true });
      await multi.query(`CREATE DATABASE \`${target}\``);
      const connection = await multi.getConnection();
      await connection.query(`USE \`${target}\``);
      await connection.query(readFileSync(new URL('../sql/mysql.sql', import.meta.url), 'utf8'));
      connection.release();
      const adapter = mysqlAdapter(pool, { database: target });
      const record = rec();
      expect(await adapter.insert(record)).toEqual({ ok: true });
      await migrate(pool, { database: target });
      expect(await adapter.findById(record.id)).toEqual(record);
    });

    it('mysqlSchema() qualifies and derives every name from the options', () => {
      const sql = mysqlSchema({ database: 'auth', table: 'ApiKeys' });
      expect(sql).toContain('CREATE DATABASE IF NOT EXISTS `auth` CHARACTER SET utf8mb4;');
      expect(sql).toContain('CREATE TABLE IF NOT EXISTS `auth`.`ApiKeys` (');
      expect(sql).toContain('CREATE TABLE IF NOT EXISTS `auth`.`ApiKeys_changes` (');
      expect(sql).toContain('UNIQUE KEY `ApiKeys_scope_name` (scope, name)');
      expect(mysqlSchema()).not.toContain('CREATE DATABASE');
    });
  });

  it('upgrades a table of step 1 with its rows, and lists an owner through the (scope, owner, name) index', async () => {
    const table = 'upgraded_keys';
    const names = { database, table };
    for (const statement of mysqlSteps(names)[0]!
      .sql.replace(/^--.*\n/, '')
      .split(';\n')) {
      if (statement.trim()) await pool.query(statement);
    }
    await pool.query(
      `INSERT INTO \`${database}\`.${table} (id, scope, name, role, secret_hash, created_at)
       VALUES ('OLD000000001', 'default', 'old', 'Editor', 'h', '2026-01-01 00:00:00.000')`,
    );
    await migrate(pool, names);
    await migrate(pool, names);
    const adapter = mysqlAdapter(pool, names);
    expect(await adapter.findById('OLD000000001')).toMatchObject({
      owner: null,
      permissions: null,
    });
    const [plan] = (await pool.query(
      `EXPLAIN SELECT id FROM \`${database}\`.${table} WHERE scope = CAST('default' AS BINARY) AND owner = CAST('u1' AS BINARY) ORDER BY name`,
    )) as [{ key: string | null }[], unknown];
    expect(plan[0]!.key).toBe(`${table}_scope_owner_name`);
  });

  it('upgrades a table of step 2 with its rows to the failure counter and the usage counters, three pools at once', async () => {
    const table = 'counted_keys';
    const names = { database, table };
    const [initial, owners] = mysqlSteps(names);
    for (const step of [initial!, owners!]) {
      for (const statement of step.sql.replace(/^--.*\n/, '').split(';\n')) {
        if (statement.trim()) await pool.query(statement);
      }
    }
    await pool.query(
      `CREATE TABLE \`${database}\`.${table}_migrations (version INT NOT NULL PRIMARY KEY,
         name VARCHAR(64) NOT NULL, applied_at DATETIME(3) NOT NULL) ENGINE=InnoDB`,
    );
    await pool.query(
      `INSERT INTO \`${database}\`.${table}_migrations VALUES (1, 'initial', UTC_TIMESTAMP(3)), (2, 'owners', UTC_TIMESTAMP(3))`,
    );
    await pool.query(
      `INSERT INTO \`${database}\`.${table} (id, scope, name, role, secret_hash, created_at, owner)
       VALUES ('OLD000000002', 'default', 'old', 'Editor', 'h', '2026-01-01 00:00:00.000', 'u1')`,
    );
    const before = mysqlAdapter(pool, names);
    // Not upgraded yet: the counter says which table is missing and how to add it, and a read
    // says the table is at an older version.
    const missing = (await rejectionOf(before.reserveFailure!('OLD000000002', 3, 60_000))) as Error;
    expect(missing.message).toContain(`${table}_failures does not exist`);
    expect(missing.message).toContain('migrate()');
    const outdated = (await rejectionOf(before.findById('OLD000000002'))) as Error;
    expect(outdated.message).toContain('older schema version');
    const racing = [open({ connectionLimit: 1 }), open({ connectionLimit: 1 }), open()];
    await Promise.all(racing.map((p) => migrate(p, names)));
    const versions = await rowsOf(
      `SELECT version FROM \`${database}\`.${table}_migrations ORDER BY version`,
    );
    expect(versions.map((v) => Number(v.version))).toEqual([1, 2, 3, 4]);
    const adapter = mysqlAdapter(pool, names);
    expect(await adapter.findById('OLD000000002')).toMatchObject({
      name: 'old',
      owner: 'u1',
      limits: null,
    });
    expect(await adapter.reserveFailure!('OLD000000002', 1, 60_000)).toMatchObject({ ok: true });
    expect(await adapter.reserveFailure!('OLD000000002', 1, 60_000)).toMatchObject({ ok: false });
    const request = { rate: { limit: 2, windowStart: 1_000 } };
    expect(await adapter.consumeUsage!('OLD000000002', request)).toEqual({
      ok: true,
      count: 1,
      remaining: null,
    });
  });

  describe('the wrong-secret counter', () => {
    it('counts exactly across three pools at once, and deleteExpired() sweeps only ended windows', async () => {
      const table = 'failure_keys';
      const adapter = await freshTable(table);
      const others = [open(), open()].map((p) => mysqlAdapter(p, { database, table }));
      const [a, b] = [rec(), rec()];
      await adapter.insert(a);
      await adapter.insert(b);
      const answers = await Promise.all(
        [adapter, ...others].flatMap((x) =>
          Array.from({ length: 20 }, () => x.reserveFailure!(a.id, 7, 60_000)),
        ),
      );
      expect(answers.filter((r) => r?.ok === true)).toHaveLength(7);
      expect(
        new Set(answers.filter((r) => r?.ok).map((r) => (r as { window: number }).window)).size,
      ).toBe(1);
      // Given back in parallel from the three pools: never below nothing.
      const window = (answers.find((r) => r?.ok) as { window: number }).window;
      await Promise.all(
        [adapter, ...others].flatMap((x) => [1, 2, 3].map(() => x.releaseFailure!(a.id, window))),
      );
      const [row] = await rowsOf(
        `SELECT failures, reset_at FROM \`${database}\`.${table}_failures WHERE id = ?`,
        [a.id],
      );
      expect(Number(row!.failures)).toBe(0);
      expect(Number(row!.reset_at)).toBe(0); // every place given back: the window has ended
      expect(await adapter.reserveFailure!(b.id, 2, 200)).toMatchObject({ ok: true });
      expect(await adapter.deleteExpired(new Date())).toBe(0);
      // a's window ended (all given back); b's is still open.
      let left = await rowsOf(`SELECT id FROM \`${database}\`.${table}_failures`);
      expect(left.map((r) => String(r.id))).toEqual([b.id]);
      await new Promise((resolve) => setTimeout(resolve, 250));
      await adapter.deleteExpired(new Date());
      left = await rowsOf(`SELECT id FROM \`${database}\`.${table}_failures`);
      expect(left).toEqual([]);
    });

    it('reads the same window under any session time zone', async () => {
      const table = 'zoned_failure_keys';
      await migrate(pool, { database, table });
      const west = mysqlAdapter(open({}, ["SET time_zone = '-07:00'"]), { database, table });
      const east = mysqlAdapter(open({}, ["SET time_zone = '+09:45'"]), { database, table });
      const a = rec();
      await west.insert(a);
      const first = (await west.reserveFailure!(a.id, 5, 60_000)) as { window: number };
      expect(Math.abs(first.window - Date.now())).toBeLessThan(60_000);
      expect(await east.reserveFailure!(a.id, 5, 60_000)).toEqual({
        ok: true,
        window: first.window,
      });
      const refused = await east.reserveFailure!(a.id, 2, 60_000);
      expect(refused).toMatchObject({ ok: false });
      expect((refused as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(59_000 - 5_000);
    });
  });

  describe('the counters when every assignment reads the old row', () => {
    // MariaDB's SIMULTANEOUS_ASSIGNMENT: an UPDATE's assignments all read the row as it was,
    // not left to right as MySQL does. The counter's statement must give the same row both ways.
    let simultaneous: KeyAdapter;
    beforeAll(async () => {
      const table = 'simultaneous_keys';
      await migrate(pool, { database, table });
      const opened = open({}, ["SET sql_mode = CONCAT(@@sql_mode, ',SIMULTANEOUS_ASSIGNMENT')"]);
      simultaneous = mysqlAdapter(opened, { database, table });
      const [row] = (await opened.query('SELECT @@version AS v, @@session.sql_mode AS m'))[0] as {
        v: string;
        m: string;
      }[];
      if (row!.v.includes('MariaDB')) expect(row!.m).toContain('SIMULTANEOUS_ASSIGNMENT');
    });
    // A millisecond-precise instant fixed per test, as the conformance suite gives its groups.
    let base = Date.now();
    beforeEach(() => {
      base = Math.floor(Date.now() / 1000) * 1000 + 123;
    });
    const context = {
      adapter: () => simultaneous,
      record: (overrides?: Parameters<typeof rec>[0]) => rec(overrides),
      now: () => base,
      slowTimeout: 60_000,
    };
    describe('failure counter', () => failureGroups['failure counter'](context));
    describe('rate limit', () => usageGroups['rate limit'](context));
    describe('credits', () => usageGroups.credits(context));
  });

  describe('options', () => {
    const bad: [string, unknown][] = [
      ['a table with a hyphen', { table: 'api-keys' }],
      ['a table of 41 characters', { table: 'k'.repeat(41) }],
      ['a database with a backquote', { database: 'auth`; DROP TABLE x; --' }],
      ['a non-string table', { table: 42 }],
      ['an unknown option', { schema: 'auth' }],
      ['options that are not an object', 'keys'],
    ];
    for (const [what, options] of bad) {
      it(`rejects ${what} with CONFIG, in every function`, async () => {
        const given = options as Parameters<typeof mysqlAdapter>[1];
        expectThrowsCode(() => mysqlAdapter(pool, given), 'CONFIG');
        expectThrowsCode(() => mysqlSchema(given), 'CONFIG');
        expectThrowsCode(() => mysqlSteps(given), 'CONFIG');
        await expectCode(migrate(pool, given), 'CONFIG');
      });
    }

    it('rejects what is not a mysql2 promise pool with CONFIG, saying what to pass', async () => {
      expectThrowsCode(() => mysqlAdapter({} as never), 'CONFIG');
      await expectCode(migrate(null as never), 'CONFIG');
      const callbackPool = mysqlCallback.createPool({ uri: url });
      try {
        const error = expectThrowsCode(() => mysqlAdapter(callbackPool as never), 'CONFIG');
        expect(error.message).toContain('pool.promise()');
        // Its .promise() is the supported form.
        const adapter = mysqlAdapter(callbackPool.promise(), { database });
        expect(await adapter.findById('nothing-here')).toBeNull();
      } finally {
        await callbackPool.promise().end();
      }
    });

    it('reads and writes the same records through pools whose row options differ from the defaults', async () => {
      const table = 'row_option_keys';
      await migrate(pool, { database, table });
      const record = rec({ metadata: { team: 'infra' }, owner: 'u1', permissions: ['keys:read'] });
      await mysqlAdapter(pool, { database, table }).insert(record);
      const odd = [
        open({ rowsAsArray: true }),
        open({ nestTables: true }),
        open({ nestTables: '_' }),
        open({ typeCast: false }),
        open({
          typeCast: (field, next) => (field.type === 'VAR_STRING' ? field.string() : next()),
        }),
        open({ dateStrings: true, supportBigNumbers: true, bigNumberStrings: true }),
      ];
      for (const other of odd) {
        const adapter = mysqlAdapter(other, { database, table });
        expect(await adapter.findById(record.id)).toEqual(record);
        expect(await adapter.list({ scope: 'default', limit: 10 })).toEqual([record]);
        expect(await adapter.countLive!('default', new Date())).toBe(1);
        expect(await adapter.findById('not-there')).toBeNull();
      }
    });

    it('keeps keys in a custom table, apart from the default one', async () => {
      const custom = await freshTable('Custom_Keys');
      const standard = mysqlAdapter(pool, { database });
      const record = rec({ metadata: { team: 'infra' } });
      expect(await custom.insert(record)).toEqual({ ok: true });
      expect(await custom.findById(record.id)).toEqual(record);
      expect(await standard.findById(record.id)).toBeNull();
      expect(await custom.insert(rec({ id: record.id }))).toEqual({ ok: false, conflict: 'id' });
      expect(await custom.insert(rec({ name: record.name }))).toEqual({
        ok: false,
        conflict: 'name',
      });
    });
  });

  describe('names compare by code point, as in the other adapters', () => {
    it('keeps names apart that utf8mb4 collations would merge (trailing spaces, case, accents)', async () => {
      const adapter = await freshTable('collation_keys');
      const names = ['a', 'a ', 'A', 'á', 'a\u0301', 'ss', 'ß', 'a\t', 'ab'];
      for (const name of names) expect(await adapter.insert(rec({ name }))).toEqual({ ok: true });
      const listed = await adapter.list({ scope: 'default', limit: 100 });
      expect(listed.map((r) => r.name)).toEqual([...new Set(names)].sort(compareCodePoints));
      // 'a\t' sorts after 'a' by code point; a PAD SPACE collation would put it first.
      const after = await adapter.list({ scope: 'default', limit: 100, after: 'a' });
      expect(after.map((r) => r.name)).toContain('a\t');
      expect(await adapter.insert(rec({ name: 'a ' }))).toEqual({ ok: false, conflict: 'name' });
    });
  });

  describe('time zones', () => {
    it('stores UTC and reads the same instants under any session time zone and pool timezone', async () => {
      const table = 'zoned_keys';
      await migrate(pool, { database, table });
      const [server] = await rowsOf('SELECT @@global.time_zone AS tz');
      // scripts/services.mjs starts MariaDB at +05:30; a server of your own may be anywhere else.
      if (!process.env.KEYMINT_TEST_MYSQL_URL) expect(server!.tz).toBe('+05:30');
      const west = open({ timezone: '-08:00' }, ["SET time_zone = '-07:00'"]);
      const east = open({ timezone: 'Z' }, ["SET time_zone = '+09:45'"]);
      const [zone] = (await west.query('SELECT @@session.time_zone AS tz'))[0] as { tz: string }[];
      expect(zone!.tz).toBe('-07:00');
      const record = rec({
        createdAt: new Date(Date.UTC(2026, 2, 29, 1, 30, 0, 123)), // a DST change in Europe
        expiresAt: new Date(Date.UTC(2026, 9, 25, 0, 59, 59, 999)),
        lastUsedAt: new Date(Date.UTC(1969, 11, 31, 23, 59, 59, 1)),
      });
      await mysqlAdapter(west, { database, table }).insert(record);
      expect(await mysqlAdapter(east, { database, table }).findById(record.id)).toEqual(record);
      // What is stored is UTC wall time, as text that no zone setting changes.
      const [row] = await rowsOf(
        `SELECT CAST(created_at AS CHAR) AS c, CAST(expires_at AS CHAR) AS e
           FROM \`${database}\`.${table} WHERE id = ?`,
        [record.id],
      );
      expect(row).toEqual({ c: '2026-03-29 01:30:00.123', e: '2026-10-25 00:59:59.999' });
      // Expiry comparisons run on the same UTC values, from either side.
      const eastAdapter = mysqlAdapter(east, { database, table });
      expect(
        await eastAdapter.countLive!('default', new Date(record.expiresAt!.getTime() - 1)),
      ).toBe(1);
      expect(await eastAdapter.countLive!('default', record.expiresAt!)).toBe(0);
      expect(await mysqlAdapter(west, { database, table }).deleteExpired(record.expiresAt!)).toBe(
        1,
      );
    });

    it('refuses an instant DATETIME cannot hold, storing nothing', async () => {
      const adapter = await freshTable('range_keys');
      const record = rec({ expiresAt: new Date(Date.UTC(10_000, 0, 1)) });
      const error = await rejectionOf(adapter.insert(record));
      expect(error).toBeInstanceOf(RangeError);
      expect(await adapter.findById(record.id)).toBeNull();
    });
  });

  describe('a missing table', () => {
    it('makes every method throw an error that says to run migrate()', async () => {
      const adapter = mysqlAdapter(pool, { database, table: 'not_migrated' });
      const calls = [
        () => adapter.insert(rec()),
        () => adapter.findById('AAAAAAAAAAAA'),
        () => adapter.list({ scope: 'default', limit: 10 }),
        () => adapter.update('AAAAAAAAAAAA', { revokedAt: new Date() }),
        () => adapter.delete('AAAAAAAAAAAA'),
        () => adapter.deleteExpired(new Date()),
        () => adapter.modify!('AAAAAAAAAAAA', { role: 'Admin' }),
        () => adapter.countLive!('default', new Date()),
        () => adapter.reserveFailure!('AAAAAAAAAAAA', 3, 60_000),
        () => adapter.releaseFailure!('AAAAAAAAAAAA', 1),
        () => adapter.consumeUsage!('AAAAAAAAAAAA', { rate: { limit: 1, windowStart: 0 } }),
      ];
      for (const call of calls) {
        const error = (await rejectionOf(call())) as Error;
        expect(error.message).toMatch(/does not exist: apply the schema first, with migrate\(\)/);
        expect((error.cause as { code?: string }).code).toBe('ER_NO_SUCH_TABLE');
      }
      await expect(adapter.subscribe!({ invalidate() {}, reset() {} })).rejects.toMatchObject({
        code: 'ER_NO_SUCH_TABLE',
      });
    });

    it('reaches the caller as STORE_FAILURE with the driver error as cause; verifyKey fails closed', async () => {
      const keymint = createKeymint({
        adapter: mysqlAdapter(pool, { database, table: 'never_migrated' }),
        hasher,
      });
      const created = await expectCode(
        keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' }),
        'STORE_FAILURE',
      );
      expect((created.cause as Error).message).toContain("migrate() from 'keymint/adapters/mysql'");
      const elsewhere = createKeymint({ adapter: memoryAdapter(), hasher });
      const { key } = await elsewhere.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
      await expectCode(keymint.verifyKey(key), 'STORE_FAILURE');
      await keymint.close();
      await elsewhere.close();
    });
  });

  describe('concurrency', () => {
    it('lets exactly one of 50 concurrent createApiKey() calls with one name win', async () => {
      const keymint = createKeymint({ adapter: await freshTable('race_keys'), hasher });
      const results = await Promise.allSettled(
        Array.from({ length: 50 }, () =>
          keymint.createApiKey({ name: 'deploy', role: 'Editor', ttl: '1h' }),
        ),
      );
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of results) {
        if (r.status === 'rejected') expect((r.reason as KeymintError).code).toBe('NAME_TAKEN');
      }
      const [row] = await rowsOf(`SELECT COUNT(*) AS n FROM \`${database}\`.race_keys`);
      expect(Number(row!.n)).toBe(1);
      await keymint.close();
    });

    it('touchMany() from two pools on overlapping batches keeps the latest time of each key', async () => {
      const adapter = await freshTable('touch_keys');
      const other = mysqlAdapter(open(), { database, table: 'touch_keys' });
      const records = Array.from({ length: 40 }, () => rec());
      for (const r of records) await adapter.insert(r);
      const base = records[0]!.createdAt.getTime();
      const batch = (offset: number) =>
        records.map((r, i) => ({ id: r.id, lastUsedAt: new Date(base + i * 10 + offset) }));
      await Promise.all([
        ...Array.from({ length: 5 }, (_, n) => adapter.touchMany!(batch(n))),
        ...Array.from({ length: 5 }, (_, n) => other.touchMany!([...batch(n + 5)].reverse())),
      ]);
      for (const [i, r] of records.entries()) {
        expect((await adapter.findById(r.id))?.lastUsedAt?.getTime()).toBe(base + i * 10 + 9);
      }
    });
  });

  describe('subscribe: the change log', () => {
    it('delivers another pool’s revoke, delete and modify within a second, and nothing for last use', async () => {
      const writer = await freshTable('feed_keys');
      const reader = mysqlAdapter(open(), { database, table: 'feed_keys' });
      const seen: string[] = [];
      let resets = 0;
      const subscription = await reader.subscribe!({
        invalidate: (id) => seen.push(id),
        reset: () => resets++,
      });
      try {
        const [a, b, c, d] = [rec(), rec(), rec(), rec()];
        for (const r of [a, b, c, d]) await writer.insert(r!);
        await writer.touchMany!([{ id: d!.id, lastUsedAt: new Date() }]);
        await writer.update(d!.id, { lastUsedAt: new Date() });
        const started = Date.now();
        await writer.update(a!.id, { revokedAt: new Date() });
        await waitFor(() => seen.includes(a!.id), 'the revocation', 1_000);
        expect(Date.now() - started).toBeLessThan(1_000);
        await writer.delete(b!.id);
        await writer.modify!(c!.id, { role: 'Admin' });
        await waitFor(
          () => seen.includes(b!.id) && seen.includes(c!.id),
          'delete and modify',
          1_000,
        );
        expect(seen).not.toContain(d!.id);
        expect(resets).toBe(0);
      } finally {
        await subscription.close();
      }
    });

    it('delivers each id of a revokeByOwner() from another pool within a second', async () => {
      const writer = await freshTable('owner_feed_keys');
      const reader = mysqlAdapter(open(), { database, table: 'owner_feed_keys' });
      const seen: string[] = [];
      const subscription = await reader.subscribe!({
        invalidate: (id) => seen.push(id),
        reset() {},
      });
      try {
        const mine = [rec({ owner: 'u1' }), rec({ owner: 'u1' })];
        const other = rec({ owner: 'u2' });
        for (const r of [...mine, other]) await writer.insert(r);
        const ids = await writer.revokeByOwner!('default', 'u1', new Date());
        expect([...ids].sort()).toEqual(mine.map((r) => r.id).sort());
        await waitFor(() => mine.every((r) => seen.includes(r.id)), 'both revocations', 1_000);
        expect(seen).not.toContain(other.id);
      } finally {
        await subscription.close();
      }
    });

    it('delivers a change whose transaction commits after a later one (a hole in the sequence)', async () => {
      const writer = await freshTable('hole_keys');
      const reader = mysqlAdapter(open(), { database, table: 'hole_keys' });
      const seen: string[] = [];
      const subscription = await reader.subscribe!({
        invalidate: (id) => seen.push(id),
        reset() {},
      });
      const slow = await pool.getConnection();
      try {
        const late = rec();
        const early = rec();
        await writer.insert(late);
        await writer.insert(early);
        // A transaction takes sequence number n and stays open while n + 1 commits.
        await slow.query('START TRANSACTION');
        await slow.query(
          `INSERT INTO \`${database}\`.hole_keys_changes (key_id, changed_at) VALUES (?, UTC_TIMESTAMP(3))`,
          [late.id],
        );
        await writer.delete(early.id);
        await waitFor(() => seen.includes(early.id), 'the later change', 1_000);
        await new Promise((resolve) => setTimeout(resolve, 450)); // two more polls
        expect(seen).not.toContain(late.id);
        await slow.query('COMMIT');
        await waitFor(() => seen.includes(late.id), 'the earlier, late-committed change', 1_000);
      } finally {
        slow.release();
        await subscription.close();
      }
    });

    it('logs nothing for a change that rolled back (a modify refused for its name)', async () => {
      const adapter = await freshTable('refused_keys');
      const [a, b] = [rec(), rec()];
      await adapter.insert(a);
      await adapter.insert(b);
      expect(await adapter.modify!(a.id, { name: b.name })).toEqual({ ok: false, reason: 'name' });
      expect(await adapter.modify!(a.id, { role: 'Admin' }, { secretHash: 'other' })).toEqual({
        ok: false,
        reason: 'secret',
      });
      const [row] = await rowsOf(`SELECT COUNT(*) AS n FROM \`${database}\`.refused_keys_changes`);
      expect(Number(row!.n)).toBe(0);
      expect(await adapter.findById(a.id)).toEqual(a);
    });

    it('resets the listener while the log cannot be read, and delivers again afterwards', async () => {
      const table = 'broken_feed_keys';
      const adapter = await freshTable(table);
      let resets = 0;
      const seen: string[] = [];
      const subscription = await adapter.subscribe!({
        invalidate: (id) => seen.push(id),
        reset: () => resets++,
      });
      try {
        await pool.query(
          `RENAME TABLE \`${database}\`.${table}_changes TO \`${database}\`.${table}_gone`,
        );
        await waitFor(() => resets > 0, 'a reset', 3_000);
        await pool.query(
          `RENAME TABLE \`${database}\`.${table}_gone TO \`${database}\`.${table}_changes`,
        );
        const other = mysqlAdapter(open(), { database, table });
        const r = rec();
        await other.insert(r);
        await other.delete(r.id);
        await waitFor(() => seen.includes(r.id), 'the delete after recovery', 2_000);
      } finally {
        await subscription.close();
      }
    });
  });
});
