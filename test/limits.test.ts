// Per-key rate limits and credits in the core, over the memory adapter (exactness across
// processes is in test/limits-processes.test.ts, on real servers).
import { describe, expect, it } from 'vitest';
import { createKeymint, hmacSha256Hasher, type KeyAdapter } from '../src/index.js';
import { memoryAdapter } from '../src/adapters/memory/index.js';
import { expectCode, fastKeymint, HMAC_SECRET, HOUR, MINUTE, SECOND, T0 } from './helpers.js';

describe('per-key rate limit', () => {
  it('lets exactly limit verifications through per window, then rate_limited with retryAfterMs', async () => {
    const { keymint, clock } = fastKeymint();
    const { key } = await keymint.createApiKey({
      name: 'ci',
      role: 'Viewer',
      ttl: '1d',
      rateLimit: { limit: 3, window: '1m' },
    });
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await keymint.verifyKey(key));
    expect(results.map((r) => r.valid)).toEqual([true, true, true, false, false]);
    const first = results[0]!;
    expect(first.valid && first.limits?.rateLimit).toEqual({
      limit: 3,
      windowMs: 60_000,
      remaining: 2,
      resetAt: new Date(T0 + MINUTE),
      resetAfterMs: MINUTE,
    });
    expect(results[3]).toMatchObject({
      valid: false,
      reason: 'rate_limited',
      retryAfterMs: 60_000,
    });
    // T0 is on a minute boundary: the next window starts exactly one minute later.
    clock.advance(MINUTE - 1);
    expect(await keymint.verifyKey(key)).toMatchObject({ reason: 'rate_limited', retryAfterMs: 1 });
    clock.advance(1);
    expect((await keymint.verifyKey(key)).valid).toBe(true);
  });

  it('counts nothing for a verification refused for another reason', async () => {
    const { keymint } = fastKeymint();
    const { key, apiKey } = await keymint.createApiKey({
      name: 'ci',
      role: 'Viewer',
      ttl: '1d',
      rateLimit: { limit: 1, window: '1h' },
    });
    expect(await keymint.verifyKey(key, { role: 'Admin' })).toEqual({
      valid: false,
      reason: 'insufficient_role',
    });
    expect(await keymint.verifyKey(key, { scope: 'other' })).toMatchObject({ reason: 'not_found' });
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    await keymint.revokeApiKey(apiKey.id);
    expect(await keymint.verifyKey(key)).toMatchObject({ reason: 'revoked' });
  });

  it('applies the role default of rateLimits to keys without their own, and updateApiKey changes it', async () => {
    const { keymint } = fastKeymint({ rateLimits: { viewer: { limit: 1, window: '1h' } } });
    const { key, apiKey } = await keymint.createApiKey({ name: 'v', role: 'Viewer', ttl: '1d' });
    const editor = await keymint.createApiKey({ name: 'e', role: 'Editor', ttl: '1d' });
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    expect((await keymint.verifyKey(key)).valid).toBe(false);
    for (let i = 0; i < 3; i++)
      expect(await keymint.verifyKey(editor.key)).toEqual({ valid: true, apiKey: editor.apiKey });
    const updated = await keymint.updateApiKey(apiKey.id, {
      rateLimit: { limit: 5, window: '1h' },
    });
    expect(updated.limits).toEqual({ rateLimit: { limit: 5, windowMs: HOUR } });
    // The count of the window stays: 1 of 5 used.
    const after = await keymint.verifyKey(key);
    expect(after.valid && after.limits?.rateLimit?.remaining).toBe(3);
    expect((await keymint.updateApiKey(apiKey.id, { rateLimit: null })).limits).toBeNull();
    expect((await keymint.verifyKey(key)).valid).toBe(false); // the role default again, used up
  });

  it('refuses bad limits with INVALID_INPUT and writes nothing', async () => {
    const { keymint } = fastKeymint();
    for (const rateLimit of [
      { limit: 0, window: '1m' },
      { limit: 1.5, window: '1m' },
      { limit: 1, window: '1x' },
      { limit: 1 },
      { limit: 1, window: '1m', burst: 2 },
    ]) {
      await expectCode(
        keymint.createApiKey({
          name: 'x',
          role: 'Viewer',
          ttl: '1d',
          rateLimit: rateLimit as never,
        }),
        'INVALID_INPUT',
      );
    }
    await expectCode(
      keymint.createApiKey({ name: 'x', role: 'Viewer', ttl: '1d', credits: { remaining: -1 } }),
      'INVALID_INPUT',
    );
    expect(await keymint.listApiKeys()).toEqual([]);
    const { key } = await keymint.createApiKey({ name: 'x', role: 'Viewer', ttl: '1d' });
    await expectCode(keymint.verifyKey(key, { cost: -1 }), 'INVALID_INPUT');
    expect(() => fastKeymint({ rateLimits: { Owner: { limit: 1, window: '1m' } } })).toThrow(
      /role/i,
    );
  });

  it('needs consumeUsage: CONFIG for limits over an adapter without it', async () => {
    const { consumeUsage: _, ...bare } = memoryAdapter();
    const keymint = createKeymint({
      adapter: bare as KeyAdapter,
      hasher: hmacSha256Hasher(HMAC_SECRET),
    });
    await expectCode(
      keymint.createApiKey({
        name: 'x',
        role: 'Viewer',
        ttl: '1d',
        rateLimit: { limit: 1, window: '1m' },
      }),
      'CONFIG',
    );
    expect(() =>
      createKeymint({
        adapter: bare as KeyAdapter,
        rateLimits: { Viewer: { limit: 1, window: '1m' } },
      }),
    ).toThrow(/consumeUsage/);
  });

  it('fails closed when the counter fails', async () => {
    const adapter = memoryAdapter();
    let down = false;
    const consume = adapter.consumeUsage!.bind(adapter);
    adapter.consumeUsage = async (id, request) => {
      if (down) throw new Error('down');
      return consume(id, request);
    };
    const { keymint } = fastKeymint({ adapter });
    const { key } = await keymint.createApiKey({
      name: 'x',
      role: 'Viewer',
      ttl: '1d',
      rateLimit: { limit: 9, window: '1m' },
    });
    expect((await keymint.verifyKey(key)).valid).toBe(true); // cached now
    down = true;
    await expectCode(keymint.verifyKey(key), 'STORE_FAILURE');
  });
});

describe('credits', () => {
  it('spends cost per valid verification, 0 spends nothing, usage_exceeded at 0', async () => {
    const { keymint } = fastKeymint();
    const { key } = await keymint.createApiKey({
      name: 'c',
      role: 'Viewer',
      ttl: '1d',
      credits: { remaining: 3 },
    });
    const a = await keymint.verifyKey(key, { cost: 2 });
    expect(a.valid && a.limits?.credits).toEqual({ remaining: 1, resetAt: null });
    expect(await keymint.verifyKey(key, { cost: 2 })).toEqual({
      valid: false,
      reason: 'usage_exceeded',
    });
    const check = await keymint.verifyKey(key, { cost: 0 });
    expect(check.valid && check.limits?.credits?.remaining).toBe(1);
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    expect(await keymint.verifyKey(key, { cost: 0 })).toEqual({
      valid: false,
      reason: 'usage_exceeded',
    });
  });

  it('refills to amount at each interval boundary aligned to the epoch, without drift', async () => {
    const { keymint, clock } = fastKeymint();
    clock.advance(30 * MINUTE); // mid-hour: the refill still comes on the hour
    const { key, apiKey } = await keymint.createApiKey({
      name: 'c',
      role: 'Viewer',
      ttl: '1d',
      credits: { remaining: 1, refill: { amount: 2, interval: '1h' } },
    });
    const first = await keymint.verifyKey(key);
    expect(first.valid && first.limits?.credits).toEqual({
      remaining: 0,
      resetAt: new Date(T0 + HOUR),
    });
    expect((await keymint.verifyKey(key)).valid).toBe(false);
    clock.advance(30 * MINUTE - SECOND);
    expect((await keymint.verifyKey(key)).valid).toBe(false);
    clock.advance(SECOND);
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    expect((await keymint.verifyKey(key)).valid).toBe(false);
    // Updating credits sets the balance again, now.
    await keymint.updateApiKey(apiKey.id, { credits: { remaining: 1 } });
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    expect((await keymint.verifyKey(key)).valid).toBe(false);
  });

  it('a leak report spends nothing', async () => {
    const { keymint } = fastKeymint();
    const { key } = await keymint.createApiKey({
      name: 'c',
      role: 'Viewer',
      ttl: '1d',
      credits: { remaining: 1 },
    });
    expect((await keymint.reportLeakedKey(key, { revoke: false })).truePositive).toBe(true);
    expect((await keymint.verifyKey(key)).valid).toBe(true);
  });
});
