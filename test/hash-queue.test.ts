import { describe, expect, it, vi } from 'vitest';
import { availableParallelism } from 'node:os';
import type { Hasher } from '../src/index.js';
import {
  Busy,
  defaultHashConcurrency,
  HashLimiter,
  threadPoolSize,
} from '../src/core/hash-limiter.js';
import { formatKey } from '../src/core/key-format.js';
import { createKeymint, hmacSha256Hasher } from '../src/index.js';
import { memoryAdapter } from '../src/adapters/memory/index.js';
import { authenticateRequest, createApiKeyRoutes } from '../src/http/index.js';
import { expectThrowsCode, fastKeymint, flush, HMAC_SECRET } from './helpers.js';

// Issue 12, item 3: `busy` only when the estimated wait (work ahead × measured mean hash time /
// concurrency) would pass hashing.maxWait; the queue's length is capped whatever the estimate.

const HASH_MS = 100;

/**
 * An HMAC hasher that is not `fast` and whose every call takes HASH_MS of the instance's (test)
 * clock; while held, calls wait. The limiter measures durations with that clock.
 */
function clockedHasher(clock: { advance(ms: number): void }) {
  const inner = hmacSha256Hasher(HMAC_SECRET);
  let gate: Promise<void> | undefined;
  const calls = { verify: 0 };
  const slow = async <T>(run: () => Promise<T>) => {
    if (gate) await gate;
    clock.advance(HASH_MS);
    return run();
  };
  const hasher: Hasher = {
    hash: (secret) => slow(() => inner.hash(secret)),
    verify: (hash, secret) => (calls.verify++, slow(() => inner.verify(hash, secret))),
  };
  return {
    hasher,
    calls,
    hold() {
      let release!: () => void;
      gate = new Promise<void>((resolve) => (release = resolve));
      return () => {
        gate = undefined;
        release();
      };
    },
  };
}

async function herd(hashing: { concurrency?: number; queue?: number; maxWait?: string | number }) {
  // The clock's hasher needs the clock: build the instance, then swap in the test's clock.
  const made = fastKeymint({ hashing: { concurrency: 1, ...hashing } });
  const slow = clockedHasher(made.clock);
  const { keymint } = fastKeymint({
    adapter: made.adapter,
    hasher: slow.hasher,
    now: made.clock.now,
    hashing: { concurrency: 1, ...hashing },
  });
  const keys: string[] = [];
  // Created one at a time: every hash measured at HASH_MS, so the mean is exactly HASH_MS.
  for (let i = 0; i < 31; i++) {
    keys.push((await keymint.createApiKey({ name: `k${i}`, role: 'Viewer', ttl: '1h' })).key);
  }
  return { keymint, slow, keys, clock: made.clock };
}

describe('hashing.maxWait', () => {
  it.each([
    ['1s', 10],
    ['2s', 20],
  ])(
    'with maxWait %s and 100 ms hashes, one runs, %i wait, the rest answer busy at once',
    async (maxWait, queued) => {
      const { keymint, slow, keys } = await herd({ maxWait });
      const release = slow.hold();
      const pending = keys.map((key) => keymint.verifyKey(key));
      await flush();
      release();
      const results = await Promise.all(pending);
      const valid = results.filter((r) => r.valid).length;
      expect(valid).toBe(1 + queued);
      const refused = results.filter((r) => !r.valid);
      expect(refused).toHaveLength(keys.length - 1 - queued);
      // The estimate for the first refused: (queued + 1) hashes of 100 ms ahead, one at a time.
      expect(refused[0]).toEqual({
        valid: false,
        reason: 'busy',
        retryAfterMs: (queued + 1) * HASH_MS,
      });
      // Nothing was decided for them: they verify once the queue has drained.
      expect((await keymint.verifyKey(keys.at(-1)!)).valid).toBe(true);
    },
  );

  it('before its first hash finishes, a fresh instance refuses nothing below the cap, however long that hash has been running', async () => {
    // A burst takes the event loop a while to take in; no completion is seen meanwhile, so the
    // first hash's running time says nothing of a hash and must not stand in for the mean.
    const made = fastKeymint();
    const keys: string[] = [];
    for (let i = 0; i < 30; i++) {
      keys.push(
        (await made.keymint.createApiKey({ name: `k${i}`, role: 'Viewer', ttl: '1h' })).key,
      );
    }
    const slow = clockedHasher(made.clock);
    const { keymint } = fastKeymint({
      adapter: made.adapter,
      hasher: slow.hasher,
      now: made.clock.now,
      cache: false,
      hashing: { concurrency: 1, maxWait: '1s' },
    });
    const release = slow.hold();
    const first = keymint.verifyKey(keys[0]!);
    await flush();
    made.clock.advance(60_000);
    const rest = keys.slice(1).map((key) => keymint.verifyKey(key));
    await flush();
    release();
    expect((await first).valid).toBe(true);
    expect((await Promise.all(rest)).map((r) => r.valid)).toEqual(keys.slice(1).map(() => true));
    // Measured now (100 ms a hash): the estimate applies again, 29 × 100 ms ahead > 1 s.
    const release2 = slow.hold();
    const again = keys.map((key) => keymint.verifyKey(key));
    await flush();
    release2();
    expect((await Promise.all(again)).some((r) => !r.valid && r.reason === 'busy')).toBe(true);
  });

  it('a queue under maxWait is never refused, however many wait (below the cap)', async () => {
    const { keymint, slow, keys } = await herd({ maxWait: '10s' });
    const release = slow.hold();
    const pending = keys.map((key) => keymint.verifyKey(key));
    await flush();
    release();
    expect((await Promise.all(pending)).every((r) => r.valid)).toBe(true);
  });

  it('maxWait 0 refuses any wait: with one slot, the second concurrent hash is busy', async () => {
    const { keymint, slow, keys } = await herd({ maxWait: 0 });
    const release = slow.hold();
    const first = keymint.verifyKey(keys[0]!);
    await flush();
    const second = await keymint.verifyKey(keys[1]!);
    release();
    expect((await first).valid).toBe(true);
    expect(second).toEqual({ valid: false, reason: 'busy', retryAfterMs: HASH_MS });
  });

  it('authenticateRequest answers 503 with Retry-After in whole seconds from the estimate', async () => {
    const { keymint, slow, keys } = await herd({ maxWait: '1s' });
    const release = slow.hold();
    const pending = keys.map((key) =>
      authenticateRequest(
        keymint,
        new Request('http://x/', { headers: { authorization: `Bearer ${key}` } }),
      ),
    );
    await flush();
    release();
    const busy = (await Promise.all(pending)).filter((r) => !r.ok);
    expect(busy[0]).toMatchObject({ status: 503, headers: { 'retry-after': '2' } }); // 1,100 ms
  });

  it('createApiKey throws BUSY with retryAfterMs, and the routes answer 503 with Retry-After from it', async () => {
    const { keymint, slow, keys } = await herd({ maxWait: '1s' });
    const release = slow.hold();
    const pending = keys.slice(0, 11).map((key) => keymint.verifyKey(key)); // 1 runs, 10 wait
    await flush();
    const error = await keymint.createApiKey({ name: 'new', role: 'Viewer', ttl: '1h' }).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(error).toMatchObject({ code: 'BUSY', retryAfterMs: 11 * HASH_MS });
    const routes = createApiKeyRoutes(keymint, {
      authenticate: () => 'admin',
      allowAnyActor: true,
    });
    const response = await routes(
      new Request('http://localhost/api/auth/keys', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'other', role: 'Viewer', secondsToLive: 3600 }),
      }),
    );
    release();
    expect((await Promise.all(pending)).every((r) => r.valid)).toBe(true);
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('2'); // 1,100 ms, rounded up
  });

  it.each([
    ['a negative maxWait', -1],
    ['a malformed maxWait', '1.5s'],
    ['a maxWait over 10 minutes', '11m'],
  ])('refuses %s with CONFIG', (_what, maxWait) => {
    expectThrowsCode(
      () => createKeymint({ adapter: memoryAdapter(), hashing: { maxWait } }),
      'CONFIG',
    );
  });
});

describe('the queue cap', () => {
  it('past the cap, tasks are refused at once and the queue stays at the cap', async () => {
    const limiter = new HashLimiter({
      concurrency: 2,
      maxQueue: 50,
      maxWaitMs: Number.POSITIVE_INFINITY,
      now: () => 0,
    });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let started = 0;
    const runs = Array.from({ length: 5_000 }, () =>
      limiter.run(async () => {
        started++;
        await gate;
        return 'done';
      }),
    );
    const early = await Promise.race([
      Promise.all(runs.slice(52)),
      new Promise<'timeout'>((resolve) => setTimeout(resolve, 1_000, 'timeout')),
    ]);
    expect(early).not.toBe('timeout');
    expect((early as unknown[]).every((r) => r instanceof Busy)).toBe(true);
    expect(limiter.waiting).toBe(50);
    expect(started).toBe(2);
    release();
    expect((await Promise.all(runs.slice(0, 52))).every((r) => r === 'done')).toBe(true);
    expect(limiter.waiting).toBe(0);
  });

  it('verifyKey past the cap answers busy at once; the ones queued verify', async () => {
    const made = fastKeymint();
    const slow = clockedHasher(made.clock);
    const { keymint } = fastKeymint({
      adapter: made.adapter,
      now: made.clock.now,
      hasher: slow.hasher,
      rateLimit: false,
      hashing: { concurrency: 1, queue: 20, maxWait: '10m' },
    });
    // 25 ids: one id holds at most two waiting places (the fair queue), so the cap is reached.
    const ids: string[] = [];
    for (let i = 0; i < 25; i++) {
      ids.push(
        (await keymint.createApiKey({ name: `k${i}`, role: 'Viewer', ttl: '1h' })).apiKey.id,
      );
    }
    const release = slow.hold();
    // Distinct presented keys (wrong secrets of 25 ids, in turn): each needs its own hash.
    const pending = Array.from({ length: 500 }, (_, i) =>
      keymint.verifyKey(formatKey('km', ids[i % ids.length]!).key),
    );
    const early = await Promise.race([
      Promise.all(pending.slice(21)),
      new Promise<'timeout'>((resolve) => setTimeout(resolve, 1_000, 'timeout')),
    ]);
    expect(early).not.toBe('timeout');
    expect((early as { reason?: string }[]).every((r) => r.reason === 'busy')).toBe(true);
    expect(slow.calls.verify).toBe(1); // one running; 20 wait in the queue
    release();
    const queued = await Promise.all(pending.slice(0, 21));
    expect(queued.every((r) => !r.valid && r.reason === 'not_found')).toBe(true);
    expect(slow.calls.verify).toBe(21);
  });

  it('keeps hashing.queue backward compatible: queue 0 queues nothing', async () => {
    const { keymint, slow, keys } = await herd({ queue: 0, maxWait: '10m' });
    const release = slow.hold();
    const first = keymint.verifyKey(keys[0]!);
    await flush();
    expect(await keymint.verifyKey(keys[1]!)).toMatchObject({ valid: false, reason: 'busy' });
    release();
    expect((await first).valid).toBe(true);
  });
});

describe('rehashes wait behind verifications', () => {
  it('a rehash queued during a herd runs after the verifications that arrive later (a deploy that changed the parameters answers its herd first)', async () => {
    const inner = hmacSha256Hasher(HMAC_SECRET);
    const adapter = memoryAdapter();
    const old = createKeymint({ adapter, hasher: inner });
    const keys: string[] = [];
    for (let i = 0; i < 3; i++) {
      keys.push((await old.createApiKey({ name: `k${i}`, role: 'Viewer', ttl: '1h' })).key);
    }
    // New parameters: hashes made now start with 'v2:'; the old ones verify and want a rehash.
    // Every call waits until the test lets it finish, one at a time, in the order they started.
    const started: { kind: 'verify' | 'hash'; go: () => void }[] = [];
    const order: string[] = [];
    const step = <T>(kind: 'verify' | 'hash', run: () => Promise<T>) =>
      new Promise<void>((go) => started.push({ kind, go })).then(() => (order.push(kind), run()));
    const hasher: Hasher = {
      hash: (secret) => step('hash', async () => `v2:${await inner.hash(secret)}`),
      verify: (hash, secret) =>
        step('verify', () => inner.verify(hash.startsWith('v2:') ? hash.slice(3) : hash, secret)),
      needsRehash: (hash) => !hash.startsWith('v2:'),
    };
    const keymint = createKeymint({ adapter, hasher, hashing: { concurrency: 1 } });
    const next = async () => {
      await vi.waitFor(() => expect(started.length).toBeGreaterThan(0), { interval: 1 });
      started.shift()!.go();
    };
    const first = [keymint.verifyKey(keys[0]!), keymint.verifyKey(keys[1]!)];
    await next(); // keys[0] verified: its rehash waits (keys[1]'s verification holds the slot)
    expect((await first[0])!.valid).toBe(true);
    const late = keymint.verifyKey(keys[2]!); // arrives after that rehash was queued
    await next(); // keys[1]
    await next(); // keys[2], before the rehash of keys[0]
    expect((await Promise.all([first[1], late])).every((r) => r!.valid)).toBe(true);
    for (let i = 0; i < 3; i++) await next();
    await vi.waitFor(async () => {
      for (const key of keys) {
        const id = key.split('_')[1]!;
        expect((await adapter.findById(id))!.secretHash.startsWith('v2:')).toBe(true);
      }
    });
    expect(order).toEqual(['verify', 'verify', 'verify', 'hash', 'hash', 'hash']);
    await keymint.close();
  });
});

describe('the default hashing concurrency', () => {
  // One more hash than the cores: a core whose hash finished runs another while the event loop
  // hands its thread the next one (bench: a 1,000-key herd at ~1.15× the bound, ~1.4× with as
  // many as the cores). Below libuv's pool, so file and DNS work keep a thread.
  const expected = defaultHashConcurrency(threadPoolSize(), availableParallelism());

  it.each([
    // [pool, cores, concurrency]
    [4, 1, 1],
    [4, 2, 3],
    [4, 8, 3],
    [1, 8, 1],
    [2, 8, 1],
    [3, 2, 2],
    [16, 4, 5],
    [64, 16, 17],
  ])('a pool of %i threads on %i cores runs %i hashes at once', (pool, cores, concurrency) => {
    expect(defaultHashConcurrency(pool, cores)).toBe(concurrency);
  });

  it.each([
    [undefined, 4],
    ['8', 8],
    ['4.5', 4],
    ['0', 1],
    ['', 1],
    ['many', 1],
    ['-1', 1024],
    ['5000', 1024],
  ])('UV_THREADPOOL_SIZE=%j is a pool of %i threads, as libuv reads it', (env, size) => {
    expect(threadPoolSize(env)).toBe(size);
  });

  it(`runs min(pool - 1, cores + 1) = ${expected} hashes at once on this machine`, async () => {
    const { keymint: maker, adapter } = fastKeymint();
    const keys: string[] = [];
    for (let i = 0; i < expected + 3; i++) {
      keys.push((await maker.createApiKey({ name: `c${i}`, role: 'Viewer', ttl: '1h' })).key);
    }
    const inner = hmacSha256Hasher(HMAC_SECRET);
    let running = 0;
    let most = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const hasher: Hasher = {
      hash: (secret) => inner.hash(secret),
      async verify(hash, secret) {
        most = Math.max(most, ++running);
        await gate;
        running--;
        return inner.verify(hash, secret);
      },
    };
    const keymint = createKeymint({ adapter, hasher });
    const pending = keys.map((key) => keymint.verifyKey(key));
    await vi.waitFor(() => expect(running).toBe(expected), { interval: 1, timeout: 5_000 });
    await flush();
    expect(running).toBe(expected);
    release();
    expect((await Promise.all(pending)).every((r) => r.valid)).toBe(true);
    expect(most).toBe(expected);
    await keymint.close();
    await maker.close();
  });
});

describe('the wait estimate with more hashes than cores', () => {
  /** A limiter on a test clock; `finish(ms)` ends the oldest running task after `ms` more. */
  function sharedLimiter(concurrency: number, cores?: number) {
    let now = 0;
    const ends: Array<() => void> = [];
    const limiter = new HashLimiter({
      concurrency,
      maxQueue: 100,
      maxWaitMs: Number.POSITIVE_INFINITY,
      now: () => now,
      ...(cores !== undefined && { cores }),
    });
    const start = () =>
      limiter.run(() => new Promise<void>((resolve) => ends.push(resolve)), {
        scope: 's',
        id: String(ends.length + Math.random()),
      });
    const finish = async (ms: number) => {
      now += ms;
      ends.shift()!();
      await flush();
    };
    return { limiter, start, finish };
  }

  it('three hashes sharing two cores: each counts as two thirds of its time, and the wait is over two lanes', async () => {
    const { limiter, start, finish } = sharedLimiter(3, 2);
    for (let i = 0; i < 6; i++) void start();
    await flush();
    // Three ran together for 150 ms each: 100 ms each with a core of its own.
    await finish(150);
    expect(limiter.meanTaskMs()).toBeCloseTo(100, 6);
    // Three run and two wait (one moved up): a newcomer is third in line, over two lanes.
    expect(limiter.estimateWaitMs({ scope: 's', id: 'new' })).toBeCloseTo((3 * 100) / 2, 6);
  });

  it('a hash that ran alone counts its whole time, so a herd after it is estimated over the cores, not the slots', async () => {
    const { limiter, start, finish } = sharedLimiter(3, 2);
    void start();
    await flush();
    await finish(100);
    expect(limiter.meanTaskMs()).toBe(100);
    for (let i = 0; i < 13; i++) void start();
    await flush();
    expect(limiter.waiting).toBe(10);
    // The 11th waiting hash drains after 11 × 100 ms / 2 cores, not / 3 slots.
    expect(limiter.estimateWaitMs({ scope: 's', id: 'new' })).toBeCloseTo((11 * 100) / 2, 6);
  });

  it('without cores (or with as many cores as slots) a duration counts whole, over the slots', async () => {
    const { limiter, start, finish } = sharedLimiter(3);
    for (let i = 0; i < 4; i++) void start();
    await flush();
    await finish(150);
    expect(limiter.meanTaskMs()).toBe(150);
    expect(limiter.estimateWaitMs({ scope: 's', id: 'new' })).toBeCloseTo((1 * 150) / 3, 6);
  });
});
