// Issue 12's herd rows: a freshly started instance (default options) receives many distinct valid
// keys at once, as after a deploy. Reported against the physical bound measured in the same run:
// keys × one argon2id verification / the hashing concurrency.
import os from 'node:os';
import { ARGON2ID_OWASP_PARAMETERS, argon2idHasher, createKeymint } from 'keymint';
import { memoryAdapter } from 'keymint/adapters/memory';
import { median } from './measure.mjs';
import { fmtInt, fmtMs } from './report.mjs';
import { asReceived } from './subjects.mjs';

/** keymint's default hashing concurrency (src/core/keymint.ts): the pool minus one, ≤ cores. */
const concurrency = () =>
  Math.max(
    1,
    Math.min((Number(process.env.UV_THREADPOOL_SIZE) || 4) - 1, os.availableParallelism()),
  );

/** Median ms of one argon2id verification, back to back (one thread busy at a time). */
async function oneVerifyMs(hasher, samples) {
  const secret = 'Zq3vT9xLm2Pw8Rk4Nb6Yc1Hd5Fs7G';
  const hash = await hasher.hash(secret);
  const times = [];
  for (let i = 0; i < samples; i++) {
    const start = performance.now();
    if (!(await hasher.verify(hash, secret))) throw new Error('argon2id verify failed');
    times.push(performance.now() - start);
  }
  return median(times);
}

/** Wall ms of `count` verifications straight through the hasher, `c` at a time (no keymint). */
async function rawHerdMs(hasher, count, c) {
  const secret = 'Zq3vT9xLm2Pw8Rk4Nb6Yc1Hd5Fs7G';
  const hash = await hasher.hash(secret);
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: c }, async () => {
      while (next++ < count) await hasher.verify(hash, secret);
    }),
  );
  return performance.now() - start;
}

/** `count` keys made with `hasher`, in batches (the creator's own queue bounds each batch). */
async function makeKeys(adapter, hasher, count) {
  const creator = createKeymint({ adapter, hasher });
  const keys = [];
  for (let i = 0; i < count; i += 100) {
    const batch = Array.from({ length: Math.min(100, count - i) }, (_, j) =>
      creator.createApiKey({ name: `herd-${i + j}`, role: 'Viewer', ttl: '1d' }),
    );
    for (const { key } of await Promise.all(batch)) keys.push(asReceived(key));
  }
  await creator.close();
  return keys;
}

/**
 * One herd: a fresh instance over `adapter` (default options, or `options`) verifies every key
 * at once. `warm`: it verifies one other key first, so its hashing queue has a measured mean
 * (the estimate `maxWait` is checked against) before the herd arrives.
 */
async function herdOnce(adapter, keys, { warm, options = {} }) {
  const keymint = createKeymint({ adapter, ...options });
  try {
    if (warm) {
      const result = await keymint.verifyKey(warm);
      if (!result.valid) throw new Error(`warm-up verification: ${result.reason}`);
    }
    const start = performance.now();
    const results = await Promise.all(keys.map((key) => keymint.verifyKey(key)));
    const wallMs = performance.now() - start;
    const outcomes = {};
    for (const r of results) {
      const outcome = r.valid ? 'valid' : r.reason;
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    }
    return { wallMs, outcomes };
  } finally {
    await keymint.close();
  }
}

/**
 * The herd rows' measurements. Per round: the single-verification time, then the herd on a
 * fresh instance (cold queue), then on a fresh instance that verified one key first. OWASP's
 * parameters are measured once per round on a smaller herd, for the effect of the default.
 */
export async function herdScenario({ quick }) {
  const count = quick ? 200 : 1_000;
  const rounds = quick ? 1 : 3;
  const owaspCount = quick ? 20 : 100;
  const adapter = memoryAdapter();
  const keys = await makeKeys(adapter, argon2idHasher(), count + 1);
  const warmKey = keys.pop();
  const owaspHasher = argon2idHasher(ARGON2ID_OWASP_PARAMETERS);
  const owaspAdapter = memoryAdapter();
  const owaspKeys = await makeKeys(owaspAdapter, owaspHasher, owaspCount);
  const c = concurrency();
  const perRound = { cold: [], warm: [], owasp: [] };
  for (let round = 0; round < rounds; round++) {
    const verifyMs = await oneVerifyMs(argon2idHasher(), quick ? 20 : 50);
    const rawMs = await rawHerdMs(argon2idHasher(), count, c);
    for (const [kind, warm] of [
      ['cold', undefined],
      ['warm', warmKey],
    ]) {
      const run = await herdOnce(adapter, keys, { warm });
      perRound[kind].push({ ...run, boundMs: (count * verifyMs) / c, verifyMs, rawMs });
    }
    const owaspMs = await oneVerifyMs(owaspHasher, quick ? 5 : 10);
    const owasp = await herdOnce(owaspAdapter, owaspKeys, { options: { hasher: owaspHasher } });
    const owaspRawMs = await rawHerdMs(owaspHasher, owaspCount, c);
    perRound.owasp.push({
      ...owasp,
      boundMs: (owaspCount * owaspMs) / c,
      verifyMs: owaspMs,
      rawMs: owaspRawMs,
    });
  }
  return { count, owaspCount, rounds, concurrency: c, perRound };
}

const outcomeText = (runs) => {
  const totals = {};
  for (const { outcomes } of runs) {
    for (const [k, v] of Object.entries(outcomes)) totals[k] = (totals[k] ?? 0) + v;
  }
  return Object.entries(totals)
    .map(([k, v]) => `${fmtInt(v)} ${k}`)
    .join(', ');
};

/**
 * Rows in report.mjs's shape. ns/op is the herd's wall time (op = the herd); the ratio column
 * holds the physical bound / the wall time (1.0: as fast as the hashing itself allows).
 */
export function herdRows(herd) {
  const rows = [];
  const targets = [];
  const add = (id, name, runs, count, checked) => {
    // The round whose wall/bound is the median (bound and wall measured together).
    const sorted = [...runs].sort((a, b) => a.wallMs / a.boundMs - b.wallMs / b.boundMs);
    const mid = sorted[sorted.length >> 1];
    const ratio = mid.boundMs / mid.wallMs;
    const busy = runs.reduce((n, r) => n + (r.outcomes.busy ?? 0), 0);
    const valid = runs.reduce((n, r) => n + (r.outcomes.valid ?? 0), 0);
    const row = {
      id,
      name,
      group: 'keymint',
      ns: mid.wallMs * 1e6,
      ops: 1e3 / mid.wallMs,
      ratio,
      note:
        `ns/op: wall time of the ${fmtInt(count)} together; ratio column: physical bound ` +
        `(${fmtInt(count)} × ${mid.verifyMs.toFixed(2)} ms / concurrency ${herd.concurrency} = ` +
        `${fmtMs(mid.boundMs * 1e6)}) / wall; median of ${runs.length}; outcomes: ${outcomeText(runs)}; ` +
        `wall/bound per round: ${runs.map((r) => (r.wallMs / r.boundMs).toFixed(2)).join(', ')}; ` +
        `the same verifications straight through argon2, ${herd.concurrency} at a time: ` +
        `${fmtMs(mid.rawMs * 1e6)} (wall/that: ${runs.map((r) => (r.wallMs / r.rawMs).toFixed(2)).join(', ')})`,
    };
    if (checked) {
      const allValid = busy === 0 && valid === count * runs.length;
      const ok = allValid && mid.wallMs <= 1.25 * mid.boundMs;
      const status = ok ? 'PASS' : 'FAIL';
      const text = '0 busy, all valid, wall ≤ 1.25× bound';
      const value = `${fmtInt(busy)} busy, ${(mid.wallMs / mid.boundMs).toFixed(2)}×`;
      row.target = `${text}: ${value} ${status}`;
      row.status = status;
      targets.push({ row: name, text, value, status });
    }
    rows.push(row);
  };
  const { count, owaspCount, perRound } = herd;
  add(
    'herd-fresh',
    `Fresh instance, ${fmtInt(count)} distinct keys at once (defaults)`,
    perRound.cold,
    count,
    true,
  );
  add(
    'herd-measured',
    `Fresh instance after one verification, ${fmtInt(count)} distinct keys at once (defaults)`,
    perRound.warm,
    count,
    true,
  );
  add(
    'herd-owasp',
    `Fresh instance, ${fmtInt(owaspCount)} distinct keys at once, OWASP argon2id parameters`,
    perRound.owasp,
    owaspCount,
    false,
  );
  return { rows, targets };
}
