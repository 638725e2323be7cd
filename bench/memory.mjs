// Issue 12's memory rows: heap bytes per cached key at scale (HMAC, memory adapter), without and
// with 1 KiB of metadata, and warm verification over that many distinct keys against a SHA-256 +
// Map floor over the same keys. Each measurement runs in a child process of its own
// (node --expose-gc), so one does not inherit another's heap or JIT state.
import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createKeymint, hmacSha256Hasher } from 'keymint';
import { memoryAdapter } from 'keymint/adapters/memory';
import { median } from './measure.mjs';
import { fmtInt } from './report.mjs';
import { asReceived } from './subjects.mjs';

const SELF = fileURLToPath(import.meta.url);
const HMAC_SECRET = 'memory-bench-secret-of-at-least-32-bytes!!';
/** The targets of issue 12 item 5. */
export const MAX_BYTES_PER_ENTRY = 400;
export const MIN_DISTINCT_RATIO = 0.7;

const gc = () => {
  for (let i = 0; i < 4; i++) globalThis.gc();
};
const heap = () => {
  gc();
  return process.memoryUsage().heapUsed;
};

const sha256 =
  typeof crypto.hash === 'function'
    ? (value) => crypto.hash('sha256', value, 'binary')
    : (value) => crypto.createHash('sha256').update(value).digest('binary');

async function makeKeys(adapter, count, metadata) {
  const creator = createKeymint({ adapter, hasher: hmacSha256Hasher(HMAC_SECRET), cache: false });
  const keys = [];
  for (let i = 0; i < count; i += 500) {
    const batch = Array.from({ length: Math.min(500, count - i) }, (_, j) =>
      creator.createApiKey({ name: `m-${i + j}`, role: 'Viewer', ttl: '1d', metadata }),
    );
    for (const { key } of await Promise.all(batch)) keys.push(asReceived(key));
  }
  // One verification each, so every record carries a last-used time before the measured instance
  // starts: its own verifications then write nothing to the adapter's heap.
  for (const key of keys) await creator.verifyKey(key);
  await new Promise((resolve) => setTimeout(resolve, 1_200));
  await creator.close();
  return keys;
}

/** ns per call of `fn(keys[i])` over every key in turn, the median of `passes` passes. */
async function timePasses(keys, passes, fn) {
  const times = [];
  for (let p = 0; p < passes; p++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < keys.length; i++) await fn(keys[i]);
    times.push(Number(process.hrtime.bigint() - start) / keys.length);
  }
  return median(times);
}

/** In the child: one measurement, printed as JSON. */
async function child({ count, metadataBytes, passes }) {
  const metadata = metadataBytes ? { blob: 'x'.repeat(metadataBytes) } : undefined;
  const adapter = memoryAdapter();
  const keys = await makeKeys(adapter, count, metadata);
  const keymint = createKeymint({
    adapter,
    hasher: hmacSha256Hasher(HMAC_SECRET),
    cache: { ttl: '1h', maxEntries: count },
  });
  const before = heap();
  for (const key of keys) {
    const result = await keymint.verifyKey(key);
    if (!result.valid) throw new Error(`not valid: ${result.reason}`);
  }
  const bytesPerEntry = (heap() - before) / count;
  let out = { bytesPerEntry };
  if (passes > 0) {
    // The floor: what any design that hashes the presented key and looks it up must do.
    const beforeMap = heap();
    const map = new Map(keys.map((key, i) => [sha256(key), { i }]));
    const mapBytes = heap() - beforeMap;
    const floor = async (key) => {
      if (map.get(sha256(key)) === undefined) throw new Error('floor miss');
    };
    const verify = async (key) => {
      if (!(await keymint.verifyKey(key)).valid) throw new Error('not valid');
    };
    // Interleaved, warmed first: drift on a shared machine hits both alike.
    await timePasses(keys, 1, floor);
    await timePasses(keys, 1, verify);
    const floorNs = [];
    const keymintNs = [];
    for (let r = 0; r < passes; r++) {
      floorNs.push(await timePasses(keys, 1, floor));
      keymintNs.push(await timePasses(keys, 1, verify));
    }
    // Now every entry has been hit: each holds its public view too.
    out = {
      ...out,
      floorNs: median(floorNs),
      keymintNs: median(keymintNs),
      bytesAfterHits: (heap() - before - mapBytes) / count,
    };
  }
  await keymint.close();
  process.stdout.write(JSON.stringify(out));
}

const execFileP = promisify(execFile);

async function inChild(options) {
  const { stdout } = await execFileP(
    process.execPath,
    ['--expose-gc', SELF, '--child', JSON.stringify(options)],
    { maxBuffer: 1 << 20 },
  );
  return JSON.parse(stdout);
}

/** The memory rows: bytes per entry (without, with 1 KiB metadata) and the distinct-key ratio. */
export async function memoryScenario({ quick = false } = {}) {
  const count = quick ? 10_000 : 100_000;
  const runs = quick ? 1 : 3;
  const plain = [];
  const afterHits = [];
  const withMeta = [];
  const ratios = [];
  for (let r = 0; r < runs; r++) {
    const a = await inChild({ count, metadataBytes: 0, passes: quick ? 3 : 5 });
    plain.push(a.bytesPerEntry);
    afterHits.push(a.bytesAfterHits);
    ratios.push(a.floorNs / a.keymintNs);
    const b = await inChild({ count, metadataBytes: 1024, passes: 1 });
    withMeta.push(b.bytesAfterHits);
  }
  return {
    count,
    plain: median(plain),
    afterHits: median(afterHits),
    withMeta: median(withMeta),
    ratio: median(ratios),
    runs,
  };
}

export function memoryRows(m) {
  const n = fmtInt(m.count);
  const lines = [
    `memory: ${n} cached keys (HMAC, memory adapter), bytes of heap per entry (median of ${m.runs}): ${m.plain.toFixed(0)} verified once, ${m.afterHits.toFixed(0)} once hit (public view built), ${m.withMeta.toFixed(0)} hit with 1 KiB metadata`,
    `memory: warm verify over ${n} distinct keys: ${m.ratio.toFixed(2)} x the SHA-256 + Map floor over the same keys`,
  ];
  const targets = [
    {
      row: `memory, ${n} keys`,
      text: `at most ${MAX_BYTES_PER_ENTRY} bytes per cached key without metadata`,
      value: `${m.plain.toFixed(0)} bytes`,
      status: m.plain <= MAX_BYTES_PER_ENTRY ? 'PASS' : 'FAIL',
    },
    {
      row: `warm, ${n} distinct keys`,
      text: `at least ${MIN_DISTINCT_RATIO} x the floor over the same keys`,
      value: `${m.ratio.toFixed(2)} x`,
      status: m.ratio >= MIN_DISTINCT_RATIO ? 'PASS' : 'FAIL',
    },
  ];
  return { lines, targets };
}

if (process.argv[2] === '--child') {
  await child(JSON.parse(process.argv[3]));
} else if (process.argv[1] === SELF) {
  const quick = process.argv.includes('--quick');
  const result = memoryRows(await memoryScenario({ quick }));
  for (const line of result.lines) console.log(line);
  for (const t of result.targets) console.log(`${t.status}: ${t.row}: ${t.text} (${t.value})`);
}
