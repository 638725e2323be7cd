// The hand-written verify cache (src/core/verify-cache.ts: one Map, second chance, a kept
// eviction hand) against lru-cache 11 at 100,000 entries: heap bytes per entry of the structure
// (the same entry objects in both), ns per hit, ns per fill that evicts. node --expose-gc.
import { LRUCache } from 'lru-cache';
import { median } from './measure.mjs';

const N = Number(process.argv[2] ?? 100_000);
const gc = () => {
  for (let i = 0; i < 4; i++) globalThis.gc();
};
const heap = () => (gc(), process.memoryUsage().heapUsed);
const ids = Array.from({ length: 2 * N }, (_, i) => `id${String(i).padStart(10, '0')}`);
const entries = ids.map((id) => ({ id, hot: false }));

/** The cache's own policy, reduced to its data structure (as in verify-cache.ts). */
class SecondChance {
  map = new Map();
  hand = undefined;
  constructor(max) {
    this.max = max;
  }
  get(id) {
    const e = this.map.get(id);
    if (e) e.hot = true;
    return e;
  }
  set(id, e) {
    if (!this.map.has(id)) while (this.map.size >= this.max) this.evict();
    this.map.delete(id);
    this.map.set(id, e);
  }
  evict() {
    for (;;) {
      this.hand ??= this.map.values();
      const n = this.hand.next();
      if (n.done) {
        this.hand = undefined;
        continue;
      }
      const e = n.value;
      if (this.map.get(e.id) !== e) continue;
      this.map.delete(e.id);
      if (e.hot) {
        e.hot = false;
        this.map.set(e.id, e);
        continue;
      }
      return;
    }
  }
}

function measure(name, make) {
  const before = heap();
  const cache = make(N);
  for (let i = 0; i < N; i++) cache.set(ids[i], entries[i]);
  const bytes = (heap() - before) / N;
  const hits = [];
  for (let r = 0; r < 5; r++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < N; i++) cache.get(ids[(i * 7919) % N]);
    hits.push(Number(process.hrtime.bigint() - t) / N);
  }
  const fills = [];
  for (let r = 0; r < 2; r++) {
    const t = process.hrtime.bigint();
    for (let i = 0; i < N; i++) cache.set(ids[N + i], entries[N + i]);
    fills.push(Number(process.hrtime.bigint() - t) / N);
    for (let i = 0; i < N; i++) cache.set(ids[i], entries[i]);
  }
  console.log(
    `${name}: ${bytes.toFixed(0)} bytes/entry, hit ${median(hits).toFixed(0)} ns, evicting fill ${median(fills).toFixed(0)} ns`,
  );
}

for (let round = 0; round < 2; round++) {
  measure('hand-written (Map, second chance)', (max) => new SecondChance(max));
  measure('lru-cache 11', (max) => new LRUCache({ max }));
}
