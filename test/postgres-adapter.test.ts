import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  migrate,
  postgresAdapter,
  postgresSchema,
  type PostgresQueryable,
} from '../src/adapters/postgres/index.js';
import { memoryAdapter } from '../src/adapters/memory/index.js';
import { createKeymint, hmacSha256Hasher, KeymintError, type KeyAdapter } from '../src/index.js';
import { describeAdapterConformance } from '../src/testing/index.js';
import { freePort } from './fixtures/net.js';
import { dropSchemas, openPool, randomSchema } from './fixtures/postgres.js';
import { expectCode, expectThrowsCode, HMAC_SECRET, rejectionOf, storedRecord } from './helpers.js';
import { describeWithServer } from './servers.js';

const hasher = hmacSha256Hasher(HMAC_SECRET);

let counter = 0;
/** A record with a fresh id and name. */
function rec(overrides: Parameters<typeof storedRecord>[0] = {}) {
  counter++;
  const id = `PG${String(counter).padStart(10, '0')}`;
  return storedRecord({ id, name: `key ${id}`, ...overrides });
}

/**
 * A TCP server that accepts connections and never answers: a database that hangs. `close()`
 * destroys the sockets it accepted and stops it.
 */
async function silentServer(): Promise<{
  port: number;
  accepted: () => number;
  close(): Promise<void>;
}> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server = createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('error', () => {});
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    accepted: () => accepted,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** Settles like `promise`, or rejects once `ms` have passed: a hang fails the test quickly. */
function within<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still pending after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function waitFor(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

// Compile-time: pg's Pool and Client are accepted as they are.
const _acceptsPool: (pool: pg.Pool) => PostgresQueryable = (pool) => pool;
const _acceptsClient: (client: pg.Client) => PostgresQueryable = (client) => client;
void _acceptsPool;
void _acceptsClient;

describeWithServer('postgres', 'postgresAdapter()', (url) => {
  const schema = randomSchema();
  const schemas = [schema];
  const pools: pg.Pool[] = [];
  let pool: pg.Pool;

  const open = (config: pg.PoolConfig = {}, connectionString = url) => {
    const opened = openPool(connectionString, config);
    pools.push(opened);
    return opened;
  };
  /** A migrated table of its own for one test, so tests never see each other's rows. */
  async function freshTable(table: string): Promise<KeyAdapter> {
    await migrate(pool, { schema, table });
    return postgresAdapter(pool, { schema, table });
  }
  const count = async (table: string) =>
    Number((await pool.query(`SELECT count(*) AS n FROM "${schema}"."${table}"`)).rows[0].n);

  beforeAll(async () => {
    pool = open({ max: 10 });
    await migrate(pool, { schema });
  });

  afterAll(async () => {
    if (pool) await dropSchemas(pool, schemas);
    await Promise.all(pools.map((p) => p.end()));
  });

  describeAdapterConformance({
    name: 'postgres',
    createAdapter: async () => {
      await pool.query(`TRUNCATE "${schema}".keymint_api_keys`);
      return postgresAdapter(pool, { schema });
    },
  });

  describe('migrate() and the schema', () => {
    it('creates the documented columns, constraints and indexes', async () => {
      const where = [schema, 'keymint_api_keys'];
      const { rows: columns } = await pool.query(
        `SELECT column_name, data_type, is_nullable, collation_name FROM information_schema.columns
          WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`,
        where,
      );
      const column = (name: string, type: string, nullable = false, collation: string | null) => ({
        column_name: name,
        data_type: type,
        is_nullable: nullable ? 'YES' : 'NO',
        collation_name: collation,
      });
      const tz = 'timestamp with time zone';
      expect(columns).toEqual([
        column('id', 'text', false, 'C'),
        column('scope', 'text', false, 'C'),
        column('name', 'text', false, 'C'),
        column('role', 'text', false, null),
        column('secret_hash', 'text', false, null),
        column('created_at', tz, false, null),
        column('expires_at', tz, true, null),
        column('last_used_at', tz, true, null),
        column('revoked_at', tz, true, null),
        column('metadata', 'jsonb', true, null),
        column('ttl_seconds', 'bigint', true, null),
        column('previous_secret_hash', 'text', true, null),
        column('previous_secret_expires_at', tz, true, null),
        column('rotated_at', tz, true, null),
        column('owner', 'text', true, 'C'),
        column('permissions', 'jsonb', true, null),
        column('limits', 'jsonb', true, null),
      ]);

      const { rows: indexes } = await pool.query(
        `SELECT indexname, indexdef FROM pg_indexes
          WHERE schemaname = $1 AND tablename = $2 ORDER BY indexname`,
        where,
      );
      const on = `ON ${schema}.keymint_api_keys USING btree`;
      expect(indexes).toEqual([
        {
          indexname: 'keymint_api_keys_expires_at_idx',
          indexdef: `CREATE INDEX keymint_api_keys_expires_at_idx ${on} (expires_at) WHERE (expires_at IS NOT NULL)`,
        },
        {
          indexname: 'keymint_api_keys_pkey',
          indexdef: `CREATE UNIQUE INDEX keymint_api_keys_pkey ${on} (id)`,
        },
        {
          indexname: 'keymint_api_keys_scope_name_key',
          indexdef: `CREATE UNIQUE INDEX keymint_api_keys_scope_name_key ${on} (scope, name)`,
        },
        {
          indexname: 'keymint_api_keys_scope_owner_name_idx',
          indexdef: `CREATE INDEX keymint_api_keys_scope_owner_name_idx ${on} (scope, owner, name)`,
        },
      ]);

      const { rows: constraints } = await pool.query(
        `SELECT conname, contype FROM pg_constraint
          WHERE conrelid = to_regclass($1)::oid AND contype IN ('p', 'u') ORDER BY conname`,
        [`"${schema}".keymint_api_keys`],
      );
      expect(constraints).toEqual([
        { conname: 'keymint_api_keys_pkey', contype: 'p' },
        { conname: 'keymint_api_keys_scope_name_key', contype: 'u' },
      ]);
    });

    it('is idempotent: running it again keeps the table and its rows', async () => {
      const adapter = await freshTable('idempotent_keys');
      const record = rec();
      await adapter.insert(record);
      await migrate(pool, { schema, table: 'idempotent_keys' });
      await migrate(pool, { schema, table: 'idempotent_keys' });
      expect(await adapter.findById(record.id)).toEqual(record);
    });

    it('lets two pools migrate one new schema at the same moment', async () => {
      for (let round = 0; round < 5; round++) {
        const target = randomSchema('keymint_race');
        schemas.push(target);
        const pools = [open({ max: 1 }), open({ max: 1 })];
        await Promise.all(pools.map((p) => migrate(p, { schema: target })));
        const { rows } = await pool.query('SELECT to_regclass($1) IS NOT NULL AS exists', [
          `"${target}".keymint_api_keys`,
        ]);
        expect(rows[0].exists).toBe(true);
      }
    });

    it('ships sql/postgres.sql equal to postgresSchema()', () => {
      const file = readFileSync(new URL('../sql/postgres.sql', import.meta.url), 'utf8');
      expect(file).toBe(postgresSchema());
    });

    it('postgresSchema() qualifies and derives every name from the options', () => {
      const sql = postgresSchema({ schema: 'auth', table: 'ApiKeys' });
      expect(sql).toContain('CREATE SCHEMA IF NOT EXISTS "auth";');
      expect(sql).toContain('CREATE TABLE IF NOT EXISTS "auth"."ApiKeys" (');
      expect(sql).toContain('CONSTRAINT "ApiKeys_pkey" PRIMARY KEY (id)');
      expect(sql).toContain('CONSTRAINT "ApiKeys_scope_name_key" UNIQUE (scope, name)');
      expect(sql).toContain('CREATE INDEX IF NOT EXISTS "ApiKeys_expires_at_idx"');
      expect(postgresSchema()).not.toContain('CREATE SCHEMA');
    });
  });

  describe('options', () => {
    it('keeps keys in a custom table, case-sensitive, apart from the default table', async () => {
      const custom = await freshTable('Custom_Keys');
      const standard = postgresAdapter(pool, { schema });
      const record = rec({ metadata: { team: 'infra' } });
      expect(await custom.insert(record)).toEqual({ ok: true });
      expect(await custom.findById(record.id)).toEqual(record);
      expect(await standard.findById(record.id)).toBeNull();
      expect(await count('Custom_Keys')).toBe(1);
      // The conflict kind comes from the derived constraint names.
      expect(await custom.insert(rec({ id: record.id }))).toEqual({ ok: false, conflict: 'id' });
      expect(await custom.insert(rec({ name: record.name }))).toEqual({
        ok: false,
        conflict: 'name',
      });
    });

    const bad: [string, unknown][] = [
      ['a table with a hyphen', { table: 'api-keys' }],
      ['a table of 41 characters', { table: 'k'.repeat(41) }],
      ['a schema starting with a digit', { schema: '1auth' }],
      ['a schema with a quote', { schema: 'auth"; DROP TABLE x; --' }],
      ['a non-string table', { table: 42 }],
      ['an unknown option', { tabel: 'keys' }],
      ['options that are not an object', 'keys'],
    ];
    for (const [what, options] of bad) {
      it(`rejects ${what} with CONFIG, in all three functions`, async () => {
        const given = options as Parameters<typeof postgresAdapter>[1];
        expectThrowsCode(() => postgresAdapter(pool, given), 'CONFIG');
        expectThrowsCode(() => postgresSchema(given), 'CONFIG');
        await expectCode(migrate(pool, given), 'CONFIG');
      });
    }

    it('rejects a value that is not a pg pool or client with CONFIG', async () => {
      expectThrowsCode(() => postgresAdapter({} as never), 'CONFIG');
      await expectCode(migrate(null as never), 'CONFIG');
    });
  });

  describe('a missing table', () => {
    const calls = (adapter: KeyAdapter) => [
      () => adapter.insert(rec()),
      () => adapter.findById('AAAAAAAAAAAA'),
      () => adapter.list({ scope: 'default', limit: 10 }),
      () => adapter.update('AAAAAAAAAAAA', { lastUsedAt: new Date() }),
      () => adapter.delete('AAAAAAAAAAAA'),
      () => adapter.deleteExpired(new Date()),
    ];

    it('makes every method throw an error that says to run migrate(), and creates nothing', async () => {
      const missingSchema = randomSchema('keymint_never');
      schemas.push(missingSchema);
      for (const options of [{ schema, table: 'not_migrated' }, { schema: missingSchema }]) {
        const adapter = postgresAdapter(pool, options);
        for (const call of calls(adapter)) {
          const error = (await rejectionOf(call())) as Error;
          expect(error.message).toMatch(/does not exist: apply the schema first, with migrate\(\)/);
          expect((error.cause as { code?: string }).code).toBe('42P01');
          // The wrapper exposes the driver's SQLSTATE too.
          expect((error as { code?: string }).code).toBe('42P01');
        }
      }
      const { rows } = await pool.query(
        'SELECT to_regclass($1) AS missing_table, to_regnamespace($2) AS missing_schema',
        [`"${schema}".not_migrated`, `"${missingSchema}"`],
      );
      expect(rows[0]).toEqual({ missing_table: null, missing_schema: null });
    });

    it('reaches the caller of createKeymint() as STORE_FAILURE with that error as cause', async () => {
      const table = 'never_migrated';
      const keymint = createKeymint({ adapter: postgresAdapter(pool, { schema, table }), hasher });
      const created = await expectCode(
        keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' }),
        'STORE_FAILURE',
      );
      const cause = created.cause as Error;
      expect(cause.message).toContain(`The table ${schema}.${table} does not exist`);
      expect(cause.message).toContain("migrate() from 'keymint/adapters/postgres'");
      expect((cause as { code?: string }).code).toBe('42P01');
      expect((cause.cause as { code?: string }).code).toBe('42P01');

      const elsewhere = createKeymint({ adapter: memoryAdapter(), hasher });
      const { key } = await elsewhere.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
      const verified = await expectCode(keymint.verifyKey(key), 'STORE_FAILURE');
      expect((verified.cause as Error).message).toMatch(/migrate\(\)/);
      await expectCode(keymint.listApiKeys(), 'STORE_FAILURE');
    });
  });

  describe('concurrency and failures', () => {
    it('lets exactly one of 50 concurrent createApiKey() calls with one name win', async () => {
      const keymint = createKeymint({ adapter: await freshTable('race_keys'), hasher });
      const results = await Promise.allSettled(
        Array.from({ length: 50 }, () =>
          keymint.createApiKey({ name: 'deploy', role: 'Editor', ttl: '1h' }),
        ),
      );
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.flatMap((r) => (r.status === 'rejected' ? [r.reason] : []));
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(49);
      for (const error of lost) {
        expect(error).toBeInstanceOf(KeymintError);
        expect((error as KeymintError).code).toBe('NAME_TAKEN');
      }
      expect(await count('race_keys')).toBe(1);
    });

    it('reports a refused connection as STORE_FAILURE with the driver error as cause', async () => {
      const live = createKeymint({ adapter: await freshTable('refused_keys'), hasher });
      const { key } = await live.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
      const deadUrl = `postgres://keymint@127.0.0.1:${await freePort()}/postgres`;
      const dead = open({ connectionTimeoutMillis: 5_000 }, deadUrl);
      const keymint = createKeymint({
        adapter: postgresAdapter(dead, { schema, table: 'refused_keys' }),
        hasher,
      });
      const created = await expectCode(
        keymint.createApiKey({ name: 'other', role: 'Editor', ttl: '1h' }),
        'STORE_FAILURE',
      );
      expect((created.cause as { code?: string }).code).toBe('ECONNREFUSED');
      const verified = await expectCode(keymint.verifyKey(key), 'STORE_FAILURE');
      expect((verified.cause as { code?: string }).code).toBe('ECONNREFUSED');
    });

    it('fails closed within the connection timeout when the server accepts but never answers', async () => {
      const live = createKeymint({ adapter: memoryAdapter(), hasher });
      const { key } = await live.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
      const silent = await silentServer();
      try {
        const hung = open(
          { connectionTimeoutMillis: 300 },
          `postgres://keymint@127.0.0.1:${silent.port}/postgres`,
        );
        const keymint = createKeymint({ adapter: postgresAdapter(hung, { schema }), hasher });
        const started = Date.now();
        const error = await within(2_000, expectCode(keymint.verifyKey(key), 'STORE_FAILURE'));
        expect(Date.now() - started).toBeLessThan(2_000);
        expect(silent.accepted()).toBeGreaterThanOrEqual(1);
        expect((error.cause as Error).message).toMatch(/timeout/i);
        // A second call waits for its own connection attempt, and fails the same way.
        await within(2_000, expectCode(keymint.verifyKey(key), 'STORE_FAILURE'));
      } finally {
        await silent.close();
      }
    });

    it('fails closed within query_timeout when a query waits on a lock, then works again', async () => {
      const table = 'slow_keys';
      await migrate(pool, { schema, table });
      const fast = createKeymint({ adapter: postgresAdapter(pool, { schema, table }), hasher });
      const { key } = await fast.createApiKey({ name: 'verified', role: 'Editor', ttl: '1h' });
      const { apiKey: toRevoke } = await fast.createApiKey({
        name: 'revoked',
        role: 'Editor',
        ttl: '1h',
      });
      const slowPool = open({ max: 4, connectionTimeoutMillis: 2_000, query_timeout: 200 });
      const keymint = createKeymint({
        adapter: postgresAdapter(slowPool, { schema, table }),
        hasher,
      });
      const timed = async (call: Promise<unknown>) => {
        const started = Date.now();
        const error = await within(2_000, expectCode(call, 'STORE_FAILURE'));
        expect(Date.now() - started).toBeLessThan(1_500);
        expect((error.cause as Error).message).toBe('Query read timeout');
      };

      /** Runs `call` while a transaction on the main pool holds the lock `lockSql` takes. */
      const whileLocked = async (lockSql: string, values: unknown[], call: () => Promise<void>) => {
        const admin = await pool.connect();
        try {
          await admin.query('BEGIN');
          await admin.query(lockSql, values);
          await call();
        } finally {
          await admin.query('ROLLBACK');
          admin.release();
        }
      };
      // One lock per transaction: the abandoned UPDATE still waits on the server, and a table lock
      // taken in the same transaction would deadlock with it.
      // A row lock: reads go on, the revocation's UPDATE waits for it.
      await whileLocked(
        `SELECT id FROM "${schema}".${table} WHERE id = $1 FOR UPDATE`,
        [toRevoke.id],
        () => timed(keymint.revokeApiKey(toRevoke.id)),
      );
      // A table lock: the lookup of verifyKey() waits too.
      await whileLocked(`LOCK TABLE "${schema}".${table} IN ACCESS EXCLUSIVE MODE`, [], () =>
        timed(keymint.verifyKey(key)),
      );

      // The same pool works again once the locks are gone.
      expect(await keymint.verifyKey(key)).toMatchObject({ valid: true });
      // query_timeout gives up on the client side only: the abandoned UPDATE may still have run
      // once the lock was released. Either way the key ends up revoked.
      const revoked = await keymint.revokeApiKey(toRevoke.id);
      expect(revoked.revokedAt).toBeInstanceOf(Date);
      expect((await fast.getApiKey(toRevoke.id)).revokedAt).toEqual(revoked.revokedAt);
    });

    it('fails a call whose backend is terminated, then verifies again on the same pool', async () => {
      const table = 'terminated_keys';
      await migrate(pool, { schema, table });
      const applicationName = randomSchema('keymint_victim');
      const victim = open({ max: 2, application_name: applicationName });
      const keymint = createKeymint({
        adapter: postgresAdapter(victim, { schema, table }),
        hasher,
      });
      const { key } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
      const backends = `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`;

      // Mid-query: the lookup waits on a lock while its backend is terminated.
      const admin = await pool.connect();
      try {
        await admin.query('BEGIN');
        await admin.query(`LOCK TABLE "${schema}".${table} IN ACCESS EXCLUSIVE MODE`);
        // Handled from the start: it rejects while the terminating query is still in flight.
        const pending = expectCode(keymint.verifyKey(key), 'STORE_FAILURE');
        await waitFor(async () => {
          const { rowCount } = await pool.query(
            `SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`,
            [applicationName],
          );
          return rowCount === 1;
        }, 'the lookup to wait on the lock');
        await pool.query(backends, [applicationName]);
        const error = await pending;
        expect((error.cause as { code?: string }).code).toBe('57P01'); // admin_shutdown
      } finally {
        await admin.query('ROLLBACK');
        admin.release();
      }
      expect(await keymint.verifyKey(key)).toMatchObject({ valid: true });

      // Idle: the pool may still hand out a dead connection once; it must never say valid wrongly.
      await pool.query(backends, [applicationName]);
      const outcomes: string[] = [];
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          const result = await keymint.verifyKey(key);
          expect(result).toMatchObject({ valid: true });
          outcomes.push('valid');
          break;
        } catch (error) {
          expect(error).toBeInstanceOf(KeymintError);
          expect((error as KeymintError).code).toBe('STORE_FAILURE');
          outcomes.push('STORE_FAILURE');
        }
      }
      expect(outcomes.at(-1)).toBe('valid');
      expect(outcomes.length).toBeLessThanOrEqual(3);
    });
  });

  describe('update() of lastUsedAt', () => {
    const at = (seconds: number) => new Date(Date.UTC(2030, 0, 1, 12, 0, seconds, 7));

    it('only moves it forward: a NULL takes the value, older or absent values change nothing', async () => {
      const adapter = await freshTable('last_used_keys');
      const record = rec();
      await adapter.insert(record);
      // Stored NULL + a value: the value (GREATEST ignores NULLs).
      expect(await adapter.update(record.id, { lastUsedAt: at(10) })).toEqual({
        ...record,
        lastUsedAt: at(10),
      });
      // Stored value + an older one (a late background write): unchanged.
      expect((await adapter.update(record.id, { lastUsedAt: at(5) }))?.lastUsedAt).toEqual(at(10));
      // Stored value + no lastUsedAt in the patch (a NULL parameter): unchanged.
      expect(await adapter.update(record.id, { secretHash: 'rehashed' })).toEqual({
        ...record,
        secretHash: 'rehashed',
        lastUsedAt: at(10),
      });
      expect((await adapter.update(record.id, {}))?.lastUsedAt).toEqual(at(10));
      // The same instant, and one a millisecond later.
      expect((await adapter.update(record.id, { lastUsedAt: at(10) }))?.lastUsedAt).toEqual(at(10));
      const later = new Date(at(10).getTime() + 1);
      expect((await adapter.update(record.id, { lastUsedAt: later }))?.lastUsedAt).toEqual(later);
      expect((await adapter.findById(record.id))?.lastUsedAt).toEqual(later);
    });

    it('keeps the latest of concurrent writes from several pools, whatever their order', async () => {
      const adapter = await freshTable('last_used_race_keys');
      const others = [open({ max: 4 }), open({ max: 4 })].map((p) =>
        postgresAdapter(p, { schema, table: 'last_used_race_keys' }),
      );
      const record = rec({ lastUsedAt: at(0) });
      await adapter.insert(record);
      const times = Array.from({ length: 30 }, (_, i) => at(i + 1));
      // Latest first, so most writes arrive after a newer one.
      const writes = times
        .reverse()
        .map((t, i) => others[i % others.length]!.update(record.id, { lastUsedAt: t }));
      await Promise.all(writes);
      expect((await adapter.findById(record.id))?.lastUsedAt).toEqual(at(30));
    });
  });

  describe('round trips', () => {
    it('stores extreme dates exactly, whatever the process time zone', async () => {
      const adapter = await freshTable('date_keys');
      const timeZone = process.env.TZ;
      // Liberia was at UTC-0:44:30 until 1972: pg's own Date conversion (whole-minute offsets of
      // the process's zone) would store 1960-01-01T00:00:00.123Z 30 seconds early.
      process.env.TZ = 'Africa/Monrovia';
      try {
        const record = rec({
          createdAt: new Date(Date.UTC(1960, 0, 1, 0, 0, 0, 123)),
          expiresAt: new Date(8.64e15),
          lastUsedAt: new Date('0000-06-15T23:59:59.999Z'),
          revokedAt: new Date(-62198755200000),
        });
        await adapter.insert(record);
        expect(await adapter.findById(record.id)).toEqual(record);
        expect(await adapter.list({ scope: 'default', limit: 10, activeAt: new Date(0) })).toEqual([
          record,
        ]);
      } finally {
        if (timeZone === undefined) delete process.env.TZ;
        else process.env.TZ = timeZone;
      }
    });

    it('reads records when the pool returns every value as text, in any DateStyle', async () => {
      await freshTable('text_keys');
      const raw = open({
        types: { getTypeParser: () => (value: string) => value } as unknown as pg.CustomTypesConfig,
        options: '-c DateStyle=SQL,DMY -c TimeZone=Pacific/Chatham',
      });
      const adapter = postgresAdapter(raw, { schema, table: 'text_keys' });
      const record = rec({ lastUsedAt: new Date(), metadata: { n: 1.5, list: ['a', null] } });
      await adapter.insert(record);
      expect(await adapter.findById(record.id)).toEqual(record);
      expect(await adapter.update(record.id, { revokedAt: new Date(7) })).toEqual({
        ...record,
        revokedAt: new Date(7),
      });
    });

    it('works over a single pg.Client', async () => {
      const client = new pg.Client({ connectionString: url });
      client.on('error', () => {});
      await client.connect();
      try {
        await migrate(client, { schema, table: 'client_keys' });
        const adapter = postgresAdapter(client, { schema, table: 'client_keys' });
        const record = rec();
        expect(await adapter.insert(record)).toEqual({ ok: true });
        expect(await adapter.list({ scope: 'default', limit: 5 })).toEqual([record]);
        expect(await adapter.delete(record.id)).toBe(true);
        expect(await adapter.findById(record.id)).toBeNull();
      } finally {
        await client.end();
      }
    });
  });
});
