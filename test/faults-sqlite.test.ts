// Fault injection on SQLite (better-sqlite3 on a temp file): another connection holds the lock,
// the file is full, a statement fails half-way through. keymint must fail closed (never `valid`
// for a key that is not valid; failures are STORE_FAILURE, after at most the busy timeout, twice
// for a create: its read-back by id waits for the lock as well), leave nothing half-written, and
// the same instance must work once the other connection lets go.
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { migrate, sqliteAdapter } from '../src/adapters/sqlite/index.js';
import { createKeymint, hmacSha256Hasher, type Keymint } from '../src/index.js';
import { EXPECTED, workloadKeys, type KeyKind, type WorkloadKeys } from './fixtures/workload.js';
import { expectCode, HMAC_SECRET } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'keymint-faults-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

/** The busy timeout of keymint's connection, short: the locked tests wait it out on every call. */
const BUSY_TIMEOUT_MS = 100;
/**
 * The WAL test's busy timeout, long: there it is the bound that reads are asserted to stay well
 * under (readers never wait for a writer), which must not be a scheduling hiccup away.
 */
const WAL_BUSY_TIMEOUT_MS = 2_000;
/** Well under WAL_BUSY_TIMEOUT_MS, with room for a loaded machine: "did not wait for the lock". */
const WAL_READ_BOUND_MS = 1_000;
const opened: Database.Database[] = [];
afterEach(() => {
  for (const db of opened.splice(0)) if (db.open) db.close();
});

/** A migrated file in `mode`, the connection keymint uses (with `busyTimeoutMs`) and another one. */
function setUp(
  mode: 'DELETE' | 'WAL',
  cache: false | undefined = false,
  busyTimeoutMs = BUSY_TIMEOUT_MS,
) {
  const file = join(dir, `keys-${++files}.db`);
  const other = new Database(file);
  other.pragma(`journal_mode = ${mode}`);
  migrate(other);
  const db = new Database(file, { timeout: busyTimeoutMs });
  opened.push(db, other);
  const keymint = createKeymint({
    adapter: sqliteAdapter(db),
    hasher: hmacSha256Hasher(HMAC_SECRET),
    rateLimit: false,
    ...(cache === false && { cache }),
  });
  return { db, other, keymint };
}

const names = (db: Database.Database) =>
  (db.prepare('SELECT name FROM keymint_api_keys ORDER BY name').all() as { name: string }[]).map(
    (row) => row.name,
  );

/** Runs `call`, and returns its outcome and how long it blocked. */
async function timed(call: () => Promise<unknown>) {
  const started = performance.now();
  let outcome: string;
  try {
    const result = (await call()) as { valid?: boolean; reason?: string };
    outcome = result.valid === true ? 'valid' : (result.reason ?? 'done');
  } catch (error) {
    outcome = (error as { code?: string }).code ?? String(error);
  }
  return { outcome, ms: performance.now() - started };
}

async function verifyAll(keymint: Keymint, keys: WorkloadKeys) {
  const outcomes: Partial<Record<KeyKind, { outcome: string; ms: number }>> = {};
  for (const kind of Object.keys(keys) as KeyKind[]) {
    outcomes[kind] = await timed(() => keymint.verifyKey(keys[kind]));
  }
  return outcomes as Record<KeyKind, { outcome: string; ms: number }>;
}

describe('SQLite faults', () => {
  describe.each(['COMMIT', 'ROLLBACK'] as const)(
    'another connection holds BEGIN EXCLUSIVE (rollback journal), then %s',
    (end) => {
      it('verify and create fail with STORE_FAILURE after the busy timeout, write nothing, and work afterwards', async () => {
        const { db, other, keymint } = setUp('DELETE');
        const keys = await workloadKeys(keymint, 'fixed');
        const before = names(db);

        other.exec('BEGIN EXCLUSIVE');
        const during = await verifyAll(keymint, keys);
        for (const { outcome, ms } of Object.values(during)) {
          expect(outcome).toBe('STORE_FAILURE');
          // The driver waits for the lock up to its busy timeout, then gives up: the lower bound
          // is that guarantee; the upper one only says it does not wait much longer (1 s slack).
          expect(ms).toBeGreaterThanOrEqual(BUSY_TIMEOUT_MS * 0.9);
          expect(ms).toBeLessThan(BUSY_TIMEOUT_MS + 1_000);
        }
        const busy = await expectCode(keymint.verifyKey(keys.valid), 'STORE_FAILURE');
        expect((busy.cause as { code?: string }).code).toBe('SQLITE_BUSY');
        const created = await timed(() =>
          keymint.createApiKey({ name: 'during lock', role: 'Editor', ttl: '1h' }),
        );
        expect(created.outcome).toBe('STORE_FAILURE');
        // The insert waits out the busy timeout, and so does its read-back by id.
        expect(created.ms).toBeGreaterThanOrEqual(2 * BUSY_TIMEOUT_MS * 0.9);
        expect(created.ms).toBeLessThan(2 * BUSY_TIMEOUT_MS + 1_000);
        other.exec(end);

        // The same instance, at once: every key gets its right answer, the name is free.
        const after = await verifyAll(keymint, keys);
        for (const kind of Object.keys(keys) as KeyKind[]) {
          expect(after[kind].outcome).toBe(EXPECTED[kind]);
        }
        expect(names(db)).toEqual(before);
        const retried = await keymint.createApiKey({
          name: 'during lock',
          role: 'Editor',
          ttl: '1h',
        });
        expect(await keymint.verifyKey(retried.key)).toMatchObject({ valid: true });
      });
    },
  );

  it('WAL: a writer holding the write lock never blocks verification, while writes fail with STORE_FAILURE and change nothing', async () => {
    // With the verify cache: a revoke that failed must not leave the key cached as valid, nor
    // make it look revoked.
    const { db, other, keymint } = setUp('WAL', undefined, WAL_BUSY_TIMEOUT_MS);
    const keys = await workloadKeys(keymint, 'fixed');
    const victim = await keymint.createApiKey({ name: 'victim', role: 'Editor', ttl: '1h' });
    expect(await keymint.verifyKey(victim.key)).toMatchObject({ valid: true });
    const before = names(db);

    other.exec('BEGIN IMMEDIATE');
    other.prepare('UPDATE keymint_api_keys SET role = role WHERE name = ?').run('fixed-valid'); // an uncommitted write of its own
    // Readers never wait for a writer in WAL mode: every key gets its right answer, well within
    // the busy timeout (the guarantee: it did not wait for the lock; how fast is not asserted).
    const during = await verifyAll(keymint, keys);
    for (const kind of Object.keys(keys) as KeyKind[]) {
      expect(during[kind].outcome).toBe(EXPECTED[kind]);
      expect(during[kind].ms).toBeLessThan(WAL_READ_BOUND_MS);
    }
    const created = await timed(() =>
      keymint.createApiKey({ name: 'during lock', role: 'Editor', ttl: '1h' }),
    );
    // The insert waits out the busy timeout; its read-back, a reader, does not wait.
    expect(created.outcome).toBe('STORE_FAILURE');
    expect(created.ms).toBeGreaterThanOrEqual(WAL_BUSY_TIMEOUT_MS * 0.9);
    await expectCode(keymint.revokeApiKey(victim.apiKey.id), 'STORE_FAILURE');
    // The revoke did not land: still valid (read again from the file, the cache entry was dropped).
    expect(await keymint.verifyKey(victim.key)).toMatchObject({ valid: true });
    other.exec('ROLLBACK');

    expect(names(db)).toEqual(before);
    await keymint.revokeApiKey(victim.apiKey.id);
    expect(await keymint.verifyKey(victim.key)).toEqual({ valid: false, reason: 'revoked' });
    const retried = await keymint.createApiKey({ name: 'during lock', role: 'Editor', ttl: '1h' });
    expect(await keymint.verifyKey(retried.key)).toMatchObject({ valid: true });
  });

  describe('a create that fails half-way leaves nothing', () => {
    it('when a trigger of the host aborts the INSERT after writing elsewhere', async () => {
      const { db, keymint } = setUp('WAL');
      db.exec(`
        CREATE TABLE audit (name TEXT NOT NULL);
        CREATE TRIGGER audit_keys AFTER INSERT ON keymint_api_keys BEGIN
          INSERT INTO audit (name) VALUES (NEW.name);
          SELECT RAISE(ABORT, 'audit refused') WHERE NEW.name = 'refused';
        END;
      `);
      await keymint.createApiKey({ name: 'fine', role: 'Editor', ttl: '1h' });
      const error = await expectCode(
        keymint.createApiKey({ name: 'refused', role: 'Editor', ttl: '1h' }),
        'STORE_FAILURE',
      );
      expect((error.cause as Error).message).toBe('audit refused');
      // The key's row and the trigger's audit row went back together.
      expect(names(db)).toEqual(['fine']);
      expect(db.prepare('SELECT name FROM audit').all()).toEqual([{ name: 'fine' }]);
      db.exec('DROP TRIGGER audit_keys');
      const retried = await keymint.createApiKey({ name: 'refused', role: 'Editor', ttl: '1h' });
      expect(await keymint.verifyKey(retried.key)).toMatchObject({ valid: true });
    });

    it('when the file is full (SQLITE_FULL) part-way through the row and its indexes', async () => {
      const { db, keymint } = setUp('DELETE');
      const { key } = await keymint.createApiKey({ name: 'before', role: 'Editor', ttl: '1h' });
      // No page may be added: a record with 8 KiB of metadata needs overflow pages.
      const pages = db.pragma('page_count', { simple: true }) as number;
      db.pragma(`max_page_count = ${pages}`);
      const metadata = { blob: 'x'.repeat(7_000) };
      const error = await expectCode(
        keymint.createApiKey({ name: 'big', role: 'Editor', ttl: '1h', metadata }),
        'STORE_FAILURE',
      );
      expect((error.cause as { code?: string }).code).toBe('SQLITE_FULL');
      expect(names(db)).toEqual(['before']);
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(await keymint.verifyKey(key)).toMatchObject({ valid: true });

      db.pragma(`max_page_count = ${pages * 100}`);
      const retried = await keymint.createApiKey({
        name: 'big',
        role: 'Editor',
        ttl: '1h',
        metadata,
      });
      expect(await keymint.verifyKey(retried.key)).toMatchObject({ valid: true });
    });
  });
});
