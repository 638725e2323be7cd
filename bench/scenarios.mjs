// The two scenarios that tinybench cannot express: 64 concurrent first verifications of one key,
// and valid traffic during a wrong-secret flood.
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { createKeymint } from 'keymint';
import { memoryAdapter } from 'keymint/adapters/memory';
import { median, percentile } from './measure.mjs';
import { splitKey, withChecksum, wrongSecretKey } from './key-format.mjs';
import { CACHE } from './subjects.mjs';

const countInto = (counts, result) => {
  const outcome = result.valid ? 'valid' : result.reason;
  counts[outcome] = (counts[outcome] ?? 0) + 1;
};

/**
 * Per round, two fresh instances (argon2id default hasher, cache on) over one memory adapter that
 * holds the key: one verifies the key once, the other verifies it 64 times at once. Returns the
 * median wall time of each in nanoseconds and the outcomes of the concurrent verifications.
 */
export async function concurrentFirstVerifications({ rounds, concurrency = 64 }) {
  const adapter = memoryAdapter();
  const creator = createKeymint({ adapter, cache: CACHE });
  const { key } = await creator.createApiKey({ name: 'concurrent', role: 'Editor', ttl: '1d' });
  await creator.close();
  const one = [];
  const many = [];
  const outcomes = {};
  const timed = async (run) => {
    const keymint = createKeymint({ adapter, cache: CACHE });
    const start = performance.now();
    const results = await run(keymint);
    const elapsed = (performance.now() - start) * 1e6;
    await keymint.close();
    return { elapsed, results };
  };
  for (let round = 0; round < rounds; round++) {
    const single = await timed(async (keymint) => [await keymint.verifyKey(key)]);
    if (!single.results[0].valid) throw new Error(`cold verify: ${single.results[0].reason}`);
    one.push(single.elapsed);
    const group = await timed((keymint) =>
      Promise.all(Array.from({ length: concurrency }, () => keymint.verifyKey(key))),
    );
    for (const result of group.results) countInto(outcomes, result);
    many.push(group.elapsed);
  }
  return { concurrency, oneNs: median(one), manyNs: median(many), outcomes, rounds };
}

const heapUsed = () => {
  globalThis.gc?.();
  globalThis.gc?.();
  return process.memoryUsage().heapUsed;
};

/**
 * One real key (argon2id default hasher, cache on, rate limit on) on a memory adapter. For
 * `durationMs`, `rate` wrong-secret attempts per second (valid checksum, the key's id, a fresh
 * random secret each) while one loop verifies the real key continuously, yielding to the event
 * loop between calls. Returns the valid calls' latencies (p50, p99, max), the outcomes of both
 * kinds, and heapUsed before and after (after a full GC, once the attempts have settled).
 */
export async function wrongSecretFlood({ durationMs, rate = 1_000, settleMs = 15_000 }) {
  const keymint = createKeymint({
    adapter: memoryAdapter(),
    cache: CACHE,
    rateLimit: { failures: 10, window: '1m' },
  });
  const { key } = await keymint.createApiKey({ name: 'flood', role: 'Editor', ttl: '1d' });
  if (!(await keymint.verifyKey(key)).valid) throw new Error('flood: key does not verify');
  // The forged keys must be well formed: bench/key-format.mjs must agree with keymint's format.
  const { prefix, id, secret } = splitKey(key);
  if (withChecksum(`${prefix}_${id}_${secret}`) !== key) {
    throw new Error('bench/key-format.mjs no longer matches the key format of src/core');
  }
  const total = Math.ceil((rate * durationMs) / 1000);
  // Made before the first heap reading and kept to the last, so they do not skew the difference.
  const wrongKeys = Array.from({ length: total }, () => wrongSecretKey(key));
  const latencies = new Float64Array(4_000_000);
  let recorded = 0;
  const validOutcomes = {};
  const wrongOutcomes = {};
  let inFlight = 0;
  let sent = 0;

  const before = heapUsed();
  const start = performance.now();
  const end = start + durationMs;
  const flood = setInterval(() => {
    const due = Math.min(total, Math.floor(((performance.now() - start) * rate) / 1000));
    for (; sent < due; sent++) {
      inFlight++;
      keymint
        .verifyKey(wrongKeys[sent])
        .then(
          (result) => countInto(wrongOutcomes, result),
          () => countInto(wrongOutcomes, { valid: false, reason: 'threw' }),
        )
        .finally(() => inFlight--);
    }
  }, 5);
  while (performance.now() < end) {
    const t0 = performance.now();
    const result = await keymint.verifyKey(key);
    const elapsed = performance.now() - t0;
    if (recorded < latencies.length) latencies[recorded++] = elapsed;
    countInto(validOutcomes, result);
    await nextTurn();
  }
  clearInterval(flood);
  const settleBy = performance.now() + settleMs;
  while (inFlight > 0 && performance.now() < settleBy) await sleep(20);
  const unsettled = inFlight;
  const after = heapUsed();
  await keymint.close();
  return {
    durationMs,
    rate,
    sent,
    unsettled,
    valid: {
      count: recorded,
      p50Ns: percentile(latencies, 50, recorded) * 1e6,
      p99Ns: percentile(latencies, 99, recorded) * 1e6,
      maxNs: percentile(latencies, 100, recorded) * 1e6,
      outcomes: validOutcomes,
    },
    wrongOutcomes,
    heapBefore: before,
    heapAfter: after,
    gc: typeof globalThis.gc === 'function',
  };
}
