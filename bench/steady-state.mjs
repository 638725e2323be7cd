// Issue 12's steady-state rows: many active keys, Zipf-distributed traffic (s = 1.1), for a
// while, on the memory adapter and on PostgreSQL, with argon2id and with HMAC, cache.ttl 30 s.
// Reported: verifications per second against a SHA-256 + Map floor over the same traffic, p50/p99,
// store reads per key per minute, and hasher calls (for argon2id: one per distinct key seen).
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { argon2idHasher, createKeymint, hmacSha256Hasher } from 'keymint';
import { memoryAdapter } from 'keymint/adapters/memory';
import { percentile } from './measure.mjs';
import { fmtInt } from './report.mjs';
import { asReceived, POSTGRES_ENV, sha256 } from './subjects.mjs';

const SELF = fileURLToPath(import.meta.url);
const execFileP = promisify(execFile);
const HMAC_SECRET = 'steady-state-bench-secret-of-32-bytes-or-more';
const CALLERS = 32;

/** Indices 0..n-1 drawn with P(i) ∝ 1 / (i + 1)^s, `count` of them (seeded, repeatable). */
function zipfSequence(n, s, count) {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) cdf[i] = sum += 1 / Math.pow(i + 1, s);
  let seed = 0x2545f491;
  const random = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 2 ** 32;
  };
  const out = new Uint32Array(count);
  for (let k = 0; k < count; k++) {
    const target = random() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cdf[mid] < target) lo = mid + 1;
      else hi = mid;
    }
    out[k] = lo;
  }
  return out;
}

/** Records made once per hasher, then inserted into each store, so each secret is hashed once. */
async function makeRecords(hasher, count) {
  const records = [];
  const inner = memoryAdapter();
  const recording = {
    ...inner,
    insert: async (record) => {
      records.push(record);
      return inner.insert(record);
    },
  };
  const creator = createKeymint({ adapter: recording, hasher, cache: false });
  const keys = [];
  for (let i = 0; i < count; i += 200) {
    const batch = Array.from({ length: Math.min(200, count - i) }, (_, j) =>
      creator.createApiKey({ name: `s-${i + j}`, role: 'Viewer', ttl: '1d' }),
    );
    for (const { key } of await Promise.all(batch)) keys.push(asReceived(key));
  }
  await creator.close();
  return { keys, records };
}

async function postgresStore(records) {
  const url = process.env[POSTGRES_ENV];
  if (!url) return null;
  const { default: pg } = await import('pg');
  const { migrate, postgresAdapter } = await import('keymint/adapters/postgres');
  const pool = new pg.Pool({ connectionString: url, max: 10 });
  const table = `keymint_steady_${process.pid}_${Date.now().toString(36)}`;
  await migrate(pool, { table });
  const adapter = postgresAdapter(pool, { table });
  for (let i = 0; i < records.length; i += 500) {
    await Promise.all(records.slice(i, i + 500).map((r) => adapter.insert(r)));
  }
  return {
    adapter,
    close: async () => {
      await pool.query(`DROP TABLE IF EXISTS "${table}"`);
      await pool.end();
    },
  };
}

/** Calls a caller makes before it yields to the event loop (see {@link drive}). */
const YIELD_EVERY = 32;

/**
 * `CALLERS` loops drawing from `sequence` for `durationMs`; each call timed. Each loop yields to
 * the event loop (setImmediate) every {@link YIELD_EVERY} calls, as a server does between
 * requests that arrive as I/O: a cache hit settles in microtasks only, so loops that never yield
 * would starve timers and sockets for seconds, and a hash or store answer that has arrived would
 * wait past its deadline (HASHER_FAILURE, STORE_FAILURE) behind them. The floor runs the same
 * loops.
 */
async function drive(keys, sequence, durationMs, call) {
  let next = 0;
  let done = 0;
  const latencies = new Float64Array(1 << 20);
  const deadline = performance.now() + durationMs;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: CALLERS }, async () => {
      for (let calls = 1; performance.now() < deadline; calls++) {
        if (calls % YIELD_EVERY === 0) await new Promise(setImmediate);
        const key = keys[sequence[next++ % sequence.length]];
        const t = performance.now();
        await call(key);
        latencies[done++ & (latencies.length - 1)] = performance.now() - t;
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  const sample = Array.from(latencies.subarray(0, Math.min(done, latencies.length)));
  sample.sort((a, b) => a - b);
  return {
    perSecond: done / seconds,
    seconds,
    p50: percentile(sample, 50),
    p99: percentile(sample, 99),
    done,
  };
}

async function oneRow({ store, hasherName, keys, records, sequence, durationMs, floor }) {
  const closers = [];
  let adapter;
  if (store === 'memory') {
    adapter = memoryAdapter();
    for (const r of records) await adapter.insert(r);
  } else {
    const pgStore = await postgresStore(records);
    if (!pgStore) return { store, hasherName, skipped: true };
    closers.push(pgStore.close);
    adapter = pgStore.adapter;
  }
  let reads = 0;
  const counted = {
    ...adapter,
    findById: (id) => {
      reads++;
      return adapter.findById(id);
    },
  };
  const base = hasherName === 'argon2id' ? argon2idHasher() : hmacSha256Hasher(HMAC_SECRET);
  let hasherCalls = 0;
  const hasher = {
    ...base,
    hash: base.hash.bind(base),
    needsRehash: base.needsRehash?.bind(base),
    verify: (hash, secret) => {
      hasherCalls++;
      return base.verify(hash, secret);
    },
  };
  const keymint = createKeymint({ adapter: counted, hasher, cache: { ttl: '30s' } });
  const seen = new Set();
  let invalid = 0;
  let failed = 0;
  const why = {}; // reason or error code -> count, for the rows that are not valid
  const tally = (k) => (why[k] = (why[k] ?? 0) + 1);
  try {
    const floorBefore = await floor();
    const result = await drive(keys, sequence, durationMs, async (key) => {
      seen.add(key);
      try {
        const r = await keymint.verifyKey(key);
        if (!r.valid) {
          invalid++;
          tally(r.reason);
        }
      } catch (error) {
        failed++;
        tally(error?.code ?? error?.name ?? 'error');
      }
    });
    // The floor just before and just after the row: drift on a shared machine moves it with it.
    const floorPerSecond = (floorBefore + (await floor())) / 2;
    return {
      store,
      hasherName,
      ...result,
      floorPerSecond,
      ratio: result.perSecond / floorPerSecond,
      readsPerKeyMinute: reads / seen.size / (result.seconds / 60),
      hasherCalls,
      distinct: seen.size,
      invalid,
      failed,
      why,
    };
  } finally {
    await keymint.close();
    for (const close of closers) await close();
  }
}

/** The rows, measured in this process (the child's side of {@link steadyStateScenario}). */
async function measureHere({ quick }) {
  const count = quick ? 1_000 : 10_000;
  const durationMs = quick ? 1_000 : 60_000;
  const sequence = zipfSequence(count, 1.1, 1 << 20);
  const rows = [];
  for (const hasherName of ['hmac', 'argon2id']) {
    const hasher = hasherName === 'argon2id' ? argon2idHasher() : hmacSha256Hasher(HMAC_SECRET);
    const { keys, records } = await makeRecords(hasher, count);
    // The floor over the same traffic, the same callers.
    const map = new Map(keys.map((key, i) => [sha256(key), i]));
    const floorCall = async (key) => {
      if (map.get(sha256(key)) === undefined) throw new Error('floor miss');
    };
    await drive(keys, sequence, 200, floorCall); // warm-up
    const floor = async () =>
      (await drive(keys, sequence, quick ? 500 : 2_000, floorCall)).perSecond;
    for (const store of ['memory', 'postgres']) {
      rows.push(
        await oneRow({
          store,
          hasherName,
          keys,
          records,
          sequence,
          durationMs,
          floor,
        }),
      );
    }
  }
  return { count, durationMs, rows };
}

export function steadyStateRows({ count, durationMs, rows }) {
  const lines = [];
  const targets = [];
  for (const r of rows) {
    const name = `steady ${fmtInt(count)} keys, ${r.store}, ${r.hasherName}`;
    if (r.skipped) {
      lines.push(`${name}: skipped, no server (${POSTGRES_ENV} is not set)`);
      continue;
    }
    lines.push(
      `${name}, ${durationMs / 1000} s: ${fmtInt(r.perSecond)} verifications/s (${r.ratio.toFixed(2)} x the floor's ${fmtInt(r.floorPerSecond)}/s), ` +
        `p50 ${(r.p50 * 1000).toFixed(0)} us, p99 ${(r.p99 * 1000).toFixed(0)} us, ` +
        `${r.readsPerKeyMinute.toFixed(2)} store reads/key/min, ${fmtInt(r.hasherCalls)} hasher calls, ` +
        `${fmtInt(r.distinct)} distinct keys seen, ${r.invalid} not valid, ${r.failed} thrown` +
        (r.invalid + r.failed
          ? ` (${Object.entries(r.why)
              .map(([k, n]) => `${k} ${n}`)
              .join(', ')})`
          : ''),
    );
    if (r.hasherName === 'argon2id') {
      targets.push({
        row: name,
        text: 'argon2id verifications = distinct keys (one per key per process)',
        value: `${fmtInt(r.hasherCalls)} calls, ${fmtInt(r.distinct)} keys`,
        status: r.hasherCalls === r.distinct && r.invalid + r.failed === 0 ? 'PASS' : 'FAIL',
      });
    }
  }
  return { lines, targets };
}

/**
 * The rows, measured in a child process of their own (node --expose-gc), as a server runs them:
 * one keymint configuration per process, no heap or JIT state left by bench/run.mjs's other
 * scenarios (as bench/memory.mjs and bench/cold-path.mjs do).
 */
export async function steadyStateScenario({ quick = false } = {}) {
  const args = ['--expose-gc', SELF, '--child', ...(quick ? ['--quick'] : [])];
  const { stdout } = await execFileP(process.execPath, args, { maxBuffer: 1 << 20 });
  return JSON.parse(stdout);
}

if (process.argv[2] === '--child') {
  process.stdout.write(
    JSON.stringify(await measureHere({ quick: process.argv.includes('--quick') })),
  );
} else if (process.argv[1] === SELF) {
  const result = steadyStateRows(
    await steadyStateScenario({ quick: process.argv.includes('--quick') }),
  );
  for (const line of result.lines) console.log(line);
  for (const t of result.targets) console.log(`${t.status}: ${t.row}: ${t.text} (${t.value})`);
}
