// The warm row against its floor in one thread, in alternating batches: on a shared machine two
// rows measured one after the other see different loads, while batches a few milliseconds apart
// see the same. Reports the median of the per-pair ratios (floor time / keymint time). Run with
// `node bench/warm-pair.mjs` after a build (it imports keymint from dist/).
import * as crypto from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createKeymint, hmacSha256Hasher } from 'keymint';
import { memoryAdapter } from 'keymint/adapters/memory';
import { median } from './measure.mjs';
import { asReceived, CACHE, sha256 } from './subjects.mjs';

const SELF = fileURLToPath(import.meta.url);

/** ns per awaited call of `fn`, over `count` calls. */
async function batch(fn, count) {
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) await fn();
  return Number(process.hrtime.bigint() - start) / count;
}

export async function warmPair({ quick = false } = {}) {
  const keymint = createKeymint({
    adapter: memoryAdapter(),
    hasher: hmacSha256Hasher(crypto.randomBytes(48)),
    cache: CACHE,
  });
  const { key: made } = await keymint.createApiKey({ name: 'bench', role: 'Editor', ttl: '1d' });
  const key = asReceived(made);
  const map = new Map([[sha256(key), { id: 'x' }]]);
  const floor = async () => {
    if (map.get(sha256(key)) === undefined) throw new Error('floor: Map miss');
  };
  const warm = async () => {
    if (!(await keymint.verifyKey(key)).valid) throw new Error('not valid');
  };
  const count = quick ? 5_000 : 20_000;
  const pairs = quick ? 10 : 40;
  for (let i = 0; i < 3; i++) {
    await batch(floor, count);
    await batch(warm, count);
  }
  const ratios = [];
  const floorNs = [];
  const warmNs = [];
  for (let p = 0; p < pairs; p++) {
    // Alternate which goes first, so neither always follows the other.
    const f1 = p % 2 ? await batch(floor, count) : undefined;
    const w = await batch(warm, count);
    const f = f1 ?? (await batch(floor, count));
    floorNs.push(f);
    warmNs.push(w);
    ratios.push(f / w);
  }
  await keymint.close();
  return { ratio: median(ratios), floorNs: median(floorNs), warmNs: median(warmNs), pairs };
}

if (process.argv[1] === SELF) {
  const r = await warmPair({ quick: process.argv.includes('--quick') });
  console.log(
    `warm pair (one key, hmac, memory, ${r.pairs} alternating batches): verifyKey ${r.warmNs.toFixed(0)} ns, floor ${r.floorNs.toFixed(0)} ns; ${r.ratio.toFixed(2)} x the floor (median of per-pair ratios)`,
  );
}
