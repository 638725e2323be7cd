// The wrong-secret limit counted in the store, seen from the core, on real SQLite files (two
// connections to one file stand for two processes; test/fleet-failures.test.ts runs real ones):
// what is hashed, what is counted, what is kept, and what happens when the counter breaks.
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { migrate, sqliteAdapter } from '../src/adapters/sqlite/index.js';
import { formatKey } from '../src/core/key-format.js';
import {
  createKeymint,
  hmacSha256Hasher,
  isKeymintError,
  type Hasher,
  type KeymintOptions,
  type VerifyResult,
} from '../src/index.js';
import { flush, HMAC_SECRET } from './helpers.js';

const dir = mkdtempSync(path.join(tmpdir(), 'keymint-shared-attempts-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

/** A migrated file, and a function that opens one more connection to it. */
function sharedFile() {
  const file = path.join(dir, `keys-${++files}.db`);
  const first = new Database(file);
  first.pragma('journal_mode = WAL');
  migrate(first);
  const open: Database.Database[] = [first];
  return {
    db: first,
    connect() {
      const db = new Database(file, { timeout: 5_000 });
      open.push(db);
      return db;
    },
    close: () => open.forEach((db) => db.close()),
  };
}

/** An instance over `db` whose hasher counts its verify calls. */
function instance(db: Database.Database, options: Partial<KeymintOptions> = {}) {
  const inner = hmacSha256Hasher(HMAC_SECRET);
  const counts = { hashed: 0 };
  const hasher: Hasher = {
    fast: true,
    hash: (secret) => inner.hash(secret),
    verify: (hash, secret) => {
      counts.hashed++;
      return inner.verify(hash, secret);
    },
  };
  const errors: unknown[] = [];
  const keymint = createKeymint({
    adapter: sqliteAdapter(db),
    hasher,
    onBackgroundError: (error) => errors.push(error),
    ...options,
  });
  return { keymint, counts, errors };
}

const reasonOf = (result: VerifyResult) => (result.valid ? 'valid' : result.reason);
const wrongFor = (key: string) => formatKey(key.split('_')[0]!, key.split('_')[1]!).key;
const rows = (db: Database.Database) =>
  db.prepare('SELECT id, failures FROM keymint_api_keys_failures').all() as {
    id: string;
    failures: number;
  }[];

describe('the wrong-secret limit counted in the store (SQLite)', () => {
  it('holds across two processes on one file: 10 hashed in all, also for 50 at once', async () => {
    const file = sharedFile();
    const a = instance(file.db);
    const b = instance(file.connect());
    const { key, apiKey } = await a.keymint.createApiKey({ name: 'x', role: 'Viewer', ttl: '1h' });
    const first = await Promise.all(
      Array.from({ length: 50 }, () => a.keymint.verifyKey(wrongFor(key))),
    );
    expect(a.counts.hashed).toBe(10);
    expect(first.filter((r) => reasonOf(r) === 'not_found').length).toBe(10);
    expect(first.filter((r) => reasonOf(r) === 'rate_limited').length).toBe(40);
    // The other process has seen nothing of this id, yet hashes none.
    for (let i = 0; i < 20; i++) {
      expect(await b.keymint.verifyKey(wrongFor(key))).toEqual({
        valid: false,
        reason: 'rate_limited',
        retryAfterMs: expect.any(Number),
      });
    }
    expect(b.counts.hashed).toBe(0);
    expect(rows(file.db)).toEqual([{ id: apiKey.id, failures: 10 }]);
    await a.keymint.close();
    await b.keymint.close();
    file.close();
  });

  it('answers 50 concurrent first verifications of the right key valid, with the synchronous HMAC hasher', async () => {
    // The SQLite adapter and the HMAC hasher are synchronous, but the counter's reservation is a
    // store call: the 50 join one lookup (one place reserved, then given back), not 50 places.
    const file = sharedFile();
    const creator = instance(file.db);
    const { key, apiKey } = await creator.keymint.createApiKey({
      name: 'x',
      role: 'Viewer',
      ttl: '1h',
    });
    const fresh = createKeymint({
      adapter: sqliteAdapter(file.connect()),
      hasher: hmacSha256Hasher(HMAC_SECRET),
    });
    const results = await Promise.all(Array.from({ length: 50 }, () => fresh.verifyKey(key)));
    expect(results.map(reasonOf)).toEqual(Array.from({ length: 50 }, () => 'valid'));
    await new Promise((resolve) => setTimeout(resolve, 50)); // the release runs in the background
    expect(rows(file.db)).toEqual([{ id: apiKey.id, failures: 0 }]);
    await fresh.close();
    await creator.keymint.close();
    file.close();
  });

  it('keeps the owner working where it verified; a fresh process refuses it until the window ends', async () => {
    const file = sharedFile();
    const a = instance(file.db);
    const b = instance(file.connect());
    const { key } = await a.keymint.createApiKey({ name: 'x', role: 'Viewer', ttl: '1h' });
    expect((await a.keymint.verifyKey(key)).valid).toBe(true);
    for (let i = 0; i < 30; i++) await b.keymint.verifyKey(wrongFor(key));
    expect(b.counts.hashed).toBe(10);
    expect((await a.keymint.verifyKey(key)).valid).toBe(true);
    // With the verify cache off too: the process's proof of the key skips the limit.
    const c = instance(file.connect(), { cache: false });
    // Until the window ends on the store's clock: at most the window (1m), at least 1 ms.
    const refused = await c.keymint.verifyKey(key);
    expect(refused).toEqual({
      valid: false,
      reason: 'rate_limited',
      retryAfterMs: expect.any(Number),
    });
    const retryAfterMs = 'retryAfterMs' in refused ? refused.retryAfterMs : NaN;
    expect(retryAfterMs).toBeGreaterThan(0);
    expect(retryAfterMs).toBeLessThanOrEqual(60_000);
    expect(c.counts.hashed).toBe(0);
    for (const x of [a, b, c]) await x.keymint.close();
    file.close();
  });

  it('gives the place of a right secret back: only wrong secrets use up the window', async () => {
    const file = sharedFile();
    const owner = instance(file.db);
    const { key, apiKey } = await owner.keymint.createApiKey({
      name: 'x',
      role: 'Viewer',
      ttl: '1h',
    });
    for (let i = 0; i < 9; i++) await owner.keymint.verifyKey(wrongFor(key));
    // Five fresh processes verify the owner's key: each hashes it once, and counts nothing.
    for (let i = 0; i < 5; i++) {
      const fresh = instance(file.connect());
      expect((await fresh.keymint.verifyKey(key)).valid).toBe(true);
      expect(fresh.counts.hashed).toBe(1);
      await flush();
      await fresh.keymint.close();
    }
    await new Promise((resolve) => setTimeout(resolve, 50)); // the releases run in the background
    expect(rows(file.db)).toEqual([{ id: apiKey.id, failures: 9 }]);
    expect(await owner.keymint.verifyKey(wrongFor(key))).toEqual({
      valid: false,
      reason: 'not_found',
    });
    expect(await owner.keymint.verifyKey(wrongFor(key))).toEqual({
      valid: false,
      reason: 'rate_limited',
      retryAfterMs: expect.any(Number),
    });
    await owner.keymint.close();
    file.close();
  });

  it('keeps no state for unknown, revoked or expired ids', async () => {
    const file = sharedFile();
    const { keymint, counts } = instance(file.db);
    const revoked = await keymint.createApiKey({ name: 'r', role: 'Viewer', ttl: '1h' });
    await keymint.revokeApiKey(revoked.apiKey.id);
    for (let i = 0; i < 30; i++) {
      expect(
        (await keymint.verifyKey(formatKey('km', `unknown${String(i).padStart(5, '0')}`).key))
          .valid,
      ).toBe(false);
      expect(await keymint.verifyKey(wrongFor(revoked.key))).toEqual({
        valid: false,
        reason: 'revoked',
      });
    }
    expect(counts.hashed).toBe(0);
    expect(rows(file.db)).toEqual([]);
    await keymint.close();
    file.close();
  });

  it('counts per process with rateLimit.shared: false, and writes nothing', async () => {
    const file = sharedFile();
    const a = instance(file.db, { rateLimit: { shared: false } });
    const b = instance(file.connect(), { rateLimit: { shared: false } });
    const { key } = await a.keymint.createApiKey({ name: 'x', role: 'Viewer', ttl: '1h' });
    for (let i = 0; i < 15; i++) {
      await a.keymint.verifyKey(wrongFor(key));
      await b.keymint.verifyKey(wrongFor(key));
    }
    expect([a.counts.hashed, b.counts.hashed]).toEqual([10, 10]);
    expect(rows(file.db)).toEqual([]);
    await a.keymint.close();
    await b.keymint.close();
    file.close();
  });

  it('a broken counter (table not migrated): keys still verify, the limit holds per process, and the host hears of it', async () => {
    const file = sharedFile();
    file.db.exec('DROP TABLE keymint_api_keys_failures');
    const { keymint, counts, errors } = instance(file.db);
    const { key } = await keymint.createApiKey({ name: 'x', role: 'Viewer', ttl: '1h' });
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    expect(errors.length).toBe(1);
    expect(isKeymintError(errors[0], 'STORE_FAILURE')).toBe(true);
    expect(String(((errors[0] as Error).cause as Error).cause)).toMatch(
      /keymint_api_keys_failures/,
    );
    const answers = [];
    for (let i = 0; i < 15; i++) answers.push(reasonOf(await keymint.verifyKey(wrongFor(key))));
    expect(answers.filter((r) => r === 'not_found').length).toBe(10);
    expect(answers.filter((r) => r === 'rate_limited').length).toBe(5);
    expect(counts.hashed).toBe(11);
    // One report per window, not one per attempt.
    expect(errors.length).toBe(1);
    await keymint.close();
    file.close();
  });
});
