// Issue 14, findings 1a, 4, 5 and 6: dead keys cost no hash, every store and hasher call is
// bounded in time, a closed instance serves nothing from its cache, and every interval keymint
// measures is on a monotonic clock (a wall clock stepped back stretches none of them).
import { stat } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { memoryAdapter } from '../src/adapters/memory/index.js';
import { createKeymint } from '../src/core/keymint.js';
import { hmacSha256Hasher, type Hasher } from '../src/core/hasher.js';
import {
  countingHasher,
  failingAdapter,
  fastKeymint,
  flush,
  HMAC_SECRET,
  HOUR,
  guessFor,
  MINUTE,
  SECOND,
  testClock,
} from './helpers.js';

describe('finding 1a: a revoked or expired record is refused before any hashing', () => {
  it('guesses at a revoked id, and its owner, get revoked without a hash or a used-up limit', async () => {
    const hasher = countingHasher();
    const { keymint } = fastKeymint({ hasher, cache: false });
    const { key, apiKey } = await keymint.createApiKey({ name: 'r', role: 'Viewer', ttl: '1h' });
    await keymint.revokeApiKey(apiKey.id);
    const before = hasher.calls.verify;
    for (let n = 0; n < 25; n++) {
      expect(await keymint.verifyKey(guessFor(key, n))).toEqual({
        valid: false,
        reason: 'revoked',
      });
    }
    // 25 guesses past the wrong-secret limit of 10: none was counted, none was hashed.
    expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'revoked' });
    expect(hasher.calls.verify).toBe(before);
  });

  it('an expired record is refused without a hash, at expiresAt exactly', async () => {
    const hasher = countingHasher();
    const { keymint, clock } = fastKeymint({ hasher, cache: false });
    const { key } = await keymint.createApiKey({ name: 'e', role: 'Viewer', ttl: '1h' });
    clock.advance(HOUR);
    expect(await keymint.verifyKey(guessFor(key, 1))).toEqual({
      valid: false,
      reason: 'expired',
    });
    expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'expired' });
    expect(hasher.calls.verify).toBe(0);
  });

  it('a dead key of another scope than the one asked for is not_found, as before', async () => {
    const { keymint } = fastKeymint({ cache: false });
    const { key, apiKey } = await keymint.createApiKey({
      name: 'o',
      role: 'Viewer',
      ttl: '1h',
      scope: 'org-1',
    });
    await keymint.revokeApiKey(apiKey.id);
    expect(await keymint.verifyKey(key, { scope: 'org-2' })).toEqual({
      valid: false,
      reason: 'not_found',
    });
    expect(await keymint.verifyKey(key, { scope: 'org-1' })).toEqual({
      valid: false,
      reason: 'revoked',
    });
  });
});

describe('finding 6: intervals are measured on a monotonic clock', () => {
  it("the issue's scenario: a wall clock stepped back an hour does not keep a revoked key valid", async () => {
    const inner = memoryAdapter();
    const noPush = failingAdapter(inner).adapter; // no subscribe: cache.ttl is the bound
    const clock = testClock();
    const a = fastKeymint({ adapter: inner, now: clock.now }).keymint;
    const b = fastKeymint({ adapter: noPush, now: clock.now, cache: { ttl: '30s' } }).keymint;
    const { key, apiKey } = await a.createApiKey({ name: 'shared', role: 'Viewer', ttl: '2h' });
    expect((await b.verifyKey(key)).valid).toBe(true); // cached by b
    clock.advance(-HOUR); // the wall clock steps back an hour
    await a.revokeApiKey(apiKey.id);
    clock.advance(30 * SECOND);
    expect(await b.verifyKey(key)).toEqual({ valid: false, reason: 'revoked' });
  });

  it("stepWall() moves the wall clock alone: a step forward does not age the cache, and a key stepped past its expiry is refused at the entry's freshness bound", async () => {
    const faulty = failingAdapter(); // no subscribe: the revoke below is not pushed
    const { keymint, clock } = fastKeymint({ adapter: faulty.adapter, cache: { ttl: '30s' } });
    const { key, apiKey } = await keymint.createApiKey({ name: 's', role: 'Viewer', ttl: '2h' });
    const other = await keymint.createApiKey({ name: 't', role: 'Viewer', ttl: '2h' });
    await keymint.verifyKey(key);
    await keymint.verifyKey(other.key);
    await faulty.inner.update(apiKey.id, { revokedAt: clock.now() }); // behind the cache's back
    const wall = clock.now().getTime();
    const mono = clock.monotonic();
    clock.stepWall(10 * MINUTE);
    expect(clock.now().getTime()).toBe(wall + 10 * MINUTE);
    expect(clock.monotonic()).toBe(mono);
    expect((await keymint.verifyKey(key)).valid).toBe(true); // still within its 30 s
    // Past expiresAt on the wall clock, within the entry's 30 s on the monotonic one: a hit
    // projects the wall time of its read (docs/performance.md, "Clocks"), like a revocation
    // without push, the step is seen when the entry is read again.
    clock.stepWall(2 * HOUR);
    expect((await keymint.verifyKey(other.key)).valid).toBe(true);
    clock.advance(30 * SECOND);
    expect(await keymint.verifyKey(other.key)).toEqual({ valid: false, reason: 'expired' });
    expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'revoked' });
  });

  it('with a host now() keymint cannot relate to its monotonic clock, every hit reads it: a step forward expires a cached key at once', async () => {
    let current = Date.UTC(2026, 0, 1);
    const { keymint } = fastKeymint({ now: () => new Date(current), cache: { ttl: '30s' } });
    const { key } = await keymint.createApiKey({ name: 'h', role: 'Viewer', ttl: '2h' });
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    expect((await keymint.verifyKey(key)).valid).toBe(true); // a hit
    current += 2 * HOUR;
    expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'expired' });
  });

  it("with the default clocks, a cache hit reads no wall clock until the key's expiry is near, then expires it on time", async () => {
    // Spied before createKeymint, which keeps Date.now itself as its wall clock.
    const dateNow = vi.spyOn(Date, 'now');
    const keymint = createKeymint({
      adapter: memoryAdapter(),
      hasher: hmacSha256Hasher(HMAC_SECRET),
      cache: { ttl: '30s' },
    });
    try {
      const { key } = await keymint.createApiKey({ name: 'd', role: 'Viewer', ttl: '1s' });
      const { key: long } = await keymint.createApiKey({ name: 'e', role: 'Viewer', ttl: '1h' });
      const short = await keymint.verifyKey(key);
      expect(short.valid).toBe(true);
      dateNow.mockClear();
      expect((await keymint.verifyKey(long)).valid).toBe(true);
      expect(dateNow).toHaveBeenCalled(); // the lookup reads the wall clock
      dateNow.mockClear();
      for (let n = 0; n < 50; n++) expect((await keymint.verifyKey(long)).valid).toBe(true);
      expect(dateNow).not.toHaveBeenCalled();
      // The 1 s key's deadline falls within its entry's 30 s: past it, its hits read the wall
      // clock and refuse it.
      const expiresAt = (short as { apiKey: { expiresAt: Date } }).apiKey.expiresAt.getTime();
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAt - Date.now()) + 20));
      dateNow.mockClear();
      expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'expired' });
      expect(dateNow).toHaveBeenCalled();
    } finally {
      dateNow.mockRestore();
      await keymint.close();
    }
  });

  it('the wrong-secret window ends on the monotonic clock, not when the wall clock catches up', async () => {
    const { keymint, clock } = fastKeymint({ cache: false, rateLimit: { window: '1m' } });
    const { key } = await keymint.createApiKey({ name: 'w', role: 'Viewer', ttl: '2h' });
    for (let n = 0; n < 10; n++) await keymint.verifyKey(guessFor(key, n));
    expect(await keymint.verifyKey(guessFor(key, 99))).toMatchObject({
      valid: false,
      reason: 'rate_limited',
      retryAfterMs: expect.any(Number),
    });
    clock.advance(-HOUR);
    clock.advance(MINUTE);
    expect(await keymint.verifyKey(guessFor(key, 100))).toEqual({
      valid: false,
      reason: 'not_found',
    });
  });

  it('the last-used interval is measured on the monotonic clock', async () => {
    const faulty = failingAdapter();
    const { keymint, clock } = fastKeymint({ adapter: faulty.adapter, cache: { ttl: '1h' } });
    const { key } = await keymint.createApiKey({ name: 'l', role: 'Viewer', ttl: '2h' });
    await keymint.verifyKey(key);
    await flush();
    expect(faulty.calls.update).toBe(1);
    clock.advance(-HOUR);
    clock.advance(5 * MINUTE);
    await keymint.verifyKey(key);
    await flush();
    expect(faulty.calls.update).toBe(2);
  });
});

describe('finding 5: after close() the cache serves nothing', () => {
  it('a key verified before and after close() and then revoked by another instance is refused', async () => {
    const adapter = memoryAdapter();
    const clock = testClock();
    const options = { adapter, now: clock.now, cache: { ttl: '30s' } };
    const closing = fastKeymint(options).keymint;
    const other = fastKeymint(options).keymint;
    const { key, apiKey } = await other.createApiKey({ name: 'k', role: 'Viewer', ttl: '2h' });
    expect((await closing.verifyKey(key)).valid).toBe(true); // cached
    await closing.close();
    // During a graceful shutdown requests still come in: this one would fill the cache again.
    expect((await closing.verifyKey(key)).valid).toBe(true);
    await other.revokeApiKey(apiKey.id);
    expect(await closing.verifyKey(key)).toEqual({ valid: false, reason: 'revoked' });
  });

  it('after close() each verification reads the store (the cache fills no more)', async () => {
    const faulty = failingAdapter();
    const { keymint } = fastKeymint({ adapter: faulty.adapter, cache: { ttl: '1h' } });
    const { key, apiKey } = await keymint.createApiKey({ name: 'k', role: 'Viewer', ttl: '2h' });
    await keymint.verifyKey(key);
    await keymint.close();
    const reads = faulty.calls.findById;
    for (let i = 0; i < 3; i++) expect((await keymint.verifyKey(key)).valid).toBe(true);
    expect(faulty.calls.findById).toBe(reads + 3);
    await faulty.inner.update(apiKey.id, { revokedAt: new Date() }); // behind its back
    expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'revoked' });
  });
});

/** An adapter whose `method` never answers for its first `times` calls (then works). */
function hangingFirst(method: 'findById' | 'insert', times = 1) {
  const faulty = failingAdapter();
  let left = times;
  const original = faulty.adapter[method].bind(faulty.adapter) as (...args: never[]) => unknown;
  (faulty.adapter as unknown as Record<string, unknown>)[method] = (...args: never[]) => {
    if (left-- > 0) {
      // The call reaches the store (an insert lands), but the answer never comes back.
      void original(...args);
      return new Promise(() => {});
    }
    return original(...args);
  };
  return faulty;
}

describe('finding 4: every store and hasher call is bounded (storeTimeout, hashing.timeout)', () => {
  it('a findById that never answers gives STORE_FAILURE to every joined caller, and the next one starts afresh', async () => {
    const faulty = hangingFirst('findById');
    const { keymint } = fastKeymint({ adapter: faulty.adapter, storeTimeout: '1s' });
    const { key } = await keymint.createApiKey({ name: 'k', role: 'Viewer', ttl: '2h' });
    const started = Date.now();
    const joined = await Promise.allSettled([1, 2, 3].map(() => keymint.verifyKey(key)));
    // At the deadline, not whenever something else wakes the loop (a deferred rejection that
    // let the loop sleep took 4 to 15 s here).
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(Date.now() - started).toBeLessThan(2_500);
    for (const outcome of joined) {
      expect(outcome.status).toBe('rejected');
      expect((outcome as PromiseRejectedResult).reason).toMatchObject({ code: 'STORE_FAILURE' });
      expect(String((outcome as PromiseRejectedResult).reason.cause)).toMatch(/within 1000 ms/);
    }
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    expect(faulty.calls.findById).toBe(2);
  });

  it('a management call that never answers gives STORE_FAILURE', async () => {
    const faulty = failingAdapter();
    const { keymint } = fastKeymint({ adapter: faulty.adapter, storeTimeout: 1 });
    const { apiKey } = await keymint.createApiKey({ name: 'k', role: 'Viewer', ttl: '2h' });
    faulty.hold('list');
    faulty.hold('deleteExpired');
    await expect(keymint.listApiKeys()).rejects.toMatchObject({ code: 'STORE_FAILURE' });
    await expect(keymint.purgeExpired()).rejects.toMatchObject({ code: 'STORE_FAILURE' });
    faulty.hold('update');
    await expect(keymint.revokeApiKey(apiKey.id)).rejects.toMatchObject({ code: 'STORE_FAILURE' });
  });

  it('a create whose insert landed but never answered is read back and succeeds', async () => {
    const faulty = hangingFirst('insert');
    const { keymint } = fastKeymint({ adapter: faulty.adapter, storeTimeout: '1s' });
    const { key, apiKey } = await keymint.createApiKey({ name: 'k', role: 'Viewer', ttl: '2h' });
    expect((await faulty.inner.findById(apiKey.id))?.name).toBe('k');
    expect((await keymint.verifyKey(key)).valid).toBe(true);
  });

  it('a hasher that hangs gives HASHER_FAILURE and its queue slot back at hashing.timeout', async () => {
    const inner = hmacSha256Hasher(HMAC_SECRET);
    let verifies = 0;
    const hasher: Hasher = {
      // Not marked fast: it goes through the hashing queue, here one slot wide.
      hash: (secret) => inner.hash(secret),
      verify: (hash, secret) =>
        ++verifies === 1 ? new Promise<boolean>(() => {}) : inner.verify(hash, secret),
    };
    const { keymint } = fastKeymint({
      hasher,
      cache: false,
      hashing: { concurrency: 1, queue: 10, timeout: '1s' },
    });
    const { key } = await keymint.createApiKey({ name: 'k', role: 'Viewer', ttl: '2h' });
    const started = Date.now();
    await expect(keymint.verifyKey(key)).rejects.toMatchObject({ code: 'HASHER_FAILURE' });
    expect(Date.now() - started).toBeLessThan(2_500);
    // The one slot is free again although the first verify never ends.
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    expect(verifies).toBe(2);
  });

  /**
   * A call's answer comes back through the thread pool (an fs.stat callback, read in the I/O
   * phase) while the host holds the event loop past the deadline: when the loop turns again, the
   * deadline's timer is due before the answer, already there, is read.
   */
  async function answerWhileLoopHeld(ms: number): Promise<void> {
    const answered = new Promise<void>((resolve) => stat('.', () => resolve()));
    const until = Date.now() + ms;
    while (Date.now() < until) {
      // A long synchronous task in the host.
    }
    await answered;
  }
  /**
   * `call` started from the check phase (I/O-driven work starts in the poll phase): from either,
   * the timers' phase comes before the next poll.
   */
  const fromCheckPhase = <T>(call: () => Promise<T>) =>
    new Promise<T>((resolve, reject) => setImmediate(() => call().then(resolve, reject)));

  it('a store answer that arrived while the event loop was held up beats a storeTimeout that is due', async () => {
    const faulty = failingAdapter();
    const find = faulty.adapter.findById.bind(faulty.adapter);
    faulty.adapter.findById = async (id) => {
      await answerWhileLoopHeld(1_300);
      return find(id);
    };
    const { keymint } = fastKeymint({ adapter: faulty.adapter, storeTimeout: '1s', cache: false });
    const { key } = await keymint.createApiKey({ name: 'k', role: 'Viewer', ttl: '2h' });
    expect(await fromCheckPhase(() => keymint.verifyKey(key))).toMatchObject({ valid: true });
  });

  it('a hasher answer that arrived while the event loop was held up beats a hashing.timeout that is due', async () => {
    const inner = hmacSha256Hasher(HMAC_SECRET);
    const hasher: Hasher = {
      // Not fast: through the hashing queue, and under hashing.timeout.
      hash: (secret) => inner.hash(secret),
      verify: async (hash, secret) => {
        await answerWhileLoopHeld(1_300);
        return inner.verify(hash, secret);
      },
    };
    const { keymint } = fastKeymint({ hasher, cache: false, hashing: { timeout: '1s' } });
    const { key } = await keymint.createApiKey({ name: 'h', role: 'Viewer', ttl: '2h' });
    expect(await fromCheckPhase(() => keymint.verifyKey(key))).toMatchObject({ valid: true });
  });

  it('refuses a storeTimeout or hashing.timeout that is not a duration (CONFIG)', () => {
    for (const bad of [0, '0s', 'soon', -1, '2h']) {
      expect(() => fastKeymint({ storeTimeout: bad })).toThrow(
        expect.objectContaining({ code: 'CONFIG' }),
      );
      expect(() => fastKeymint({ hashing: { timeout: bad } })).toThrow(
        expect.objectContaining({ code: 'CONFIG' }),
      );
    }
  });
});

describe('finding 1c: maxKeysPerScope caps the live keys of a scope', () => {
  it('refuses the next create with KEYS_LIMIT before hashing; revoked, deleted and expired keys free a place', async () => {
    const hasher = countingHasher({ fast: true });
    const { keymint, clock } = fastKeymint({ hasher, maxKeysPerScope: 3 });
    const made = [];
    for (const name of ['a', 'b', 'c']) {
      made.push(
        await keymint.createApiKey({ name, role: 'Viewer', ttl: name === 'c' ? '1m' : '1h' }),
      );
    }
    const hashes = hasher.calls.hash;
    await expect(
      keymint.createApiKey({ name: 'd', role: 'Viewer', ttl: '1h' }),
    ).rejects.toMatchObject({
      code: 'KEYS_LIMIT',
      message: expect.stringContaining('maxKeysPerScope allows (3)'),
    });
    expect(hasher.calls.hash).toBe(hashes); // refused before any hashing
    // Another scope has its own places.
    await keymint.createApiKey({ name: 'd', role: 'Viewer', ttl: '1h', scope: 'other' });
    await keymint.revokeApiKey(made[0]!.apiKey.id);
    await keymint.createApiKey({ name: 'd', role: 'Viewer', ttl: '1h' });
    await expect(
      keymint.createApiKey({ name: 'e', role: 'Viewer', ttl: '1h' }),
    ).rejects.toMatchObject({
      code: 'KEYS_LIMIT',
    });
    clock.advance(MINUTE); // 'c' expires
    await keymint.createApiKey({ name: 'e', role: 'Viewer', ttl: '1h' });
    await keymint.deleteApiKey(made[1]!.apiKey.id);
    await keymint.createApiKey({ name: 'f', role: 'Viewer', ttl: '1h' });
    expect(await keymint.listApiKeys()).toHaveLength(4); // a (revoked), d, e, f
  });

  it('holds exactly under 30 concurrent creates in one process', async () => {
    const { keymint } = fastKeymint({ maxKeysPerScope: 5 });
    const outcomes = await Promise.allSettled(
      Array.from({ length: 30 }, (_, i) =>
        keymint.createApiKey({ name: `k${i}`, role: 'Viewer', ttl: '1h' }),
      ),
    );
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(5);
    for (const o of outcomes.filter((o) => o.status === 'rejected')) {
      expect((o as PromiseRejectedResult).reason).toMatchObject({ code: 'KEYS_LIMIT' });
    }
    expect(await keymint.listApiKeys()).toHaveLength(5);
  });

  it('needs an adapter with countLive (CONFIG), and a whole number of at least 1', () => {
    const faulty = failingAdapter(); // the six methods only
    expect(() => fastKeymint({ adapter: faulty.adapter, maxKeysPerScope: 10 })).toThrow(
      expect.objectContaining({ code: 'CONFIG', message: expect.stringContaining('countLive()') }),
    );
    for (const bad of [0, -1, 1.5, '10']) {
      expect(() => fastKeymint({ maxKeysPerScope: bad as never })).toThrow(
        expect.objectContaining({ code: 'CONFIG' }),
      );
    }
  });

  it('a count the store cannot give fails the create with STORE_FAILURE, nothing written', async () => {
    const inner = memoryAdapter();
    const { keymint } = fastKeymint({
      adapter: { ...inner, countLive: async () => Number.NaN },
      maxKeysPerScope: 2,
    });
    await expect(
      keymint.createApiKey({ name: 'a', role: 'Viewer', ttl: '1h' }),
    ).rejects.toMatchObject({
      code: 'STORE_FAILURE',
    });
    expect(await inner.list({ scope: 'default', limit: 10 })).toEqual([]);
  });
});
