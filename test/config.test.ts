import { describe, expect, it } from 'vitest';
import { ZodError } from 'zod';
import {
  argon2idHasher,
  createKeymint,
  DEFAULT_ROLES,
  hmacSha256Hasher,
  type KeymintOptions,
} from '../src/index.js';
import { memoryAdapter } from '../src/adapters/memory/index.js';
import {
  expectCode,
  expectThrowsCode,
  failingAdapter,
  fastKeymint,
  HMAC_SECRET,
} from './helpers.js';

const hasher = hmacSha256Hasher(HMAC_SECRET);

/** Options with one field replaced by a (possibly wrong) value. */
function withOption(field: string, value: unknown): KeymintOptions {
  return { adapter: memoryAdapter(), hasher, [field]: value } as unknown as KeymintOptions;
}

describe('createKeymint() defaults', () => {
  it('has the roles Viewer, Editor, Admin, lowest first', () => {
    const keymint = createKeymint({ adapter: memoryAdapter(), hasher });
    expect(keymint.roles).toEqual(['Viewer', 'Editor', 'Admin']);
    expect(DEFAULT_ROLES).toEqual(['Viewer', 'Editor', 'Admin']);
  });

  it('has a maximum time to live of 30 days', () => {
    const keymint = createKeymint({ adapter: memoryAdapter(), hasher });
    expect(keymint.maxTtlSeconds).toBe(30 * 86_400);
  });

  it('uses custom roles in the given order', () => {
    const keymint = createKeymint({
      adapter: memoryAdapter(),
      hasher,
      roles: ['Guest', 'Member', 'Owner'],
    });
    expect(keymint.roles).toEqual(['Guest', 'Member', 'Owner']);
  });

  it('reads maxTtl into maxTtlSeconds', () => {
    expect(createKeymint(withOption('maxTtl', '90d')).maxTtlSeconds).toBe(90 * 86_400);
    expect(createKeymint(withOption('maxTtl', 3600)).maxTtlSeconds).toBe(3600);
  });

  it('accepts a maximum time to live of exactly 100 years', () => {
    expect(createKeymint(withOption('maxTtl', '36500d')).maxTtlSeconds).toBe(36_500 * 86_400);
  });

  it('accepts a 16-character prefix', async () => {
    const { keymint } = fastKeymint({ prefix: 'a234567890123456' });
    const { key } = await keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    expect(key.startsWith('a234567890123456_')).toBe(true);
  });

  it('does not touch the adapter while being created', () => {
    const faulty = failingAdapter();
    createKeymint({ adapter: faulty.adapter, hasher });
    expect(Object.values(faulty.calls).every((n) => n === 0)).toBe(true);
  });

  it('reads the options once: changing the roles array afterwards changes nothing', async () => {
    const roles = ['Guest', 'Member'];
    const { keymint } = fastKeymint({ roles });
    roles.push('Owner');
    expect(keymint.roles).toEqual(['Guest', 'Member']);
    await expectCode(
      keymint.createApiKey({ name: 'ci', role: 'Owner', ttl: '1h' }),
      'INVALID_ROLE',
    );
  });

  it('reads the options once: changing the prefix afterwards changes nothing', async () => {
    const options: KeymintOptions = { adapter: memoryAdapter(), hasher, prefix: 'acme' };
    const keymint = createKeymint(options);
    options.prefix = 'other';
    const { key } = await keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    expect(key.startsWith('acme_')).toBe(true);
  });
});

describe('createKeymint() rejects bad options with CONFIG', () => {
  it.each<[string, unknown]>([
    ['null', null],
    ['undefined', undefined],
    ['42', 42],
    ["'km'", 'km'],
    ['an empty object (no adapter)', {}],
  ])('rejects the options %s', (_what, options) => {
    expectThrowsCode(() => createKeymint(options as KeymintOptions), 'CONFIG');
  });

  it('gives the ZodError as cause', () => {
    const error = expectThrowsCode(() => createKeymint({} as KeymintOptions), 'CONFIG');
    expect(error.cause).toBeInstanceOf(ZodError);
  });

  it.each(['insert', 'findById', 'list', 'update', 'delete', 'deleteExpired'])(
    'rejects an adapter without %s',
    (method) => {
      const adapter = { ...memoryAdapter(), [method]: undefined };
      const error = expectThrowsCode(
        () => createKeymint({ adapter, hasher } as unknown as KeymintOptions),
        'CONFIG',
      );
      expect(error.message).toContain('adapter');
    },
  );

  it.each<[string, unknown]>([
    ['null', null],
    ['a string', 'memory'],
    ['a function', () => memoryAdapter()],
  ])('rejects the adapter %s', (_what, adapter) => {
    expectThrowsCode(() => createKeymint(withOption('adapter', adapter)), 'CONFIG');
  });

  it.each<[string, unknown]>([
    ['a string', 'Viewer,Editor'],
    ['an object', { 0: 'Viewer' }],
    ['an empty array', []],
    ['duplicates', ['Viewer', 'Admin', 'Viewer']],
    ['duplicates in another letter case', ['Viewer', 'viewer']],
    ['duplicates after trimming', ['Admin', ' admin ']],
    ['an empty name', ['Viewer', '']],
    ['a blank name', ['Viewer', '   ']],
    ['a non-string name', ['Viewer', 1]],
    ['a 65-character name', ['x'.repeat(65)]],
  ])('rejects roles that are %s', (_what, roles) => {
    expectThrowsCode(() => createKeymint(withOption('roles', roles)), 'CONFIG');
  });

  it.each(['KM', '1km', 'k_m', 'k-m', '', 'a2345678901234567', 'km ', 'ké', 42])(
    'rejects the prefix %j',
    (prefix) => {
      expectThrowsCode(() => createKeymint(withOption('prefix', prefix)), 'CONFIG');
    },
  );

  it.each<[string, unknown]>([
    ["'1.5h'", '1.5h'],
    ["'1h30m'", '1h30m'],
    ["'0d'", '0d'],
    ['0', 0],
    ['-1', -1],
    ['1.5', 1.5],
    ['true', true],
    ['null', null],
    ['100 years + 1 second', 100 * 365 * 86_400 + 1],
    ["'36501d' (over 100 years)", '36501d'],
    ["'1300M' (over 100 years)", '1300M'],
  ])('rejects the maxTtl %s', (_what, maxTtl) => {
    expectThrowsCode(() => createKeymint(withOption('maxTtl', maxTtl)), 'CONFIG');
  });

  it.each<[string, unknown]>([
    ["'1.5m'", '1.5m'],
    ['0', 0],
    ["'soon'", 'soon'],
  ])('rejects the lastUsedInterval %s', (_what, lastUsedInterval) => {
    expectThrowsCode(
      () => createKeymint(withOption('lastUsedInterval', lastUsedInterval)),
      'CONFIG',
    );
  });

  it.each<[string, unknown]>([
    ['a string', 'argon2id'],
    ['null', null],
    ['an empty object', {}],
    ['an object without verify', { hash: async () => 'h' }],
    ['an object without hash', { verify: async () => true }],
  ])('rejects the hasher %s', (_what, badHasher) => {
    expectThrowsCode(() => createKeymint(withOption('hasher', badHasher)), 'CONFIG');
  });

  it.each(['authorize', 'actorRole', 'now', 'onBackgroundError'])(
    'rejects %s that is not a function',
    (field) => {
      expectThrowsCode(() => createKeymint(withOption(field, 'yes')), 'CONFIG');
    },
  );

  it.each<[string, unknown]>([
    ["'yes'", 'yes'],
    ['1', 1],
  ])('rejects allowNonExpiring %s', (_what, value) => {
    expectThrowsCode(() => createKeymint(withOption('allowNonExpiring', value)), 'CONFIG');
  });

  it('throws CONFIG on use when now() does not return a valid Date', async () => {
    const { keymint } = fastKeymint({ now: () => new Date(Number.NaN) });
    await expectCode(keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' }), 'CONFIG');
  });
});

describe('hasher factories reject bad configuration with CONFIG', () => {
  it('rejects an HMAC secret shorter than 32 bytes', () => {
    expectThrowsCode(() => hmacSha256Hasher('x'.repeat(31)), 'CONFIG');
  });

  it('accepts an HMAC secret of 32 bytes given as a Buffer', async () => {
    const buffered = hmacSha256Hasher(Buffer.alloc(32, 1));
    expect(await buffered.verify(await buffered.hash('secret'), 'secret')).toBe(true);
  });

  it.each<[string, object]>([
    ['memoryCost 0', { memoryCost: 0 }],
    ['timeCost 1.5', { timeCost: 1.5 }],
    ['parallelism -1', { parallelism: -1 }],
  ])('rejects argon2id %s', (_what, options) => {
    expectThrowsCode(() => argon2idHasher(options), 'CONFIG');
  });
});
