// Fine-grained permissions under the roles (issue 16): the map, wildcards, narrowing on create,
// update and role change, verifyKey's check, and the verify cache across two instances. The
// storage of the field on the SQL and Redis adapters is checked by the conformance groups.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { memoryAdapter } from '../src/adapters/memory/index.js';
import {
  canonicalPermissions,
  covers,
  grantsOf,
  holdsAll,
  intersectPermissions,
  PERMISSION_PATTERN,
} from '../src/core/permissions.js';
import type { KeymintEvent, KeymintOptions } from '../src/index.js';
import {
  expectCode,
  expectThrowsCode,
  failingAdapter,
  fastKeymint,
  flush,
  SECOND,
  storedRecord,
} from './helpers.js';

const PERMISSIONS = {
  Viewer: ['dashboards:read', 'folders:read'],
  Editor: ['dashboards:write', 'dashboards:create', 'annotations:*'],
  Admin: ['*'],
};

function withMap(overrides: Partial<KeymintOptions> = {}) {
  return fastKeymint({ permissions: PERMISSIONS, ...overrides });
}

describe('permission strings', () => {
  it('accepts Grafana-style actions and wildcards, refuses anything else', () => {
    for (const good of ['dashboards:read', 'alert.rules:write', 'a-b_c:d', 'dashboards:*', '*']) {
      expect(PERMISSION_PATTERN.test(good), good).toBe(true);
    }
    for (const bad of [
      'Dashboards:read',
      'dashboards',
      'dashboards:',
      ':read',
      '*:read',
      'a:*:b',
      'a b:c',
      '',
      'a:**',
    ]) {
      expect(PERMISSION_PATTERN.test(bad), bad).toBe(false);
    }
  });

  it('a resource wildcard covers its actions, not another resource with the same start', () => {
    expect(covers('dashboards:*', 'dashboards:read')).toBe(true);
    expect(covers('dashboards:*', 'dashboards:*')).toBe(true);
    expect(covers('dashboards:*', 'dashboards.permissions:read')).toBe(false);
    expect(covers('dashboards:read', 'dashboards:*')).toBe(false);
    expect(covers('*', 'anything:at.all')).toBe(true);
  });

  it('canonical order drops repeats and what a wildcard covers, and sorts', () => {
    expect(canonicalPermissions(['b:x', 'a:read', 'a:*', 'b:x'])).toEqual(['a:*', 'b:x']);
    expect(canonicalPermissions(['z:a', '*', 'a:b'])).toEqual(['*']);
  });

  it('intersection keeps what both grant, wildcards meeting concrete actions', () => {
    expect(intersectPermissions(['dashboards:*'], ['dashboards:read', 'folders:read'])).toEqual([
      'dashboards:read',
    ]);
    expect(intersectPermissions(['dashboards:write'], ['dashboards:read'])).toEqual([]);
  });

  it('holdsAll agrees with covers, and a canonical list grants what the list grants', () => {
    const segment = fc.constantFrom('a', 'b', 'a.b');
    const permission = fc.oneof(
      fc.constant('*'),
      fc.tuple(segment, fc.constantFrom('read', 'write', '*')).map(([r, a]) => `${r}:${a}`),
    );
    fc.assert(
      fc.property(
        fc.array(permission, { maxLength: 5 }),
        fc.array(permission, { maxLength: 3 }),
        (held, wanted) => {
          const expected = wanted.every((w) => held.some((h) => covers(h, w)));
          expect(holdsAll(grantsOf(held), wanted)).toBe(expected);
          expect(holdsAll(grantsOf(canonicalPermissions(held)), wanted)).toBe(expected);
        },
      ),
    );
  });
});

describe('createKeymint({ permissions })', () => {
  it('a higher role holds every grant of the lower roles', () => {
    const { keymint } = withMap();
    expect(keymint.permissions?.grants).toEqual({
      Viewer: ['dashboards:read', 'folders:read'],
      Editor: [
        'annotations:*',
        'dashboards:create',
        'dashboards:read',
        'dashboards:write',
        'folders:read',
      ],
      Admin: ['*'],
    });
    expect(fastKeymint().keymint.permissions).toBeNull();
  });

  it('a role left out inherits only; role names match in any letter case', () => {
    const { keymint } = fastKeymint({ permissions: { viewer: ['dashboards:read'] } });
    expect(keymint.permissions?.grants).toEqual({
      Viewer: ['dashboards:read'],
      Editor: ['dashboards:read'],
      Admin: ['dashboards:read'],
    });
  });

  it('refuses a malformed entry with CONFIG naming it', () => {
    const error = expectThrowsCode(
      () => fastKeymint({ permissions: { Viewer: ['dashboards:read', 'Dashboards:Write'] } }),
      'CONFIG',
    );
    expect(error.message).toContain('permissions.Viewer[1] "Dashboards:Write"');
  });

  it('refuses an unknown role, a repeated role and a non-array with CONFIG', () => {
    expect(
      expectThrowsCode(() => fastKeymint({ permissions: { Owner: ['a:b'] } }), 'CONFIG').message,
    ).toContain('"Owner"');
    expectThrowsCode(
      () => fastKeymint({ permissions: { Viewer: ['a:b'], viewer: ['a:c'] } }),
      'CONFIG',
    );
    expectThrowsCode(
      () => fastKeymint({ permissions: { Viewer: 'a:b' } as unknown as Record<string, string[]> }),
      'CONFIG',
    );
    expectThrowsCode(
      () => fastKeymint({ permissions: ['a:b'] as unknown as Record<string, string[]> }),
      'CONFIG',
    );
  });
});

describe('createApiKey({ permissions })', () => {
  it('without the option a key holds everything its role grants (stored null)', async () => {
    const { keymint, adapter } = withMap();
    const { apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    expect(apiKey.permissions).toEqual(['dashboards:read', 'folders:read']);
    expect((await adapter.findById(apiKey.id))?.permissions).toBeNull();
  });

  it('narrows a key to a subset of its role, stored in canonical order', async () => {
    const { keymint, adapter } = withMap();
    const { apiKey } = await keymint.createApiKey({
      name: 'ci',
      role: 'Editor',
      ttl: '1h',
      permissions: ['dashboards:write', 'annotations:read', 'dashboards:read', 'dashboards:read'],
    });
    expect(apiKey.permissions).toEqual(['annotations:read', 'dashboards:read', 'dashboards:write']);
    expect((await adapter.findById(apiKey.id))?.permissions).toEqual(apiKey.permissions);
  });

  it('asking for more than the role grants is INVALID_INPUT naming the extra ones', async () => {
    const { keymint } = withMap();
    const error = await expectCode(
      keymint.createApiKey({
        name: 'ci',
        role: 'Viewer',
        ttl: '1h',
        permissions: ['dashboards:read', 'dashboards:write', 'annotations:*'],
      }),
      'INVALID_INPUT',
    );
    expect(error.message).toContain(
      'the role Viewer does not grant "dashboards:write", "annotations:*"',
    );
    expect(await keymint.listApiKeys()).toEqual([]);
  });

  it('* grants everything but names nothing: a typo stays unknown', async () => {
    const { keymint } = withMap();
    expect(keymint.permissions?.known).toEqual([
      '*',
      'annotations:*',
      'dashboards:create',
      'dashboards:read',
      'dashboards:write',
      'folders:read',
    ]);
    const { key } = await keymint.createApiKey({ name: 'root', role: 'Admin', ttl: '1h' });
    await expectCode(keymint.verifyKey(key, { permissions: ['dashbords:read'] }), 'INVALID_INPUT');
    await expectCode(
      keymint.createApiKey({ name: 'x', role: 'Admin', ttl: '1h', permissions: ['users:write'] }),
      'INVALID_INPUT',
    );
    // Named under a resource wildcard: known.
    expect((await keymint.verifyKey(key, { permissions: ['annotations:delete'] })).valid).toBe(
      true,
    );
  });

  it('an unknown permission is refused even for an Admin holding the wildcard over it', async () => {
    const { keymint } = fastKeymint({
      permissions: { Viewer: ['dashboards:read'], Admin: ['dashboards:*'] },
    });
    const error = await expectCode(
      keymint.createApiKey({
        name: 'ci',
        role: 'Admin',
        ttl: '1h',
        permissions: ['dashbords:read'],
      }),
      'INVALID_INPUT',
    );
    expect(error.message).toContain('unknown permission "dashbords:read"');
    await expectCode(
      keymint.createApiKey({
        name: 'ci',
        role: 'Admin',
        ttl: '1h',
        permissions: ['Dashboards:read'],
      }),
      'INVALID_INPUT',
    );
  });

  it('without a permissions map, passing permissions is INVALID_INPUT', async () => {
    const { keymint } = fastKeymint();
    const error = await expectCode(
      keymint.createApiKey({
        name: 'ci',
        role: 'Viewer',
        ttl: '1h',
        permissions: ['dashboards:read'],
      }),
      'INVALID_INPUT',
    );
    expect(error.message).toContain('permissions option of createKeymint()');
    const { apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    expect(apiKey.permissions).toBeNull();
  });
});

describe('updateApiKey(id, { permissions })', () => {
  async function editorKey(permissions?: string[]) {
    const made = withMap();
    const created = await made.keymint.createApiKey({
      name: 'ci',
      role: 'Editor',
      ttl: '1h',
      ...(permissions && { permissions }),
    });
    return { ...made, ...created, id: created.apiKey.id };
  }

  it('sets, widens within the role, and resets (null) a key list', async () => {
    const { keymint, id } = await editorKey(['dashboards:read']);
    expect(
      (await keymint.updateApiKey(id, { permissions: ['dashboards:write'] })).permissions,
    ).toEqual(['dashboards:write']);
    expect((await keymint.updateApiKey(id, { permissions: null })).permissions).toHaveLength(5);
    await expectCode(keymint.updateApiKey(id, { permissions: ['users:write'] }), 'INVALID_INPUT');
  });

  it('checks a new list against the new role of the same patch', async () => {
    const { keymint, id } = await editorKey();
    const error = await expectCode(
      keymint.updateApiKey(id, { role: 'Viewer', permissions: ['dashboards:write'] }),
      'INVALID_INPUT',
    );
    expect(error.message).toContain('the role Viewer does not grant "dashboards:write"');
    expect((await keymint.getApiKey(id)).role).toBe('Editor');
  });

  it('a role change narrows the explicit list to the new role', async () => {
    const { keymint, adapter, id } = await editorKey([
      'annotations:*',
      'dashboards:read',
      'dashboards:write',
    ]);
    const updated = await keymint.updateApiKey(id, { role: 'Viewer' });
    expect(updated.permissions).toEqual(['dashboards:read']);
    expect((await adapter.findById(id))?.permissions).toEqual(['dashboards:read']);
  });

  it('a role change that would leave nothing is refused; an explicit [] is allowed', async () => {
    const { keymint, id } = await editorKey(['dashboards:write']);
    const error = await expectCode(keymint.updateApiKey(id, { role: 'Viewer' }), 'INVALID_INPUT');
    expect(error.message).toContain('grants none of the key');
    expect((await keymint.getApiKey(id)).role).toBe('Editor');
    const emptied = await keymint.updateApiKey(id, { role: 'Viewer', permissions: [] });
    expect(emptied.permissions).toEqual([]);
  });

  it('a key holding everything of its role (null) follows its new role', async () => {
    const { keymint, id } = await editorKey();
    expect((await keymint.updateApiKey(id, { role: 'Viewer' })).permissions).toEqual([
      'dashboards:read',
      'folders:read',
    ]);
  });

  it('reports the permissions change in key.updated', async () => {
    const events: KeymintEvent[] = [];
    const made = withMap({ onEvent: (event) => void events.push(event) });
    const { apiKey } = await made.keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
    await made.keymint.updateApiKey(apiKey.id, { permissions: ['dashboards:read'] });
    await flush();
    const updated = events.find((e) => e.type === 'key.updated');
    expect(updated && 'changes' in updated && updated.changes).toEqual({
      permissions: { from: null, to: ['dashboards:read'] },
    });
  });

  it('without a permissions map, passing permissions is INVALID_INPUT and nothing changes', async () => {
    const { keymint } = fastKeymint();
    const { apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    await expectCode(
      keymint.updateApiKey(apiKey.id, { name: 'x', permissions: null }),
      'INVALID_INPUT',
    );
    expect((await keymint.getApiKey(apiKey.id)).name).toBe('ci');
  });
});

describe('verifyKey(key, { permissions })', () => {
  it('requires every permission; a missing one is insufficient_permission', async () => {
    const { keymint } = withMap();
    const { key } = await keymint.createApiKey({
      name: 'ci',
      role: 'Editor',
      ttl: '1h',
      permissions: ['dashboards:read', 'annotations:*'],
    });
    const ok = await keymint.verifyKey(key, {
      permissions: ['dashboards:read', 'annotations:write'],
    });
    expect(ok.valid && ok.apiKey.permissions).toEqual(['annotations:*', 'dashboards:read']);
    // Twice: the second is answered by the cache and judged the same.
    for (let i = 0; i < 2; i++) {
      expect(
        await keymint.verifyKey(key, { permissions: ['dashboards:read', 'dashboards:write'] }),
      ).toEqual({
        valid: false,
        reason: 'insufficient_permission',
      });
    }
    expect((await keymint.verifyKey(key, { permissions: ['annotations:*'] })).valid).toBe(true);
    expect((await keymint.verifyKey(key, { permissions: ['dashboards:*'] })).valid).toBe(false);
    expect((await keymint.verifyKey(key, { permissions: [] })).valid).toBe(true);
  });

  it('the compact cache entry keeps permissions and owner: first answer, hit and revalidation agree', async () => {
    const faulty = failingAdapter();
    const { keymint, clock } = withMap({ adapter: faulty.adapter, cache: { ttl: '10s' } });
    // Two Editors: one holding the role's grants, one narrowed; judged apart from the cache.
    const wide = await keymint.createApiKey({
      name: 'wide',
      role: 'Editor',
      ttl: '1h',
      owner: 'u-1',
    });
    const narrow = await keymint.createApiKey({
      name: 'narrow',
      role: 'Editor',
      ttl: '1h',
      permissions: ['dashboards:read'],
    });
    const want = { permissions: ['dashboards:write'] };
    const seen = [];
    for (let round = 0; round < 3; round++) {
      // Round 0: the lookup; round 1: a cache hit; round 2: past the bound, a revalidation.
      if (round === 2) clock.advance(11 * SECOND);
      const w = await keymint.verifyKey(wide.key, want);
      expect(w.valid, `round ${round}`).toBe(true);
      seen.push(w.valid && { permissions: w.apiKey.permissions, owner: w.apiKey.owner });
      expect(await keymint.verifyKey(narrow.key, want)).toEqual({
        valid: false,
        reason: 'insufficient_permission',
      });
      const n = await keymint.verifyKey(narrow.key);
      expect(n.valid && [n.apiKey.permissions, n.apiKey.owner]).toEqual([
        ['dashboards:read'],
        null,
      ]);
    }
    expect(seen).toEqual(
      Array(3).fill({
        permissions: [
          'annotations:*',
          'dashboards:create',
          'dashboards:read',
          'dashboards:write',
          'folders:read',
        ],
        owner: 'u-1',
      }),
    );
    // Lookup, then revalidation: two reads per key, the hit in between read nothing.
    expect(faulty.calls.findById).toBe(4);
  });

  it('an Admin with * holds any known permission', async () => {
    const { keymint } = withMap();
    const { key } = await keymint.createApiKey({ name: 'root', role: 'Admin', ttl: '1h' });
    expect(
      (await keymint.verifyKey(key, { permissions: ['folders:read', 'dashboards:write'] })).valid,
    ).toBe(true);
  });

  it('role and permissions are checked together', async () => {
    const { keymint } = withMap();
    const { key } = await keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    expect(
      await keymint.verifyKey(key, { role: 'Editor', permissions: ['dashboards:read'] }),
    ).toEqual({ valid: false, reason: 'insufficient_role' });
    expect(
      (await keymint.verifyKey(key, { role: 'Viewer', permissions: ['dashboards:read'] })).valid,
    ).toBe(true);
  });

  it('throws INVALID_INPUT for unknown or malformed permissions, and without a map', async () => {
    const { keymint } = fastKeymint({ permissions: { Viewer: ['dashboards:read'] } });
    const { key } = await keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    const error = await expectCode(
      keymint.verifyKey(key, { permissions: ['dashboard:read'] }),
      'INVALID_INPUT',
    );
    expect(error.message).toContain('"dashboard:read"');
    await expectCode(
      keymint.verifyKey(key, { permissions: 'dashboards:read' as unknown as string[] }),
      'INVALID_INPUT',
    );
    await expectCode(
      keymint.verifyKey(key, { permissions: [42] as unknown as string[] }),
      'INVALID_INPUT',
    );
    const bare = fastKeymint().keymint;
    const plain = await bare.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    await expectCode(
      bare.verifyKey(plain.key, { permissions: ['dashboards:read'] }),
      'INVALID_INPUT',
    );
    const valid = await bare.verifyKey(plain.key);
    expect(valid.valid && valid.apiKey.permissions).toBeNull();
  });

  it('never exceeds the role: a stored list outside the current map is cut to the role', async () => {
    const adapter = memoryAdapter();
    const wide = withMap({ adapter });
    const { key } = await wide.keymint.createApiKey({
      name: 'ci',
      role: 'Editor',
      ttl: '1h',
      permissions: ['dashboards:write'],
    });
    // The host later takes dashboards:write away from Editor: the key loses it with its role.
    const narrow = fastKeymint({
      adapter,
      permissions: { Viewer: ['dashboards:read'], Editor: ['folders:read'] },
    }).keymint;
    const result = await narrow.verifyKey(key);
    expect(result.valid && result.apiKey.permissions).toEqual([]);
    expect(await narrow.verifyKey(key, { permissions: ['folders:read'] })).toEqual({
      valid: false,
      reason: 'insufficient_permission',
    });
  });

  it('an update on instance A narrows the key on instance B at once (pushed), even from its cache', async () => {
    const adapter = memoryAdapter();
    const a = withMap({ adapter }).keymint;
    const b = withMap({ adapter, cache: { ttl: '1h' } }).keymint;
    const { key, apiKey } = await a.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
    expect((await b.verifyKey(key, { permissions: ['dashboards:write'] })).valid).toBe(true);
    await a.updateApiKey(apiKey.id, { permissions: ['dashboards:read'] });
    await flush();
    expect(await b.verifyKey(key, { permissions: ['dashboards:write'] })).toEqual({
      valid: false,
      reason: 'insufficient_permission',
    });
    const now = await b.verifyKey(key);
    expect(now.valid && now.apiKey.permissions).toEqual(['dashboards:read']);
    // A role change on A narrows on B too.
    await a.updateApiKey(apiKey.id, { role: 'Viewer' });
    await flush();
    const after = await b.verifyKey(key, { role: 'Viewer' });
    expect(after.valid && after.apiKey.permissions).toEqual(['dashboards:read']);
  });

  it('without a push, B sees the change within its cache freshness bound', async () => {
    const inner = memoryAdapter();
    // The same store without subscribe: B can only learn of changes by reading it again.
    const { subscribe: _subscribe, ...deaf } = inner;
    const a = withMap({ adapter: inner }).keymint;
    const made = withMap({ adapter: deaf, cache: { ttl: '10s' } });
    const { key, apiKey } = await a.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
    expect((await made.keymint.verifyKey(key, { permissions: ['dashboards:write'] })).valid).toBe(
      true,
    );
    await a.updateApiKey(apiKey.id, { permissions: ['dashboards:read'] });
    made.clock.advance(11 * SECOND);
    expect(await made.keymint.verifyKey(key, { permissions: ['dashboards:write'] })).toEqual({
      valid: false,
      reason: 'insufficient_permission',
    });
  });
});

describe('memoryAdapter() and permissions', () => {
  it('stores a copy of the list (null when absent) and modify() sets and clears it', async () => {
    const adapter = memoryAdapter();
    const list = ['dashboards:read'];
    const record = storedRecord({ id: 'PERMS0000001', permissions: list });
    await adapter.insert(record);
    list.push('users:write');
    const read = await adapter.findById(record.id);
    expect(read?.permissions).toEqual(['dashboards:read']);
    read?.permissions?.push('users:write');
    expect((await adapter.findById(record.id))?.permissions).toEqual(['dashboards:read']);
    const { permissions: _absent, ...old } = storedRecord({ id: 'PERMS0000002', name: 'old' });
    await adapter.insert(old);
    expect((await adapter.findById(old.id))?.permissions).toBeNull();
    const set = await adapter.modify!(old.id, { permissions: ['folders:read'] });
    expect(set.ok && set.record.permissions).toEqual(['folders:read']);
    const cleared = await adapter.modify!(old.id, { permissions: null });
    expect(cleared.ok && cleared.record.permissions).toBeNull();
    const kept = await adapter.modify!(old.id, { name: 'renamed' });
    expect(kept.ok && kept.record.permissions).toBeNull();
  });
});

describe('a key never exceeds its role (property)', () => {
  const pool = [
    'dashboards:read',
    'dashboards:write',
    'dashboards:*',
    'folders:read',
    'annotations:*',
    'annotations:create',
    '*',
    'users:write',
    'Dashboards:read',
    'dashboards',
    '',
  ];
  const roles = ['Viewer', 'Editor', 'Admin'] as const;

  it('create and update either refuse with INVALID_INPUT or leave a key within its role', async () => {
    const { keymint, adapter } = withMap();
    const grants = keymint.permissions!.grants;
    // The stored list too, not only the effective one the core clamps on read.
    const storedWithin = async (id: string) => {
      const stored = await adapter.findById(id);
      return stored!.permissions == null || within(stored!.role, stored!.permissions);
    };
    const within = (role: string, list: readonly string[] | null) =>
      list !== null && list.every((p) => grants[role]!.some((g) => covers(g, p)));
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...roles),
        fc.option(fc.array(fc.constantFrom(...pool), { maxLength: 4 })),
        fc.array(
          fc.record({
            role: fc.option(fc.constantFrom(...roles), { nil: undefined }),
            permissions: fc.option(
              fc.option(fc.array(fc.constantFrom(...pool), { maxLength: 3 })),
              {
                nil: undefined,
              },
            ),
          }),
          { maxLength: 3 },
        ),
        async (role, permissions, patches) => {
          let apiKey;
          try {
            ({ apiKey } = await keymint.createApiKey({
              name: `k${n++}`,
              role,
              ttl: '1h',
              ...(permissions !== null && { permissions }),
            }));
          } catch (error) {
            expect((error as { code?: string }).code).toBe('INVALID_INPUT');
            return;
          }
          expect(within(apiKey.role, apiKey.permissions)).toBe(true);
          expect(await storedWithin(apiKey.id)).toBe(true);
          for (const patch of patches) {
            if (patch.role === undefined && patch.permissions === undefined) continue;
            try {
              apiKey = await keymint.updateApiKey(apiKey.id, patch);
            } catch (error) {
              expect((error as { code?: string }).code).toBe('INVALID_INPUT');
            }
            const now = await keymint.getApiKey(apiKey.id);
            expect(within(now.role, now.permissions)).toBe(true);
            expect(await storedWithin(now.id)).toBe(true);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
