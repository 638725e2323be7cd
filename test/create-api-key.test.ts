import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ZodError } from 'zod';
import {
  KeymintError,
  type CreateApiKeyInput,
  type Hasher,
  type KeyAdapter,
} from '../src/index.js';
import { memoryAdapter } from '../src/adapters/memory/index.js';
import {
  DAY,
  DriverError,
  expectCode,
  failingAdapter,
  fastKeymint,
  HOUR,
  keyParts,
  rejectionOf,
  T0,
} from './helpers.js';

const KEY_PATTERN = /^km_[0-9A-Za-z]{12}_[0-9A-Za-z]{34}$/;

/** Lets tests pass deliberately wrong inputs. */
const bad = (input: unknown) => input as CreateApiKeyInput;

describe('createApiKey() key', () => {
  it('returns a plaintext key in the default km_ format', async () => {
    const { keymint } = fastKeymint();
    const { key } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '12h' });
    expect(key).toMatch(KEY_PATTERN);
  });

  it('embeds the record id in the key', async () => {
    const { keymint } = fastKeymint();
    const { key, apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '12h' });
    expect(keyParts(key).id).toBe(apiKey.id);
  });

  it('uses a custom prefix', async () => {
    const { keymint } = fastKeymint({ prefix: 'acme2' });
    const { key } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '12h' });
    expect(key).toMatch(/^acme2_[0-9A-Za-z]{12}_[0-9A-Za-z]{34}$/);
  });

  it('gives every key its own id and secret', async () => {
    const { keymint } = fastKeymint();
    const a = await keymint.createApiKey({ name: 'a', role: 'Editor', ttl: '12h' });
    const b = await keymint.createApiKey({ name: 'b', role: 'Editor', ttl: '12h' });
    expect(a.apiKey.id).not.toBe(b.apiKey.id);
    expect(keyParts(a.key).secret).not.toBe(keyParts(b.key).secret);
  });
});

describe('createApiKey() role', () => {
  it('stores a role given in another letter case in its canonical spelling', async () => {
    const { keymint } = fastKeymint();
    const { apiKey } = await keymint.createApiKey({ name: 'ci', role: 'admin', ttl: '12h' });
    expect(apiKey.role).toBe('Admin');
  });

  it('rejects an unknown role with INVALID_ROLE listing Viewer, Editor, Admin', async () => {
    const { keymint } = fastKeymint();
    const error = await expectCode(
      keymint.createApiKey({ name: 'ci', role: 'Owner', ttl: '12h' }),
      'INVALID_ROLE',
    );
    expect(error.message).toContain('Viewer, Editor, Admin');
  });

  it.each([42, null, undefined, {}, ['Admin'], true])(
    'rejects the non-string role %j with INVALID_ROLE',
    async (role) => {
      const { keymint } = fastKeymint();
      await expectCode(keymint.createApiKey(bad({ name: 'ci', role, ttl: '12h' })), 'INVALID_ROLE');
    },
  );

  it('rejects a missing role with INVALID_ROLE', async () => {
    const { keymint } = fastKeymint();
    await expectCode(keymint.createApiKey(bad({ name: 'ci', ttl: '12h' })), 'INVALID_ROLE');
  });

  it('accepts a custom role and stores its canonical spelling', async () => {
    const { keymint } = fastKeymint({ roles: ['Reader', 'Writer', 'Owner'] });
    const { apiKey } = await keymint.createApiKey({ name: 'ci', role: 'WRITER', ttl: '12h' });
    expect(apiKey.role).toBe('Writer');
  });

  it('rejects a default role name when custom roles replace the defaults', async () => {
    const { keymint } = fastKeymint({ roles: ['Reader', 'Writer', 'Owner'] });
    const error = await expectCode(
      keymint.createApiKey({ name: 'ci', role: 'Admin', ttl: '12h' }),
      'INVALID_ROLE',
    );
    expect(error.message).toContain('Reader, Writer, Owner');
  });
});

describe('createApiKey() ttl', () => {
  it("sets expiresAt to createdAt + 12 hours exactly for '12h'", async () => {
    const { keymint } = fastKeymint();
    const { apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '12h' });
    expect(apiKey.createdAt.getTime()).toBe(T0);
    expect(apiKey.expiresAt?.getTime()).toBe(T0 + 12 * HOUR);
  });

  it('reads a number as seconds', async () => {
    const { keymint } = fastKeymint();
    const { apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: 90 });
    expect(apiKey.expiresAt?.getTime()).toBe(T0 + 90_000);
  });

  it('takes createdAt from the now() option', async () => {
    const { keymint, clock } = fastKeymint();
    clock.advance(123_456);
    const { apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
    expect(apiKey.createdAt.getTime()).toBe(T0 + 123_456);
    expect(apiKey.expiresAt?.getTime()).toBe(T0 + 123_456 + HOUR);
  });

  it("accepts exactly the default maximum of 30 days ('30d' and '1M')", async () => {
    const { keymint } = fastKeymint();
    const a = await keymint.createApiKey({ name: 'a', role: 'Editor', ttl: '30d' });
    const b = await keymint.createApiKey({ name: 'b', role: 'Editor', ttl: '1M' });
    expect(a.apiKey.expiresAt?.getTime()).toBe(T0 + 30 * DAY);
    expect(b.apiKey.expiresAt?.getTime()).toBe(T0 + 30 * DAY);
  });

  it.each(['31d', '5w', 2_592_001])(
    'rejects %j over the default 30-day maximum with TTL_TOO_LONG',
    async (ttl) => {
      const { keymint } = fastKeymint();
      await expectCode(keymint.createApiKey({ name: 'ci', role: 'Editor', ttl }), 'TTL_TOO_LONG');
    },
  );

  it.each([
    '1.5h',
    '1h30m',
    '12',
    'h',
    '0h',
    '12H',
    '12 h',
    '-1h',
    '',
    0,
    -60,
    1.5,
    Number.NaN,
    Infinity,
    {},
    true,
  ])('rejects the time to live %j with INVALID_TTL', async (ttl) => {
    const { keymint } = fastKeymint();
    await expectCode(keymint.createApiKey(bad({ name: 'ci', role: 'Editor', ttl })), 'INVALID_TTL');
  });

  it('rejects a missing ttl with INVALID_TTL', async () => {
    const { keymint } = fastKeymint();
    await expectCode(keymint.createApiKey(bad({ name: 'ci', role: 'Editor' })), 'INVALID_TTL');
  });

  it('rejects ttl undefined with INVALID_TTL', async () => {
    const { keymint } = fastKeymint();
    await expectCode(
      keymint.createApiKey(bad({ name: 'ci', role: 'Editor', ttl: undefined })),
      'INVALID_TTL',
    );
  });

  it('rejects ttl null with INVALID_TTL when non-expiring keys are not allowed', async () => {
    const { keymint } = fastKeymint();
    await expectCode(
      keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: null }),
      'INVALID_TTL',
    );
  });

  it('creates a key with expiresAt null for ttl null when allowNonExpiring is true', async () => {
    const { keymint } = fastKeymint({ allowNonExpiring: true });
    const { apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: null });
    expect(apiKey.expiresAt).toBeNull();
  });

  it('keeps a non-expiring key valid a century later', async () => {
    const { keymint, clock } = fastKeymint({ allowNonExpiring: true });
    const { key } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: null });
    clock.advance(100 * 365 * DAY);
    expect((await keymint.verifyKey(key)).valid).toBe(true);
  });

  it('still rejects a missing ttl with INVALID_TTL when allowNonExpiring is true', async () => {
    const { keymint } = fastKeymint({ allowNonExpiring: true });
    await expectCode(keymint.createApiKey(bad({ name: 'ci', role: 'Editor' })), 'INVALID_TTL');
  });

  it("allows '60d' with maxTtl '90d'", async () => {
    const { keymint } = fastKeymint({ maxTtl: '90d' });
    const { apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '60d' });
    expect(apiKey.expiresAt?.getTime()).toBe(T0 + 60 * DAY);
  });

  it("rejects '91d' with TTL_TOO_LONG when maxTtl is '90d'", async () => {
    const { keymint } = fastKeymint({ maxTtl: '90d' });
    await expectCode(
      keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '91d' }),
      'TTL_TOO_LONG',
    );
  });
});

describe('createApiKey() name', () => {
  it('trims the name', async () => {
    const { keymint } = fastKeymint();
    const { apiKey } = await keymint.createApiKey({
      name: '  ci deploy  ',
      role: 'Editor',
      ttl: '1h',
    });
    expect(apiKey.name).toBe('ci deploy');
  });

  it('accepts a name of 190 characters (after trimming)', async () => {
    const { keymint } = fastKeymint();
    const name = 'n'.repeat(190);
    const { apiKey } = await keymint.createApiKey({
      name: `  ${name}  `,
      role: 'Editor',
      ttl: '1h',
    });
    expect(apiKey.name).toBe(name);
  });

  it('rejects a name of 191 characters with INVALID_INPUT', async () => {
    const { keymint } = fastKeymint();
    await expectCode(
      keymint.createApiKey({ name: 'n'.repeat(191), role: 'Editor', ttl: '1h' }),
      'INVALID_INPUT',
    );
  });

  it('counts code points: 190 astral emoji (380 UTF-16 units) are accepted', async () => {
    const { keymint } = fastKeymint();
    const name = '😀'.repeat(190);
    const { apiKey } = await keymint.createApiKey({ name, role: 'Editor', ttl: '1h' });
    expect(apiKey.name).toBe(name);
  });

  it('rejects 191 astral emoji with INVALID_INPUT', async () => {
    const { keymint } = fastKeymint();
    await expectCode(
      keymint.createApiKey({ name: '😀'.repeat(191), role: 'Editor', ttl: '1h' }),
      'INVALID_INPUT',
    );
  });

  it.each(['', '   ', '\t \n'])(
    'rejects the empty-after-trimming name %j with INVALID_INPUT',
    async (name) => {
      const { keymint } = fastKeymint();
      await expectCode(keymint.createApiKey({ name, role: 'Editor', ttl: '1h' }), 'INVALID_INPUT');
    },
  );

  it.each([42, null, undefined, ['ci']])(
    'rejects the non-string name %j with INVALID_INPUT',
    async (name) => {
      const { keymint } = fastKeymint();
      await expectCode(
        keymint.createApiKey(bad({ name, role: 'Editor', ttl: '1h' })),
        'INVALID_INPUT',
      );
    },
  );

  it.each([
    ['a line feed', 'ci\nprod'],
    ['a tab', 'ci\tprod'],
    ['NUL', 'ci\u0000prod'],
    ['DEL', 'ci\u007fprod'],
    ['a line separator', 'ci\u2028prod'],
    ['a trailing NUL', 'ci\u0000'],
  ])('rejects a name with %s with INVALID_INPUT and a ZodError as cause', async (_what, name) => {
    const { keymint } = fastKeymint();
    const error = await expectCode(
      keymint.createApiKey({ name, role: 'Editor', ttl: '1h' }),
      'INVALID_INPUT',
    );
    expect(error.cause).toBeInstanceOf(ZodError);
  });

  it('rejects a second key with the same name in the same scope with NAME_TAKEN', async () => {
    const { keymint } = fastKeymint();
    await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
    await expectCode(keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '2h' }), 'NAME_TAKEN');
  });

  it('allows the same name in another scope', async () => {
    const { keymint } = fastKeymint();
    const a = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h', scope: 'org-1' });
    const b = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h', scope: 'org-2' });
    expect([a.apiKey.scope, b.apiKey.scope]).toEqual(['org-1', 'org-2']);
  });

  it("treats ' ci ' as the taken name 'ci' (names are trimmed before the uniqueness check)", async () => {
    const { keymint } = fastKeymint();
    await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
    await expectCode(
      keymint.createApiKey({ name: ' ci ', role: 'Editor', ttl: '1h' }),
      'NAME_TAKEN',
    );
  });

  it('stores names NFC-normalised', async () => {
    const { keymint } = fastKeymint();
    const { apiKey } = await keymint.createApiKey({
      name: 'cafe\u0301',
      role: 'Editor',
      ttl: '1h',
    });
    expect(apiKey.name).toBe('caf\u00e9');
  });

  it("treats 'e\\u0301' as the taken name '\\u00e9' (NFC)", async () => {
    const { keymint } = fastKeymint();
    await keymint.createApiKey({ name: '\u00e9', role: 'Editor', ttl: '1h' });
    await expectCode(
      keymint.createApiKey({ name: 'e\u0301', role: 'Editor', ttl: '1h' }),
      'NAME_TAKEN',
    );
  });

  it('lets exactly one of 50 concurrent creates with the same name succeed; the rest get NAME_TAKEN', async () => {
    const { keymint } = fastKeymint();
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, () =>
        keymint.createApiKey({ name: 'race', role: 'Editor', ttl: '1h' }),
      ),
    );
    const fulfilled = results.filter((r) => r.status === 'fulfilled');
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(fulfilled).toHaveLength(1);
    expect(rejected).toHaveLength(49);
    for (const r of rejected) {
      expect(r.reason).toBeInstanceOf(KeymintError);
      expect((r.reason as KeymintError).code).toBe('NAME_TAKEN');
    }
    expect(await keymint.listApiKeys()).toHaveLength(1);
  });
});

describe('createApiKey() scope and metadata', () => {
  it("puts a key in scope 'default' when no scope is given", async () => {
    const { keymint } = fastKeymint();
    const { apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
    expect(apiKey.scope).toBe('default');
  });

  it('stores the given scope', async () => {
    const { keymint } = fastKeymint();
    const { apiKey } = await keymint.createApiKey({
      name: 'ci',
      role: 'Editor',
      ttl: '1h',
      scope: 'org-42',
    });
    expect(apiKey.scope).toBe('org-42');
    expect(await keymint.listApiKeys({ scope: 'org-42' })).toHaveLength(1);
    expect(await keymint.listApiKeys()).toHaveLength(0);
  });

  it('stores metadata null when none is given', async () => {
    const { keymint } = fastKeymint();
    const { apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
    expect(apiKey.metadata).toBeNull();
  });

  it('round-trips a JSON metadata object through the store', async () => {
    const { keymint } = fastKeymint();
    const metadata = {
      team: 'infra',
      n: 3,
      ok: true,
      none: null,
      tags: ['a', 'b'],
      nested: { deep: [1, { x: 'y' }] },
    };
    const { key, apiKey } = await keymint.createApiKey({
      name: 'ci',
      role: 'Editor',
      ttl: '1h',
      metadata,
    });
    expect(apiKey.metadata).toEqual(metadata);
    expect((await keymint.getApiKey(apiKey.id)).metadata).toEqual(metadata);
    const verified = await keymint.verifyKey(key);
    expect(verified.valid && verified.apiKey.metadata).toEqual(metadata);
  });

  it('accepts metadata of exactly 8 KiB of JSON', async () => {
    const { keymint } = fastKeymint();
    const metadata = { a: 'x'.repeat(8192 - '{"a":""}'.length) };
    expect(Buffer.byteLength(JSON.stringify(metadata))).toBe(8192);
    const { apiKey } = await keymint.createApiKey({
      name: 'ci',
      role: 'Editor',
      ttl: '1h',
      metadata,
    });
    expect(apiKey.metadata).toEqual(metadata);
  });

  it.each<[string, unknown]>([
    ['a string', 'team=infra'],
    ['an array', ['infra']],
    ['a Date', new Date(T0)],
    ['an object with a function inside', { f: () => 1 }],
    ['an object with a Date inside', { at: new Date(T0) }],
    ['an object of 8 KiB + 1 byte of JSON', { a: 'x'.repeat(8193 - '{"a":""}'.length) }],
    ['an object of 8 KiB of multi-byte characters', { a: '€'.repeat(2731) }],
    ['a string with U+0000 (jsonb cannot store it)', { a: 'x\u0000y' }],
    ['a key with U+0000', { 'a\u0000': 1 }],
    ['a nested string with a lone surrogate', { a: [{ b: '\ud800' }] }],
    ['a key with a lone surrogate', { ['\udc00']: 1 }],
  ])('rejects metadata that is %s with INVALID_INPUT', async (_what, metadata) => {
    const { keymint } = fastKeymint();
    await expectCode(
      keymint.createApiKey(bad({ name: 'ci', role: 'Editor', ttl: '1h', metadata })),
      'INVALID_INPUT',
    );
  });

  it.each([null, undefined, 'x', 42, ['ci', 'Editor', '1h']])(
    'rejects the input %j with INVALID_INPUT',
    async (input) => {
      const { keymint } = fastKeymint();
      await expectCode(keymint.createApiKey(bad(input)), 'INVALID_INPUT');
    },
  );

  it.each(['', 42, 'org\n1', '*'])('rejects the scope %j with INVALID_INPUT', async (scope) => {
    const { keymint } = fastKeymint();
    await expectCode(
      keymint.createApiKey(bad({ name: 'ci', role: 'Editor', ttl: '1h', scope })),
      'INVALID_INPUT',
    );
  });
});

describe('createApiKey() failures store nothing', () => {
  it('leaves the key list unchanged after each kind of failed create', async () => {
    const { keymint } = fastKeymint();
    await keymint.createApiKey({ name: 'taken', role: 'Editor', ttl: '1h' });
    const before = await keymint.listApiKeys({ includeExpired: true });
    const failing: unknown[] = [
      { name: 'taken', role: 'Editor', ttl: '1h' },
      { name: 'new1', role: 'Owner', ttl: '1h' },
      { name: 'new2', role: 'Editor', ttl: '31d' },
      { name: 'new3', role: 'Editor', ttl: '1.5h' },
      { name: 'new4', role: 'Editor', ttl: null },
      { name: 'n'.repeat(191), role: 'Editor', ttl: '1h' },
      { name: 'new5', role: 'Editor', ttl: '1h', metadata: 'x' },
      null,
    ];
    for (const input of failing) {
      await rejectionOf(keymint.createApiKey(bad(input)));
      expect(await keymint.listApiKeys({ includeExpired: true })).toEqual(before);
    }
  });

  it('reports a store failure on insert as STORE_FAILURE with the driver error as cause', async () => {
    const faulty = failingAdapter();
    const driverError = faulty.fail('insert');
    const { keymint } = fastKeymint({ adapter: faulty.adapter });
    const error = await expectCode(
      keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' }),
      'STORE_FAILURE',
    );
    expect(error.cause).toBe(driverError);
  });

  it('stores nothing when the insert fails', async () => {
    const faulty = failingAdapter();
    faulty.fail('insert');
    const { keymint } = fastKeymint({ adapter: faulty.adapter });
    await rejectionOf(keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' }));
    faulty.heal('insert');
    expect(await faulty.inner.list({ scope: 'default', limit: 1000 })).toEqual([]);
    // The name was never taken.
    await expect(
      keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' }),
    ).resolves.toBeDefined();
  });

  it('reports a failing hasher as HASHER_FAILURE with its error as cause and stores nothing', async () => {
    const hasherError = new Error('out of memory');
    const hasher: Hasher = {
      hash: async () => {
        throw hasherError;
      },
      verify: async () => false,
    };
    const adapter = memoryAdapter();
    const { keymint } = fastKeymint({ adapter, hasher });
    const error = await expectCode(
      keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' }),
      'HASHER_FAILURE',
    );
    expect(error.cause).toBe(hasherError);
    expect(await adapter.list({ scope: 'default', limit: 1000 })).toEqual([]);
  });

  it('draws a new id when the store reports an id conflict', async () => {
    const inner = memoryAdapter();
    let conflicts = 1;
    const ids: string[] = [];
    const { keymint } = fastKeymint({
      adapter: {
        ...inner,
        insert: async (record) => {
          ids.push(record.id);
          if (conflicts-- > 0) return { ok: false, conflict: 'id' };
          return inner.insert(record);
        },
      },
    });
    const { apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
    expect(ids).toHaveLength(2);
    expect(ids[0]).not.toBe(ids[1]);
    expect(apiKey.id).toBe(ids[1]);
  });

  it('gives up with STORE_FAILURE when the store reports an id conflict three times', async () => {
    const inner = memoryAdapter();
    let attempts = 0;
    const { keymint } = fastKeymint({
      adapter: {
        ...inner,
        insert: async () => {
          attempts++;
          return { ok: false, conflict: 'id' };
        },
      },
    });
    await expectCode(
      keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' }),
      'STORE_FAILURE',
    );
    expect(attempts).toBe(3);
  });
});

describe('createApiKey() when insert throws after the store may have committed', () => {
  /** A memory adapter whose insert stores the record, then throws (the answer was lost). */
  function storesThenThrows(options: { readFails?: boolean; stores?: 'this' | 'other' } = {}) {
    const inner = memoryAdapter();
    const insertError = new DriverError('Connection terminated unexpectedly');
    const readError = new DriverError('read failed too');
    let reads = 0;
    const adapter: KeyAdapter = {
      ...inner,
      insert: async (record) => {
        const stored =
          options.stores === 'other' ? { ...record, secretHash: 'hmac-sha256:other' } : record;
        expect(await inner.insert(stored)).toEqual({ ok: true });
        throw insertError;
      },
      findById: async (id) => {
        reads++;
        if (options.readFails) throw readError;
        return inner.findById(id);
      },
    };
    return { adapter, inner, insertError, reads: () => reads };
  }

  it('reads the record back once: when it is this create, the caller gets its key, and it verifies', async () => {
    const store = storesThenThrows();
    const { keymint } = fastKeymint({ adapter: store.adapter });
    const { key, apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
    expect(store.reads()).toBe(1);
    expect(keyParts(key).id).toBe(apiKey.id);
    expect(apiKey).toMatchObject({ name: 'ci', role: 'Editor', scope: 'default' });
    expect(await keymint.verifyKey(key)).toMatchObject({ valid: true, apiKey: { id: apiKey.id } });
    expect((await store.inner.list({ scope: 'default', limit: 10 })).map((r) => r.id)).toEqual([
      apiKey.id,
    ]);
  });

  it('throws the insert’s STORE_FAILURE when the read-back fails too, and the stored record remains (the residual case)', async () => {
    const store = storesThenThrows({ readFails: true });
    const { keymint } = fastKeymint({ adapter: store.adapter });
    const error = await expectCode(
      keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' }),
      'STORE_FAILURE',
    );
    // The insert's error, not the read's: the read-back changes nothing when it fails.
    expect(error.cause).toBe(store.insertError);
    expect(store.reads()).toBe(1);
    // A record nobody has the key of holds the name until it is deleted.
    const orphans = await store.inner.list({ scope: 'default', limit: 10 });
    expect(orphans.map((record) => record.name)).toEqual(['ci']);
  });

  it('throws the insert’s STORE_FAILURE when the record under the id has another secret hash', async () => {
    const store = storesThenThrows({ stores: 'other' });
    const { keymint } = fastKeymint({ adapter: store.adapter });
    const error = await expectCode(
      keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' }),
      'STORE_FAILURE',
    );
    expect(error.cause).toBe(store.insertError);
  });

  it('throws the insert’s STORE_FAILURE when nothing was stored (one read-back, no retry)', async () => {
    const faulty = failingAdapter();
    const driverError = faulty.fail('insert');
    const { keymint } = fastKeymint({ adapter: faulty.adapter });
    const error = await expectCode(
      keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' }),
      'STORE_FAILURE',
    );
    expect(error.cause).toBe(driverError);
    expect(faulty.calls).toMatchObject({ insert: 1, findById: 1 });
  });
});

describe('createApiKey() returned record', () => {
  it('is plain data with exactly id, name, role, scope, createdAt, expiresAt, lastUsedAt, revokedAt, metadata, rotatedAt, previousKeyExpiresAt, owner, permissions', async () => {
    const { keymint } = fastKeymint();
    const { apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
    expect(Object.getPrototypeOf(apiKey)).toBe(Object.prototype);
    expect(Object.keys(apiKey).sort()).toEqual(
      [
        'createdAt',
        'expiresAt',
        'id',
        'lastUsedAt',
        'metadata',
        'name',
        'revokedAt',
        'role',
        'scope',
        'rotatedAt',
        'previousKeyExpiresAt',
        'permissions',
        'owner',
        'limits',
      ].sort(),
    );
    expect(apiKey).toEqual({
      id: apiKey.id,
      name: 'ci',
      role: 'Editor',
      scope: 'default',
      createdAt: new Date(T0),
      expiresAt: new Date(T0 + HOUR),
      lastUsedAt: null,
      revokedAt: null,
      metadata: null,
      rotatedAt: null,
      limits: null,
      previousKeyExpiresAt: null,
      permissions: null,
      owner: null,
    });
  });

  it('has no secretHash, even as a hidden property', async () => {
    const { keymint } = fastKeymint();
    const { apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
    expect(Reflect.ownKeys(apiKey)).not.toContain('secretHash');
    expect('secretHash' in apiKey).toBe(false);
  });

  it('shows neither the key, the secret nor the hash in JSON.stringify or util.inspect', async () => {
    const faulty = failingAdapter();
    const { keymint } = fastKeymint({ adapter: faulty.adapter });
    const { key, apiKey } = await keymint.createApiKey({
      name: 'ci',
      role: 'Editor',
      ttl: '1h',
      metadata: { a: 1 },
    });
    const stored = await faulty.inner.findById(apiKey.id);
    const { secret } = keyParts(key);
    for (const text of [JSON.stringify(apiKey), inspect(apiKey, { depth: 10, showHidden: true })]) {
      expect(text).not.toContain(key);
      expect(text).not.toContain(secret);
      expect(text).not.toContain(stored!.secretHash);
    }
  });

  it('stores neither the key nor the secret in any field of the stored record', async () => {
    const faulty = failingAdapter();
    const { keymint } = fastKeymint({ adapter: faulty.adapter });
    const { key, apiKey } = await keymint.createApiKey({
      name: 'ci',
      role: 'Editor',
      ttl: '1h',
      metadata: { a: 1 },
    });
    const stored = await faulty.inner.findById(apiKey.id);
    expect(stored).not.toBeNull();
    const { secret } = keyParts(key);
    for (const [field, value] of Object.entries(stored!)) {
      const text = typeof value === 'string' ? value : JSON.stringify(value);
      expect(text, field).not.toContain(key);
      expect(text, field).not.toContain(secret);
    }
    expect(stored!.secretHash).toMatch(/^hmac-sha256:/);
  });
});
