// The cache's own bookkeeping, below what createKeymint exposes.
import { describe, expect, it } from 'vitest';
import { CachedKey, VerifyCache } from '../src/core/verify-cache.js';

const entry = (id: string, digest = `d-${id}`, rank = 0, freshUntil = 1_000): CachedKey =>
  new CachedKey(
    id,
    digest,
    `hash-${digest}`,
    'default',
    rank,
    null,
    null,
    null,
    null,
    freshUntil,
    freshUntil,
    -Infinity,
    {
      name: `n-${id}`,
      role: 'Viewer',
      metadata: null,
      createdAtMs: 1_700_000_000_000,
      lastUsedAtMs: null,
      rotatedAtMs: null,
      previousKeyExpiresAtMs: null,
      owner: null,
      limits: null,
    },
  );

const fillAll = (cache: VerifyCache, ...entries: CachedKey[]) => {
  for (const e of entries) cache.fill(cache.beginLookup(), e);
};

describe('VerifyCache', () => {
  it('refuses a fill when its id was invalidated during the lookup, and accepts later ones', () => {
    const cache = new VerifyCache(10, 1_000);
    const token = cache.beginLookup();
    cache.invalidate('a');
    cache.fill(token, entry('a'));
    cache.endLookup();
    expect(cache.get('a', 'd-a', 0)).toBeUndefined();
    const next = cache.beginLookup();
    cache.fill(next, entry('a'));
    cache.endLookup();
    expect(cache.get('a', 'd-a', 0)?.id).toBe('a');
  });

  it('bounds the invalidations it tracks: past 10,000 during one lookup, every fill in flight is refused', () => {
    const cache = new VerifyCache(10, 1_000);
    const token = cache.beginLookup();
    for (let i = 0; i <= 10_000; i++) cache.invalidate(`other-${i}`);
    cache.fill(token, entry('a')); // 'a' itself was never invalidated
    expect(cache.get('a', 'd-a', 0)).toBeUndefined();
    cache.endLookup();
  });

  it('keeps two digests of an id (a rotated key and its previous secret), dropping the older third', () => {
    const cache = new VerifyCache(10, 1_000);
    fillAll(cache, entry('a', 'first'), entry('a', 'second'));
    expect(cache.get('a', 'first', 0)?.id).toBe('a');
    expect(cache.get('a', 'second', 0)?.id).toBe('a');
    fillAll(cache, entry('a', 'third'));
    expect(cache.get('a', 'first', 0)).toBeUndefined();
    expect(cache.get('a', 'second', 0)?.id).toBe('a');
    expect(cache.get('a', 'third', 0)?.id).toBe('a');
    expect(cache.size).toBe(1);
    expect(cache.hasId('a')).toBe(true);
    cache.invalidate('a');
    expect(cache.hasId('a')).toBe(false);
    expect(cache.get('a', 'second', 0)).toBeUndefined();
    expect(cache.get('a', 'third', 0)).toBeUndefined();
  });

  it('replaces the entry of a digest filled again, keeping the id’s other digest', () => {
    const cache = new VerifyCache(10, 1_000);
    fillAll(cache, entry('a', 'one', 1), entry('a', 'one', 2));
    expect(cache.get('a', 'one', 0)?.rank).toBe(2);
    fillAll(cache, entry('a', 'two'));
    fillAll(cache, entry('a', 'two', 3));
    expect(cache.get('a', 'one', 0)?.rank).toBe(2);
    expect(cache.get('a', 'two', 0)?.rank).toBe(3);
  });

  it('serves an entry only before freshUntil, and keeps it past that as the proof for its id', () => {
    const cache = new VerifyCache(10, 1_000);
    fillAll(cache, entry('a'));
    expect(cache.get('a', 'd-a', 999)).toBeDefined();
    expect(cache.get('a', 'd-a', 1_000)).toBeUndefined();
    expect(cache.proof('a')?.digest).toBe('d-a');
    expect(cache.proof('a')?.secretHash).toBe('hash-d-a');
  });

  it('never serves a digest the id was not proven for', () => {
    const cache = new VerifyCache(10, 1_000);
    fillAll(cache, entry('a'));
    expect(cache.get('a', 'd-b', 0)).toBeUndefined();
    expect(cache.get('b', 'd-a', 0)).toBeUndefined();
  });

  it('holds at most maxEntries ids, evicting the oldest one that was not hit since', () => {
    const cache = new VerifyCache(3, 1_000);
    fillAll(cache, entry('a'), entry('b'), entry('c'));
    expect(cache.get('a', 'd-a', 0)).toBeDefined(); // a gets a second chance
    fillAll(cache, entry('d'));
    expect(cache.size).toBe(3);
    expect(cache.hasId('b')).toBe(false);
    expect(['a', 'c', 'd'].every((id) => cache.hasId(id))).toBe(true);
    fillAll(cache, entry('e')); // c is now the oldest cold one
    expect(cache.hasId('c')).toBe(false);
    fillAll(cache, entry('f')); // a's chance was used: it goes now
    expect(cache.hasId('a')).toBe(false);
    expect(cache.size).toBe(3);
  });

  it('stays bounded and correct over many fills, evictions and re-inserts', () => {
    const cache = new VerifyCache(100, 1_000);
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 1_000; i++) {
        const id = `k${(i * 7 + round) % 300}`;
        fillAll(cache, entry(id, `d-${id}`, round));
        if (i % 3 === 0) cache.get(id, `d-${id}`, 0);
        expect(cache.size).toBeLessThanOrEqual(100);
      }
    }
    for (let i = 0; i < 300; i++) {
      const id = `k${i}`;
      const hit = cache.get(id, `d-${id}`, 0);
      if (hit) {
        expect(hit.id).toBe(id);
        expect(hit.digest).toBe(`d-${id}`);
      }
      expect(cache.get(id, `d-k${(i + 1) % 300}`, 0)).toBeUndefined();
    }
    expect(cache.size).toBe(100);
  });

  it('builds the public view of an entry once a hit keeps it, and not for the filling lookup', () => {
    const e = entry('a');
    const first = e.result(false);
    const second = e.result(true);
    expect(second).not.toBe(first);
    expect(second).toEqual(first);
    expect(e.result(false)).toBe(second);
    expect(Object.isFrozen(second)).toBe(true);
    expect(second.valid && second.apiKey.createdAt.getTime()).toBe(1_700_000_000_000);
    expect(second.valid && second.apiKey.name).toBe('n-a');
  });
});

describe('VerifyCache reset and close', () => {
  it('reset serves nothing cached before it but keeps the proofs; close drops them too', () => {
    const cache = new VerifyCache(10, 1_000);
    fillAll(cache, entry('a'), entry('b', 'first'), entry('b', 'second'));
    cache.reset();
    expect(cache.get('a', 'd-a', 0)).toBeUndefined();
    expect(cache.get('b', 'first', 0)).toBeUndefined();
    expect(cache.get('b', 'second', 0)).toBeUndefined();
    expect(cache.proof('a')?.digest).toBe('d-a');
    fillAll(cache, entry('a'));
    expect(cache.get('a', 'd-a', 0)).toBeDefined();
    cache.close();
    expect(cache.proof('a')).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('drops the proof of a revoked id', () => {
    const cache = new VerifyCache(10, 1_000);
    fillAll(cache, entry('a'));
    cache.invalidate('a');
    expect(cache.proof('a')).toBeUndefined();
  });
});

describe('sameDigest (the constant-time proof check)', () => {
  it('is true for equal digests only, wherever two differ', async () => {
    const { sameDigest } = await import('../src/internal/same-digest.js');
    const { createHash } = await import('node:crypto');
    const a = createHash('sha256').update('a').digest('binary');
    expect(sameDigest(a, a)).toBe(true);
    // An equal digest computed again (another string object).
    expect(sameDigest(a, createHash('sha256').update('a').digest('binary'))).toBe(true);
    for (let i = 0; i < a.length; i++) {
      const flipped = a.slice(0, i) + String.fromCharCode(a.charCodeAt(i) ^ 1) + a.slice(i + 1);
      expect(sameDigest(a, flipped), `position ${i}`).toBe(false);
      expect(sameDigest(flipped, a), `position ${i}`).toBe(false);
    }
    expect(sameDigest(a, a.slice(0, -1))).toBe(false);
    expect(sameDigest('', '')).toBe(true);
  });
});

describe('the digest the cache keeps', () => {
  it('is the 32 bytes of SHA-256 as 16 UTF-16 code units, one string per digest', async () => {
    const { sha256 } = await import('../src/core/verify-record.js');
    const { createHash, randomBytes } = await import('node:crypto');
    const key = 'km_7Y1FsObMb7Nf_moaAvFVY6RXGJsvSIXLqpghgOqqq16Cbey';
    const digest = sha256(key);
    expect(digest).toHaveLength(16);
    expect(Buffer.from(digest, 'utf16le')).toEqual(createHash('sha256').update(key).digest());
    // utf16le maps distinct byte strings to distinct strings (lone surrogates included), so two
    // keys never share a cached digest unless SHA-256 collides.
    for (let i = 0; i < 2_000; i++) {
      const bytes = randomBytes(32);
      expect(Buffer.from(bytes.toString('utf16le'), 'utf16le')).toEqual(bytes);
    }
    const surrogates = Buffer.from([0x00, 0xd8, 0x00, 0xd8, 0xff, 0xdf, 0x00, 0xdc]);
    expect(Buffer.from(surrogates.toString('utf16le'), 'utf16le')).toEqual(surrogates);
  });
});
