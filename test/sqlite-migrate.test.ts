// The SQLite schema's versions: the steps shipped in sql/sqlite/, migrate() upgrading a table
// made by keymint 0.1.0 (test/fixtures/sqlite-0.1.0.sql, that release's sql/sqlite.sql) in place
// with its rows, from four processes at once, and the change log's triggers.
import Database from 'better-sqlite3';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { migrate, sqliteAdapter, sqliteSchema, sqliteSteps } from '../src/adapters/sqlite/index.js';
import { createKeymint, hmacSha256Hasher, isKeymintError } from '../src/index.js';
import { bundleFixture, runOnce } from './fixtures/children.js';
import { sleep, until } from './fixtures/wait.js';
import { HMAC_SECRET, rejectionOf } from './helpers.js';
import { formatKey, generateKeyId } from '../src/core/key-format.js';

const dir = mkdtempSync(join(tmpdir(), 'keymint-sqlite-migrate-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const newFile = () => join(dir, `keys-${++files}.db`);

const V010 = readFileSync(new URL('./fixtures/sqlite-0.1.0.sql', import.meta.url), 'utf8');
/** A file with keymint 0.1.0's schema for `table`, as that release's migrate() left it. */
function v010Database(file = newFile(), table = 'keymint_api_keys') {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec(V010.replaceAll('keymint_api_keys', table));
  return db;
}

const fast = (db: Database.Database, table?: string) =>
  createKeymint({
    adapter: sqliteAdapter(db, table === undefined ? undefined : { table }),
    hasher: hmacSha256Hasher(HMAC_SECRET),
    cache: false,
  });

/** Everything in the file's schema, comparable across files. */
const schemaOf = (db: Database.Database) =>
  db
    .prepare<[], { name: string }>(
      'SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY type, name',
    )
    .all();
const versions = (db: Database.Database, table = 'keymint_api_keys') =>
  db.prepare(`SELECT version, name FROM "${table}_migrations" ORDER BY version`).all();
const CURRENT = [
  { version: 1, name: 'initial' },
  { version: 2, name: 'change-log' },
  { version: 3, name: 'rotation' },
  { version: 4, name: 'owners' },
  { version: 5, name: 'usage' },
  { version: 6, name: 'failures' },
];
/** The columns steps 3, 4 and 5 add, as a 0.1.0 row reads after the upgrade. */
const NEW_COLUMNS = {
  ttl_seconds: null,
  previous_secret_hash: null,
  previous_secret_expires_at: null,
  rotated_at: null,
  owner: null,
  permissions: null,
  limits: null,
};

const hasher = hmacSha256Hasher(HMAC_SECRET);
/**
 * A key as keymint 0.1.0 stored it: its INSERT of ten columns (0.2.0's adapter writes fourteen,
 * and needs the upgraded table), a 1 h time to live.
 */
async function v010Key(
  db: Database.Database,
  name: string,
  role: string,
  table = 'keymint_api_keys',
) {
  const id = generateKeyId();
  const { key, secret } = formatKey('km', id);
  const now = Date.now();
  db.prepare(
    `INSERT INTO "${table}" (id, scope, name, role, secret_hash, created_at, expires_at, last_used_at, revoked_at, metadata)
     VALUES (?, 'default', ?, ?, ?, ?, ?, NULL, NULL, NULL)`,
  ).run(id, name, role, await hasher.hash(secret), now, now + 3_600_000);
  return { key, apiKey: { id } };
}

describe('sqlite schema steps', () => {
  it('ships each step as sql/sqlite/NNNN-name.sql, the text of sqliteSteps(), and nothing else', () => {
    const steps = sqliteSteps();
    expect(steps.map((s) => [s.version, s.file])).toEqual([
      [1, '0001-initial.sql'],
      [2, '0002-change-log.sql'],
      [3, '0003-rotation.sql'],
      [4, '0004-owners.sql'],
      [5, '0005-usage.sql'],
      [6, '0006-failures.sql'],
    ]);
    expect(readdirSync(new URL('../sql/sqlite/', import.meta.url)).sort()).toEqual(
      steps.map((s) => s.file),
    );
    for (const step of steps) {
      const shipped = readFileSync(new URL(`../sql/sqlite/${step.file}`, import.meta.url), 'utf8');
      expect(shipped).toBe(step.sql);
    }
    expect(readFileSync(new URL('../sql/sqlite.sql', import.meta.url), 'utf8')).toBe(
      sqliteSchema(),
    );
  });

  it('step 1 is the 0.1.0 schema, statement for statement', () => {
    const statements = (sql: string) =>
      sql
        .split('\n')
        .filter((line) => !line.startsWith('--'))
        .join('\n');
    expect(statements(sqliteSteps()[0]!.sql)).toBe(statements(V010));
  });

  it('renders every step for the table option', () => {
    for (const step of sqliteSteps({ table: 'api_keys' })) {
      expect(step.sql).not.toContain('keymint_api_keys');
      expect(step.sql).toContain('"api_keys"');
    }
  });

  it('gives the same schema through migrate(), the step files in order, and sql/sqlite.sql', () => {
    const migrated = new Database(newFile());
    migrate(migrated);
    const stepped = new Database(newFile());
    for (const step of sqliteSteps()) stepped.exec(step.sql);
    const whole = new Database(newFile());
    whole.exec(sqliteSchema());
    expect(schemaOf(stepped).filter((row) => !String(row.name).endsWith('_migrations'))).toEqual(
      schemaOf(migrated).filter((row) => !String(row.name).endsWith('_migrations')),
    );
    expect(schemaOf(whole)).toEqual(schemaOf(migrated));
    expect(versions(whole)).toEqual(CURRENT);
    // sql/sqlite.sql records its steps: migrate() after it has nothing to do.
    const before = whole.prepare('SELECT * FROM keymint_api_keys_migrations').all();
    migrate(whole);
    expect(whole.prepare('SELECT * FROM keymint_api_keys_migrations').all()).toEqual(before);
    for (const db of [migrated, stepped, whole]) db.close();
  });
});

describe('sqlite migrate() upgrades', () => {
  it('upgrades a 0.1.0 table in place: its keys still verify, update and rotate, and revocations are logged', async () => {
    const db = v010Database();
    const keys = [];
    for (const name of ['a', 'b', 'c']) keys.push(await v010Key(db, name, 'Editor'));
    const rowsBefore = db.prepare('SELECT * FROM keymint_api_keys ORDER BY id').all();
    expect(db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'").all()).toEqual([
      { name: 'keymint_api_keys' },
    ]);

    migrate(db);
    expect(versions(db)).toEqual(CURRENT);
    expect(db.prepare('SELECT * FROM keymint_api_keys ORDER BY id').all()).toEqual(
      rowsBefore.map((row) => ({ ...(row as object), ...NEW_COLUMNS })),
    );
    const fresh = new Database(newFile());
    migrate(fresh);
    expect(schemaOf(db)).toEqual(schemaOf(fresh));
    fresh.close();

    const upgraded = fast(db);
    for (const { key, apiKey } of keys) {
      expect(await upgraded.verifyKey(key)).toMatchObject({
        valid: true,
        apiKey: { id: apiKey.id },
      });
    }
    await upgraded.revokeApiKey(keys[0]!.apiKey.id);
    expect(db.prepare('SELECT key_id FROM keymint_api_keys_changes').all()).toEqual([
      { key_id: keys[0]!.apiKey.id },
    ]);
    expect(await upgraded.verifyKey(keys[0]!.key)).toEqual({ valid: false, reason: 'revoked' });

    // A role change and a rotation of 0.1.0 keys: done, and logged for the other processes.
    await upgraded.updateApiKey(keys[1]!.apiKey.id, { role: 'Viewer', name: 'b (viewer)' });
    expect(await upgraded.verifyKey(keys[1]!.key, { role: 'Editor' })).toEqual({
      valid: false,
      reason: 'insufficient_role',
    });
    const rotated = await upgraded.rotateApiKey(keys[2]!.apiKey.id, { gracePeriod: '1m' });
    // A 0.1.0 key's own time to live is its expiry minus its creation: 1 h.
    expect(rotated.apiKey.expiresAt!.getTime() - rotated.apiKey.rotatedAt!.getTime()).toBe(
      3_600_000,
    );
    expect((await upgraded.verifyKey(keys[2]!.key)).valid).toBe(true);
    expect((await upgraded.verifyKey(rotated.key)).valid).toBe(true);
    expect(db.prepare('SELECT key_id FROM keymint_api_keys_changes ORDER BY seq').all()).toEqual([
      { key_id: keys[0]!.apiKey.id },
      { key_id: keys[1]!.apiKey.id },
      { key_id: keys[2]!.apiKey.id },
    ]);
    db.close();
  });

  it('before migrate(), a create fails closed with STORE_FAILURE whose cause says to run migrate()', async () => {
    const db = v010Database();
    const { key } = await v010Key(db, 'old', 'Editor');
    const keymint = fast(db);
    const error = await rejectionOf(
      keymint.createApiKey({ name: 'new', role: 'Viewer', ttl: '1h' }),
    );
    expect(isKeymintError(error, 'STORE_FAILURE')).toBe(true);
    expect(((error as Error).cause as Error).message).toMatch(/older schema version.*migrate\(\)/);
    expect(db.prepare('SELECT count(*) AS n FROM keymint_api_keys').get()).toEqual({ n: 1 });
    // Reads name their columns with *: a 0.1.0 key still verifies before the upgrade.
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    db.close();
  });

  it('upgrades a file at version 2 (the change log, no rotation columns) in place', async () => {
    const db = new Database(newFile());
    for (const step of sqliteSteps().slice(0, 2)) db.exec(step.sql);
    db.exec(
      `CREATE TABLE keymint_api_keys_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT;
       INSERT INTO keymint_api_keys_migrations VALUES (1, 'initial', 0), (2, 'change-log', 0)`,
    );
    const { key, apiKey } = await v010Key(db, 'v2', 'Editor');
    migrate(db);
    expect(versions(db)).toEqual(CURRENT);
    const fresh = new Database(newFile());
    migrate(fresh);
    // The versions table was made here by hand: compare the rest.
    const keys = (file: Database.Database) =>
      schemaOf(file).filter((row) => !String(row.name).endsWith('_migrations'));
    expect(keys(db)).toEqual(keys(fresh));
    fresh.close();
    const keymint = fast(db);
    const rotated = await keymint.rotateApiKey(apiKey.id);
    expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'rotated' });
    expect((await keymint.verifyKey(rotated.key)).valid).toBe(true);
    db.close();
  });

  it('upgrades a file at version 3 (rotation, no owners) in place, with its keys', async () => {
    const db = new Database(newFile());
    for (const step of sqliteSteps().slice(0, 3)) db.exec(step.sql);
    db.exec(
      `CREATE TABLE keymint_api_keys_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT;
       INSERT INTO keymint_api_keys_migrations VALUES (1, 'initial', 0), (2, 'change-log', 0), (3, 'rotation', 0)`,
    );
    const old = [await v010Key(db, 'v3-a', 'Editor'), await v010Key(db, 'v3-b', 'Viewer')];
    const before = db.prepare('SELECT * FROM keymint_api_keys ORDER BY id').all();
    migrate(db);
    expect(versions(db)).toEqual(CURRENT);
    expect(db.prepare('SELECT * FROM keymint_api_keys ORDER BY id').all()).toEqual(
      before.map((row) => ({ ...(row as object), owner: null, permissions: null, limits: null })),
    );
    const keymint = fast(db);
    for (const { key } of old) {
      expect(await keymint.verifyKey(key)).toMatchObject({ valid: true, apiKey: { owner: null } });
    }
    const adapter = sqliteAdapter(db);
    const { apiKey } = await keymint.createApiKey({
      name: 'owned',
      role: 'Viewer',
      ttl: '1h',
      owner: 'user-1',
    });
    expect(
      (await adapter.list({ scope: 'default', limit: 10, owner: 'user-1' })).map((r) => r.id),
    ).toEqual([apiKey.id]);
    // A change of permissions is logged for the other processes, as a role change is.
    await adapter.modify!(apiKey.id, { permissions: ['dashboards:read'] });
    expect(db.prepare('SELECT key_id FROM keymint_api_keys_changes').all()).toEqual([
      { key_id: apiKey.id },
    ]);
    expect((await adapter.findById(apiKey.id))!.permissions).toEqual(['dashboards:read']);
    db.close();
  });

  it('rolls the whole upgrade back when a step fails: the table stays at 0.1.0', async () => {
    const db = v010Database();
    const { key } = await v010Key(db, 'kept', 'Editor');
    // A column step 3 adds, already there: its ALTER TABLE fails.
    db.exec('ALTER TABLE keymint_api_keys ADD COLUMN rotated_at INTEGER');
    expect(() => migrate(db)).toThrow(/duplicate column name: rotated_at/);
    expect(
      db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name").all(),
    ).toEqual([{ name: 'keymint_api_keys' }]);
    expect(db.inTransaction).toBe(false);
    db.exec('ALTER TABLE keymint_api_keys DROP COLUMN rotated_at');
    migrate(db);
    expect(versions(db)).toEqual(CURRENT);
    expect((await fast(db).verifyKey(key)).valid).toBe(true);
    db.close();
  });

  it('upgrades a 0.1.0 table of another name with the table option', async () => {
    const db = v010Database(newFile(), 'api_keys');
    const { key } = await v010Key(db, 'x', 'Viewer', 'api_keys');
    migrate(db, { table: 'api_keys' });
    expect(versions(db, 'api_keys')).toEqual(CURRENT);
    expect((await fast(db, 'api_keys').verifyKey(key)).valid).toBe(true);
    expect(
      db.prepare("SELECT name FROM sqlite_schema WHERE type = 'trigger' ORDER BY name").all(),
    ).toEqual([
      { name: 'api_keys_changes_delete' },
      { name: 'api_keys_changes_update' },
      { name: 'api_keys_failures_delete' },
      { name: 'api_keys_usage_delete' },
    ]);
    db.close();
  });

  it('is idempotent: a second run changes nothing, not even the times steps were applied', () => {
    const db = v010Database();
    migrate(db);
    const schema = schemaOf(db);
    const applied = db.prepare('SELECT * FROM keymint_api_keys_migrations').all();
    migrate(db);
    const other = new Database(db.name);
    migrate(other);
    other.close();
    expect(schemaOf(db)).toEqual(schema);
    expect(db.prepare('SELECT * FROM keymint_api_keys_migrations').all()).toEqual(applied);
    db.close();
  });

  // 0.1.0's file has no migrations table (creating it takes the write lock at once); a file at
  // version 1 has one, so each process reads first and must already hold the lock then.
  it.each([
    ['a 0.1.0 file', () => {}],
    [
      'a file at version 1',
      (db: Database.Database) =>
        db.exec(
          `CREATE TABLE keymint_api_keys_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL) STRICT;
           INSERT INTO keymint_api_keys_migrations VALUES (1, 'initial', 0)`,
        ),
    ],
  ])(
    'upgrades %s from 4 processes at once: all succeed, each step applied once',
    async (_, prepare) => {
      const file = newFile();
      const db = v010Database(file);
      prepare(db);
      const keymint = fast(db);
      const { key } = await v010Key(db, 'before', 'Admin');
      const bundle = await bundleFixture('sqlite-migrate-child.ts');
      const ready = mkdtempSync(join(dir, 'ready-'));
      // This connection holds the write lock until all four are about to migrate: then they race.
      const holder = new Database(file);
      holder.exec('BEGIN IMMEDIATE');
      try {
        const env = { KEYMINT_TEST_DB: file, KEYMINT_TEST_READY_DIR: ready };
        const pending = Array.from({ length: 4 }, () => runOnce(bundle.file, env, 30_000));
        await until(() => readdirSync(ready).length === 4, 'four processes ready', 20_000);
        await sleep(200);
        holder.exec('COMMIT');
        for (const run of await Promise.all(pending)) {
          expect(run.stderr).toBe('');
          expect(run.code).toBe(0);
          expect(JSON.parse(run.stdout)).toEqual(CURRENT);
        }
      } finally {
        if (holder.inTransaction) holder.exec('ROLLBACK');
        holder.close();
        await bundle.remove();
      }
      expect(versions(db)).toEqual(CURRENT);
      expect(
        db
          .prepare(
            "SELECT count(*) AS n FROM sqlite_schema WHERE name LIKE '%\\_changes%' ESCAPE '\\'",
          )
          .get(),
      ).toEqual({ n: 4 }); // the log, its index and its two triggers: once
      expect((await keymint.verifyKey(key)).valid).toBe(true);
      db.close();
    },
    60_000,
  );
});

describe('sqlite change log', () => {
  function logged() {
    const db = new Database(':memory:');
    migrate(db);
    const changes = () =>
      (
        db.prepare('SELECT key_id FROM keymint_api_keys_changes ORDER BY seq').all() as {
          key_id: string;
        }[]
      ).map((row) => row.key_id);
    return { db, changes };
  }

  it('logs revoke, delete and changes of role, expiry, scope, name, metadata, permissions or owner, by any writer', async () => {
    const { db, changes } = logged();
    const keymint = fast(db);
    const ids = [];
    const names = ['revoke', 'delete', 'role', 'expiry', 'scope', 'name', 'metadata'];
    for (const name of [...names, 'permissions', 'owner']) {
      ids.push((await keymint.createApiKey({ name, role: 'Editor', ttl: '1h' })).apiKey.id);
    }
    expect(changes()).toEqual([]);
    await keymint.revokeApiKey(ids[0]!);
    await keymint.deleteApiKey(ids[1]!);
    const set = (sql: string, id: string) =>
      db.prepare(`UPDATE keymint_api_keys SET ${sql} WHERE id = ?`).run(id);
    set("role = 'Viewer'", ids[2]!);
    set('expires_at = expires_at - 1', ids[3]!);
    set("scope = 'other'", ids[4]!);
    set("name = 'renamed'", ids[5]!);
    set(`metadata = '{"a":1}'`, ids[6]!);
    set(`permissions = '["dashboards:read"]'`, ids[7]!);
    set("owner = 'someone else'", ids[8]!);
    expect(changes()).toEqual(ids);
    db.close();
  });

  it('logs nothing for last-used writes, a rehash, a second revocation or an unchanged value', async () => {
    const { db, changes } = logged();
    const adapter = sqliteAdapter(db);
    const keymint = createKeymint({ adapter, hasher: hmacSha256Hasher(HMAC_SECRET), cache: false });
    const { key, apiKey } = await keymint.createApiKey({
      name: 'quiet',
      role: 'Editor',
      ttl: '1h',
    });
    await keymint.verifyKey(key);
    await adapter.update(apiKey.id, { lastUsedAt: new Date(Date.now() + 1_000) });
    await adapter.touchMany!([{ id: apiKey.id, lastUsedAt: new Date(Date.now() + 2_000) }]);
    await adapter.update(apiKey.id, { secretHash: 'rehashed' });
    db.prepare("UPDATE keymint_api_keys SET role = 'Editor' WHERE id = ?").run(apiKey.id);
    expect(changes()).toEqual([]);
    await adapter.update(apiKey.id, { revokedAt: new Date() });
    await adapter.update(apiKey.id, { revokedAt: new Date() });
    expect(changes()).toEqual([apiKey.id]);
    db.close();
  });

  it('logs an update and a rotation, but not a rehash through modify()', async () => {
    const { db, changes } = logged();
    const adapter = sqliteAdapter(db);
    const keymint = createKeymint({ adapter, hasher: hmacSha256Hasher(HMAC_SECRET), cache: false });
    const updated = await keymint.createApiKey({ name: 'updated', role: 'Editor', ttl: '1h' });
    const rotated = await keymint.createApiKey({ name: 'rotated', role: 'Editor', ttl: '1h' });
    const rehashed = await keymint.createApiKey({ name: 'rehashed', role: 'Editor', ttl: '1h' });
    const stored = await adapter.findById(rehashed.apiKey.id);
    await adapter.modify!(
      rehashed.apiKey.id,
      { secretHash: 'rehashed' },
      { secretHash: stored!.secretHash },
    );
    expect(changes()).toEqual([]);
    await keymint.updateApiKey(updated.apiKey.id, { metadata: { a: 1 } });
    await keymint.rotateApiKey(rotated.apiKey.id, { gracePeriod: '1h' });
    expect(changes()).toEqual([updated.apiKey.id, rotated.apiKey.id]);
    db.close();
  });

  it('prunes rows older than five minutes whenever it logs a change', async () => {
    const { db, changes } = logged();
    const insert = db.prepare('INSERT INTO keymint_api_keys_changes (key_id, at) VALUES (?, ?)');
    insert.run('oldOldOld000', Date.now() - 301_000);
    insert.run('recentRecent', Date.now() - 60_000);
    const { apiKey } = await fast(db).createApiKey({ name: 'p', role: 'Viewer', ttl: '1h' });
    await fast(db).deleteApiKey(apiKey.id);
    expect(changes()).toEqual(['recentRecent', apiKey.id]);
    db.close();
  });
});
