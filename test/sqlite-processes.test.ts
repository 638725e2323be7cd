// Revocation across processes on one SQLite file: the `keymint` command (dist/cli.js, run with
// plain node) revokes or deletes a key, and a running server process with a verify cache (60 s
// ttl) refuses it within a second; and a poll that runs into a locked file keeps going.
import Database from 'better-sqlite3';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { migrate, sqliteAdapter, type SqliteDatabase } from '../src/adapters/sqlite/index.js';
import { createKeymint, hmacSha256Hasher, type InvalidationListener } from '../src/index.js';
import { ensureDistCurrent } from './build-dist.js';
import { bundleFixture, startPeer, type Bundle, type Peer } from './fixtures/children.js';
import { runProcess } from './fixtures/cli.js';
import { until } from './fixtures/wait.js';
import { HMAC_SECRET, storedRecord as record } from './helpers.js';

const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
/** What issue 13 promises: a revocation reaches every process on the file within this. */
const BOUND_MS = 1_000;

const dir = mkdtempSync(path.join(tmpdir(), 'keymint-sqlite-processes-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
function migratedFile(mode: 'WAL' | 'DELETE'): string {
  const file = path.join(dir, `keys-${++files}.db`);
  const db = new Database(file);
  db.pragma(`journal_mode = ${mode}`);
  migrate(db);
  db.close();
  return file;
}

describe('sqlite across processes: the keymint command and a running server', () => {
  let bundle: Bundle | undefined;
  beforeAll(async () => {
    ensureDistCurrent();
    bundle = await bundleFixture('sqlite-invalidation-peer.ts');
  }, 120_000);
  afterAll(() => bundle?.remove());

  it.each([
    ['revoke', 'revoked'],
    ['delete', 'not_found'],
  ])(
    '`keymint %s` in one process: the server process refuses the cached key within 1 s',
    async (command, reason) => {
      const file = migratedFile('WAL');
      const server: Peer = startPeer(bundle!.file, { KEYMINT_PEER_DB: file });
      try {
        await server.ready; // its invalidation listener is live
        const created = await server.send({ op: 'create', name: `by-cli-${command}` });
        const { key, apiKey } = (created as { result: { key: string; apiKey: { id: string } } })
          .result;
        expect(await server.send({ op: 'verify', key })).toMatchObject({
          result: { valid: true },
        });

        const watching = server.send({ op: 'verifyUntilInvalid', key, ms: 20_000 });
        const cli = await runProcess(CLI, [command, apiKey.id, '--db', file], { cwd: dir });
        expect(cli.stderr).not.toMatch(/error/i);
        expect(cli.code).toBe(0);
        const reply = await watching;
        const receivedAt = Date.now();
        expect(reply).toMatchObject({ ok: true, result: { result: { valid: false, reason } } });
        // From the change's own time (its log row, written in the command's transaction) to the
        // server's refusal reaching this process: an upper bound of how long it took.
        const db = new Database(file, { readonly: true });
        const { at } = db
          .prepare('SELECT at FROM keymint_api_keys_changes WHERE key_id = ?')
          .get(apiKey.id) as { at: number };
        db.close();
        const refusedWithinMs = receivedAt - at;
        expect(refusedWithinMs).toBeLessThan(BOUND_MS);
      } finally {
        // keymint.close() stops the poll; an interval left running would hold the process.
        expect((await server.finish(10_000)).code).toBe(0);
      }
    },
    60_000,
  );

  it("a role downgrade and a rotation in one server process reach the other's cache within 1 s", async () => {
    const file = migratedFile('WAL');
    const a: Peer = startPeer(bundle!.file, { KEYMINT_PEER_DB: file });
    const b: Peer = startPeer(bundle!.file, { KEYMINT_PEER_DB: file });
    type Polled = { result: unknown; elapsedMs: number };
    const result = <T>(reply: unknown) => (reply as { ok: true; result: T }).result;
    try {
      await Promise.all([a.ready, b.ready]);
      const warm = async (name: string) => {
        const made = result<{ key: string; apiKey: { id: string } }>(
          await a.send({ op: 'create', name }),
        );
        for (let i = 0; i < 2; i++) {
          expect(await b.send({ op: 'verify', key: made.key })).toMatchObject({
            result: { valid: true },
          });
        }
        return made;
      };
      const downgraded = await warm('downgraded');
      expect(
        await a.send({ op: 'update', id: downgraded.apiKey.id, patch: { role: 'Viewer' } }),
      ).toMatchObject({ ok: true, result: { role: 'Viewer' } });
      const afterUpdate = result<Polled>(
        await b.send({ op: 'verifyUntilInvalid', key: downgraded.key, ms: 5_000, role: 'Editor' }),
      );
      expect(afterUpdate.result).toEqual({ valid: false, reason: 'insufficient_role' });
      expect(afterUpdate.elapsedMs).toBeLessThan(BOUND_MS);

      const rotated = await warm('rotated');
      const rotation = result<{ key: string }>(
        await a.send({ op: 'rotate', id: rotated.apiKey.id }),
      );
      const afterRotate = result<Polled>(
        await b.send({ op: 'verifyUntilInvalid', key: rotated.key, ms: 5_000 }),
      );
      expect(afterRotate.result).toEqual({ valid: false, reason: 'rotated' });
      expect(afterRotate.elapsedMs).toBeLessThan(BOUND_MS);
      expect(await b.send({ op: 'verify', key: rotation.key })).toMatchObject({
        result: { valid: true },
      });
    } finally {
      for (const peer of [a, b]) expect((await peer.finish(10_000)).code).toBe(0);
    }
  }, 60_000);
});

/** Collects what a subscription delivers. */
function collector() {
  const ids: string[] = [];
  let resets = 0;
  const listener: InvalidationListener = {
    invalidate: (id) => ids.push(id),
    reset: () => resets++,
  };
  return { listener, ids, resets: () => resets };
}

describe('sqlite subscribe() across connections', () => {
  it('keeps polling while another connection holds BEGIN EXCLUSIVE, says messages may be lost, and delivers once it lets go', async () => {
    const file = migratedFile('DELETE');
    // Two connections, two feeds: the other one is "another process" to this one.
    const db = new Database(file, { timeout: 100 });
    const other = new Database(file);
    const seen = collector();
    const subscription = await sqliteAdapter(db).subscribe!(seen.listener);
    try {
      const writer = sqliteAdapter(other);
      const first = record({ id: 'firstKey0001', name: 'first' });
      const second = record({ id: 'secondKey001', name: 'second' });
      await writer.insert(first);
      await writer.insert(second);

      other.exec('BEGIN EXCLUSIVE');
      await writer.update(first.id, { revokedAt: new Date() });
      // The poll cannot read the file: after the bound it resets the listener (the verify cache
      // empties), and keeps doing so while the lock lasts.
      await until(() => seen.resets() >= 2, 'resets while the file is locked', 10_000);
      expect(seen.ids).toEqual([]);
      other.exec('COMMIT');
      const committedAt = Date.now();
      await until(() => seen.ids.includes(first.id), 'the revocation after the lock', 5_000);
      expect(Date.now() - committedAt).toBeLessThan(BOUND_MS);

      // Still polling: a later change arrives too.
      await writer.delete(second.id);
      await until(() => seen.ids.includes(second.id), 'a later deletion', 5_000);
      expect(seen.ids).toEqual([first.id, second.id]);
      // The busy timeout of the connection is its own again.
      expect(db.pragma('busy_timeout', { simple: true })).toBe(100);
    } finally {
      if (other.inTransaction) other.exec('ROLLBACK');
      await subscription.close();
      db.close();
      other.close();
    }
  }, 30_000);

  it('delivers a change by another connection in this process within 1 s, and its own at once', async () => {
    const file = migratedFile('WAL');
    const db = new Database(file);
    const other = new Database(file);
    const here = sqliteAdapter(db);
    const seen = collector();
    const subscription = await here.subscribe!(seen.listener);
    try {
      const mine = record({ id: 'mineMineMine', name: 'mine' });
      const theirs = record({ id: 'theirsTheirs', name: 'theirs' });
      await here.insert(mine);
      await here.insert(theirs);
      await here.update(mine.id, { revokedAt: new Date() });
      expect(seen.ids).toEqual([mine.id]); // before any poll: at once
      other.prepare("UPDATE keymint_api_keys SET role = 'Viewer' WHERE id = ?").run(theirs.id);
      const changedAt = Date.now();
      await until(() => seen.ids.length === 2, 'the other connection’s change', 5_000);
      expect(Date.now() - changedAt).toBeLessThan(BOUND_MS);
      expect(seen.ids).toEqual([mine.id, theirs.id]);
    } finally {
      await subscription.close();
      db.close();
      other.close();
    }
  });

  it('resets instead of delivering when changes it never read were pruned, or when there are more than 1,000', async () => {
    const file = migratedFile('WAL');
    const db = new Database(file);
    const other = new Database(file);
    const seen = collector();
    const subscription = await sqliteAdapter(db).subscribe!(seen.listener);
    try {
      // Two changes logged, the first pruned before this connection read it.
      other.exec(`BEGIN;
        INSERT INTO keymint_api_keys_changes (key_id, at) VALUES ('prunedPruned', 0), ('keptKeptKept', 0);
        DELETE FROM keymint_api_keys_changes WHERE key_id = 'prunedPruned';
        COMMIT`);
      await until(() => seen.resets() === 1, 'a reset for the pruned change', 5_000);
      expect(seen.ids).toEqual([]);

      const writer = sqliteAdapter(other);
      for (let i = 0; i < 1_001; i++) {
        await writer.insert(record({ id: `bulk${String(i).padStart(8, '0')}`, name: `bulk ${i}` }));
      }
      expect(await writer.deleteExpired(new Date('2100-01-01'))).toBe(1_001);
      await until(() => seen.resets() === 2, 'a reset for 1,001 changes', 5_000);
      expect(seen.ids).toEqual([]);

      // And from there on, one change is one invalidation again.
      await writer.insert(record({ id: 'afterAfter01' }));
      await writer.delete('afterAfter01');
      await until(() => seen.ids.length === 1, 'the next change', 5_000);
      expect(seen.ids).toEqual(['afterAfter01']);
    } finally {
      await subscription.close();
      db.close();
      other.close();
    }
  });

  it('polls only while subscribed: keymint.close() stops it', async () => {
    const db = new Database(migratedFile('WAL'));
    let polls = 0;
    // The same database, counting the poll's first statement.
    const counted: SqliteDatabase = {
      prepare(source) {
        const statement = db.prepare(source);
        if (!source.includes('pragma_data_version')) return statement;
        return {
          run: (...params) => statement.run(...params),
          all: (...params) => statement.all(...params),
          get: (...params) => (polls++, statement.get(...params)),
        };
      },
      exec: (source) => db.exec(source),
    };
    vi.useFakeTimers();
    try {
      const keymint = createKeymint({
        adapter: sqliteAdapter(counted),
        hasher: hmacSha256Hasher(HMAC_SECRET),
      });
      await vi.advanceTimersByTimeAsync(0); // the listener starts
      const started = polls;
      await vi.advanceTimersByTimeAsync(1_000);
      expect(polls - started).toBe(5); // every 200 ms
      await keymint.close();
      const closed = polls;
      await vi.advanceTimersByTimeAsync(5_000);
      expect(polls).toBe(closed);
    } finally {
      vi.useRealTimers();
      db.close();
    }
  });

  it('refuses to subscribe before the change log exists, naming migrate()', async () => {
    const db = new Database(':memory:');
    db.exec(readFileSync(new URL('./fixtures/sqlite-0.1.0.sql', import.meta.url), 'utf8'));
    await expect(sqliteAdapter(db).subscribe!(collector().listener)).rejects.toThrow(
      /keymint_api_keys_changes does not exist: run migrate\(\)/,
    );
    db.close();
  });
});
