// Issue 12's herd rows: a freshly started instance (default options) receives many distinct valid
// keys at once, as after a deploy. Reported against the physical bound measured in the same run:
// keys × one argon2id verification / the hashes that can run at once (the hashing concurrency,
// at most the cores: keymint's default runs one more than the cores, which no machine turns into
// more hashes at once than it has cores).
import os from 'node:os';
import { ARGON2ID_OWASP_PARAMETERS, argon2idHasher, createKeymint } from 'keymint';
import { memoryAdapter } from 'keymint/adapters/memory';
import { median } from './measure.mjs';
import { fmtInt, fmtMs } from './report.mjs';
import { asReceived } from './subjects.mjs';

/**
 * keymint's default hashing concurrency (defaultHashConcurrency, src/core/hash-limiter.ts): the
 * pool minus one, at most the cores + 1 (1 on a single core), at least 1.
 */
const concurrency = () => {
  const cores = os.availableParallelism();
  const pool = Number.parseInt(process.env.UV_THREADPOOL_SIZE ?? '4', 10) || 1;
  return Math.max(1, Math.min(pool - 1, cores <= 1 ? 1 : cores + 1));
};

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
async function makeKeys(adapter, hasher, count, first = 0) {
  const creator = createKeymint({ adapter, hasher });
  const keys = [];
  for (let i = 0; i < count; i += 100) {
    const batch = Array.from({ length: Math.min(100, count - i) }, (_, j) =>
      creator.createApiKey({ name: `herd-${first + i + j}`, role: 'Viewer', ttl: '1d' }),
    );
    for (const { key } of await Promise.all(batch)) keys.push(asReceived(key));
  }
  await creator.close();
  return keys;
}

/**
 * One herd: a fresh instance over `adapter` (default options, or `options`) verifies every key
 * at once. `warm`: it verifies one other key first, so its hashing queue has a measured mean
 * (the estimate `maxWait` is checked against) before the herd arrives. `retryAfterMs`: the hints
 * of the `busy` answers, sorted.
 */
async function herdOnce(adapter, keys, { warm, options = {} }) {
  const keymint = createKeymint({ adapter, ...options });
  try {
    if (warm) {
      const result = await keymint.verifyKey(warm);
      if (!result.valid) throw new Error(`warm-up verification: ${result.reason}`);
    }
    const cpuBefore = process.cpuUsage();
    const start = performance.now();
    const results = await Promise.all(keys.map((key) => keymint.verifyKey(key)));
    const wallMs = performance.now() - start;
    const cpu = process.cpuUsage(cpuBefore);
    // This process's CPU time (every thread) per key: what a loaded machine stretches least.
    const cpuMs = (cpu.user + cpu.system) / 1000 / keys.length;
    const outcomes = {};
    const retryAfterMs = [];
    for (const r of results) {
      const outcome = r.valid ? 'valid' : r.reason;
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
      if (r.reason === 'busy') retryAfterMs.push(r.retryAfterMs);
    }
    retryAfterMs.sort((a, b) => a - b);
    return { wallMs, cpuMs, outcomes, retryAfterMs };
  } finally {
    await keymint.close();
  }
}

/**
 * A herd between two timings of one verification: the bound is `count` × their mean / `lanes`
 * (the hashes that can run at once), so drift on a shared machine during the herd moves the bound
 * with it.
 */
async function bracketed(hasher, samples, count, lanes, run) {
  const before = await oneVerifyMs(hasher, samples);
  const result = await run();
  const after = await oneVerifyMs(hasher, samples);
  const verifyMs = (before + after) / 2;
  return { ...result, verifyMs, boundMs: (count * verifyMs) / lanes };
}

/** The bound's hasher must be the herd's: the parameters of the stored hashes, checked. */
async function checkSameParameters(adapter, hasher) {
  const stored = await adapter.list({ scope: 'default', limit: 1000 });
  if (stored.length === 0 || stored.some((record) => hasher.needsRehash(record.secretHash))) {
    throw new Error('herd: the keys were not hashed with the parameters the bound is timed with');
  }
  return stored[0].secretHash.split('$')[3];
}

/** keymint's default key parameters before the herd work: 2 MiB, one pass. */
const EARLIER_KEY_PARAMETERS = { memoryCost: 2_048, timeCost: 1, parallelism: 1 };

/** The default hashing queue cap (hashing.queue, src/core/keymint.ts): a herd past it. */
const DEFAULT_QUEUE_CAP = 5_000;

/**
 * The herd rows' measurements. Per round: one verification timed, the same verifications
 * straight through argon2 `c` at a time, then the herd on a fresh instance (cold queue) and on a
 * fresh instance that verified one key first, each between two timings of one verification.
 * The earlier key parameters (2 MiB, t=1, same herd) and OWASP's (a smaller herd) are measured
 * once per round the same way, for the effect of the default. Last (full runs), once each: a herd larger than the queue cap on a fresh and on a
 * measured instance, which must get `busy` with a Retry-After hint.
 */
export async function herdScenario({ quick }) {
  const count = quick ? 200 : 1_000;
  const rounds = quick ? 1 : 5;
  const samples = quick ? 20 : 50;
  const owaspCount = quick ? 20 : 100;
  const loadBefore = os.loadavg();
  const adapter = memoryAdapter();
  const hasher = argon2idHasher();
  const keys = await makeKeys(adapter, hasher, count + 1);
  const warmKey = keys.pop();
  const parameters = await checkSameParameters(adapter, hasher);
  // The key parameters before issue 12's herd work, for the effect of the new default.
  const earlierHasher = argon2idHasher(EARLIER_KEY_PARAMETERS);
  const earlierAdapter = memoryAdapter();
  const earlierKeys = await makeKeys(earlierAdapter, earlierHasher, count);
  await checkSameParameters(earlierAdapter, earlierHasher);
  const owaspHasher = argon2idHasher(ARGON2ID_OWASP_PARAMETERS);
  const owaspAdapter = memoryAdapter();
  const owaspKeys = await makeKeys(owaspAdapter, owaspHasher, owaspCount);
  await checkSameParameters(owaspAdapter, owaspHasher);
  const c = concurrency();
  const lanes = Math.min(c, os.availableParallelism());
  const perRound = { cold: [], warm: [], earlier: [], owasp: [] };
  for (let round = 0; round < rounds; round++) {
    const rawMs = await rawHerdMs(hasher, count, c);
    for (const [kind, warm] of [
      ['cold', undefined],
      ['warm', warmKey],
    ]) {
      const run = await bracketed(hasher, samples, count, lanes, () =>
        herdOnce(adapter, keys, { warm }),
      );
      perRound[kind].push({ ...run, rawMs });
    }
    const earlierRawMs = await rawHerdMs(earlierHasher, count, c);
    const earlier = await bracketed(earlierHasher, samples, count, lanes, () =>
      herdOnce(earlierAdapter, earlierKeys, { options: { hasher: earlierHasher } }),
    );
    perRound.earlier.push({ ...earlier, rawMs: earlierRawMs });
    const owaspRawMs = await rawHerdMs(owaspHasher, owaspCount, c);
    const owasp = await bracketed(owaspHasher, quick ? 5 : 10, owaspCount, lanes, () =>
      herdOnce(owaspAdapter, owaspKeys, { options: { hasher: owaspHasher } }),
    );
    perRound.owasp.push({ ...owasp, rawMs: owaspRawMs });
  }
  let past;
  if (!quick) {
    const pastCount = DEFAULT_QUEUE_CAP + 1_000;
    const more = await makeKeys(adapter, hasher, pastCount - count, count + 1);
    const pastKeys = [...keys, ...more];
    past = {
      count: pastCount,
      cold: await herdOnce(adapter, pastKeys, {}),
      warm: await herdOnce(adapter, pastKeys, { warm: warmKey }),
    };
  }
  return {
    count,
    owaspCount,
    rounds,
    concurrency: c,
    lanes,
    parameters,
    perRound,
    past,
    load: [loadBefore, os.loadavg()],
  };
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

const loadText = ([before, after]) =>
  `load average (1 min) ${before[0].toFixed(2)} before, ${after[0].toFixed(2)} after`;

/** `busy` hints as Retry-After seconds (whole, rounded up, at least 1), as the HTTP layer sends. */
const retryText = (ms) => {
  if (ms.length === 0) return 'none';
  const s = (v) => Math.max(1, Math.ceil(v / 1000));
  return `Retry-After ${s(ms[0])} to ${s(ms[ms.length - 1])} s (median ${s(ms[ms.length >> 1])} s)`;
};

/**
 * Rows in report.mjs's shape. ns/op is the herd's wall time (op = the herd); the ratio column
 * holds the physical bound / the wall time (1.0: as fast as the hashing itself allows).
 */
export function herdRows(herd) {
  const rows = [];
  const targets = [];
  const add = (id, name, runs, count, checked, parameters) => {
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
        `(${fmtInt(count)} × ${mid.verifyMs.toFixed(2)} ms / ${herd.lanes} at once = ` +
        `${fmtMs(mid.boundMs * 1e6)}; one verification timed just before and after the herd, ` +
        `argon2id ${parameters}) / wall; median of ${runs.length}; outcomes: ${outcomeText(runs)}; ` +
        `wall/bound per round: ${runs.map((r) => (r.wallMs / r.boundMs).toFixed(2)).join(', ')}; ` +
        `CPU time of this process per key (every thread): ` +
        `${runs.map((r) => r.cpuMs.toFixed(2)).join(', ')} ms; ` +
        `the same verifications straight through argon2, ${herd.concurrency} at a time ` +
        `(keymint's hashing concurrency, on ${os.availableParallelism()} cores), ` +
        `/bound per round: ${runs.map((r) => (r.rawMs / r.boundMs).toFixed(2)).join(', ')}; ` +
        loadText(herd.load),
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
  const { count, owaspCount, perRound, parameters } = herd;
  add(
    'herd-fresh',
    `Fresh instance, ${fmtInt(count)} distinct keys at once (defaults)`,
    perRound.cold,
    count,
    true,
    parameters,
  );
  add(
    'herd-measured',
    `Fresh instance after one verification, ${fmtInt(count)} distinct keys at once (defaults)`,
    perRound.warm,
    count,
    true,
    parameters,
  );
  add(
    'herd-earlier',
    `Fresh instance, ${fmtInt(count)} distinct keys at once, the earlier key parameters`,
    perRound.earlier,
    count,
    false,
    'm=2048,t=1,p=1',
  );
  add(
    'herd-owasp',
    `Fresh instance, ${fmtInt(owaspCount)} distinct keys at once, OWASP argon2id parameters`,
    perRound.owasp,
    owaspCount,
    false,
    'm=19456,t=2,p=1',
  );
  if (herd.past) {
    const { past } = herd;
    for (const [id, kind, what] of [
      ['herd-past-fresh', 'cold', 'Fresh instance'],
      ['herd-past-measured', 'warm', 'Fresh instance after one verification'],
    ]) {
      const run = past[kind];
      const name = `${what}, ${fmtInt(past.count)} distinct keys at once (past the queue cap)`;
      const busy = run.outcomes.busy ?? 0;
      const valid = run.outcomes.valid ?? 0;
      const hinted = run.retryAfterMs.every((ms) => Number.isInteger(ms) && ms >= 1);
      const ok = busy > 0 && hinted && busy + valid === past.count;
      const status = ok ? 'PASS' : 'FAIL';
      const text = 'the excess gets busy with a Retry-After, the rest valid';
      const value = `${fmtInt(valid)} valid, ${fmtInt(busy)} busy`;
      rows.push({
        id,
        name,
        group: 'keymint',
        ns: run.wallMs * 1e6,
        ops: 1e3 / run.wallMs,
        ratio: undefined,
        target: `${text}: ${value} ${status}`,
        status,
        note:
          `ns/op: wall time of the ${fmtInt(past.count)} together (one run); outcomes: ` +
          `${outcomeText([run])}; busy answers' hints: ${retryText(run.retryAfterMs)} ` +
          `(retryAfterMs ${run.retryAfterMs[0] ?? '-'} to ${run.retryAfterMs.at(-1) ?? '-'}); ` +
          `hashing.queue caps the waiting hashes at ${fmtInt(DEFAULT_QUEUE_CAP)}`,
      });
      targets.push({ row: name, text, value, status });
    }
  }
  return { rows, targets };
}
