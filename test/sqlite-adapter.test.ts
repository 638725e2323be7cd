import Database from 'better-sqlite3';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { migrate, sqliteAdapter, sqliteSchema } from '../src/adapters/sqlite/index.js';
import { createKeymint, hmacSha256Hasher, type KeyAdapter } from '../src/index.js';
import { describeAdapterConformance } from '../src/testing/index.js';
import { expectCode, expectThrowsCode, HMAC_SECRET, rejectionOf } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'keymint-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
const newFile = () => join(dir, `keys-${++files}.db`);

function openMigrated(file = newFile(), options?: Database.Options) {
  const db = new Database(file, options);
  db.pragma('journal_mode = WAL');
  migrate(db);
  return db;
}

const open = new Map<KeyAdapter, Database.Database>();

// Each test gets a new database file: the real driver, on disk, as hosts use it.
describeAdapterConformance({
  name: 'sqlite',
  createAdapter: () => {
    const db = openMigrated();
    const adapter = sqliteAdapter(db);
    open.set(adapter, db);
    return adapter;
  },
  cleanup: (adapter) => {
    open.get(adapter)?.close();
    open.delete(adapter);
  },
});

const fast = (adapter: KeyAdapter) =>
  createKeymint({ adapter, hasher: hmacSha256Hasher(HMAC_SECRET) });

describe('sqlite migrate()', () => {
  it('is idempotent: a second run, and a run from a second connection, change nothing', () => {
    const file = newFile();
    const db = openMigrated(file);
    const schemaOf = (d: Database.Database) =>
      d.prepare('SELECT type, name, sql FROM sqlite_schema ORDER BY name').all();
    const before = schemaOf(db);
    migrate(db);
    const other = new Database(file);
    migrate(other);
    expect(schemaOf(db)).toEqual(before);
    other.close();
    db.close();
  });

  it('creates the documented table: id primary key, unique (scope, name), an expiry index', () => {
    const db = openMigrated();
    const columns = db
      .prepare('SELECT name, type, pk, "notnull" FROM pragma_table_info(\'keymint_api_keys\')')
      .all();
    expect(columns).toEqual([
      { name: 'id', type: 'TEXT', pk: 1, notnull: 1 },
      { name: 'scope', type: 'TEXT', pk: 0, notnull: 1 },
      { name: 'name', type: 'TEXT', pk: 0, notnull: 1 },
      { name: 'role', type: 'TEXT', pk: 0, notnull: 1 },
      { name: 'secret_hash', type: 'TEXT', pk: 0, notnull: 1 },
      { name: 'created_at', type: 'INTEGER', pk: 0, notnull: 1 },
      { name: 'expires_at', type: 'INTEGER', pk: 0, notnull: 0 },
      { name: 'last_used_at', type: 'INTEGER', pk: 0, notnull: 0 },
      { name: 'revoked_at', type: 'INTEGER', pk: 0, notnull: 0 },
      { name: 'metadata', type: 'TEXT', pk: 0, notnull: 0 },
      { name: 'ttl_seconds', type: 'INTEGER', pk: 0, notnull: 0 },
      { name: 'previous_secret_hash', type: 'TEXT', pk: 0, notnull: 0 },
      { name: 'previous_secret_expires_at', type: 'INTEGER', pk: 0, notnull: 0 },
      { name: 'rotated_at', type: 'INTEGER', pk: 0, notnull: 0 },
      { name: 'owner', type: 'TEXT', pk: 0, notnull: 0 },
      { name: 'permissions', type: 'TEXT', pk: 0, notnull: 0 },
      { name: 'limits', type: 'TEXT', pk: 0, notnull: 0 },
    ]);
    const indexes = db
      .prepare(
        'SELECT name, "unique", partial FROM pragma_index_list(\'keymint_api_keys\') ORDER BY name',
      )
      .all();
    expect(indexes).toEqual([
      { name: 'keymint_api_keys_expires_at', unique: 0, partial: 1 },
      { name: 'keymint_api_keys_scope_name', unique: 1, partial: 0 },
      { name: 'keymint_api_keys_scope_owner_name', unique: 0, partial: 0 },
      { name: 'sqlite_autoindex_keymint_api_keys_1', unique: 1, partial: 0 },
    ]);
    const scopeName = db
      .prepare("SELECT name FROM pragma_index_info('keymint_api_keys_scope_name')")
      .all();
    expect(scopeName).toEqual([{ name: 'scope' }, { name: 'name' }]);
    db.close();
  });

  it('works inside a transaction of the caller, which it leaves open', () => {
    const db = new Database(newFile());
    db.transaction(() => migrate(db))();
    const tables = () =>
      db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").all();
    const ours = [
      { name: 'keymint_api_keys' },
      { name: 'keymint_api_keys_changes' },
      { name: 'keymint_api_keys_failures' },
      { name: 'keymint_api_keys_migrations' },
      { name: 'keymint_api_keys_usage' },
      { name: 'sqlite_sequence' },
    ];
    expect(tables()).toEqual(ours);
    db.exec('BEGIN');
    migrate(db, { table: 'other' });
    expect(db.inTransaction).toBe(true);
    db.exec('ROLLBACK');
    expect(tables()).toEqual(ours);
    db.close();
  });

  it('applies nothing when the schema fails half-way, and rethrows the cause', () => {
    const db = new Database(newFile());
    // A table of that name without the columns the index needs: the index statement fails.
    db.exec('CREATE TABLE "keymint_api_keys" (x INTEGER)');
    expect(() => migrate(db)).toThrow(/scope/);
    expect(db.inTransaction).toBe(false);
    expect(db.prepare('SELECT name FROM sqlite_schema ORDER BY name').all()).toEqual([
      { name: 'keymint_api_keys' },
    ]);
    db.close();
  });

  it('ships the same SQL as sql/sqlite.sql', () => {
    const shipped = readFileSync(new URL('../sql/sqlite.sql', import.meta.url), 'utf8');
    expect(shipped).toBe(sqliteSchema());
  });

  it('honours the table option in the schema and the adapter', async () => {
    const db = new Database(newFile());
    migrate(db, { table: 'api_keys' });
    const keymint = fast(sqliteAdapter(db, { table: 'api_keys' }));
    const { key } = await keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    expect(db.prepare('SELECT count(*) AS n FROM api_keys').get()).toEqual({ n: 1 });
    db.close();
  });

  it('refuses bad options and a value that is not a database, with CONFIG', () => {
    const db = new Database(':memory:');
    expectThrowsCode(() => migrate(db, { table: 'x; DROP TABLE y' }), 'CONFIG');
    expectThrowsCode(() => sqliteAdapter(db, { table: '1abc' }), 'CONFIG');
    expectThrowsCode(() => sqliteAdapter(db, { tabel: 'x' } as never), 'CONFIG');
    expectThrowsCode(() => sqliteAdapter({} as never), 'CONFIG');
    expectThrowsCode(() => migrate(null as never), 'CONFIG');
    db.close();
  });
});

describe('sqlite adapter', () => {
  it('never creates its table: before migrate(), calls fail with STORE_FAILURE naming migrate()', async () => {
    const db = new Database(':memory:');
    const keymint = fast(sqliteAdapter(db));
    const error = await expectCode(
      keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' }),
      'STORE_FAILURE',
    );
    expect((error.cause as Error).message).toMatch(/keymint_api_keys does not exist.*migrate\(\)/);
    expect((error.cause as { code?: string }).code).toBe('SQLITE_ERROR');
    expect(db.prepare('SELECT count(*) AS n FROM sqlite_schema').get()).toEqual({ n: 0 });
    db.close();
  });

  it('keeps keys across a restart: a new connection to the file verifies them', async () => {
    const file = newFile();
    const first = openMigrated(file);
    const { key, apiKey } = await fast(sqliteAdapter(first)).createApiKey({
      name: 'survivor',
      role: 'Admin',
      ttl: '1d',
    });
    first.close();
    const second = new Database(file);
    const result = await fast(sqliteAdapter(second)).verifyKey(key);
    expect(result).toEqual({ valid: true, apiKey: expect.objectContaining({ id: apiKey.id }) });
    second.close();
  });

  it('enforces unique names for every connection to the file (the unique index, not the process)', async () => {
    const file = newFile();
    const a = openMigrated(file);
    const b = new Database(file);
    const outcomes = await Promise.allSettled(
      [a, b, a, b].map((db) =>
        fast(sqliteAdapter(db)).createApiKey({ name: 'one', role: 'Viewer', ttl: '1h' }),
      ),
    );
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    expect(a.prepare('SELECT count(*) AS n FROM keymint_api_keys').get()).toEqual({ n: 1 });
    a.close();
    b.close();
  });

  it('reads records back when the database returns BigInt integers', async () => {
    const db = openMigrated();
    db.defaultSafeIntegers(true);
    const keymint = fast(sqliteAdapter(db));
    const { key, apiKey } = await keymint.createApiKey({ name: 'big', role: 'Viewer', ttl: '1h' });
    const result = await keymint.verifyKey(key);
    expect(result.valid && result.apiKey.expiresAt).toEqual(apiKey.expiresAt);
    db.close();
  });

  it('fails closed on a closed database: STORE_FAILURE with the driver error as cause', async () => {
    const db = openMigrated();
    const keymint = fast(sqliteAdapter(db));
    const { key } = await keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    db.close();
    const error = await expectCode(keymint.verifyKey(key), 'STORE_FAILURE');
    expect(error.cause).toBeInstanceOf(TypeError);
    expect(String((error.cause as Error).message)).toMatch(/not open/);
    await expectCode(
      keymint.createApiKey({ name: 'x', role: 'Viewer', ttl: '1h' }),
      'STORE_FAILURE',
    );
  });

  it('fails closed while another connection locks the file, and recovers when it lets go', async () => {
    const file = newFile();
    const setup = new Database(file);
    setup.pragma('journal_mode = DELETE');
    migrate(setup);
    const db = new Database(file, { timeout: 50 });
    const keymint = fast(sqliteAdapter(db));
    const { key } = await keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });

    setup.exec('BEGIN EXCLUSIVE');
    const busy = await expectCode(keymint.verifyKey(key), 'STORE_FAILURE');
    expect((busy.cause as { code?: string }).code).toBe('SQLITE_BUSY');
    const failedCreate = await rejectionOf(
      keymint.createApiKey({ name: 'during lock', role: 'Viewer', ttl: '1h' }),
    );
    expect(failedCreate).toMatchObject({ code: 'STORE_FAILURE' });
    setup.exec('COMMIT');

    expect((await keymint.verifyKey(key)).valid).toBe(true);
    // All or nothing: the failed create left no row, so its name is free.
    const names = db.prepare('SELECT name FROM keymint_api_keys ORDER BY name').all();
    expect(names).toEqual([{ name: 'ci' }]);
    await keymint.createApiKey({ name: 'during lock', role: 'Viewer', ttl: '1h' });
    setup.close();
    db.close();
  });
});
