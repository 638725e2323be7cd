import { describe, expect, it, vi } from 'vitest';
import type { AuthorizeRequest, CallContext, KeymintOptions } from '../src/index.js';
import { memoryAdapter } from '../src/adapters/memory/index.js';
import { expectCode, fastKeymint, flush } from './helpers.js';

interface User {
  name: string;
  role: string | null;
}

const alice: User = { name: 'alice', role: 'Editor' };
const asAlice: CallContext<User> = { actor: alice };

/** A keymint with an authorize hook, plus a trusted instance on the same store to set things up. */
function guarded(options: Partial<KeymintOptions<User>> = {}) {
  const adapter = memoryAdapter();
  const authorize = vi.fn<(request: AuthorizeRequest<User>) => boolean | Promise<boolean>>(
    () => true,
  );
  const made = fastKeymint<User>({ adapter, authorize, ...options });
  const trusted = fastKeymint({ adapter }).keymint;
  return { ...made, authorize, trusted };
}

describe('authorize() requests', () => {
  it('asks { actor, action: apikeys:create, scope, role } with the canonical role on create', async () => {
    const { keymint, authorize } = guarded();
    await keymint.createApiKey({ name: 'ci', role: 'viewer', ttl: '1h', scope: 'org-1' }, asAlice);
    expect(authorize).toHaveBeenCalledTimes(1);
    expect(authorize.mock.calls[0]![0]).toStrictEqual({
      actor: alice,
      action: 'apikeys:create',
      scope: 'org-1',
      role: 'Viewer',
    });
  });

  it("asks with scope 'default' on create without a scope", async () => {
    const { keymint, authorize } = guarded();
    await keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' }, asAlice);
    expect(authorize.mock.calls[0]![0].scope).toBe('default');
  });

  it('asks { actor, action: apikeys:read, scope, keyId } with the key’s scope on get', async () => {
    const { keymint, authorize, trusted } = guarded();
    const { apiKey } = await trusted.createApiKey({
      name: 'ci',
      role: 'Viewer',
      ttl: '1h',
      scope: 'org-1',
    });
    await keymint.getApiKey(apiKey.id, asAlice);
    expect(authorize.mock.calls[0]![0]).toStrictEqual({
      actor: alice,
      action: 'apikeys:read',
      scope: 'org-1',
      keyId: apiKey.id,
    });
  });

  it('asks { actor, action: apikeys:read, scope } on list', async () => {
    const { keymint, authorize } = guarded();
    await keymint.listApiKeys({ scope: 'org-1' }, asAlice);
    expect(authorize.mock.calls[0]![0]).toStrictEqual({
      actor: alice,
      action: 'apikeys:read',
      scope: 'org-1',
    });
  });

  it("asks with scope 'default' on list without input", async () => {
    const { keymint, authorize } = guarded();
    await keymint.listApiKeys(undefined, asAlice);
    expect(authorize.mock.calls[0]![0]).toStrictEqual({
      actor: alice,
      action: 'apikeys:read',
      scope: 'default',
    });
  });

  it.each(['revokeApiKey', 'deleteApiKey'] as const)(
    'asks { actor, action: apikeys:delete, scope, keyId } on %s',
    async (method) => {
      const { keymint, authorize, trusted } = guarded();
      const { apiKey } = await trusted.createApiKey({
        name: 'ci',
        role: 'Viewer',
        ttl: '1h',
        scope: 'org-1',
      });
      await keymint[method](apiKey.id, asAlice);
      expect(authorize.mock.calls[0]![0]).toStrictEqual({
        actor: alice,
        action: 'apikeys:delete',
        scope: 'org-1',
        keyId: apiKey.id,
      });
    },
  );

  it('does not ask authorize on verifyKey, which needs no context', async () => {
    const { keymint, authorize, trusted } = guarded();
    const { key } = await trusted.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    expect((await keymint.verifyKey(key)).valid).toBe(true);
    expect(authorize).not.toHaveBeenCalled();
  });
});

describe('authorize() refusals', () => {
  it('refuses create with FORBIDDEN and stores nothing when authorize returns false', async () => {
    const { keymint, trusted } = guarded({ authorize: () => false });
    await expectCode(
      keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' }, asAlice),
      'FORBIDDEN',
    );
    expect(await trusted.listApiKeys({ includeExpired: true })).toEqual([]);
  });

  it('refuses get with FORBIDDEN when authorize returns false', async () => {
    const { keymint, trusted } = guarded({ authorize: () => false });
    const { apiKey } = await trusted.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    await expectCode(keymint.getApiKey(apiKey.id, asAlice), 'FORBIDDEN');
  });

  it('refuses list with FORBIDDEN when authorize returns false', async () => {
    const { keymint } = guarded({ authorize: () => false });
    await expectCode(keymint.listApiKeys({}, asAlice), 'FORBIDDEN');
  });

  it('refuses revoke with FORBIDDEN and leaves the key unrevoked when authorize returns false', async () => {
    const { keymint, trusted } = guarded({ authorize: () => false });
    const { key, apiKey } = await trusted.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    await expectCode(keymint.revokeApiKey(apiKey.id, asAlice), 'FORBIDDEN');
    expect((await trusted.getApiKey(apiKey.id)).revokedAt).toBeNull();
    expect((await trusted.verifyKey(key)).valid).toBe(true);
  });

  it('refuses delete with FORBIDDEN and keeps the key when authorize returns false', async () => {
    const { keymint, trusted } = guarded({ authorize: () => false });
    const { apiKey } = await trusted.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    await expectCode(keymint.deleteApiKey(apiKey.id, asAlice), 'FORBIDDEN');
    expect((await trusted.getApiKey(apiKey.id)).id).toBe(apiKey.id);
  });

  it('supports an async authorize that resolves false', async () => {
    const { keymint, trusted } = guarded({
      authorize: async () => {
        await flush();
        return false;
      },
    });
    await expectCode(
      keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' }, asAlice),
      'FORBIDDEN',
    );
    expect(await trusted.listApiKeys()).toEqual([]);
  });

  it('supports an async authorize that resolves true', async () => {
    const { keymint } = guarded({
      authorize: async () => {
        await flush();
        return true;
      },
    });
    const { apiKey } = await keymint.createApiKey(
      { name: 'ci', role: 'Viewer', ttl: '1h' },
      asAlice,
    );
    expect(apiKey.name).toBe('ci');
  });

  it.each<[string, unknown]>([
    ['1', 1],
    ["'yes'", 'yes'],
    ['{}', {}],
    ['undefined', undefined],
  ])('refuses with FORBIDDEN when authorize returns %s instead of true', async (_shown, answer) => {
    const { keymint } = guarded({ authorize: () => answer as boolean });
    await expectCode(keymint.listApiKeys({}, asAlice), 'FORBIDDEN');
  });

  it('decides per scope from the request it is given', async () => {
    const { keymint } = guarded({ authorize: ({ scope }) => scope === 'org-1' });
    await keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h', scope: 'org-1' }, asAlice);
    await expectCode(
      keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h', scope: 'org-2' }, asAlice),
      'FORBIDDEN',
    );
  });
});

describe('authorize() without a context', () => {
  it('refuses create with FORBIDDEN and stores nothing', async () => {
    const { keymint, authorize, trusted } = guarded();
    await expectCode(keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' }), 'FORBIDDEN');
    expect(authorize).not.toHaveBeenCalled();
    expect(await trusted.listApiKeys()).toEqual([]);
  });

  it('refuses list with FORBIDDEN', async () => {
    const { keymint } = guarded();
    await expectCode(keymint.listApiKeys(), 'FORBIDDEN');
  });

  it('refuses get of an existing key with FORBIDDEN', async () => {
    const { keymint, trusted } = guarded();
    const { apiKey } = await trusted.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    await expectCode(keymint.getApiKey(apiKey.id), 'FORBIDDEN');
  });

  it('refuses revoke of an existing key with FORBIDDEN and leaves it unrevoked', async () => {
    const { keymint, trusted } = guarded();
    const { apiKey } = await trusted.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    await expectCode(keymint.revokeApiKey(apiKey.id), 'FORBIDDEN');
    expect((await trusted.getApiKey(apiKey.id)).revokedAt).toBeNull();
  });

  it('refuses delete of an existing key with FORBIDDEN and keeps it', async () => {
    const { keymint, trusted } = guarded();
    const { apiKey } = await trusted.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    await expectCode(keymint.deleteApiKey(apiKey.id), 'FORBIDDEN');
    expect((await trusted.getApiKey(apiKey.id)).id).toBe(apiKey.id);
  });

  it('throws INVALID_INPUT for a context that is not { actor }', async () => {
    const { keymint } = guarded();
    await expectCode(
      keymint.listApiKeys({}, 'alice' as unknown as CallContext<User>),
      'INVALID_INPUT',
    );
  });
});

describe('actorRole()', () => {
  const byOwnRole = { actorRole: (actor: User) => actor.role };

  it("refuses a key above the actor's role with FORBIDDEN even when authorize returns true", async () => {
    const { keymint, authorize, trusted } = guarded(byOwnRole);
    const error = await expectCode(
      keymint.createApiKey(
        { name: 'ci', role: 'Admin', ttl: '1h' },
        { actor: { name: 'ed', role: 'Editor' } },
      ),
      'FORBIDDEN',
    );
    expect(error.message).toBe('Cannot assign a role higher than your own role.');
    expect(authorize).toHaveBeenCalled();
    expect(await trusted.listApiKeys()).toEqual([]);
  });

  it("allows a key with the actor's own role", async () => {
    const { keymint } = guarded(byOwnRole);
    const { apiKey } = await keymint.createApiKey(
      { name: 'ci', role: 'Editor', ttl: '1h' },
      { actor: { name: 'ed', role: 'Editor' } },
    );
    expect(apiKey.role).toBe('Editor');
  });

  it("allows a key below the actor's role", async () => {
    const { keymint } = guarded(byOwnRole);
    const { apiKey } = await keymint.createApiKey(
      { name: 'ci', role: 'Viewer', ttl: '1h' },
      { actor: { name: 'ed', role: 'Editor' } },
    );
    expect(apiKey.role).toBe('Viewer');
  });

  it("matches the actor's role case-insensitively", async () => {
    const { keymint } = guarded(byOwnRole);
    const { apiKey } = await keymint.createApiKey(
      { name: 'ci', role: 'Admin', ttl: '1h' },
      { actor: { name: 'root', role: 'admin' } },
    );
    expect(apiKey.role).toBe('Admin');
  });

  it('supports an async actorRole', async () => {
    const { keymint } = guarded({
      actorRole: async (actor: User) => {
        await flush();
        return actor.role;
      },
    });
    await expectCode(
      keymint.createApiKey(
        { name: 'ci', role: 'Admin', ttl: '1h' },
        { actor: { name: 'ed', role: 'Editor' } },
      ),
      'FORBIDDEN',
    );
  });

  it.each<[string, string | null]>([
    ['an unknown role', 'Owner'],
    ['null', null],
  ])('refuses with FORBIDDEN when actorRole returns %s', async (_what, role) => {
    const { keymint, trusted } = guarded(byOwnRole);
    await expectCode(
      keymint.createApiKey(
        { name: 'ci', role: 'Viewer', ttl: '1h' },
        { actor: { name: 'x', role } },
      ),
      'FORBIDDEN',
    );
    expect(await trusted.listApiKeys()).toEqual([]);
  });

  it('refuses with FORBIDDEN when actorRole returns undefined', async () => {
    const { keymint } = guarded({ actorRole: () => undefined });
    await expectCode(
      keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' }, asAlice),
      'FORBIDDEN',
    );
  });

  it('needs a context when set without authorize', async () => {
    const { keymint } = fastKeymint<User>({ actorRole: (actor) => actor.role });
    await expectCode(keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' }), 'FORBIDDEN');
  });

  it('refuses a higher role when set without authorize', async () => {
    const { keymint } = fastKeymint<User>({ actorRole: (actor) => actor.role });
    await expectCode(
      keymint.createApiKey(
        { name: 'ci', role: 'Admin', ttl: '1h' },
        { actor: { name: 'ed', role: 'Editor' } },
      ),
      'FORBIDDEN',
    );
  });

  it('follows the order of custom roles', async () => {
    const { keymint } = guarded({ roles: ['Guest', 'Member', 'Owner'], ...byOwnRole });
    await expectCode(
      keymint.createApiKey(
        { name: 'ci', role: 'Owner', ttl: '1h' },
        { actor: { name: 'm', role: 'Member' } },
      ),
      'FORBIDDEN',
    );
    const { apiKey } = await keymint.createApiKey(
      { name: 'ci', role: 'Guest', ttl: '1h' },
      { actor: { name: 'm', role: 'Member' } },
    );
    expect(apiKey.role).toBe('Guest');
  });
});

describe('context.scope on get, revoke and delete', () => {
  it("answers NOT_FOUND for another scope's key, without asking authorize, and changes nothing", async () => {
    const { keymint, authorize, trusted } = guarded();
    const { key, apiKey } = await trusted.createApiKey({
      name: 'ci',
      role: 'Viewer',
      ttl: '1h',
      scope: 'org-2',
    });
    const elsewhere: CallContext<User> = { actor: alice, scope: 'org-1' };
    await expectCode(keymint.getApiKey(apiKey.id, elsewhere), 'NOT_FOUND');
    await expectCode(keymint.revokeApiKey(apiKey.id, elsewhere), 'NOT_FOUND');
    await expectCode(keymint.deleteApiKey(apiKey.id, elsewhere), 'NOT_FOUND');
    expect(authorize).not.toHaveBeenCalled();
    expect((await trusted.verifyKey(key)).valid).toBe(true);
  });

  it('acts on a key of the same scope, asking authorize as usual', async () => {
    const { keymint, authorize, trusted } = guarded();
    const { key, apiKey } = await trusted.createApiKey({
      name: 'ci',
      role: 'Viewer',
      ttl: '1h',
      scope: 'org-1',
    });
    const here: CallContext<User> = { actor: alice, scope: 'org-1' };
    expect((await keymint.getApiKey(apiKey.id, here)).name).toBe('ci');
    await keymint.revokeApiKey(apiKey.id, here);
    expect(await trusted.verifyKey(key)).toEqual({ valid: false, reason: 'revoked' });
    await keymint.deleteApiKey(apiKey.id, here);
    expect(authorize).toHaveBeenCalledTimes(3);
  });

  it('applies without authorize too, and refuses a scope that is not a string', async () => {
    const { keymint } = fastKeymint<User>();
    const { apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    await expectCode(keymint.getApiKey(apiKey.id, { actor: alice, scope: 'org-9' }), 'NOT_FOUND');
    await expectCode(
      keymint.getApiKey(apiKey.id, { actor: alice, scope: 42 as unknown as string }),
      'INVALID_INPUT',
    );
  });
});

describe('context.scope on create, list and purge', () => {
  it('create and list default to the context scope and refuse another with FORBIDDEN', async () => {
    const { keymint, trusted } = guarded();
    const here: CallContext<User> = { actor: alice, scope: 'org-1' };
    const { apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' }, here);
    expect(apiKey.scope).toBe('org-1');
    await trusted.createApiKey({ name: 'other', role: 'Viewer', ttl: '1h', scope: 'org-2' });
    expect((await keymint.listApiKeys(undefined, here)).map((key) => key.name)).toEqual(['ci']);
    await expectCode(
      keymint.createApiKey({ name: 'x', role: 'Viewer', ttl: '1h', scope: 'org-2' }, here),
      'FORBIDDEN',
    );
    await expectCode(keymint.listApiKeys({ scope: 'org-2' }, here), 'FORBIDDEN');
    expect(await trusted.listApiKeys({ scope: 'org-2' })).toHaveLength(1);
  });

  it('purgeExpired, which works across scopes, refuses a context with a scope', async () => {
    const { keymint } = guarded();
    await expectCode(
      keymint.purgeExpired(undefined, { actor: alice, scope: 'org-1' }),
      'INVALID_INPUT',
    );
  });

  it('answers INVALID_INPUT when reading context.scope throws', async () => {
    const { keymint, trusted } = guarded();
    const { apiKey } = await trusted.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    const context = {
      actor: alice,
      get scope(): string {
        throw new Error('boom');
      },
    };
    await expectCode(keymint.getApiKey(apiKey.id, context), 'INVALID_INPUT');
    await expectCode(keymint.listApiKeys(undefined, context), 'INVALID_INPUT');
  });
});
