// Upgrading a PostgreSQL table of keymint 0.1.0 in place: the table is built from the SQL file
// 0.1.0 shipped (test/fixtures/postgres-0.1.0.sql, a copy of its sql/postgres.sql) and filled
// with rows as 0.1.0's adapter wrote them; migrate() then upgrades it, with its data, also from
// several connections at once, and the old keys keep working, update and rotate.
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  migrate,
  postgresAdapter,
  postgresSchema,
  postgresSteps,
} from '../src/adapters/postgres/index.js';
import { createKeymint } from '../src/index.js';
import { dropSchemas, openPool, randomSchema } from './fixtures/postgres.js';
import { LEGACY_HASHER, legacyKeys, type LegacyRecord } from './fixtures/keys-0.1.0.js';
import { expectCode } from './helpers.js';
import { describeWithServer } from './servers.js';

const V010_SQL = readFileSync(new URL('./fixtures/postgres-0.1.0.sql', import.meta.url), 'utf8');
const shipped = (file: string) => readFileSync(new URL(`../sql/${file}`, import.meta.url), 'utf8');

/** SQL without comments and with whitespace collapsed: what PostgreSQL runs. */
const statements = (sql: string) =>
  sql
    .replace(/--[^\n]*\n/g, '\n')
    .replace(/\s+/g, ' ')
    .trim();

/** 0.1.0's adapter INSERT: its ten columns, its parameter casts. */
async function insertLegacy(pool: pg.Pool, schema: string, record: LegacyRecord) {
  await pool.query(
    `INSERT INTO "${schema}"."keymint_api_keys"
       (id, scope, name, role, secret_hash, created_at, expires_at, last_used_at, revoked_at, metadata)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb)`,
    [
      record.id,
      record.scope,
      record.name,
      record.role,
      record.secretHash,
      record.createdAt.toISOString(),
      record.expiresAt?.toISOString() ?? null,
      record.lastUsedAt?.toISOString() ?? null,
      record.revokedAt?.toISOString() ?? null,
      record.metadata === null ? null : JSON.stringify(record.metadata),
    ],
  );
}

describeWithServer('postgres', 'postgresAdapter() upgrade from 0.1.0', (url) => {
  const schemas: string[] = [];
  const pools: pg.Pool[] = [];
  let pool: pg.Pool;

  const open = (config: pg.PoolConfig = {}) => {
    const opened = openPool(url, config);
    pools.push(opened);
    return opened;
  };

  /** A schema holding a 0.1.0 table made by 0.1.0's SQL file, with four keys in it. */
  async function legacyDatabase() {
    const schema = randomSchema('keymint_v010');
    schemas.push(schema);
    await pool.query(`CREATE SCHEMA "${schema}"`);
    // The file names the table unqualified, as 0.1.0 shipped it: run it in the schema.
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(`SET search_path TO "${schema}"`);
      await client.query(V010_SQL);
    } finally {
      await client.end();
    }
    const keys = await legacyKeys(Date.now());
    for (const { record } of Object.values(keys)) await insertLegacy(pool, schema, record);
    return { schema, keys };
  }

  const columnsOf = async (schema: string) =>
    (
      await pool.query(
        `SELECT column_name FROM information_schema.columns
          WHERE table_schema = $1 AND table_name = 'keymint_api_keys' ORDER BY ordinal_position`,
        [schema],
      )
    ).rows.map((row: { column_name: string }) => row.column_name);

  const versionsOf = async (schema: string) =>
    (
      await pool.query(
        `SELECT version, name, applied_at FROM "${schema}"."keymint_api_keys_migrations" ORDER BY version`,
      )
    ).rows as { version: number; name: string; applied_at: Date }[];

  beforeAll(() => {
    pool = open({ max: 6 });
  });

  afterAll(async () => {
    if (pool) await dropSchemas(pool, schemas);
    await Promise.all(pools.map((p) => p.end()));
  });

  it('upgrades a 0.1.0 table with keys in it: versions 1 to 3, new columns, rows kept', async () => {
    const { schema, keys } = await legacyDatabase();
    expect(
      (await pool.query('SELECT to_regclass($1) AS t', [`"${schema}".keymint_api_keys_migrations`]))
        .rows[0].t,
    ).toBeNull();
    const before = (await pool.query(`SELECT * FROM "${schema}".keymint_api_keys ORDER BY id`))
      .rows;

    await migrate(pool, { schema });

    expect((await versionsOf(schema)).map(({ version, name }) => ({ version, name }))).toEqual([
      { version: 1, name: 'initial' },
      { version: 2, name: 'rotation' },
      { version: 3, name: 'owners' },
      { version: 4, name: 'usage' },
      { version: 5, name: 'failures' },
    ]);
    expect(await columnsOf(schema)).toEqual([
      'id',
      'scope',
      'name',
      'role',
      'secret_hash',
      'created_at',
      'expires_at',
      'last_used_at',
      'revoked_at',
      'metadata',
      'ttl_seconds',
      'previous_secret_hash',
      'previous_secret_expires_at',
      'rotated_at',
      'owner',
      'permissions',
      'limits',
    ]);
    const after = (await pool.query(`SELECT * FROM "${schema}".keymint_api_keys ORDER BY id`)).rows;
    expect(after).toEqual(
      before.map((row: object) => ({
        ...row,
        ttl_seconds: null,
        previous_secret_hash: null,
        previous_secret_expires_at: null,
        rotated_at: null,
        owner: null,
        permissions: null,
        limits: null,
      })),
    );
    const adapter = postgresAdapter(pool, { schema });
    for (const { record } of Object.values(keys)) {
      expect(await adapter.findById(record.id)).toEqual({
        ...record,
        ttlSeconds: null,
        previousSecretHash: null,
        previousSecretExpiresAt: null,
        rotatedAt: null,
        owner: null,
        permissions: null,
        limits: null,
      });
    }
  });

  it('keeps the old keys working, and updates and rotates them', async () => {
    const { schema, keys } = await legacyDatabase();
    await migrate(pool, { schema });
    const keymint = createKeymint({
      adapter: postgresAdapter(pool, { schema }),
      hasher: LEGACY_HASHER,
      allowNonExpiring: true,
    });
    expect(await keymint.verifyKey(keys.active.key, { role: 'Editor' })).toMatchObject({
      valid: true,
      apiKey: { id: keys.active.record.id, name: 'deploy', metadata: { team: 'ops' } },
    });
    expect(await keymint.verifyKey(keys.revoked.key)).toEqual({ valid: false, reason: 'revoked' });
    expect(await keymint.verifyKey(keys.expired.key)).toEqual({ valid: false, reason: 'expired' });
    expect((await keymint.verifyKey(keys.forever.key)).valid).toBe(true);

    const renamed = await keymint.updateApiKey(keys.active.record.id, {
      name: 'deploy (viewer)',
      role: 'Viewer',
    });
    expect(renamed).toMatchObject({
      name: 'deploy (viewer)',
      role: 'Viewer',
      metadata: { team: 'ops' },
    });
    expect(await keymint.verifyKey(keys.active.key, { role: 'Editor' })).toEqual({
      valid: false,
      reason: 'insufficient_role',
    });

    const before = Date.now();
    const rotated = await keymint.rotateApiKey(keys.active.record.id, { gracePeriod: '1h' });
    // A 0.1.0 key's own time to live is its expiry minus its creation: 1 day here.
    const expires = rotated.apiKey.expiresAt!.getTime();
    expect(expires).toBeGreaterThanOrEqual(before + 86_400_000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 86_400_000);
    expect((await keymint.verifyKey(keys.active.key)).valid).toBe(true); // grace period
    expect((await keymint.verifyKey(rotated.key)).valid).toBe(true);
    const again = await keymint.rotateApiKey(keys.active.record.id);
    expect(await keymint.verifyKey(keys.active.key)).toEqual({ valid: false, reason: 'not_found' });
    expect(await keymint.verifyKey(rotated.key)).toEqual({ valid: false, reason: 'rotated' });
    expect((await keymint.verifyKey(again.key)).valid).toBe(true);

    await expectCode(keymint.rotateApiKey(keys.revoked.record.id), 'REVOKED');
    await expectCode(keymint.updateApiKey(keys.expired.record.id, { name: 'x' }), 'EXPIRED');
    const forever = await keymint.rotateApiKey(keys.forever.record.id);
    expect(forever.apiKey.expiresAt).toBeNull();
    expect((await keymint.verifyKey(forever.key)).valid).toBe(true);
    await keymint.close();
  });

  it('upgrades a table at version 2 with keys in it: owners and permissions, the owner index', async () => {
    const schema = randomSchema('keymint_v2');
    schemas.push(schema);
    await pool.query(`CREATE SCHEMA "${schema}"`);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(`SET search_path TO "${schema}"`);
      for (const step of postgresSteps().slice(0, 2)) await client.query(step.sql);
      await client.query(`CREATE TABLE keymint_api_keys_migrations (
        version integer NOT NULL PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now());
        INSERT INTO keymint_api_keys_migrations (version, name) VALUES (1, 'initial'), (2, 'rotation')`);
    } finally {
      await client.end();
    }
    const keys = await legacyKeys(Date.now());
    for (const { record } of Object.values(keys)) await insertLegacy(pool, schema, record);
    // Five connections at once, as several processes starting together would.
    const racers = Array.from({ length: 5 }, () => open({ max: 1 }));
    await Promise.all(racers.map((p) => migrate(p, { schema })));
    expect((await versionsOf(schema)).map((v) => v.version)).toEqual([1, 2, 3, 4, 5]);
    const { rows } = await pool.query(
      `SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname = 'keymint_api_keys_scope_owner_name_idx'`,
      [schema],
    );
    expect(rows[0].indexdef).toContain('(scope, owner, name)');
    const adapter = postgresAdapter(pool, { schema });
    expect(await adapter.findById(keys.active.record.id)).toMatchObject({
      name: 'deploy',
      owner: null,
      permissions: null,
    });
    const keymint = createKeymint({ adapter, hasher: LEGACY_HASHER });
    const owned = await keymint.createApiKey({
      name: 'owned',
      role: 'Viewer',
      ttl: '1h',
      owner: 'u1',
    });
    expect((await keymint.listApiKeys({ owner: 'u1' })).map((k) => k.id)).toEqual([
      owned.apiKey.id,
    ]);
    expect(await keymint.revokeApiKeys({ owner: 'u1' })).toBe(1);
    expect((await keymint.verifyKey(keys.active.key)).valid).toBe(true);
    await keymint.close();
  });

  it('before migrate(), fails closed with STORE_FAILURE whose cause says to run migrate()', async () => {
    const { schema, keys } = await legacyDatabase();
    const keymint = createKeymint({
      adapter: postgresAdapter(pool, { schema }),
      hasher: LEGACY_HASHER,
    });
    const error = await expectCode(keymint.verifyKey(keys.active.key), 'STORE_FAILURE');
    expect((error.cause as Error).message).toMatch(/older schema version.*migrate\(\)/);
    expect((error.cause as { code?: string }).code).toBe('42703');
    await migrate(pool, { schema });
    expect((await keymint.verifyKey(keys.active.key)).valid).toBe(true);
  });

  it('is idempotent: a second migrate() changes nothing and records nothing new', async () => {
    const { schema } = await legacyDatabase();
    await migrate(pool, { schema });
    const first = await versionsOf(schema);
    const columns = await columnsOf(schema);
    await migrate(pool, { schema });
    await migrate(pool, { schema });
    expect(await versionsOf(schema)).toEqual(first);
    expect(await columnsOf(schema)).toEqual(columns);
  });

  it('lets five connections upgrade one 0.1.0 table at the same moment, three times over', async () => {
    for (let round = 0; round < 3; round++) {
      const { schema, keys } = await legacyDatabase();
      const racers = Array.from({ length: 5 }, () => open({ max: 1 }));
      await Promise.all(racers.map((p) => migrate(p, { schema })));
      expect((await versionsOf(schema)).map((v) => v.version)).toEqual([1, 2, 3, 4, 5]);
      const adapter = postgresAdapter(pool, { schema });
      expect((await adapter.findById(keys.active.record.id))?.name).toBe('deploy');
      await Promise.all(racers.map((p) => p.end()));
      pools.splice(pools.indexOf(racers[0]!), racers.length);
    }
  });

  it('applies nothing when a step fails: the table stays at 0.1.0 and the error reaches the caller', async () => {
    const { schema } = await legacyDatabase();
    // A versions table that refuses version 2: the upgrade must roll back as a whole.
    await pool.query(
      `CREATE TABLE "${schema}".keymint_api_keys_migrations (
         version integer NOT NULL PRIMARY KEY CHECK (version < 2),
         name text NOT NULL,
         applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    await expect(migrate(pool, { schema })).rejects.toMatchObject({ code: '23514' });
    expect(await columnsOf(schema)).not.toContain('ttl_seconds');
    expect(await versionsOf(schema)).toEqual([]);
    // The lock went with the transaction: the next migrate() runs, and upgrades.
    await pool.query(`DROP TABLE "${schema}".keymint_api_keys_migrations`);
    await migrate(pool, { schema });
    expect((await versionsOf(schema)).map((v) => v.version)).toEqual([1, 2, 3, 4, 5]);
  });

  it('takes a table set up with the shipped step files by hand: migrate() records it, changes nothing', async () => {
    const schema = randomSchema('keymint_manual');
    schemas.push(schema);
    await pool.query(`CREATE SCHEMA "${schema}"`);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query(`SET search_path TO "${schema}"`);
      for (const step of postgresSteps()) await client.query(shipped(`postgres/${step.file}`));
    } finally {
      await client.end();
    }
    const columns = await columnsOf(schema);
    await migrate(pool, { schema });
    expect(await columnsOf(schema)).toEqual(columns);
    expect((await versionsOf(schema)).map((v) => v.version)).toEqual([1, 2, 3, 4, 5]);
  });

  describe('the shipped SQL', () => {
    it('ships each step as sql/postgres/NNNN-<name>.sql, equal to postgresSteps()', () => {
      const steps = postgresSteps();
      expect(steps.map((step) => step.file)).toEqual([
        '0001-initial.sql',
        '0002-rotation.sql',
        '0003-owners.sql',
        '0004-usage.sql',
        '0005-failures.sql',
      ]);
      expect(steps.map((step) => step.version)).toEqual([1, 2, 3, 4, 5]);
      for (const step of steps) expect(shipped(`postgres/${step.file}`)).toBe(step.sql);
      expect(postgresSteps({ schema: 'auth' })[1]!.sql).toContain(
        'ALTER TABLE "auth"."keymint_api_keys"',
      );
    });

    it('step 1 is the 0.1.0 schema, statement for statement', () => {
      expect(statements(shipped('postgres/0001-initial.sql'))).toBe(statements(V010_SQL));
    });

    it('sql/postgres.sql is every step in order and their versions, equal to postgresSchema()', async () => {
      expect(shipped('postgres.sql')).toBe(postgresSchema());
      const whole = statements(postgresSchema());
      for (const step of postgresSteps()) expect(whole).toContain(statements(step.sql));
      // Applied by hand to a new schema, it leaves what migrate() would: nothing left to do.
      const schema = randomSchema('keymint_whole');
      schemas.push(schema);
      await pool.query(postgresSchema({ schema }));
      expect((await versionsOf(schema)).map((v) => v.version)).toEqual([1, 2, 3, 4, 5]);
      const columns = await columnsOf(schema);
      await migrate(pool, { schema });
      expect(await columnsOf(schema)).toEqual(columns);
    });
  });
});
