// The no-cache proofs map (the wrong-secret limit's owner pass), below what createKeymint
// exposes: 10,000 ids, least recently proven out first, a repeated proof moved to the newest end
// only once it is half the bound old. docs/performance.md promises that a key proven at least
// once in every 4,000 proofs is never the one dropped.
import { describe, expect, it } from 'vitest';
import { memoryAdapter } from '../src/adapters/memory/index.js';
import { hmacSha256Hasher } from '../src/core/hasher.js';
import { fromHasher, fromStore } from '../src/core/parse.js';
import { createProofs } from '../src/core/verify-proofs.js';
import { HMAC_SECRET } from './helpers.js';

const BOUND = 10_000;

function proofs() {
  return createProofs({
    adapter: memoryAdapter(),
    hasher: hmacSha256Hasher(HMAC_SECRET),
    cache: null,
    limiter: null,
    report: (error) => {
      throw error;
    },
    fromStore,
    fromHasher,
  });
}

/** Proves `count` other ids, each once: `count` recordings that each add an id. */
function churn(p: ReturnType<typeof proofs>, from: number, count: number): number {
  for (let i = from; i < from + count; i++) p.prove(`other-${i}`, `d-${i}`, `h-${i}`);
  return from + count;
}

describe('the no-cache proofs map', () => {
  it('keeps a key proven once in every 4,000 proofs through 50,000 other ids', () => {
    const p = proofs();
    p.prove('kept', 'digest', 'hash');
    let next = 0;
    // The worst spacing for the move at half the bound: a proof just under half the bound old
    // (left in place: 4,998 others and its own), then the promised gap.
    for (const gap of [4_998, 4_000, 4_998, 4_000, 4_000, 4_998, 4_000, 4_000, 4_998, 4_000]) {
      next = churn(p, next, gap);
      expect(p.provenFor('kept', 'digest')).toBe(true);
      p.prove('kept', 'digest', 'hash');
    }
    expect(next).toBeGreaterThan(40_000);
  });

  it('drops a key not proven for the bound, oldest first, and never holds more than the bound', () => {
    const p = proofs();
    p.prove('idle', 'digest', 'hash');
    churn(p, 0, BOUND - 1);
    // Still in: exactly the bound so far.
    expect(p.provenFor('idle', 'digest')).toBe(true);
    churn(p, BOUND, 1);
    expect(p.provenFor('idle', 'digest')).toBe(false);
    // The next oldest went with the next one: the map stays at the bound.
    expect(p.provenFor('other-0', 'd-0')).toBe(true);
    churn(p, BOUND + 1, 1);
    expect(p.provenFor('other-0', 'd-0')).toBe(false);
    expect(p.provenFor('other-1', 'd-1')).toBe(true);
  });

  it('a key proven just under half the bound ago and then not for 5,500 more is dropped', () => {
    const p = proofs();
    p.prove('late', 'digest', 'hash');
    let next = churn(p, 0, 4_998);
    // 4,999 proofs old with this one, under half the bound: left where it is.
    p.prove('late', 'digest', 'hash');
    next = churn(p, next, 5_500);
    expect(p.provenFor('late', 'digest')).toBe(false);
  });

  it('a proof of another digest for the same id replaces the old one', () => {
    const p = proofs();
    p.prove('id', 'first', 'hash');
    p.prove('id', 'second', 'hash');
    expect(p.provenFor('id', 'first')).toBe(false);
    expect(p.provenFor('id', 'second')).toBe(true);
  });
});
