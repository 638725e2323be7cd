import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { argon2idHasher, createKeymint, type KeyAdapter } from '../src/index.js';
import { memoryAdapter } from '../src/adapters/memory/index.js';
import { formatKey, withChecksum } from '../src/core/key-format.js';
import {
  countingHasher,
  expectCode,
  expectThrowsCode,
  failingAdapter,
  fastKeymint,
  keyParts,
  MINUTE,
  SECOND,
} from './helpers.js';

const tick = () => new Promise((resolve) => setImmediate(resolve));

describe('single flight', () => {
  it('64 concurrent first verifications of one key share one store lookup and one hash', async () => {
    const hasher = countingHasher();
    const faulty = failingAdapter();
    const { keymint } = fastKeymint({ adapter: faulty.adapter, hasher });
    const { key } = await keymint.createApiKey({ name: 'sf', role: 'Viewer', ttl: '1h' });
    const results = await Promise.all(Array.from({ length: 64 }, () => keymint.verifyKey(key)));
    expect(results.every((r) => r.valid)).toBe(true);
    expect(faulty.calls.findById).toBe(1);
    expect(hasher.calls.verify).toBe(1);
  });

  it('also without the cache', async () => {
    const hasher = countingHasher();
    const { keymint } = fastKeymint({ hasher, cache: false });
    const { key } = await keymint.createApiKey({ name: 'sf', role: 'Viewer', ttl: '1h' });
    await Promise.all(Array.from({ length: 20 }, () => keymint.verifyKey(key)));
    expect(hasher.calls.verify).toBe(1);
  });

  it('does not merge different keys, nor a wrong secret with the right one', async () => {
    const hasher = countingHasher();
    const { keymint } = fastKeymint({ hasher });
    const { key } = await keymint.createApiKey({ name: 'sf', role: 'Viewer', ttl: '1h' });
    const wrong = formatKey('km', keyParts(key).id).key;
    const [right, bad] = await Promise.all([keymint.verifyKey(key), keymint.verifyKey(wrong)]);
    expect(right.valid).toBe(true);
    expect(bad).toEqual({ valid: false, reason: 'not_found' });
    expect(hasher.calls.verify).toBe(2);
  });

  it('every caller of a failed lookup gets the STORE_FAILURE, and the next one retries', async () => {
    const faulty = failingAdapter();
    const { keymint } = fastKeymint({ adapter: faulty.adapter });
    const { key } = await keymint.createApiKey({ name: 'sf', role: 'Viewer', ttl: '1h' });
    faulty.fail('findById');
    const settled = await Promise.allSettled(
      Array.from({ length: 10 }, () => keymint.verifyKey(key)),
    );
    expect(settled.every((s) => s.status === 'rejected')).toBe(true);
    expect(faulty.calls.findById).toBe(1);
    faulty.heal('findById');
    expect((await keymint.verifyKey(key)).valid).toBe(true);
  });

  it('with the real argon2id hasher, 64 concurrent first verifications hash once', async () => {
    const argon = argon2idHasher({ memoryCost: 1024, timeCost: 1 });
    let verifies = 0;
    const { keymint } = fastKeymint({
      hasher: { ...argon, verify: (h, s) => (verifies++, argon.verify(h, s)) },
    });
    const { key } = await keymint.createApiKey({ name: 'argon', role: 'Viewer', ttl: '1h' });
    const results = await Promise.all(Array.from({ length: 64 }, () => keymint.verifyKey(key)));
    expect(results.every((r) => r.valid)).toBe(true);
    expect(verifies).toBe(1);
  });
});

describe('bounded hashing', () => {
  async function keys(count: number, options: Parameters<typeof fastKeymint>[0]) {
    const { keymint, adapter } = fastKeymint(options);
    const made: string[] = [];
    for (let i = 0; i < count; i++) {
      made.push((await keymint.createApiKey({ name: `k${i}`, role: 'Viewer', ttl: '1h' })).key);
    }
    return { keymint, adapter, keys: made };
  }

  it('runs at most `concurrency` hashes, queues `queue`, and answers busy past that at once', async () => {
    const hasher = countingHasher();
    const { keymint, keys: made } = await keys(10, {
      hasher,
      hashing: { concurrency: 2, queue: 3 },
    });
    const release = hasher.hold();
    const pending = made.map((key) => keymint.verifyKey(key));
    // The five past the bound answer before anything is released.
    const early = await Promise.race([
      Promise.all(pending.slice(5)),
      new Promise((resolve) => setTimeout(resolve, 1_000, 'timeout')),
    ]);
    // Nothing measured yet (the test clock stands still): the retry hint is the fallback, 1 s.
    expect(early).toEqual(
      Array.from({ length: 5 }, () => ({ valid: false, reason: 'busy', retryAfterMs: 1_000 })),
    );
    expect(hasher.peak).toBe(2);
    release();
    const first = await Promise.all(pending.slice(0, 5));
    expect(first.every((r) => r.valid)).toBe(true);
    expect(hasher.peak).toBe(2);
    // Nothing was decided for the busy ones: they verify once there is room.
    expect((await keymint.verifyKey(made[9]!)).valid).toBe(true);
  });

  it('createApiKey throws BUSY when the queue is full, and stores nothing', async () => {
    const hasher = countingHasher();
    const { keymint } = fastKeymint({ hasher, hashing: { concurrency: 1, queue: 0 } });
    const release = hasher.hold();
    const first = keymint.createApiKey({ name: 'first', role: 'Viewer', ttl: '1h' });
    await tick();
    await expectCode(keymint.createApiKey({ name: 'second', role: 'Viewer', ttl: '1h' }), 'BUSY');
    release();
    await first;
    const names = (await keymint.listApiKeys()).map((k) => k.name);
    expect(names).toEqual(['first']);
    // The name was not left taken.
    await keymint.createApiKey({ name: 'second', role: 'Viewer', ttl: '1h' });
  });

  it('does not bound a hasher marked fast', async () => {
    const hasher = countingHasher({ fast: true });
    const { keymint, keys: made } = await keys(20, {
      hasher,
      hashing: { concurrency: 1, queue: 0 },
    });
    const release = hasher.hold();
    const pending = made.map((key) => keymint.verifyKey(key));
    await tick();
    expect(hasher.peak).toBe(20);
    release();
    expect((await Promise.all(pending)).every((r) => r.valid)).toBe(true);
  });

  it.each([
    ['concurrency 0', { concurrency: 0 }],
    ['a negative queue', { queue: -1 }],
    ['a fractional concurrency', { concurrency: 1.5 }],
    ['an unknown key', { threads: 2 }],
  ])('refuses %s with CONFIG', (_what, hashing) => {
    const error = expectThrowsCode(
      () => createKeymint({ adapter: memoryAdapter(), hashing: hashing as never }),
      'CONFIG',
    );
    expect(error.message).toMatch(/hashing/);
  });
});

describe('abuse limits: wrong secrets per key id', () => {
  async function target(options: Parameters<typeof fastKeymint>[0] = {}) {
    const hasher = countingHasher();
    const faulty = failingAdapter();
    const made = fastKeymint({ adapter: faulty.adapter, hasher, ...options });
    const { key } = await made.keymint.createApiKey({ name: 't', role: 'Viewer', ttl: '1h' });
    const guess = () => formatKey('km', keyParts(key).id).key;
    return { ...made, key, guess, hasher, faulty };
  }

  it('after 10 wrong secrets in a minute, the id is refused without a lookup or a hash', async () => {
    const { keymint, key, guess, hasher, faulty } = await target();
    for (let i = 0; i < 10; i++) {
      expect(await keymint.verifyKey(guess())).toEqual({ valid: false, reason: 'not_found' });
    }
    const hashes = hasher.calls.verify;
    const reads = faulty.calls.findById;
    expect(await keymint.verifyKey(guess())).toMatchObject({
      valid: false,
      reason: 'rate_limited',
      retryAfterMs: expect.any(Number),
    });
    // The right key too, when it is not cached: nobody can tell which secret is right.
    expect(await keymint.verifyKey(key)).toMatchObject({
      valid: false,
      reason: 'rate_limited',
      retryAfterMs: expect.any(Number),
    });
    expect(hasher.calls.verify).toBe(hashes);
    expect(faulty.calls.findById).toBe(reads);
  });

  it('lifts the block when the window ends', async () => {
    const { keymint, key, guess, clock } = await target();
    for (let i = 0; i < 10; i++) await keymint.verifyKey(guess());
    clock.advance(MINUTE - 1);
    expect(await keymint.verifyKey(key)).toMatchObject({
      valid: false,
      reason: 'rate_limited',
      retryAfterMs: expect.any(Number),
    });
    clock.advance(1);
    expect((await keymint.verifyKey(key)).valid).toBe(true);
  });

  it('keeps serving the real key from the cache while its id is attacked', async () => {
    const { keymint, key, guess } = await target();
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    for (let i = 0; i < 50; i++) await keymint.verifyKey(guess());
    expect((await keymint.verifyKey(key)).valid).toBe(true);
  });

  it('a burst of concurrent guesses hashes at most `failures` of them', async () => {
    const { keymint, guess, hasher } = await target();
    const results = await Promise.all(
      Array.from({ length: 200 }, () => keymint.verifyKey(guess())),
    );
    expect(hasher.calls.verify).toBe(10);
    expect(results.filter((r) => !r.valid && r.reason === 'rate_limited')).toHaveLength(190);
  });

  it('limits ids one by one: another key is not affected', async () => {
    const { keymint, guess } = await target();
    const other = await keymint.createApiKey({ name: 'other', role: 'Viewer', ttl: '1h' });
    for (let i = 0; i < 10; i++) await keymint.verifyKey(guess());
    expect((await keymint.verifyKey(other.key)).valid).toBe(true);
  });

  it('follows the failures and window options, and rateLimit: false turns it off', async () => {
    const strict = await target({ rateLimit: { failures: 2, window: '10s' } });
    await strict.keymint.verifyKey(strict.guess());
    await strict.keymint.verifyKey(strict.guess());
    expect(await strict.keymint.verifyKey(strict.key)).toMatchObject({ reason: 'rate_limited' });
    strict.clock.advance(10 * SECOND);
    expect((await strict.keymint.verifyKey(strict.key)).valid).toBe(true);

    const off = await target({ rateLimit: false });
    for (let i = 0; i < 30; i++) await off.keymint.verifyKey(off.guess());
    expect((await off.keymint.verifyKey(off.key)).valid).toBe(true);
  });

  it('does not count ids that do not exist (no state for random ids)', async () => {
    const { keymint, faulty } = await target();
    const unknownKey = formatKey('km', 'ZZZZZZZZZZZZ').key;
    for (let i = 0; i < 20; i++) {
      expect(await keymint.verifyKey(unknownKey)).toEqual({ valid: false, reason: 'not_found' });
    }
    expect(faulty.calls.findById).toBe(20);
  });

  it.each([
    ['failures 0', { failures: 0 }],
    ['a window over a day', { window: '2d' }],
    ['a zero window', { window: 0 }],
    ['true', true],
    ['shared not a boolean', { shared: 'yes' }],
  ])('refuses rateLimit %s with CONFIG', (_what, rateLimit) => {
    const error = expectThrowsCode(
      () => createKeymint({ adapter: memoryAdapter(), rateLimit: rateLimit as never }),
      'CONFIG',
    );
    expect(error.message).toMatch(/rateLimit/);
  });
});

describe('malformed keys never reach the store or the hasher', () => {
  it.each([
    ['not cached', false],
    ['cached (its id takes the hashing path first)', true],
  ])(
    'for any single-character change of a real key %s, and arbitrary strings',
    async (_what, warm) => {
      const hasher = countingHasher();
      const faulty = failingAdapter();
      const { keymint } = fastKeymint({ adapter: faulty.adapter, hasher });
      const { key } = await keymint.createApiKey({ name: 'm', role: 'Viewer', ttl: '1h' });
      if (warm) {
        expect((await keymint.verifyKey(key)).valid).toBe(true);
        faulty.calls.findById = 0;
        hasher.calls.verify = 0;
      }
      const alphabet = 'abcXYZ019_-+/=é\u0000';
      await fc.assert(
        fc.asyncProperty(
          fc.nat({ max: key.length - 1 }),
          fc.constantFrom(...alphabet),
          async (index, char) => {
            fc.pre(key[index] !== char);
            const changed = key.slice(0, index) + char + key.slice(index + 1);
            const result = await keymint.verifyKey(changed);
            expect(result).toEqual({ valid: false, reason: 'malformed' });
          },
        ),
        { numRuns: 300 },
      );
      await fc.assert(
        fc.asyncProperty(fc.string({ maxLength: 120 }), async (value) => {
          expect(await keymint.verifyKey(value)).toEqual({ valid: false, reason: 'malformed' });
        }),
        { numRuns: 300 },
      );
      expect(faulty.calls.findById).toBe(0);
      expect(hasher.calls.verify).toBe(0);
    },
  );

  it('a well-formed key with a correct checksum but a non-base62 secret is malformed, unhashed', async () => {
    const hasher = countingHasher();
    const faulty = failingAdapter();
    const { keymint } = fastKeymint({ adapter: faulty.adapter, hasher });
    const forged = withChecksum(`km_ABCDEFGHIJKL_${'-'.repeat(28)}`);
    expect(await keymint.verifyKey(forged)).toEqual({ valid: false, reason: 'malformed' });
    expect(faulty.calls.findById + hasher.calls.verify).toBe(0);
  });
});

describe('last-used writes', () => {
  function countingAdapter() {
    const inner = memoryAdapter();
    const batches: number[] = [];
    let updates = 0;
    const adapter: KeyAdapter = {
      ...inner,
      touchMany: async (entries) => {
        batches.push(entries.length);
        return inner.touchMany!(entries);
      },
      update: async (id, patch) => {
        updates++;
        return inner.update(id, patch);
      },
    };
    return { inner, adapter, batches, updates: () => updates };
  }

  it('are batched: 50 keys verified together are written in one touchMany call', async () => {
    const store = countingAdapter();
    const { keymint } = fastKeymint({ adapter: store.adapter, lastUsedDelayMs: 50 });
    const made = [];
    for (let i = 0; i < 50; i++) {
      made.push(await keymint.createApiKey({ name: `k${i}`, role: 'Viewer', ttl: '1h' }));
    }
    await Promise.all(made.map(({ key }) => keymint.verifyKey(key)));
    expect(store.batches).toEqual([]); // nothing on the request path
    await vi.waitFor(() => expect(store.batches.length).toBeGreaterThan(0), {
      timeout: 5_000,
      interval: 10,
    });
    expect(store.batches).toEqual([50]);
    expect(store.updates()).toBe(0);
    for (const { apiKey } of made) {
      expect((await store.inner.findById(apiKey.id))?.lastUsedAt).not.toBeNull();
    }
  });

  it('cache hits write nothing until lastUsedInterval has passed', async () => {
    const store = countingAdapter();
    const { keymint, clock } = fastKeymint({ adapter: store.adapter });
    const { key } = await keymint.createApiKey({ name: 'k', role: 'Viewer', ttl: '1h' });
    for (let i = 0; i < 100; i++) {
      await keymint.verifyKey(key);
      clock.advance(SECOND);
      await tick();
    }
    expect(store.batches).toEqual([1]);
    clock.advance(5 * MINUTE);
    await keymint.verifyKey(key);
    await tick();
    expect(store.batches).toEqual([1, 1]);
  });

  it('close() writes what is still queued', async () => {
    const store = countingAdapter();
    const { keymint, clock } = fastKeymint({ adapter: store.adapter, lastUsedDelayMs: 60_000 });
    const { key, apiKey } = await keymint.createApiKey({ name: 'k', role: 'Viewer', ttl: '1h' });
    await keymint.verifyKey(key);
    await tick();
    expect((await store.inner.findById(apiKey.id))?.lastUsedAt).toBeNull();
    await keymint.close();
    expect((await store.inner.findById(apiKey.id))?.lastUsedAt).toEqual(clock.now());
  });

  it('a failed batch is reported, and the next verification queues the key again', async () => {
    const store = countingAdapter();
    const reported: unknown[] = [];
    let fail = true;
    const adapter: KeyAdapter = {
      ...store.adapter,
      touchMany: async (entries) => {
        if (fail) throw new Error('write failed');
        return store.adapter.touchMany!(entries);
      },
    };
    const { keymint } = fastKeymint({ adapter, onBackgroundError: (e) => reported.push(e) });
    const { key, apiKey } = await keymint.createApiKey({ name: 'k', role: 'Viewer', ttl: '1h' });
    await keymint.verifyKey(key);
    await tick();
    expect(reported[0]).toMatchObject({ code: 'STORE_FAILURE' });
    fail = false;
    await keymint.verifyKey(key);
    await tick();
    expect((await store.inner.findById(apiKey.id))?.lastUsedAt).not.toBeNull();
  });

  it.each([
    ['a negative delay', -1],
    ['a delay over a minute', 60_001],
    ['a fractional delay', 1.5],
  ])('refuses lastUsedDelayMs as %s with CONFIG', (_what, lastUsedDelayMs) => {
    expectThrowsCode(() => createKeymint({ adapter: memoryAdapter(), lastUsedDelayMs }), 'CONFIG');
  });
});

describe('abuse limits: after review', () => {
  it('the owner of an attacked id keeps working after the cache entry ages out', async () => {
    const faulty = failingAdapter();
    const { keymint, clock } = fastKeymint({ adapter: faulty.adapter, cache: { ttl: '30s' } });
    const { key } = await keymint.createApiKey({ name: 'o', role: 'Viewer', ttl: '1h' });
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    for (let i = 0; i < 10; i++) await keymint.verifyKey(formatKey('km', keyParts(key).id).key);
    clock.advance(30 * SECOND); // the cache entry is gone; the block is not
    expect(await keymint.verifyKey(formatKey('km', keyParts(key).id).key)).toMatchObject({
      reason: 'rate_limited',
    });
    expect((await keymint.verifyKey(key)).valid).toBe(true);
  });

  it('a revoked key needs no pass: it and every guess at its id answer revoked, unhashed', async () => {
    const hasher = countingHasher({ fast: true });
    const { keymint } = fastKeymint({ cache: false, hasher });
    const { key, apiKey } = await keymint.createApiKey({ name: 'o', role: 'Viewer', ttl: '1h' });
    await keymint.verifyKey(key);
    await keymint.revokeApiKey(apiKey.id);
    const hashes = hasher.calls.verify;
    for (let i = 0; i < 10; i++) {
      expect(await keymint.verifyKey(formatKey('km', keyParts(key).id).key)).toEqual({
        valid: false,
        reason: 'revoked',
      });
    }
    expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'revoked' });
    expect(hasher.calls.verify).toBe(hashes);
  });

  it('a hasher that throws does not count as a wrong secret', async () => {
    let broken = true;
    const base = countingHasher();
    const { keymint } = fastKeymint({
      hasher: {
        hash: (secret) => base.hash(secret),
        verify: async (hash, secret) => {
          if (broken) throw new Error('hasher down');
          return base.verify(hash, secret);
        },
      },
      onBackgroundError: () => {},
    });
    const { key } = await keymint.createApiKey({ name: 'h', role: 'Viewer', ttl: '1h' });
    for (let i = 0; i < 15; i++) {
      await expectCode(keymint.verifyKey(key), 'HASHER_FAILURE');
    }
    broken = false;
    expect((await keymint.verifyKey(key)).valid).toBe(true);
  });
});

describe('abuse limits: what docs/performance.md can claim', () => {
  async function attacked(options: Parameters<typeof fastKeymint>[0] = {}) {
    const hasher = countingHasher();
    const faulty = failingAdapter();
    const made = fastKeymint({ adapter: faulty.adapter, hasher, ...options });
    const { key } = await made.keymint.createApiKey({ name: 'o', role: 'Viewer', ttl: '1h' });
    const guess = () => formatKey('km', keyParts(key).id).key;
    return { ...made, key, guess, hasher, faulty };
  }

  it('the documented limitation: in a fresh process, an attacker who uses up the budget before the first call of its owner locks the owner out (rate_limited, no read, no hash) until the window ends; then the key verifies, and later blocks no longer reach it', async () => {
    const { keymint, key, guess, hasher, faulty, clock } = await attacked();
    // The attack starts the window: 10 wrong secrets, each read and hashed.
    for (let i = 0; i < 10; i++) {
      expect(await keymint.verifyKey(guess())).toEqual({ valid: false, reason: 'not_found' });
    }
    expect(hasher.calls.verify).toBe(10);
    expect(faulty.calls.findById).toBe(10);
    // The owner's first call in this process, with the right key: refused like a guess.
    for (const wait of [0, 30 * SECOND, 30 * SECOND - 1]) {
      clock.advance(wait);
      expect(await keymint.verifyKey(key)).toMatchObject({
        valid: false,
        reason: 'rate_limited',
        retryAfterMs: expect.any(Number),
      });
    }
    // Refused without a store read or a hash: this process cannot tell the right secret.
    expect(hasher.calls.verify).toBe(10);
    expect(faulty.calls.findById).toBe(10);
    // The window ends a minute after the first guess: the key verifies.
    clock.advance(1);
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    // From now on this process has verified the right key: a new block does not reach it, even
    // once the cache entry has aged out.
    for (let i = 0; i < 10; i++) await keymint.verifyKey(guess());
    expect(await keymint.verifyKey(guess())).toMatchObject({
      valid: false,
      reason: 'rate_limited',
      retryAfterMs: expect.any(Number),
    });
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    clock.advance(31 * SECOND);
    expect(await keymint.verifyKey(guess())).toMatchObject({
      valid: false,
      reason: 'rate_limited',
      retryAfterMs: expect.any(Number),
    });
    expect((await keymint.verifyKey(key)).valid).toBe(true);
  });

  it('guesses that arrive while attempts are in flight each read the store but are not hashed: at most `failures` hashes; once the failures are counted, guesses cost neither (and a right key never verified here is refused meanwhile)', async () => {
    // Room for all 10 hashes at once, so that all 10 attempts are in the hasher together.
    const { keymint, key, guess, hasher, faulty } = await attacked({
      hashing: { concurrency: 16, queue: 100 },
    });
    const release = hasher.hold();
    const inFlight = Array.from({ length: 10 }, () => keymint.verifyKey(guess()));
    await tick();
    expect(hasher.calls.verify).toBe(10);
    expect(faulty.calls.findById).toBe(10);

    // 40 more guesses while those 10 are still being hashed: no failure is counted yet, so each
    // one reads the store, then finds the budget taken by the attempts in progress.
    const late = await Promise.all(Array.from({ length: 40 }, () => keymint.verifyKey(guess())));
    expect(late.every((r) => !r.valid && r.reason === 'rate_limited')).toBe(true);
    expect(faulty.calls.findById).toBe(50);
    expect(hasher.calls.verify).toBe(10);
    // The owner's key, never verified in this process, fares the same: one read, no hash.
    expect(await keymint.verifyKey(key)).toMatchObject({
      valid: false,
      reason: 'rate_limited',
      retryAfterMs: expect.any(Number),
    });
    expect(faulty.calls.findById).toBe(51);
    expect(hasher.calls.verify).toBe(10);

    release();
    const first = await Promise.all(inFlight);
    expect(first.every((r) => !r.valid && r.reason === 'not_found')).toBe(true);
    // The 10 failures are counted now: guesses and the cold key cost neither a read nor a hash.
    for (let i = 0; i < 20; i++) {
      expect(await keymint.verifyKey(guess())).toMatchObject({
        valid: false,
        reason: 'rate_limited',
        retryAfterMs: expect.any(Number),
      });
    }
    expect(await keymint.verifyKey(key)).toMatchObject({
      valid: false,
      reason: 'rate_limited',
      retryAfterMs: expect.any(Number),
    });
    expect(faulty.calls.findById).toBe(51);
    expect(hasher.calls.verify).toBe(10);
  });
});
