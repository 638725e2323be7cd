import { describe, expect, it } from 'vitest';
import type { KeymintEvent } from '../src/index.js';
import { isKeymintError } from '../src/index.js';
import { withChecksum } from '../src/core/key-format.js';
import { DAY, fastKeymint, flush, HOUR, keyParts, T0, withOtherLast } from './helpers.js';

interface User {
  id: string;
}

function recording(overrides: Parameters<typeof fastKeymint<User>>[0] = {}) {
  const events: KeymintEvent<User>[] = [];
  const background: unknown[] = [];
  const made = fastKeymint<User>({
    onEvent: (event) => {
      events.push(event);
    },
    onBackgroundError: (error) => background.push(error),
    ...overrides,
  });
  return { ...made, events, background };
}

/** Waits for the hook: it runs on a later turn of the event loop. */
const settle = async () => {
  await flush();
  await flush();
};

describe('onEvent', () => {
  it('gets key.created, key.revoked, key.deleted and key.purged after the store committed', async () => {
    const { keymint, adapter, events, clock } = recording();
    const alice = { id: 'alice' };
    const { key, apiKey } = await keymint.createApiKey(
      { name: 'ci', role: 'editor', ttl: '12h', scope: 'org-1' },
      { actor: alice },
    );
    await settle();
    expect(events).toEqual([
      {
        type: 'key.created',
        at: new Date(T0),
        keyId: apiKey.id,
        scope: 'org-1',
        name: 'ci',
        actor: alice,
        role: 'Editor',
        expiresAt: new Date(T0 + 12 * HOUR),
      },
    ]);
    clock.advance(1_000);
    await keymint.revokeApiKey(apiKey.id);
    await keymint.revokeApiKey(apiKey.id); // already revoked: nothing changed, no event
    await keymint.deleteApiKey(apiKey.id, { actor: alice });
    const { apiKey: old } = await keymint.createApiKey({ name: 'old', role: 'Viewer', ttl: '1d' });
    clock.advance(2 * DAY);
    expect(await keymint.purgeExpired()).toBe(1);
    expect(await keymint.purgeExpired()).toBe(0); // nothing deleted, no event
    await settle();
    expect(events.slice(1).map((event) => event.type)).toEqual([
      'key.revoked',
      'key.deleted',
      'key.created',
      'key.purged',
    ]);
    expect(events[1]).toEqual({
      type: 'key.revoked',
      at: new Date(T0 + 1_000),
      keyId: apiKey.id,
      scope: 'org-1',
      name: 'ci',
      revokedAt: new Date(T0 + 1_000),
    });
    expect(events[1]).not.toHaveProperty('actor');
    expect(events[2]).toMatchObject({ type: 'key.deleted', keyId: apiKey.id, actor: alice });
    expect(events[4]).toEqual({
      type: 'key.purged',
      at: new Date(T0 + 1_000 + 2 * DAY),
      count: 1,
      expiredBefore: new Date(T0 + 1_000 + 2 * DAY),
    });
    expect(await adapter.findById(old.id)).toBeNull();
    // Never a key, a secret or a hash.
    const text = JSON.stringify(events);
    expect(text).not.toContain(key);
    expect(text).not.toContain(key.slice(-34, -6));
    expect(text).not.toMatch(/secretHash|hmac/i);
    expect(Object.isFrozen(events[0])).toBe(true);
  });

  it('gets key.updated with each change and key.rotated with the grace period end', async () => {
    const { keymint, events } = recording();
    const alice = { id: 'alice' };
    const { apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    await keymint.updateApiKey(apiKey.id, { name: 'ci-2', role: 'Editor' }, { actor: alice });
    await keymint.rotateApiKey(apiKey.id, { gracePeriod: '1h' });
    await settle();
    expect(events[1]).toEqual({
      type: 'key.updated',
      at: new Date(T0),
      keyId: apiKey.id,
      scope: 'default',
      name: 'ci-2',
      actor: alice,
      changes: { name: { from: 'ci', to: 'ci-2' }, role: { from: 'Viewer', to: 'Editor' } },
    });
    expect(events[2]).toMatchObject({
      type: 'key.rotated',
      keyId: apiKey.id,
      previousSecretExpiresAt: new Date(T0 + HOUR),
    });
    expect(JSON.stringify(events)).not.toMatch(/secretHash|previousSecretHash/);
  });

  it('emits nothing for an operation that failed or was refused', async () => {
    const { keymint, events } = recording();
    await keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    await expect(keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' })).rejects.toThrow();
    await expect(keymint.revokeApiKey('AAAAAAAAAAAA')).rejects.toThrow();
    await settle();
    expect(events.map((event) => event.type)).toEqual(['key.created']);
  });

  it('a throwing or rejecting hook fails no operation and goes to onBackgroundError', async () => {
    let calls = 0;
    const { keymint, background } = recording({
      onEvent: (event) => {
        calls++;
        if (event.type === 'key.created') throw new Error('audit log down');
        return Promise.reject(new Error('audit log still down'));
      },
    });
    const { apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    await keymint.revokeApiKey(apiKey.id);
    await settle();
    expect(calls).toBe(2);
    expect(background).toHaveLength(2);
    expect(background.every((error) => isKeymintError(error))).toBe(true);
    expect((background[0] as Error).cause).toMatchObject({ message: 'audit log down' });
    expect((background[1] as Error).cause).toMatchObject({ message: 'audit log still down' });
  });

  it('a slow hook does not delay the operation: it runs after the operation answered', async () => {
    let hookRan = false;
    const { keymint } = recording({
      onEvent: () => {
        const until = Date.now() + 300;
        while (Date.now() < until); // a synchronous, blocking hook
        hookRan = true;
      },
    });
    const started = performance.now();
    await keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    expect(hookRan).toBe(false);
    expect(performance.now() - started).toBeLessThan(300);
    // A hook that never settles holds nothing up either.
    const pending = recording({ onEvent: () => new Promise<void>(() => {}) });
    const { apiKey } = await pending.keymint.createApiKey({ name: 'x', role: 'Viewer', ttl: '1h' });
    await pending.keymint.revokeApiKey(apiKey.id);
    await settle();
    expect(hookRan).toBe(true);
  });

  it('refuses an onEvent that is not a function with CONFIG', () => {
    let error: unknown;
    try {
      recording({ onEvent: 'log' as never });
    } catch (caught) {
      error = caught;
    }
    expect(isKeymintError(error, 'CONFIG')).toBe(true);
  });
});

describe('reportLeakedKey()', () => {
  it('revokes a valid key and emits key.revoked then key.leaked with url and source', async () => {
    const { keymint, events } = recording();
    const { key, apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    const found = await keymint.reportLeakedKey(key, {
      url: 'https://github.com/o/r/blob/abc/.env',
      source: 'content',
    });
    expect(found).toMatchObject({ truePositive: true, revoked: true, apiKey: { id: apiKey.id } });
    expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'revoked' });
    await settle();
    expect(events.slice(1)).toEqual([
      expect.objectContaining({ type: 'key.revoked', keyId: apiKey.id }),
      expect.objectContaining({
        type: 'key.leaked',
        keyId: apiKey.id,
        name: 'ci',
        url: 'https://github.com/o/r/blob/abc/.env',
        source: 'content',
        revoked: true,
      }),
    ]);
    // Reported again: still a true positive (the secret matches), nothing more to revoke.
    expect(await keymint.reportLeakedKey(key)).toMatchObject({
      truePositive: true,
      revoked: false,
    });
  });

  it("a revoked or expired key's id with a wrong secret and a valid checksum is a false positive: no record, no event", async () => {
    const { keymint, events } = recording();
    const revoked = await keymint.createApiKey({ name: 'gone', role: 'Admin', ttl: '1h' });
    await keymint.revokeApiKey(revoked.apiKey.id);
    const { prefix, id, secret } = keyParts(revoked.key);
    const other = secret.replace(/^./, (c) => (c === 'a' ? 'b' : 'a'));
    const forged = withChecksum(`${prefix}_${id}_${other}`);
    expect(await keymint.verifyKey(forged)).toEqual({ valid: false, reason: 'revoked' });
    const before = events.length;
    expect(await keymint.reportLeakedKey(forged)).toEqual({ truePositive: false });
    // The key itself still is one.
    expect(await keymint.reportLeakedKey(revoked.key)).toMatchObject({ truePositive: true });
    await settle();
    const leaked = events.slice(before).filter((event) => event.type === 'key.leaked');
    expect(leaked).toHaveLength(1);
  });

  it("with revoke: false only reports; a wrong secret or another prefix's key is a false positive", async () => {
    const { keymint, events } = recording();
    const { key } = await keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    expect(await keymint.reportLeakedKey(key, { revoke: false })).toMatchObject({
      truePositive: true,
      revoked: false,
    });
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    const other = fastKeymint();
    const { key: foreign } = await other.keymint.createApiKey({
      name: 'ci',
      role: 'Viewer',
      ttl: '1h',
    });
    for (const token of [foreign, 'km_nothing', 42, withOtherLast(key)]) {
      expect(await keymint.reportLeakedKey(token)).toEqual({ truePositive: false });
    }
    await settle();
    expect(events.map((event) => event.type)).toEqual(['key.created', 'key.leaked']);
    expect(events[1]).toMatchObject({ revoked: false, url: null, source: null });
    expect((await keymint.verifyKey(key)).valid).toBe(true);
  });
});
