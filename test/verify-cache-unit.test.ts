// The cache's own bookkeeping, below what createKeymint exposes.
import { describe, expect, it } from 'vitest';
import type { CachedKey } from '../src/core/verify-cache.js';
import { VerifyCache } from '../src/core/verify-cache.js';

const entry = (id: string, digest = `d-${id}`): CachedKey => ({
  id,
  scope: 'default',
  digest,
  usage: null,
  apiKey: {} as CachedKey['apiKey'],
  valid: { valid: false, reason: 'not_found' },
  rank: 0,
  grants: null,
  graceUntilMs: null,
  expiresAtMs: null,
  revoked: false,
  freshUntil: 1_000,
  lastUsedMs: -Infinity,
  hot: false,
});

describe('VerifyCache', () => {
  it('refuses a fill when its id was invalidated during the lookup, and accepts later ones', () => {
    const cache = new VerifyCache(10, 1_000);
    const token = cache.beginLookup();
    cache.invalidate('a');
    cache.fill(token, entry('a'));
    cache.endLookup();
    expect(cache.get('d-a', 0)).toBeUndefined();
    const next = cache.beginLookup();
    cache.fill(next, entry('a'));
    cache.endLookup();
    expect(cache.get('d-a', 0)?.id).toBe('a');
  });

  it('bounds the invalidations it tracks: past 10,000 during one lookup, every fill in flight is refused', () => {
    const cache = new VerifyCache(10, 1_000);
    const token = cache.beginLookup();
    for (let i = 0; i <= 10_000; i++) cache.invalidate(`other-${i}`);
    cache.fill(token, entry('a')); // 'a' itself was never invalidated
    expect(cache.get('d-a', 0)).toBeUndefined();
    cache.endLookup();
  });

  it('keeps two digests of an id (a rotated key and its previous secret), dropping the older third', () => {
    const cache = new VerifyCache(10, 1_000);
    cache.fill(cache.beginLookup(), entry('a', 'first'));
    cache.fill(cache.beginLookup(), entry('a', 'second'));
    expect(cache.get('first', 0)?.id).toBe('a');
    expect(cache.get('second', 0)?.id).toBe('a');
    cache.fill(cache.beginLookup(), entry('a', 'third'));
    expect(cache.get('first', 0)).toBeUndefined();
    expect(cache.get('second', 0)?.id).toBe('a');
    expect(cache.get('third', 0)?.id).toBe('a');
    expect(cache.hasId('a')).toBe(true);
    cache.invalidate('a');
    expect(cache.hasId('a')).toBe(false);
    expect(cache.get('second', 0)).toBeUndefined();
    expect(cache.get('third', 0)).toBeUndefined();
  });

  it('replaces the entry of a digest filled again', () => {
    const cache = new VerifyCache(10, 1_000);
    cache.fill(cache.beginLookup(), { ...entry('a', 'one'), rank: 1 });
    cache.fill(cache.beginLookup(), { ...entry('a', 'one'), rank: 2 });
    expect(cache.get('one', 0)?.rank).toBe(2);
    cache.fill(cache.beginLookup(), entry('a', 'two'));
    expect(cache.get('one', 0)?.rank).toBe(2);
  });

  it('serves an entry only before freshUntil', () => {
    const cache = new VerifyCache(10, 1_000);
    cache.fill(cache.beginLookup(), entry('a'));
    expect(cache.get('d-a', 999)).toBeDefined();
    expect(cache.get('d-a', 1_000)).toBeUndefined();
    expect(cache.hasId('a')).toBe(false);
  });
});
