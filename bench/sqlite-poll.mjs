// What the SQLite change-log poll costs the warm path: verifyKey warm on SQLite with the poll
// running (the adapter's subscribe, as every cached instance has it) and without it (subscribe
// hidden), while another connection changes the file every 50 ms so that each poll reads the log.
// Both in the main thread, after the worker rows, alternating within each round.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createKeymint, hmacSha256Hasher } from 'keymint';
import { calibrate, measureOnce, median } from './measure.mjs';
import { fmtRatio } from './report.mjs';
import { asReceived, CACHE } from './subjects.mjs';

const CHURN_MS = 50;

async function variant(Database, sqliteAdapter, file, poll) {
  const db = new Database(file);
  const { subscribe: _hidden, ...withoutPoll } = sqliteAdapter(db);
  const adapter = poll ? sqliteAdapter(db) : withoutPoll;
  const keymint = createKeymint({
    adapter,
    hasher: hmacSha256Hasher('b'.repeat(32)),
    cache: CACHE,
  });
  const { key } = await keymint.createApiKey({ name: `poll-${poll}`, role: 'Editor', ttl: '1d' });
  const presented = asReceived(key);
  const subject = {
    call: () => keymint.verifyKey(presented),
    check: (result) => {
      if (!result.valid) throw new Error(`sqlite poll row: ${result.reason}`);
    },
  };
  return { subject, close: async () => (await keymint.close(), db.close()) };
}

/**
 * Two rows (id `warm-sqlite-poll`, `warm-sqlite-no-poll`) and a target: the ratio of the two
 * medians, within 10% of 1.0. `floorNs` is the run's floor, for the ratio column.
 */
export async function sqlitePollRows({ rounds, timeMs, warmupMs, floorNs }) {
  const { default: Database } = await import('better-sqlite3');
  const { migrate, sqliteAdapter } = await import('keymint/adapters/sqlite');
  const dir = await mkdtemp(path.join(tmpdir(), 'keymint-bench-poll-'));
  const file = path.join(dir, 'keymint.db');
  const writer = new Database(file);
  writer.pragma('journal_mode = WAL');
  migrate(writer);
  const insert = writer.prepare(
    `INSERT OR IGNORE INTO keymint_api_keys (id, scope, name, role, secret_hash, created_at) VALUES ('churnChurn00', 'churn', 'churn', 'Viewer', 'x', 0)`,
  );
  const remove = writer.prepare(`DELETE FROM keymint_api_keys WHERE id = 'churnChurn00'`);
  const churn = setInterval(() => (insert.run(), remove.run()), CHURN_MS);
  const variants = {
    poll: await variant(Database, sqliteAdapter, file, true),
    none: await variant(Database, sqliteAdapter, file, false),
  };
  const samples = { poll: [], none: [] };
  try {
    const batch = await calibrate(variants.poll.subject);
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 ? ['none', 'poll'] : ['poll', 'none'];
      for (const which of order) {
        samples[which].push(
          await measureOnce(variants[which].subject, batch, { timeMs, warmupMs }),
        );
      }
    }
  } finally {
    clearInterval(churn);
    await variants.poll.close();
    await variants.none.close();
    writer.close();
    await rm(dir, { recursive: true, force: true });
  }
  const pollNs = median(samples.poll);
  const noneNs = median(samples.none);
  const ratio = noneNs / pollNs;
  const ok = ratio >= 0.9;
  const row = (id, name, ns, extra) => ({
    id,
    name,
    group: 'keymint',
    ns,
    ops: 1e9 / ns,
    ratio: floorNs / ns,
    ...extra,
  });
  const target = `within 10% of no poll: ${fmtRatio(ratio)}× ${ok ? 'PASS' : 'FAIL'}`;
  return {
    rows: [
      row('warm-sqlite-poll', 'verifyKey warm, hmac, SQLite, change-log poll on', pollNs, {
        target,
        status: ok ? 'PASS' : 'FAIL',
        note: `main thread; another connection changes the file every ${CHURN_MS} ms; median of ${rounds}`,
      }),
      row('warm-sqlite-no-poll', 'verifyKey warm, hmac, SQLite, poll off', noneNs, {
        note: 'the same, subscribe hidden: the reference of the row above',
      }),
    ],
    target: {
      row: 'verifyKey warm, hmac, SQLite, change-log poll on',
      text: 'within 10% of no poll',
      value: `${fmtRatio(ratio)}×`,
      status: ok ? 'PASS' : 'FAIL',
    },
  };
}
