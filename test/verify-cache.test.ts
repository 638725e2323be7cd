import { describe, expect, it } from 'vitest';
import { createKeymint, type KeyAdapter } from '../src/index.js';
import { memoryAdapter } from '../src/adapters/memory/index.js';
import { formatKey } from '../src/core/key-format.js';
import {
  countingHasher,
  expectThrowsCode,
  failingAdapter,
  fastKeymint,
  keyParts,
  SECOND,
  testClock,
} from './helpers.js';

/** A keymint over a store with no push invalidation, counting store calls. */
async function cached(options: Parameters<typeof fastKeymint>[0] = {}) {
  const faulty = failingAdapter();
  const made = fastKeymint({ adapter: faulty.adapter, ...options });
  const { key, apiKey } = await made.keymint.createApiKey({
    name: 'ci',
    role: 'Editor',
    ttl: '1h',
  });
  return { ...made, key, apiKey, faulty };
}

describe('verify cache: hits', () => {
  it('a warm verification touches neither the store nor the hasher', async () => {
    const hasher = countingHasher({ fast: true });
    const { keymint, key, faulty } = await cached({ hasher });
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    for (let i = 0; i < 100; i++) expect((await keymint.verifyKey(key)).valid).toBe(true);
    expect(faulty.calls.findById).toBe(1);
    expect(hasher.calls.verify).toBe(1);
  });

  it('without the cache (cache: false or ttl 0) every verification reads the store', async () => {
    for (const cache of [false as const, { ttl: 0 }, { ttl: '0s' }]) {
      const { keymint, key, faulty } = await cached({ cache });
      for (let i = 0; i < 5; i++) await keymint.verifyKey(key);
      expect(faulty.calls.findById).toBe(5);
    }
  });

  it('a hit still applies the role and scope asked for', async () => {
    const { keymint, key } = await cached();
    await keymint.verifyKey(key);
    expect(await keymint.verifyKey(key, { role: 'Admin' })).toEqual({
      valid: false,
      reason: 'insufficient_role',
    });
    expect(await keymint.verifyKey(key, { scope: 'other' })).toEqual({
      valid: false,
      reason: 'not_found',
    });
    expect((await keymint.verifyKey(key, { role: 'viewer', scope: 'default' })).valid).toBe(true);
  });

  it('a wrong secret for a cached id misses the cache and is refused', async () => {
    const { keymint, key } = await cached();
    await keymint.verifyKey(key);
    const wrong = formatKey('km', keyParts(key).id).key;
    expect(await keymint.verifyKey(wrong)).toEqual({ valid: false, reason: 'not_found' });
  });

  it('returns a deeply frozen record, so no caller can change what the next one gets', async () => {
    const { keymint } = fastKeymint();
    const { key } = await keymint.createApiKey({
      name: 'm',
      role: 'Viewer',
      ttl: '1h',
      metadata: { team: { name: 'infra' } },
    });
    const first = await keymint.verifyKey(key);
    if (!first.valid) throw new Error('expected valid');
    expect(() => {
      (first.apiKey.metadata!.team as { name: string }).name = 'evil';
    }).toThrow(TypeError);
    const second = await keymint.verifyKey(key);
    expect(second.valid && second.apiKey.metadata).toEqual({ team: { name: 'infra' } });
  });
});

describe('verify cache: freshness and expiry', () => {
  it('serves a change made behind its back for at most cache.ttl (the documented bound)', async () => {
    const { keymint, key, apiKey, clock, faulty } = await cached({ cache: { ttl: '30s' } });
    await keymint.verifyKey(key);
    // Another process revokes the key; this store cannot push that.
    await faulty.inner.update(apiKey.id, { revokedAt: clock.now() });
    clock.advance(30 * SECOND - 1);
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    clock.advance(1);
    expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'revoked' });
  });

  it('never serves a key past its expiresAt, even when the entry is fresh', async () => {
    const { keymint, clock } = fastKeymint({ cache: { ttl: '1h' } });
    const { key } = await keymint.createApiKey({ name: 'short', role: 'Viewer', ttl: '10s' });
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    clock.advance(10 * SECOND - 1);
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    clock.advance(1);
    expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'expired' });
  });
});

describe('verify cache: invalidation', () => {
  it('a revoke through this instance is seen by the very next verification', async () => {
    const { keymint, key, apiKey } = await cached({ cache: { ttl: '1h' } });
    await keymint.verifyKey(key);
    await keymint.revokeApiKey(apiKey.id);
    expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'revoked' });
  });

  it('a delete through this instance is seen by the very next verification', async () => {
    const { keymint, key, apiKey } = await cached({ cache: { ttl: '1h' } });
    await keymint.verifyKey(key);
    await keymint.deleteApiKey(apiKey.id);
    expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'not_found' });
  });

  it('a revoke whose store call fails after landing still drops the entry (fail closed)', async () => {
    const inner = memoryAdapter();
    const adapter: KeyAdapter = {
      ...failingAdapter(inner).adapter,
      update: async (id, patch) => {
        await inner.update(id, patch);
        throw new Error('connection lost before the answer');
      },
    };
    const { keymint } = fastKeymint({ adapter, cache: { ttl: '1h' } });
    const { key, apiKey } = await keymint.createApiKey({ name: 'x', role: 'Viewer', ttl: '2h' });
    await keymint.verifyKey(key);
    await expect(keymint.revokeApiKey(apiKey.id)).rejects.toMatchObject({ code: 'STORE_FAILURE' });
    expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'revoked' });
  });

  it('revoking a key already revoked elsewhere drops this instance’s entry', async () => {
    const { keymint, key, apiKey, faulty } = await cached({ cache: { ttl: '1h' } });
    await keymint.verifyKey(key);
    await faulty.inner.update(apiKey.id, { revokedAt: new Date() });
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    await keymint.revokeApiKey(apiKey.id);
    expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'revoked' });
  });

  it('a lookup that read the record before a revoke does not cache it afterwards', async () => {
    const hasher = countingHasher({ fast: true });
    const { keymint, key, apiKey } = await cached({ hasher, cache: { ttl: '1h' } });
    const release = hasher.hold();
    const before = keymint.verifyKey(key); // reads the record, then waits in the hasher
    await new Promise((resolve) => setImmediate(resolve));
    const revoking = keymint.revokeApiKey(apiKey.id);
    await new Promise((resolve) => setImmediate(resolve));
    release();
    await revoking;
    // Started before the revoke returned: may be valid. Everything after must not be.
    await before;
    expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'revoked' });
  });

  it('a verification that starts after a revoke does not join a lookup from before it', async () => {
    const hasher = countingHasher({ fast: true });
    const { keymint, key, apiKey, faulty } = await cached({ hasher, cache: { ttl: '1h' } });
    const release = hasher.hold();
    const before = keymint.verifyKey(key); // its lookup read the record and waits in the hasher
    await new Promise((resolve) => setImmediate(resolve));
    await keymint.revokeApiKey(apiKey.id);
    const after = keymint.verifyKey(key);
    release();
    await before;
    expect(await after).toEqual({ valid: false, reason: 'revoked' });
    // Its own read (after the first lookup's and the revoke's): the revoked record is refused
    // from the record, before any hashing.
    expect(faulty.calls.findById).toBe(3);
    expect(hasher.calls.verify).toBe(1);
  });

  it('instances sharing a memory adapter see each other’s revocations at once (subscribe)', async () => {
    const adapter = memoryAdapter();
    const clock = testClock();
    const options = { adapter, now: clock.now, cache: { ttl: '1h' } };
    const a = fastKeymint(options).keymint;
    const b = fastKeymint(options).keymint;
    const { key, apiKey } = await a.createApiKey({ name: 'shared', role: 'Viewer', ttl: '1h' });
    expect((await b.verifyKey(key)).valid).toBe(true);
    await a.revokeApiKey(apiKey.id);
    expect(await b.verifyKey(key)).toEqual({ valid: false, reason: 'revoked' });
  });

  it('without subscribe (the control) the other instance keeps its entry until cache.ttl', async () => {
    const inner = memoryAdapter();
    const noPush: KeyAdapter = failingAdapter(inner).adapter; // the six methods, no subscribe
    const clock = testClock();
    const a = fastKeymint({ adapter: inner, now: clock.now }).keymint;
    const b = fastKeymint({ adapter: noPush, now: clock.now, cache: { ttl: '1h' } }).keymint;
    const { key, apiKey } = await a.createApiKey({ name: 'shared', role: 'Viewer', ttl: '2h' });
    await b.verifyKey(key);
    await a.revokeApiKey(apiKey.id);
    expect((await b.verifyKey(key)).valid).toBe(true);
    clock.advance(3_600 * SECOND);
    expect(await b.verifyKey(key)).toEqual({ valid: false, reason: 'revoked' });
  });

  it('close() stops the subscription and the cache: a revocation elsewhere is seen at once', async () => {
    const adapter = memoryAdapter();
    const clock = testClock();
    const options = { adapter, now: clock.now, cache: { ttl: '1h' } };
    const a = fastKeymint(options).keymint;
    const b = fastKeymint(options).keymint;
    const { key, apiKey } = await a.createApiKey({ name: 'shared', role: 'Viewer', ttl: '2h' });
    await b.close();
    await b.close(); // idempotent
    expect((await b.verifyKey(key)).valid).toBe(true);
    await a.revokeApiKey(apiKey.id);
    expect(await b.verifyKey(key)).toEqual({ valid: false, reason: 'revoked' });
  });

  it('a reset from the adapter (messages lost) empties the cache', async () => {
    const inner = memoryAdapter();
    const listeners: Array<{ reset(): void }> = [];
    const adapter: KeyAdapter = {
      ...inner,
      subscribe: async (listener) => {
        listeners.push(listener);
        return { close: async () => {} };
      },
    };
    const { keymint, clock } = fastKeymint({ adapter, cache: { ttl: '1h' } });
    const { key, apiKey } = await keymint.createApiKey({ name: 'r', role: 'Viewer', ttl: '2h' });
    await keymint.verifyKey(key);
    await inner.update(apiKey.id, { revokedAt: clock.now() });
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    expect(listeners).toHaveLength(1);
    listeners[0]!.reset();
    expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'revoked' });
  });

  it('a subscribe that fails is reported to onBackgroundError, and verification still works', async () => {
    const reported: unknown[] = [];
    const inner = memoryAdapter();
    const adapter: KeyAdapter = {
      ...inner,
      subscribe: async () => {
        throw new Error('LISTEN failed');
      },
    };
    const { keymint } = fastKeymint({ adapter, onBackgroundError: (e) => reported.push(e) });
    const { key } = await keymint.createApiKey({ name: 's', role: 'Viewer', ttl: '1h' });
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    expect(reported[0]).toMatchObject({ code: 'STORE_FAILURE' });
    await keymint.close();
  });
});

describe('verify cache: bounded entries', () => {
  it('holds at most maxEntries keys; a recently used key survives, an idle one is evicted', async () => {
    const { keymint, faulty } = await cached({ cache: { ttl: '1h', maxEntries: 3 } });
    const keys: string[] = [];
    for (const name of ['a', 'b', 'c', 'd']) {
      keys.push((await keymint.createApiKey({ name, role: 'Viewer', ttl: '1h' })).key);
    }
    const [a, b, c, d] = keys as [string, string, string, string];
    for (const key of [a, b, c]) await keymint.verifyKey(key);
    await keymint.verifyKey(a); // a is now recently used
    const reads = faulty.calls.findById;
    await keymint.verifyKey(d); // evicts b, the oldest idle entry
    await keymint.verifyKey(a);
    await keymint.verifyKey(c);
    await keymint.verifyKey(d);
    expect(faulty.calls.findById).toBe(reads + 1);
    await keymint.verifyKey(b);
    expect(faulty.calls.findById).toBe(reads + 2);
  });

  it('stays bounded under many distinct keys', async () => {
    const { keymint, faulty } = await cached({ cache: { ttl: '1h', maxEntries: 10 } });
    const keys: string[] = [];
    for (let i = 0; i < 50; i++) {
      keys.push((await keymint.createApiKey({ name: `k${i}`, role: 'Viewer', ttl: '1h' })).key);
    }
    for (const key of keys) await keymint.verifyKey(key);
    const reads = faulty.calls.findById;
    // Only the last ten can still be cached.
    for (const key of keys.slice(0, 40)) await keymint.verifyKey(key);
    expect(faulty.calls.findById).toBe(reads + 40);
  });
});

describe('verify cache: options', () => {
  it.each([
    ['a ttl over 1h', { ttl: '2h' }],
    ['a fractional ttl', { ttl: '1.5m' }],
    ['a negative ttl', { ttl: -1 }],
    ['maxEntries 0', { maxEntries: 0 }],
    ['a fractional maxEntries', { maxEntries: 1.5 }],
    ['an unknown key', { size: 10 }],
  ])('refuses %s with CONFIG', (_what, cache) => {
    const error = expectThrowsCode(
      () => createKeymint({ adapter: memoryAdapter(), cache: cache as never }),
      'CONFIG',
    );
    expect(error.message).toMatch(/cache/);
  });

  it('refuses cache: true (only false or an object)', () => {
    expectThrowsCode(
      () => createKeymint({ adapter: memoryAdapter(), cache: true as never }),
      'CONFIG',
    );
  });
});

describe('close()', () => {
  it('does not wait for a subscribe that is still connecting, and closes it once it connects', async () => {
    const inner = memoryAdapter();
    let connect!: () => void;
    let closedHandles = 0;
    const adapter: KeyAdapter = {
      ...inner,
      subscribe: () =>
        new Promise((resolve) => {
          connect = () => resolve({ close: async () => void closedHandles++ });
        }),
    };
    const { keymint } = fastKeymint({ adapter });
    await keymint.close();
    expect(closedHandles).toBe(0);
    connect();
    await new Promise((resolve) => setImmediate(resolve));
    expect(closedHandles).toBe(1);
  });
});

describe('after review: edge cases of the cache', () => {
  it('revoking or deleting a key another process already deleted drops this instance’s entry', async () => {
    for (const method of ['revokeApiKey', 'deleteApiKey'] as const) {
      const { keymint, key, apiKey, faulty } = await cached({ cache: { ttl: '1h' } });
      await keymint.verifyKey(key);
      await faulty.inner.delete(apiKey.id); // another process, no push
      await expect(keymint[method](apiKey.id)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'not_found' });
    }
  });

  it('entries cached while the listener was still connecting are dropped once it is live', async () => {
    const inner = memoryAdapter();
    let connect!: () => void;
    const adapter: KeyAdapter = {
      ...inner,
      subscribe: () =>
        new Promise((resolve) => {
          connect = () => resolve({ close: async () => {} });
        }),
    };
    const { keymint, clock } = fastKeymint({ adapter, cache: { ttl: '1h' } });
    const { key, apiKey } = await keymint.createApiKey({ name: 'c', role: 'Viewer', ttl: '2h' });
    await keymint.verifyKey(key); // cached before the listener is live
    await inner.update(apiKey.id, { revokedAt: clock.now() }); // missed: nobody listened yet
    connect();
    await new Promise((resolve) => setImmediate(resolve));
    expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'revoked' });
  });

  it('close() aborts a subscribe that is still connecting', async () => {
    const inner = memoryAdapter();
    let seen: AbortSignal | undefined;
    const adapter: KeyAdapter = {
      ...inner,
      subscribe: (_listener, options) => {
        seen = options?.signal;
        return new Promise(() => {});
      },
    };
    const { keymint } = fastKeymint({ adapter });
    expect(seen?.aborted).toBe(false);
    await keymint.close();
    expect(seen?.aborted).toBe(true);
  });

  it('the freshness bound counts from the store read, not from the end of a slow hash', async () => {
    const hasher = countingHasher();
    const { keymint, key, clock, faulty } = await cached({ hasher, cache: { ttl: '30s' } });
    const release = hasher.hold();
    const first = keymint.verifyKey(key);
    await new Promise((resolve) => setImmediate(resolve));
    clock.advance(10 * SECOND); // the hash took 10 s
    release();
    await first;
    // 23 s after the read: a hit, before the last fifth (where a refresh ahead would read).
    clock.advance(13 * SECOND);
    await keymint.verifyKey(key);
    expect(faulty.calls.findById).toBe(1);
    // 30 s after the read (20 s after the hash ended): stale, read again.
    clock.advance(7 * SECOND);
    await keymint.verifyKey(key);
    expect(faulty.calls.findById).toBe(2);
  });

  it('returns records whose dates cannot be changed in place', async () => {
    const { keymint, key } = await cached();
    const result = await keymint.verifyKey(key);
    if (!result.valid) throw new Error('expected valid');
    const expires = result.apiKey.expiresAt!.getTime();
    expect(() => result.apiKey.expiresAt!.setTime(0)).toThrow(TypeError);
    expect(() => result.apiKey.createdAt.setFullYear(2000)).toThrow(/read-only/);
    const again = await keymint.verifyKey(key);
    expect(again.valid && again.apiKey.expiresAt!.getTime()).toBe(expires);
    // Still dates for every consumer.
    expect(result.apiKey.expiresAt).toBeInstanceOf(Date);
    expect(JSON.parse(JSON.stringify(result.apiKey)).expiresAt).toBe(
      new Date(expires).toISOString(),
    );
  });
});

describe('verify cache: at scale', () => {
  it('evicts past maxEntries, and an evicted key verifies correctly again, with its own record', async () => {
    const hasher = countingHasher({ fast: true });
    const { keymint, faulty } = await cached({ hasher, cache: { ttl: '1h', maxEntries: 20 } });
    const made: { key: string; id: string; name: string }[] = [];
    for (let i = 0; i < 60; i++) {
      const { key, apiKey } = await keymint.createApiKey({
        name: `k${i}`,
        role: i % 2 ? 'Viewer' : 'Admin',
        ttl: '1h',
        metadata: { i },
      });
      made.push({ key, id: apiKey.id, name: apiKey.name });
    }
    for (let pass = 0; pass < 3; pass++) {
      for (const { key, id, name } of made) {
        const result = await keymint.verifyKey(key);
        expect(result.valid && result.apiKey.id).toBe(id);
        expect(result.valid && result.apiKey.name).toBe(name);
        expect(result.valid && result.apiKey.metadata).toEqual({ i: Number(name.slice(1)) });
      }
    }
    // Each pass over 60 keys with room for 20: every key was evicted before it came back.
    expect(faulty.calls.findById).toBe(180);
    // An evicted key's proof went with its entry: it was hashed again each time.
    expect(hasher.calls.verify).toBe(180);
  });

  it('keeps a key hit between fills (second chance) over one that was not', async () => {
    const { keymint, faulty } = await cached({ cache: { ttl: '1h', maxEntries: 3 } });
    const keys: string[] = [];
    for (let i = 0; i < 5; i++) {
      keys.push((await keymint.createApiKey({ name: `k${i}`, role: 'Viewer', ttl: '1h' })).key);
    }
    const [a, b, c, d] = keys as [string, string, string, string];
    for (const key of [a, b, c]) await keymint.verifyKey(key);
    await keymint.verifyKey(a); // a is hot
    await keymint.verifyKey(d); // evicts b, the oldest cold entry
    const reads = faulty.calls.findById;
    await keymint.verifyKey(a);
    expect(faulty.calls.findById).toBe(reads);
    await keymint.verifyKey(b);
    expect(faulty.calls.findById).toBe(reads + 1);
  });

  it('revoking a key drops its entry even among many cached ones', async () => {
    const { keymint } = await cached({ cache: { ttl: '1h', maxEntries: 100 } });
    const keys: { key: string; id: string }[] = [];
    for (let i = 0; i < 50; i++) {
      const { key, apiKey } = await keymint.createApiKey({
        name: `k${i}`,
        role: 'Viewer',
        ttl: '1h',
      });
      keys.push({ key, id: apiKey.id });
      await keymint.verifyKey(key);
      await keymint.verifyKey(key);
    }
    await keymint.revokeApiKey(keys[17]!.id);
    expect(await keymint.verifyKey(keys[17]!.key)).toEqual({ valid: false, reason: 'revoked' });
    expect((await keymint.verifyKey(keys[18]!.key)).valid).toBe(true);
  });

  it('a key verified once and then hit returns equal records', async () => {
    const { keymint, key } = await cached();
    const first = await keymint.verifyKey(key);
    const hit = await keymint.verifyKey(key);
    expect(hit).toEqual(first);
    expect(Object.isFrozen(hit.valid && hit.apiKey)).toBe(true);
    expect(await keymint.verifyKey(key)).toBe(hit);
  });
});

describe('verify cache: reset while a first verification hashes', () => {
  it('the listener going live during a hash costs no second hash of the same key', async () => {
    const inner = memoryAdapter();
    let goLive!: () => void;
    const adapter: KeyAdapter = {
      ...inner,
      subscribe: (listener, options) =>
        new Promise((resolve) => {
          goLive = () => resolve(inner.subscribe!(listener, options));
        }),
    };
    const hasher = countingHasher();
    const keymint = createKeymint({ adapter, hasher, cache: { ttl: '1h' } });
    const { key } = await keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    const release = hasher.hold();
    const first = keymint.verifyKey(key);
    while (hasher.calls.verify === 0) await new Promise((r) => setTimeout(r, 1));
    goLive(); // the cache is reset: the lookup in flight may no longer be joined
    await new Promise((r) => setTimeout(r, 10));
    const second = keymint.verifyKey(key);
    await new Promise((r) => setTimeout(r, 10));
    release();
    expect((await first).valid).toBe(true);
    expect((await second).valid).toBe(true);
    expect(hasher.calls.verify).toBe(1);
    await keymint.close();
  });
});
