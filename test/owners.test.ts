// Owners: createApiKey({ owner }), listApiKeys({ owner }), revokeApiKeys({ owner }) and the owner
// in authorize requests, on the memory adapter (the store-side rules are the conformance
// groups 'owners' and 'revoke by owner'; test/owners-stores.test.ts runs two instances on real
// stores).
import { describe, expect, it } from 'vitest';
import type { KeyAdapter } from '../src/adapter.js';
import { memoryAdapter } from '../src/adapters/memory/index.js';
import type { AuthorizeRequest, KeymintEvent } from '../src/index.js';
import { expectCode, fastKeymint, flush } from './helpers.js';

const create = (owner: unknown, name = 'k') =>
  fastKeymint().keymint.createApiKey({ name, role: 'Viewer', ttl: '1h', owner } as never);

describe('createApiKey({ owner })', () => {
  it('stores the owner and returns it on the key, and null without one', async () => {
    const { keymint } = fastKeymint();
    const owned = await keymint.createApiKey({
      name: 'a',
      role: 'Viewer',
      ttl: '1h',
      owner: 'u-1',
    });
    const plain = await keymint.createApiKey({ name: 'b', role: 'Viewer', ttl: '1h' });
    expect(owned.apiKey.owner).toBe('u-1');
    expect(plain.apiKey.owner).toBeNull();
    expect((await keymint.getApiKey(owned.apiKey.id)).owner).toBe('u-1');
    expect(await keymint.verifyKey(owned.key)).toMatchObject({
      valid: true,
      apiKey: { owner: 'u-1' },
    });
  });

  it('takes 1 to 190 characters as given (not trimmed), counted in code points', async () => {
    expect((await create('😀'.repeat(190))).apiKey.owner).toBe('😀'.repeat(190));
    expect((await create(' spaced ')).apiKey.owner).toBe(' spaced ');
  });

  it.each([
    ['empty', '', /owner must not be empty/],
    ['too long', 'x'.repeat(191), /owner must be at most 190 characters/],
    ['a number', 42, /owner must be a string/],
    ['a control character', 'a\nb', /owner must not contain control characters/],
    ['an invisible character', 'a\u200bb', /owner must not contain U\+200B ZERO WIDTH SPACE/],
    ['a direction override', 'a\u202eb', /U\+202E RIGHT-TO-LEFT OVERRIDE/],
  ])(
    'refuses an owner that is %s with INVALID_INPUT, storing nothing',
    async (_, owner, message) => {
      const { keymint } = fastKeymint();
      const error = await expectCode(
        keymint.createApiKey({ name: 'k', role: 'Viewer', ttl: '1h', owner } as never),
        'INVALID_INPUT',
      );
      expect(error.message).toMatch(message);
      expect(await keymint.listApiKeys()).toEqual([]);
    },
  );
});

describe('listApiKeys({ owner })', () => {
  it("lists one owner's keys of the scope, sorted and paged", async () => {
    const { keymint } = fastKeymint();
    for (const [name, owner] of [
      ['c', 'u1'],
      ['a', 'u1'],
      ['b', 'u2'],
      ['d', 'u1'],
      ['e', undefined],
    ] as const) {
      await keymint.createApiKey({ name, role: 'Viewer', ttl: '1h', ...(owner && { owner }) });
    }
    await keymint.createApiKey({ name: 'x', role: 'Viewer', ttl: '1h', owner: 'u1', scope: 'o' });
    const names = async (input: object) =>
      (await keymint.listApiKeys({ owner: 'u1', ...input })).map((k) => k.name);
    expect(await names({})).toEqual(['a', 'c', 'd']);
    expect(await names({ limit: 2 })).toEqual(['a', 'c']);
    expect(await names({ limit: 2, after: 'c' })).toEqual(['d']);
    expect(await names({ scope: 'o' })).toEqual(['x']);
    await expectCode(keymint.listApiKeys({ owner: '' }), 'INVALID_INPUT');
  });
});

describe('revokeApiKeys({ owner })', () => {
  it('revokes every live key of the owner in the scope, returns the count, leaves the rest', async () => {
    const events: KeymintEvent[] = [];
    const { keymint } = fastKeymint({ onEvent: (event) => void events.push(event) });
    const mine = [];
    for (const name of ['a', 'b', 'c']) {
      mine.push(await keymint.createApiKey({ name, role: 'Viewer', ttl: '1h', owner: 'leaver' }));
    }
    const other = await keymint.createApiKey({ name: 'o', role: 'Viewer', ttl: '1h', owner: 'x' });
    const elsewhere = await keymint.createApiKey({
      name: 'a',
      role: 'Viewer',
      ttl: '1h',
      owner: 'leaver',
      scope: 'other',
    });
    await keymint.revokeApiKey(mine[2]!.apiKey.id);
    // Cached as valid first: the revocation must reach this instance's cache too.
    for (const { key } of mine) await keymint.verifyKey(key);
    await flush();
    events.length = 0;

    expect(await keymint.revokeApiKeys({ owner: 'leaver' })).toBe(2);
    for (const { key } of mine) {
      expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'revoked' });
    }
    expect((await keymint.verifyKey(other.key)).valid).toBe(true);
    expect((await keymint.verifyKey(elsewhere.key)).valid).toBe(true);
    await flush();
    expect(
      events
        .filter((e) => e.type === 'key.revoked')
        .map((e) => (e as { keyId: string }).keyId)
        .sort(),
    ).toEqual([mine[0]!.apiKey.id, mine[1]!.apiKey.id].sort());
    expect(await keymint.revokeApiKeys({ owner: 'leaver' })).toBe(0);
    expect(await keymint.revokeApiKeys({ owner: 'leaver', scope: 'other' })).toBe(1);
  });

  it('asks authorize apikeys:delete with the owner, and refuses with FORBIDDEN', async () => {
    const requests: AuthorizeRequest<string>[] = [];
    const { keymint } = fastKeymint<string>({
      authorize: (request) => {
        requests.push(request);
        return request.actor === 'admin' || request.owner === request.actor;
      },
    });
    const context = (actor: string) => ({ actor });
    await keymint.createApiKey(
      { name: 'k', role: 'Viewer', ttl: '1h', owner: 'alice' },
      context('alice'),
    );
    expect(requests.at(-1)).toEqual({
      actor: 'alice',
      action: 'apikeys:create',
      scope: 'default',
      role: 'Viewer',
      owner: 'alice',
    });
    await expectCode(keymint.revokeApiKeys({ owner: 'alice' }, context('bob')), 'FORBIDDEN');
    expect(requests.at(-1)).toEqual({
      actor: 'bob',
      action: 'apikeys:delete',
      scope: 'default',
      owner: 'alice',
    });
    await expectCode(keymint.listApiKeys({ owner: 'alice' }, context('bob')), 'FORBIDDEN');
    const [key] = await keymint.listApiKeys({ owner: 'alice' }, context('alice'));
    // A request about an existing key carries its stored owner.
    await keymint.getApiKey(key!.id, context('alice'));
    expect(requests.at(-1)).toMatchObject({
      action: 'apikeys:read',
      keyId: key!.id,
      owner: 'alice',
    });
    expect(await keymint.revokeApiKeys({ owner: 'alice' }, context('alice'))).toBe(1);
  });

  it('keeps to context.scope', async () => {
    const { keymint } = fastKeymint<string>({ authorize: () => true });
    await expectCode(
      keymint.revokeApiKeys({ owner: 'a', scope: 'b' }, { actor: 'x', scope: 'c' }),
      'FORBIDDEN',
    );
  });

  it('refuses bad input with INVALID_INPUT and an adapter without revokeByOwner with CONFIG', async () => {
    const { keymint } = fastKeymint();
    await expectCode(keymint.revokeApiKeys({} as never), 'INVALID_INPUT');
    await expectCode(keymint.revokeApiKeys({ owner: 'a', extra: 1 } as never), 'INVALID_INPUT');
    const { revokeByOwner: _gone, ...rest } = memoryAdapter();
    const old = fastKeymint({ adapter: rest as KeyAdapter }).keymint;
    const error = await expectCode(old.revokeApiKeys({ owner: 'a' }), 'CONFIG');
    expect(error.message).toMatch(/revokeByOwner\(\)/);
  });
});
