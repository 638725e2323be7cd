// A cache hit before its entry's clearUntil (no wall-clock read) must never answer valid when
// the wall clock, as keymint reads it (whole ms), already says the key expired or its grace
// ended, on a steady clock: the projection allows for the wall reading's rounding down.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { performance } from 'node:perf_hooks';
import { memoryAdapter } from '../src/adapters/memory/index.js';
import { createKeymint } from '../src/core/keymint.js';
import { hmacSha256Hasher } from '../src/core/hasher.js';
import { createTestClock } from '../src/testing/clock.js';
import { HMAC_SECRET, T0 } from './helpers.js';

/** A keymint on a test clock whose wall time is half a ms past a whole ms (monotonic 0). */
function onFractionalClock() {
  const clock = createTestClock(T0 + 0.5);
  const keymint = createKeymint({
    adapter: memoryAdapter(),
    hasher: hmacSha256Hasher(HMAC_SECRET),
    cache: { ttl: '30s' },
    now: clock.now,
    lastUsedDelayMs: 0,
  });
  return { clock, keymint };
}

describe('clearUntil vs. whole-ms wall readings', () => {
  afterEach(() => vi.restoreAllMocks());

  it('default clocks, steady: a hit after Date.now() reached expiresAt is refused', async () => {
    // One steady time source: performance.now() = t, Date.now() = floor(W0 + t), W0 fractional
    // (the two clocks' offset is never a whole number of ms in a real process).
    let t = 1_000;
    // new Date() (createApiKey's clock) is not mocked: start W0 at the real time.
    const W0 = Date.now() - t + 0.5;
    vi.spyOn(performance, 'now').mockImplementation(() => t);
    vi.spyOn(Date, 'now').mockImplementation(() => Math.floor(W0 + t));
    const keymint = createKeymint({
      adapter: memoryAdapter(),
      hasher: hmacSha256Hasher(HMAC_SECRET),
      cache: { ttl: '30s' },
      lastUsedDelayMs: 0,
    });
    try {
      const { key, apiKey } = await keymint.createApiKey({ name: 'd', role: 'Viewer', ttl: '1s' });
      const expiresAt = apiKey.expiresAt!.getTime();
      t += 0.4; // Date.now() stays, the true wall time is .9 past it
      expect((await keymint.verifyKey(key)).valid).toBe(true); // fills the cache
      // Steady: move t until Date.now() first reads expiresAt.
      t = expiresAt - W0 + 0.2;
      expect(Date.now()).toBe(expiresAt);
      expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'expired' });
    } finally {
      await keymint.close();
    }
  });

  it('test clock with a fractional wall/monotonic offset: same', async () => {
    const { clock, keymint } = onFractionalClock();
    const { key, apiKey } = await keymint.createApiKey({ name: 'c', role: 'Viewer', ttl: '1s' });
    const expiresAt = apiKey.expiresAt!.getTime();
    clock.advance(0.4);
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    clock.set(expiresAt + 0.2); // forward: moves both clocks, no step
    expect(clock.now().getTime()).toBe(expiresAt);
    expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'expired' });
    await keymint.close();
  });

  it('rotated key: the previous secret is refused once the wall clock reads its grace end', async () => {
    const { clock, keymint } = onFractionalClock();
    const { key, apiKey } = await keymint.createApiKey({ name: 'r', role: 'Viewer', ttl: '1h' });
    const rotated = await keymint.rotateApiKey(apiKey.id, { gracePeriod: '10s' });
    const graceEnd = rotated.apiKey.previousKeyExpiresAt!.getTime();
    clock.advance(0.4);
    expect((await keymint.verifyKey(key)).valid).toBe(true); // previous secret, cached
    clock.set(graceEnd + 0.2);
    expect(clock.now().getTime()).toBe(graceEnd);
    expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'rotated' });
    await keymint.close();
  });
});
