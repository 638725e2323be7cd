import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import { hmacSha256Hasher } from '../../core/hasher.js';
import { KEY_SECRET_LENGTH, withChecksum } from '../../core/key-format.js';
import { createKeymint } from '../../core/keymint.js';
import { isKeymintError } from '../../errors.js';
import { createTestClock } from '../clock.js';
import type { GroupBody, SuiteContext } from '../conformance.js';

function setUp({ adapter, now }: SuiteContext) {
  const clock = createTestClock(now());
  const errors: unknown[] = [];
  const keymint = createKeymint({
    adapter: adapter(),
    hasher: hmacSha256Hasher(randomBytes(32)),
    now: clock.now,
    onBackgroundError: (error) => errors.push(error),
  });
  return { keymint, clock, errors };
}

async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  for (let i = 0; ; i++) {
    const value = await read();
    if (done(value) || i >= 200) return value;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function codeOf(promise: Promise<unknown>): Promise<string | undefined> {
  try {
    await promise;
    return undefined;
  } catch (error) {
    return isKeymintError(error) ? error.code : `not a KeymintError: ${String(error)}`;
  }
}

const lifeCycle: GroupBody = (context) => {
  it('creates a key that verifies, records its last use, and expires at its TTL', async () => {
    const { keymint, clock, errors } = setUp(context);
    const { key, apiKey } = await keymint.createApiKey({
      name: 'ci 🔑',
      role: 'Editor',
      ttl: '1h',
      metadata: { owner: 'ops' },
    });
    const stored = await context.adapter().findById(apiKey.id);
    expect(stored).toMatchObject({ name: 'ci 🔑', role: 'Editor', metadata: { owner: 'ops' } });
    expect(stored?.secretHash).not.toContain(key.split('_')[2]!.slice(0, KEY_SECRET_LENGTH));

    const result = await keymint.verifyKey(key, { role: 'Viewer' });
    expect(result).toEqual({ valid: true, apiKey: expect.objectContaining({ id: apiKey.id }) });
    const touched = await eventually(
      () => context.adapter().findById(apiKey.id),
      (r) => r?.lastUsedAt !== null,
    );
    expect(touched?.lastUsedAt).toEqual(clock.now());
    expect(await keymint.verifyKey(key, { role: 'Admin' })).toEqual({
      valid: false,
      reason: 'insufficient_role',
    });

    clock.advance(3_600_000 - 1);
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    clock.advance(1);
    expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'expired' });
    expect(await keymint.listApiKeys()).toEqual([]);
    expect((await keymint.listApiKeys({ includeExpired: true })).map((k) => k.id)).toEqual([
      apiKey.id,
    ]);
    expect(errors).toEqual([]);
  });

  it('refuses a revoked key from then on, and keeps the revocation time', async () => {
    const { keymint, clock } = setUp(context);
    const { key, apiKey } = await keymint.createApiKey({
      name: 'deploy',
      role: 'Admin',
      ttl: '1d',
    });
    clock.advance(5_000);
    const revoked = await keymint.revokeApiKey(apiKey.id);
    expect(revoked.revokedAt).toEqual(clock.now());
    expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'revoked' });
    expect((await keymint.getApiKey(apiKey.id)).revokedAt).toEqual(revoked.revokedAt);
    clock.advance(5_000);
    expect((await keymint.revokeApiKey(apiKey.id)).revokedAt).toEqual(revoked.revokedAt);
  });

  it('refuses a wrong secret for a real id, and a deleted key', async () => {
    const { keymint } = setUp(context);
    const { key, apiKey } = await keymint.createApiKey({ name: 'gone', role: 'Viewer', ttl: '1h' });
    const other = await keymint.createApiKey({ name: 'other', role: 'Viewer', ttl: '1h' });
    const [prefix, id] = key.split('_');
    const otherSecret = other.key.split('_')[2]!.slice(0, KEY_SECRET_LENGTH);
    const forged = withChecksum(`${prefix}_${id}_${otherSecret}`);
    expect(await keymint.verifyKey(forged)).toEqual({ valid: false, reason: 'not_found' });
    await keymint.deleteApiKey(apiKey.id);
    expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'not_found' });
    expect(await codeOf(keymint.getApiKey(apiKey.id))).toBe('NOT_FOUND');
    expect((await keymint.verifyKey(other.key)).valid).toBe(true);
  });

  it('holds an expired name until purgeExpired() frees it for a new key', async () => {
    const { keymint, clock } = setUp(context);
    const old = await keymint.createApiKey({ name: 'nightly', role: 'Viewer', ttl: '1h' });
    const kept = await keymint.createApiKey({ name: 'kept', role: 'Viewer', ttl: '3h' });
    clock.advanceBy('2h');
    expect(await codeOf(keymint.createApiKey({ name: 'nightly', role: 'Viewer', ttl: '1h' }))).toBe(
      'NAME_TAKEN',
    );
    expect(await keymint.purgeExpired({ olderThan: '2h' })).toBe(0);
    expect(await keymint.purgeExpired({ olderThan: '1h' })).toBe(1);
    const fresh = await keymint.createApiKey({ name: 'nightly', role: 'Viewer', ttl: '1h' });
    expect(await keymint.verifyKey(old.key)).toEqual({ valid: false, reason: 'not_found' });
    expect((await keymint.verifyKey(fresh.key)).valid).toBe(true);
    expect((await keymint.verifyKey(kept.key)).valid).toBe(true);
    expect((await keymint.listApiKeys()).map((k) => k.name)).toEqual(['kept', 'nightly']);
  });
};

export const lifeCycleGroup = lifeCycle;
