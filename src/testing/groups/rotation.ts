import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import { hmacSha256Hasher } from '../../core/hasher.js';
import { createKeymint } from '../../core/keymint.js';
import { isKeymintError } from '../../errors.js';
import { createTestClock } from '../clock.js';
import type { GroupBody, SuiteContext } from '../conformance.js';
import { modifyOf } from './modify.js';

function setUp({ adapter, now }: SuiteContext, cache = true) {
  modifyOf(adapter());
  const clock = createTestClock(now());
  const errors: unknown[] = [];
  const keymint = createKeymint({
    adapter: adapter(),
    hasher: hmacSha256Hasher(randomBytes(32)),
    now: clock.now,
    onBackgroundError: (error) => errors.push(error),
    ...(cache ? {} : { cache: false as const }),
  });
  return { keymint, clock, errors };
}

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return isKeymintError(error) ? error.code : `not a KeymintError: ${String(error)}`;
  }
}

const rotation: GroupBody = (context) => {
  it('gives a key a new secret and keeps everything else; the old key is rotated at once', async () => {
    const { keymint, clock, errors } = setUp(context);
    const created = await keymint.createApiKey({
      name: 'deploy',
      role: 'Editor',
      ttl: '2h',
      metadata: { team: 'ops' },
    });
    expect((await keymint.verifyKey(created.key)).valid).toBe(true);
    clock.advanceBy('1h');
    const rotated = await keymint.rotateApiKey(created.apiKey.id);
    expect(rotated.key).not.toBe(created.key);
    expect(rotated.apiKey).toMatchObject({
      id: created.apiKey.id,
      name: 'deploy',
      role: 'Editor',
      scope: 'default',
      metadata: { team: 'ops' },
      createdAt: created.apiKey.createdAt,
      rotatedAt: clock.now(),
      previousKeyExpiresAt: clock.now(),
      // The key's own time to live (2h), counted from the rotation.
      expiresAt: new Date(clock.now().getTime() + 2 * 3_600_000),
    });
    expect(await keymint.verifyKey(created.key)).toEqual({ valid: false, reason: 'rotated' });
    const result = await keymint.verifyKey(rotated.key, { role: 'Editor' });
    expect(result).toEqual({
      valid: true,
      apiKey: expect.objectContaining({ id: created.apiKey.id }),
    });
    const stored = await context.adapter().findById(created.apiKey.id);
    expect(stored?.secretHash).not.toBe(stored?.previousSecretHash);
    expect(stored?.ttlSeconds).toBe(7_200);
    expect(errors).toEqual([]);
  });

  it('lets the old key verify during the grace period and answers rotated from its end', async () => {
    const { keymint, clock } = setUp(context);
    const created = await keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1d' });
    const rotated = await keymint.rotateApiKey(created.apiKey.id, { gracePeriod: '1h' });
    expect(rotated.apiKey.previousKeyExpiresAt).toEqual(
      new Date(clock.now().getTime() + 3_600_000),
    );
    expect((await keymint.verifyKey(created.key)).valid).toBe(true);
    expect((await keymint.verifyKey(rotated.key)).valid).toBe(true);
    clock.advance(3_600_000 - 1);
    expect((await keymint.verifyKey(created.key)).valid).toBe(true);
    clock.advance(1);
    expect(await keymint.verifyKey(created.key)).toEqual({ valid: false, reason: 'rotated' });
    expect((await keymint.verifyKey(rotated.key)).valid).toBe(true);
  });

  it('ends an earlier grace period at once when the key is rotated again', async () => {
    const { keymint } = setUp(context);
    const first = await keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1d' });
    const second = await keymint.rotateApiKey(first.apiKey.id, { gracePeriod: '1h' });
    expect((await keymint.verifyKey(first.key)).valid).toBe(true);
    const third = await keymint.rotateApiKey(first.apiKey.id, { gracePeriod: '1h' });
    expect(await keymint.verifyKey(first.key)).toEqual({ valid: false, reason: 'not_found' });
    expect((await keymint.verifyKey(second.key)).valid).toBe(true);
    expect((await keymint.verifyKey(third.key)).valid).toBe(true);
  });

  it('never lets the grace period outlast the old key, and sets the new ttl from now', async () => {
    const { keymint, clock } = setUp(context);
    const created = await keymint.createApiKey({ name: 'short', role: 'Viewer', ttl: '1h' });
    clock.advanceBy('50m');
    const rotated = await keymint.rotateApiKey(created.apiKey.id, {
      gracePeriod: '1d',
      ttl: '3h',
    });
    expect(rotated.apiKey.previousKeyExpiresAt).toEqual(created.apiKey.expiresAt);
    expect(rotated.apiKey.expiresAt).toEqual(new Date(clock.now().getTime() + 3 * 3_600_000));
    clock.advanceBy('10m');
    expect(await keymint.verifyKey(created.key)).toEqual({ valid: false, reason: 'rotated' });
    expect((await keymint.verifyKey(rotated.key)).valid).toBe(true);
  });

  it('refuses to rotate or update a revoked or an expired key, changing nothing', async () => {
    const { keymint, clock } = setUp(context);
    const revoked = await keymint.createApiKey({ name: 'revoked', role: 'Viewer', ttl: '2h' });
    const expired = await keymint.createApiKey({ name: 'expired', role: 'Viewer', ttl: '1h' });
    await keymint.revokeApiKey(revoked.apiKey.id);
    clock.advanceBy('1h');
    const before = await Promise.all(
      [revoked, expired].map((k) => context.adapter().findById(k.apiKey.id)),
    );
    expect(await codeOf(keymint.rotateApiKey(revoked.apiKey.id))).toBe('REVOKED');
    expect(await codeOf(keymint.updateApiKey(revoked.apiKey.id, { role: 'Admin' }))).toBe(
      'REVOKED',
    );
    expect(await codeOf(keymint.rotateApiKey(expired.apiKey.id))).toBe('EXPIRED');
    expect(await codeOf(keymint.updateApiKey(expired.apiKey.id, { ttl: '1h' }))).toBe('EXPIRED');
    const after = await Promise.all(
      [revoked, expired].map((k) => context.adapter().findById(k.apiKey.id)),
    );
    expect(after).toEqual(before);
    expect(await keymint.verifyKey(revoked.key)).toEqual({ valid: false, reason: 'revoked' });
    expect(await keymint.verifyKey(expired.key)).toEqual({ valid: false, reason: 'expired' });
  });

  it('updates name, role, metadata and expiry; a cached key is seen with its new role at once', async () => {
    const { keymint, clock } = setUp(context);
    const created = await keymint.createApiKey({ name: 'ci', role: 'Admin', ttl: '1h' });
    await keymint.createApiKey({ name: 'taken', role: 'Viewer', ttl: '1h' });
    expect((await keymint.verifyKey(created.key, { role: 'Admin' })).valid).toBe(true);
    clock.advanceBy('30m');
    const updated = await keymint.updateApiKey(created.apiKey.id, {
      name: 'ci (read-only)',
      role: 'viewer',
      metadata: { why: 'downgraded' },
      ttl: '2h',
    });
    expect(updated).toMatchObject({
      id: created.apiKey.id,
      name: 'ci (read-only)',
      role: 'Viewer',
      metadata: { why: 'downgraded' },
      expiresAt: new Date(clock.now().getTime() + 2 * 3_600_000),
      createdAt: created.apiKey.createdAt,
    });
    expect(await keymint.verifyKey(created.key, { role: 'Admin' })).toEqual({
      valid: false,
      reason: 'insufficient_role',
    });
    expect(await codeOf(keymint.updateApiKey(created.apiKey.id, { name: 'taken' }))).toBe(
      'NAME_TAKEN',
    );
    expect((await keymint.updateApiKey(created.apiKey.id, { metadata: null })).metadata).toBeNull();
    clock.advanceBy('1h');
    expect((await keymint.verifyKey(created.key)).valid).toBe(true);
    const names = (await keymint.listApiKeys({ includeExpired: true })).map((k) => k.name);
    expect(names).toEqual(['ci (read-only)', 'taken']);
  });

  it('rotate racing verify: once the rotation returns, the old key never verifies again', async () => {
    const { keymint } = setUp(context);
    const created = await keymint.createApiKey({ name: 'raced', role: 'Viewer', ttl: '1h' });
    expect((await keymint.verifyKey(created.key)).valid).toBe(true);
    const inFlight = Array.from({ length: 30 }, () => keymint.verifyKey(created.key));
    const rotation = keymint.rotateApiKey(created.apiKey.id);
    const alongside = Array.from({ length: 30 }, () => keymint.verifyKey(created.key));
    const rotated = await rotation;
    const after = await Promise.all(
      Array.from({ length: 10 }, () => keymint.verifyKey(created.key)),
    );
    for (const result of [...(await Promise.all(inFlight)), ...(await Promise.all(alongside))]) {
      expect(result.valid || (!result.valid && result.reason === 'rotated')).toBe(true);
    }
    for (const result of after) expect(result).toEqual({ valid: false, reason: 'rotated' });
    expect((await keymint.verifyKey(rotated.key)).valid).toBe(true);
  });

  it('never lets two of 10 concurrent rotations both win silently: losers get CONFLICT, one key works', async () => {
    const { keymint } = setUp(context, false);
    const created = await keymint.createApiKey({ name: 'contested', role: 'Viewer', ttl: '1h' });
    const outcomes = await Promise.allSettled(
      Array.from({ length: 10 }, () => keymint.rotateApiKey(created.apiKey.id)),
    );
    const won = outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));
    const lost = outcomes.flatMap((o) => (o.status === 'rejected' ? [o.reason] : []));
    // A rotation that starts after another landed rotates again (and ends that one's key): each
    // success replaced the key the one before it returned, and every other call was told.
    expect(won.length).toBeGreaterThanOrEqual(1);
    expect(lost).toHaveLength(10 - won.length);
    for (const error of lost) expect(isKeymintError(error) && error.code).toBe('CONFLICT');
    const results = await Promise.all(won.map((w) => keymint.verifyKey(w.key)));
    expect(results.filter((r) => r.valid)).toHaveLength(1);
    const stored = await context.adapter().findById(created.apiKey.id);
    expect(
      won.filter((w) => w.apiKey.rotatedAt?.getTime() === stored?.rotatedAt?.getTime()).length,
    ).toBeGreaterThanOrEqual(1);
    expect((await keymint.verifyKey(created.key)).valid).toBe(false);
  });
};

export const rotationGroup = rotation;
