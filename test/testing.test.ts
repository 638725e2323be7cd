import { describe, expect, it } from 'vitest';
import { memoryAdapter } from '../src/adapters/memory/index.js';
import { hmacSha256Hasher } from '../src/core/hasher.js';
import { isKeymintError, type KeymintErrorCode } from '../src/errors.js';
import { createTestClock, createTestKeymint } from '../src/testing/index.js';

const T = Date.UTC(2030, 0, 1, 12, 0, 0, 123);
const HOUR = 3_600_000;

/** The code of the KeymintError `run` throws, and its message. */
function thrownBy(run: () => unknown): { code: KeymintErrorCode; message: string } {
  try {
    run();
  } catch (error) {
    if (isKeymintError(error)) return { code: error.code, message: error.message };
    throw new Error(`Not a KeymintError: ${String(error)}`, { cause: error });
  }
  throw new Error('Expected a KeymintError; nothing was thrown.');
}

async function rejectionOf(promise: Promise<unknown>): Promise<KeymintErrorCode> {
  try {
    await promise;
  } catch (error) {
    if (isKeymintError(error)) return error.code;
    throw new Error(`Not a KeymintError: ${String(error)}`, { cause: error });
  }
  throw new Error('Expected a KeymintError; the promise fulfilled.');
}

describe('createTestClock()', () => {
  it('starts at a given Date or at given epoch milliseconds', () => {
    expect(createTestClock(new Date(T)).now().getTime()).toBe(T);
    expect(createTestClock(T).now().getTime()).toBe(T);
    expect(createTestClock(0).now().getTime()).toBe(0);
  });

  it('starts at the real time when given nothing, and never moves by itself', async () => {
    const before = Date.now();
    const clock = createTestClock();
    const after = Date.now();
    const start = clock.now().getTime();
    expect(start).toBeGreaterThanOrEqual(before);
    expect(start).toBeLessThanOrEqual(after);
    // Until the real clock has observably moved on.
    while (Date.now() < after + 5) await new Promise((resolve) => setTimeout(resolve, 1));
    expect(clock.now().getTime()).toBe(start);
  });

  it('is not moved by later changes to the start Date', () => {
    const start = new Date(T);
    const clock = createTestClock(start);
    start.setTime(0);
    expect(clock.now().getTime()).toBe(T);
  });

  it('returns a fresh Date from each now(), which the caller may change freely', () => {
    const clock = createTestClock(T);
    const a = clock.now();
    const b = clock.now();
    expect(a).toBeInstanceOf(Date);
    expect(a).not.toBe(b);
    expect(a).toEqual(b);
    a.setTime(0);
    expect(clock.now().getTime()).toBe(T);
  });

  it('works as a detached function (now: clock.now)', () => {
    const { now } = createTestClock(T);
    expect(now().getTime()).toBe(T);
  });

  it('advance(ms) moves forward, and back when negative', () => {
    const clock = createTestClock(T);
    clock.advance(1_500);
    expect(clock.now().getTime()).toBe(T + 1_500);
    clock.advance(-500);
    expect(clock.now().getTime()).toBe(T + 1_000);
    clock.advance(0);
    expect(clock.now().getTime()).toBe(T + 1_000);
  });

  it('advanceBy() moves by a time to live in keymint syntax, or by a number of seconds', () => {
    const clock = createTestClock(T);
    clock.advanceBy('1h');
    expect(clock.now().getTime()).toBe(T + HOUR);
    clock.advanceBy('90s');
    expect(clock.now().getTime()).toBe(T + HOUR + 90_000);
    clock.advanceBy('30d');
    expect(clock.now().getTime()).toBe(T + HOUR + 90_000 + 30 * 24 * HOUR);
    clock.advanceBy(60);
    expect(clock.now().getTime()).toBe(T + HOUR + 150_000 + 30 * 24 * HOUR);
  });

  it('advanceBy() is not held to the default 30-day maximum of keys', () => {
    const clock = createTestClock(T);
    clock.advanceBy('365d');
    expect(clock.now().getTime()).toBe(T + 365 * 24 * HOUR);
  });

  it('advanceBy() refuses what is not a time to live, and leaves the clock where it was', () => {
    const clock = createTestClock(T);
    for (const bad of ['1.5h', '1h30m', 'soon', '0s', '-1h', 0, -5, 1.5]) {
      expect(thrownBy(() => clock.advanceBy(bad)).code, String(bad)).toBe('INVALID_TTL');
    }
    expect(clock.now().getTime()).toBe(T);
  });

  it('set() moves to a Date or to epoch milliseconds, also backwards', () => {
    const clock = createTestClock(T);
    clock.set(new Date(T + 5 * HOUR));
    expect(clock.now().getTime()).toBe(T + 5 * HOUR);
    clock.set(T - HOUR);
    expect(clock.now().getTime()).toBe(T - HOUR);
  });

  it('refuses an invalid start with INVALID_INPUT', () => {
    for (const bad of [
      Number.NaN,
      Number.POSITIVE_INFINITY,
      new Date('not a date'),
      '2030-01-01',
      {},
      null,
      8.64e15 + 1, // beyond the range of a Date
    ]) {
      expect(thrownBy(() => createTestClock(bad as never)).code, String(bad)).toBe('INVALID_INPUT');
    }
  });

  it('refuses an invalid set() or advance() with INVALID_INPUT and does not move', () => {
    const clock = createTestClock(T);
    for (const bad of [Number.NaN, new Date(Number.NaN), '2030-01-01', { getTime: () => T }]) {
      expect(thrownBy(() => clock.set(bad as never)).code, String(bad)).toBe('INVALID_INPUT');
    }
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, 8.64e15]) {
      expect(thrownBy(() => clock.advance(bad)).code, String(bad)).toBe('INVALID_INPUT');
    }
    expect(clock.now().getTime()).toBe(T);
  });

  it("refuses advance('1h') with INVALID_INPUT, pointing to advanceBy()", () => {
    const clock = createTestClock(T);
    const error = thrownBy(() => clock.advance('1h' as never));
    expect(error.code).toBe('INVALID_INPUT');
    expect(error.message).toContain('advanceBy');
    expect(clock.now().getTime()).toBe(T);
  });
});

describe('createTestKeymint()', () => {
  it('writes lastUsedAt on the next turn of the event loop, not a second later', async () => {
    const { keymint, clock } = createTestKeymint();
    const { key, apiKey } = await keymint.createApiKey({ name: 'lu', role: 'Viewer', ttl: '1h' });
    await keymint.verifyKey(key);
    await new Promise((resolve) => setImmediate(resolve));
    expect((await keymint.getApiKey(apiKey.id)).lastUsedAt).toEqual(clock.now());
  });

  it('creates a key that verifies, and expires when the clock passes its TTL', async () => {
    const { keymint, clock } = createTestKeymint();
    const { key, apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
    expect(await keymint.verifyKey(key, { role: 'Viewer' })).toEqual({
      valid: true,
      apiKey: expect.objectContaining({ id: apiKey.id, name: 'ci', role: 'Editor' }),
    });
    clock.advance(HOUR - 1);
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    clock.advanceBy('1s');
    expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'expired' });
  });

  it('runs on its clock, which starts at the real time', async () => {
    const before = Date.now();
    const { keymint, clock } = createTestKeymint();
    const after = Date.now();
    clock.advanceBy('2h');
    const { apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    expect(apiKey.createdAt.getTime()).toBe(clock.now().getTime());
    expect(apiKey.createdAt.getTime()).toBeGreaterThanOrEqual(before + 2 * HOUR);
    expect(apiKey.createdAt.getTime()).toBeLessThanOrEqual(after + 2 * HOUR);
    expect(apiKey.expiresAt?.getTime()).toBe(apiKey.createdAt.getTime() + HOUR);
  });

  it('stores keys with the fast HMAC-SHA-256 hasher in its adapter', async () => {
    const { keymint, adapter } = createTestKeymint();
    const { apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    const stored = await adapter.findById(apiKey.id);
    expect(stored?.secretHash.startsWith('hmac-sha256:')).toBe(true);
  });

  it('gives independent instances: own store, own clock; a key of one is unknown to another', async () => {
    const a = createTestKeymint();
    const b = createTestKeymint();
    expect(a.adapter).not.toBe(b.adapter);
    expect(a.clock).not.toBe(b.clock);
    const { key } = await a.keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    expect(await b.keymint.verifyKey(key)).toEqual({ valid: false, reason: 'not_found' });
    expect(await b.keymint.listApiKeys()).toEqual([]);
    const other = await b.keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    expect(await a.keymint.verifyKey(other.key)).toEqual({ valid: false, reason: 'not_found' });
    // Each runs on its own clock.
    a.clock.advanceBy('2h');
    expect(await a.keymint.verifyKey(key)).toEqual({ valid: false, reason: 'expired' });
    expect((await b.keymint.verifyKey(other.key)).valid).toBe(true);
  });

  it('gives each instance its own hasher secret: a copied record does not verify', async () => {
    const a = createTestKeymint();
    const b = createTestKeymint();
    const { key, apiKey } = await a.keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    const record = (await a.adapter.findById(apiKey.id))!;
    expect(await b.adapter.insert(record)).toEqual({ ok: true });
    // b has the record, so only the hash can refuse the key.
    expect((await b.keymint.getApiKey(apiKey.id)).name).toBe('ci');
    expect(await b.keymint.verifyKey(key)).toEqual({ valid: false, reason: 'not_found' });
    expect((await a.keymint.verifyKey(key)).valid).toBe(true);
  });

  it('verifies a copied record when both instances are given the same hasher', async () => {
    const hasher = hmacSha256Hasher('s'.repeat(32));
    const a = createTestKeymint({ hasher });
    const b = createTestKeymint({ hasher });
    const { key, apiKey } = await a.keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    await b.adapter.insert((await a.adapter.findById(apiKey.id))!);
    expect((await b.keymint.verifyKey(key)).valid).toBe(true);
  });

  it('applies overridden roles', async () => {
    const { keymint } = createTestKeymint({ roles: ['reader', 'writer'] });
    expect(keymint.roles).toEqual(['reader', 'writer']);
    const { key } = await keymint.createApiKey({ name: 'ci', role: 'writer', ttl: '1h' });
    expect((await keymint.verifyKey(key, { role: 'reader' })).valid).toBe(true);
    expect(await rejectionOf(keymint.createApiKey({ name: 'x', role: 'Viewer', ttl: '1h' }))).toBe(
      'INVALID_ROLE',
    );
  });

  it('applies an overridden maxTtl', async () => {
    const { keymint } = createTestKeymint({ maxTtl: '1h' });
    expect(keymint.maxTtlSeconds).toBe(3_600);
    await keymint.createApiKey({ name: 'ok', role: 'Viewer', ttl: '1h' });
    expect(await rejectionOf(keymint.createApiKey({ name: 'x', role: 'Viewer', ttl: '2h' }))).toBe(
      'TTL_TOO_LONG',
    );
  });

  it('uses an explicit adapter as given, and returns it', async () => {
    const adapter = memoryAdapter();
    const result = createTestKeymint({ adapter });
    expect(result.adapter).toBe(adapter);
    const { apiKey } = await result.keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    expect((await adapter.findById(apiKey.id))?.name).toBe('ci');
  });

  it('uses an overridden now() instead of its clock', async () => {
    const { keymint, clock } = createTestKeymint({ now: () => new Date(T) });
    clock.advanceBy('5h');
    const { apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    expect(apiKey.createdAt.getTime()).toBe(T);
  });

  it('refuses invalid overrides with CONFIG, as createKeymint() does', () => {
    expect(thrownBy(() => createTestKeymint({ maxTtl: 'forever' })).code).toBe('CONFIG');
    expect(thrownBy(() => createTestKeymint({ roles: [] })).code).toBe('CONFIG');
  });
});
