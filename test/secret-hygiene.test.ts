// Secret hygiene: once createApiKey has returned a key, the key (and its secret alone) must not
// turn up anywhere else keymint writes: errors and their causes, records, the instance, console
// output, HTTP answers other than the create answer, the store's records and the bytes of a
// SQLite file, and the arguments the adapter receives.
import Database from 'better-sqlite3';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import {
  createKeymint,
  hmacSha256Hasher,
  isKeymintError,
  KeymintError,
  parseTtl,
  type Hasher,
  type KeyAdapter,
  type Keymint,
} from '../src/index.js';
import { memoryAdapter } from '../src/adapters/memory/index.js';
import { migrate, sqliteAdapter } from '../src/adapters/sqlite/index.js';
import { withChecksum } from '../src/core/key-format.js';
import { authenticateRequest, createApiKeyRoutes, toResponse } from '../src/http/index.js';
import {
  DriverError,
  flush,
  HMAC_SECRET,
  HOUR,
  keyParts,
  testClock,
  withOtherLast,
} from './helpers.js';
import { leakIn, renderings, spyAdapter, type AdapterCall } from './fixtures/arbitraries.js';
import { routesFixture } from './http-fixtures.js';

const figures = { misplaced: 0, renderings: 0, responses: 0, adapterCalls: 0, sqliteBytes: 0 };
afterAll(() => {
  console.log(
    `[figures] secret hygiene: ${figures.misplaced} calls with the key in the wrong place, ` +
      `${figures.renderings} values rendered (JSON, util.inspect, reachable strings), ` +
      `${figures.responses} HTTP answers, ${figures.adapterCalls} adapter calls searched, ` +
      `${figures.sqliteBytes} bytes of SQLite files searched`,
  );
});

/** The strings that must not appear: the key and its secret alone. */
function needlesOf(key: string): string[] {
  const { secret } = keyParts(key);
  return [key, secret];
}

/** Asserts that no rendering of `value` contains the key or its secret. */
function expectClean(value: unknown, key: string, what: string): void {
  figures.renderings++;
  const leak = leakIn(value, needlesOf(key));
  expect(leak, `${what} carries ${leak === key ? 'the key' : 'the secret'}`).toBeUndefined();
}

/** Every error in a cause chain (stops at 10 links). */
function causeChain(error: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e: unknown = error; e !== undefined && chain.length < 10;) {
    chain.push(e);
    e = typeof e === 'object' && e !== null ? (e as { cause?: unknown }).cause : undefined;
  }
  return chain;
}

function fast(options: Partial<Parameters<typeof createKeymint>[0]> = {}) {
  const clock = testClock();
  const keymint = createKeymint({
    adapter: memoryAdapter(),
    hasher: hmacSha256Hasher(HMAC_SECRET),
    now: clock.now,
    lastUsedDelayMs: 0,
    ...options,
  });
  return { keymint, clock };
}

describe('a key passed where it does not belong never comes back in an error', () => {
  /** An object whose only property, named `name`, is the object itself. */
  function cyclic(name: string): Record<string, unknown> {
    const m: Record<string, unknown> = {};
    m[name] = m;
    return m;
  }

  /** verifyKey options whose `role` getter throws an Error that quotes `value`. */
  function throwingRole(value: string): never {
    return {
      get role(): string {
        throw new Error(`boom ${value}`);
      },
    } as never;
  }

  /** Calls that are given the key (or its secret, or a mangled copy) in the wrong place. */
  function misplacements(keymint: Keymint, value: string): [string, () => unknown][] {
    const unknown = value as unknown as never;
    return [
      // createApiKey: every field, and the input itself.
      [
        'create: name with a control character',
        () => keymint.createApiKey({ name: `${value}\u0000`, role: 'Viewer', ttl: '1h' }),
      ],
      [
        'create: name too long',
        () => keymint.createApiKey({ name: value.repeat(8), role: 'Viewer', ttl: '1h' }),
      ],
      [
        'create: name taken (NAME_TAKEN quotes the name)',
        async () => {
          await keymint.createApiKey({ name: value, role: 'Viewer', ttl: '1h', scope: 'taken' });
          return keymint.createApiKey({ name: value, role: 'Viewer', ttl: '1h', scope: 'taken' });
        },
      ],
      [
        'create: scope taken (NAME_TAKEN quotes the scope)',
        async () => {
          await keymint.createApiKey({ name: 'dup', role: 'Viewer', ttl: '1h', scope: value });
          return keymint.createApiKey({ name: 'dup', role: 'Viewer', ttl: '1h', scope: value });
        },
      ],
      [
        'create: scope with a line break',
        () => keymint.createApiKey({ name: 'x', role: 'Viewer', ttl: '1h', scope: `${value}\n` }),
      ],
      ['create: role', () => keymint.createApiKey({ name: 'x', role: value, ttl: '1h' })],
      ['create: ttl', () => keymint.createApiKey({ name: 'x', role: 'Viewer', ttl: value })],
      [
        'create: ttl with a unit',
        () => keymint.createApiKey({ name: 'x', role: 'Viewer', ttl: `${value}h` }),
      ],
      [
        'create: metadata property name',
        () =>
          keymint.createApiKey({ name: 'x', role: 'Viewer', ttl: '1h', metadata: { [value]: 1n } }),
      ],
      [
        'create: metadata value',
        () =>
          keymint.createApiKey({
            name: 'x',
            role: 'Viewer',
            ttl: '1h',
            metadata: { k: [value, undefined] },
          }),
      ],
      [
        'create: metadata too big',
        () =>
          keymint.createApiKey({
            name: 'x',
            role: 'Viewer',
            ttl: '1h',
            metadata: { k: value.repeat(400) },
          }),
      ],
      [
        'create: unknown field named like the key',
        () => keymint.createApiKey({ name: 'x', role: 'Viewer', ttl: '1h', [value]: 1 } as never),
      ],
      ['create: the key as the whole input', () => keymint.createApiKey(unknown)],
      // The methods that take an id.
      ['getApiKey(key)', () => keymint.getApiKey(value)],
      ['revokeApiKey(key)', () => keymint.revokeApiKey(value)],
      ['deleteApiKey(key)', () => keymint.deleteApiKey(value)],
      ['getApiKey({ id: key })', () => keymint.getApiKey({ id: value } as never)],
      ['getApiKey(id, key as context)', () => keymint.getApiKey(value, unknown)],
      // listApiKeys and purgeExpired.
      [
        'list: scope with a control character',
        () => keymint.listApiKeys({ scope: `${value}\u0001` }),
      ],
      [
        'list: after with a control character',
        () => keymint.listApiKeys({ after: `${value}\u0001` }),
      ],
      ['list: limit', () => keymint.listApiKeys({ limit: unknown })],
      ['list: includeExpired', () => keymint.listApiKeys({ includeExpired: unknown })],
      [
        'list: unknown option named like the key',
        () => keymint.listApiKeys({ [value]: true } as never),
      ],
      ['list: the key as the whole input', () => keymint.listApiKeys(unknown)],
      ['purge: olderThan', () => keymint.purgeExpired({ olderThan: value })],
      [
        'purge: unknown option named like the key',
        () => keymint.purgeExpired({ [value]: 1 } as never),
      ],
      ['purge: the key as the whole input', () => keymint.purgeExpired(unknown)],
      // verifyKey options.
      ['verify: role', () => keymint.verifyKey(value, { role: value })],
      ['verify: scope with a line break', () => keymint.verifyKey(value, { scope: `${value}\n` })],
      [
        'verify: unknown option named like the key',
        () => keymint.verifyKey(value, { [value]: 1 } as never),
      ],
      ['verify: the key as the options', () => keymint.verifyKey(value, unknown)],
      // The caller's own data throws, and the engine's message quotes the key: the cause is a
      // redacted copy.
      [
        'create: metadata cyclic through a property named like the key',
        () =>
          keymint.createApiKey({ name: 'x', role: 'Viewer', ttl: '1h', metadata: cyclic(value) }),
      ],
      [
        'verify: options with a getter whose error quotes the key',
        () => keymint.verifyKey(value, throwingRole(value)),
      ],
      // parseTtl and createKeymint, where a key could be pasted into configuration.
      ['parseTtl(key)', () => parseTtl(value)],
      ['parseTtl(1h, { max: key })', () => parseTtl('1h', { max: value })],
      [
        'createKeymint({ prefix: key })',
        () => createKeymint({ adapter: memoryAdapter(), prefix: value }),
      ],
      [
        'createKeymint({ maxTtl: key })',
        () => createKeymint({ adapter: memoryAdapter(), maxTtl: value }),
      ],
      [
        'createKeymint({ cache: { ttl: key } })',
        () => createKeymint({ adapter: memoryAdapter(), cache: { ttl: value } }),
      ],
      [
        'createKeymint({ [key]: 1 })',
        () => createKeymint({ adapter: memoryAdapter(), [value]: 1 } as never),
      ],
      [
        'createKeymint({ roles: [key, key] })',
        () => createKeymint({ adapter: memoryAdapter(), roles: [value, value] }),
      ],
      ['hmacSha256Hasher(secret too short)', () => hmacSha256Hasher(value.slice(0, 20))],
    ];
  }

  /** The KeymintError a call threw (or rejected with); fails when it returns or throws anything else. */
  async function thrownBy(run: () => unknown): Promise<KeymintError> {
    let thrown: unknown;
    try {
      await run();
    } catch (error) {
      thrown = error;
    }
    expect(isKeymintError(thrown), `expected a KeymintError, got ${inspect(thrown)}`).toBe(true);
    return thrown as KeymintError;
  }

  /**
   * The calls whose message (or cause) quotes the value given, on purpose or through the engine
   * (which name is taken, which option is unknown, which property closes a cycle): there the value
   * must show up redacted, so these cases are not passing by leaving it out.
   */
  const QUOTED = new Set([
    'create: metadata cyclic through a property named like the key',
    'verify: options with a getter whose error quotes the key',
    'create: name taken (NAME_TAKEN quotes the name)',
    'create: scope taken (NAME_TAKEN quotes the scope)',
    'create: metadata property name',
    'create: unknown field named like the key',
    'list: unknown option named like the key',
    'purge: unknown option named like the key',
    'verify: unknown option named like the key',
    'createKeymint({ [key]: 1 })',
  ]);

  /** The forms of the key a caller might misplace: whole, its secret alone, trimmed, padded. */
  const forms = (key: string): [string, string][] => [
    ['the key', key],
    ['the secret alone', keyParts(key).secret],
    ['the key without its last character', key.slice(0, -1)],
    ['the key with a character appended', `${key}x`],
    ['the key in a sentence', `my key is ${key}, keep it`],
  ];

  it('every public method, given the key in the wrong place, throws a KeymintError whose message, stack, toJSON and cause chain hold neither the key nor its secret', async () => {
    const { keymint } = fast();
    const { key } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
    let calls = 0;
    let quoted = 0;
    for (const [form, value] of forms(key)) {
      // A fresh instance per form: the taken-name cases create keys.
      const { keymint: other } = fast();
      for (const [label, run] of misplacements(other, value)) {
        calls++;
        const error = await thrownBy(run);
        const where = `${label}, given ${form} (${error.code})`;
        expectClean(error, key, where);
        if (QUOTED.has(label)) {
          quoted++;
          const said = [error.message, ...causeChain(error.cause).map((e) => String(e))].join('\n');
          expect(said, `${where}: the quoted value is redacted`).toContain('[redacted]');
        }
        expectClean(error.toJSON(), key, `${where}: toJSON()`);
        for (const link of causeChain(error)) expectClean(link, key, `${where}: cause chain`);
      }
    }
    figures.misplaced += calls;
    // Every case with every form, the secret alone included: nothing is skipped.
    expect(calls).toBe(forms(key).length * misplacements(fast().keymint, key).length);
    expect(quoted).toBe(forms(key).length * QUOTED.size);
  });

  it('a cyclic metadata object closed through the key as a property name, and verifyKey options whose getter throws an Error quoting the key: INVALID_INPUT, and neither the message, the cause (message, stack, util.inspect) nor the JSON holds the key or the secret', async () => {
    const { keymint } = fast();
    const { key } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
    const { secret } = keyParts(key);
    for (const [form, value] of forms(key)) {
      const { keymint: other } = fast();
      const cases: [string, () => Promise<unknown>, RegExp][] = [
        [
          'cyclic metadata',
          () =>
            other.createApiKey({ name: 'x', role: 'Viewer', ttl: '1h', metadata: cyclic(value) }),
          /^Converting circular structure to JSON[\s\S]*property '[^']*\[redacted\][^']*' closes the circle/,
        ],
        ['throwing role getter', () => other.verifyKey(value, throwingRole(value)), /^boom /],
      ];
      for (const [label, run, causeMessage] of cases) {
        const where = `${label}, given ${form}`;
        const error = await thrownBy(run);
        expect(error.code, where).toBe('INVALID_INPUT');
        const cause = error.cause as Error;
        expect(cause, `${where}: a cause`).toBeInstanceOf(Error);
        // The engine's (or the getter's) words are kept; only the key is gone.
        expect(cause.message, where).toMatch(causeMessage);
        expect(cause.message, where).toContain('[redacted]');
        const texts = [
          error.message,
          String(error),
          error.stack ?? '',
          JSON.stringify(error),
          JSON.stringify(error.toJSON()),
          inspect(error, { depth: Infinity, showHidden: true }),
          cause.message,
          cause.stack ?? '',
          String(cause),
          inspect(cause, { depth: Infinity, showHidden: true }),
          JSON.stringify(cause),
        ];
        for (const text of texts) {
          expect(text, where).not.toContain(key);
          expect(text, where).not.toContain(secret);
        }
        expectClean(error, key, where);
        figures.misplaced++;
      }
    }
  });

  it('with authorize and actorRole set, refusals quote no key given as the scope, the actor or the context', async () => {
    const made = fast();
    const { key } = await made.keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
    const strict = createKeymint<string>({
      adapter: memoryAdapter(),
      hasher: hmacSha256Hasher(HMAC_SECRET),
      authorize: ({ scope }) => scope === 'mine',
      actorRole: (actor) => actor,
    });
    const cases: (() => Promise<unknown>)[] = [
      () =>
        strict.createApiKey(
          { name: 'x', role: 'Viewer', ttl: '1h', scope: key },
          { actor: 'Admin' },
        ),
      () => strict.listApiKeys({ scope: key }, { actor: key }),
      () =>
        strict.createApiKey({ name: 'x', role: 'Admin', ttl: '1h', scope: 'mine' }, { actor: key }),
      () =>
        strict.createApiKey({ name: 'x', role: 'Admin', ttl: '1h', scope: 'mine' }, key as never),
      () => strict.listApiKeys({ scope: 'mine' }),
    ];
    for (const run of cases) {
      const error = await thrownBy(run);
      expect(['FORBIDDEN', 'INVALID_INPUT']).toContain(error.code);
      for (const link of causeChain(error)) expectClean(link, key, `refusal ${error.code}`);
    }
    figures.misplaced += cases.length;
  });
});

describe('records, errors and the instance never carry the key', () => {
  it('JSON.stringify and util.inspect (depth Infinity, showHidden) of every record from create, get, list, verify and revoke, of every error, and of the instance', async () => {
    const { keymint, clock } = fast();
    const created = await keymint.createApiKey({
      name: 'ci',
      role: 'Editor',
      ttl: '1h',
      metadata: { team: 'infra' },
    });
    const { key } = created;
    const values: [string, unknown][] = [
      ['createApiKey().apiKey', created.apiKey],
      ['getApiKey()', await keymint.getApiKey(created.apiKey.id)],
      ['listApiKeys()', await keymint.listApiKeys()],
      ['listApiKeys({ includeExpired })', await keymint.listApiKeys({ includeExpired: true })],
      ['verifyKey() valid', await keymint.verifyKey(key)],
      ['verifyKey() cached', await keymint.verifyKey(key)],
      ['verifyKey() insufficient_role', await keymint.verifyKey(key, { role: 'Admin' })],
      ['verifyKey() malformed', await keymint.verifyKey(withOtherLast(key))],
      [
        'verifyKey() wrong secret',
        await keymint.verifyKey(withChecksum(key.slice(0, -7) + (key.at(-7) === 'a' ? 'b' : 'a'))),
      ],
      ['revokeApiKey()', await keymint.revokeApiKey(created.apiKey.id)],
      ['revokeApiKey() again', await keymint.revokeApiKey(created.apiKey.id)],
      ['verifyKey() revoked', await keymint.verifyKey(key)],
    ];
    clock.advance(2 * HOUR);
    values.push(['verifyKey() revoked and expired', await keymint.verifyKey(key)]);
    const second = await keymint.createApiKey({ name: 'two', role: 'Viewer', ttl: '1h' });
    clock.advance(2 * HOUR);
    values.push(['verifyKey() expired', await keymint.verifyKey(second.key)]);
    values.push(['purgeExpired()', await keymint.purgeExpired()]);
    values.push(['deleteApiKey()', await keymint.deleteApiKey(second.apiKey.id).catch((e) => e)]);
    values.push(['the instance', keymint]);
    values.push(['the instance roles', keymint.roles]);
    for (const [what, value] of values) {
      expectClean(value, key, what);
      expectClean(value, second.key, what);
    }
    // The created record itself may be shown: only the `key` field carries the key.
    const { key: _shown, ...rest } = created;
    expectClean(rest, key, 'createApiKey() without its key field');
  });
});

describe('nothing reaches the console or the process streams', () => {
  const streams: NodeJS.WriteStream[] = [process.stdout, process.stderr];
  afterEach(() => vi.restoreAllMocks());

  it('a whole session, with failures and background errors and no onBackgroundError, writes nothing that holds the key', async () => {
    const written: unknown[][] = [];
    for (const method of ['log', 'info', 'warn', 'error', 'debug', 'trace', 'dir'] as const) {
      vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
        written.push(args);
      });
    }
    for (const stream of streams) {
      vi.spyOn(stream, 'write').mockImplementation(((chunk: unknown) => {
        written.push([chunk]);
        return true;
      }) as never);
    }
    const unhandled: unknown[] = [];
    // Background work that fails, with nobody told (no onBackgroundError): a rehash and a last-used write.
    const background = { rehash: 0, touch: 0 };
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const inner = memoryAdapter();
      let failing = false;
      const adapter: KeyAdapter = {
        ...inner,
        findById: async (id) => {
          if (failing) throw new DriverError('connection reset');
          return inner.findById(id);
        },
        update: async () => {
          throw new DriverError('write failed');
        },
        // A rehash is a change conditional on the old hash (modify), so a rotation wins over it.
        modify: async (_id, changes) => {
          if (changes.secretHash !== undefined) background.rehash++;
          throw new DriverError('write failed');
        },
        touchMany: async () => {
          background.touch++;
          throw new DriverError('touch failed');
        },
      };
      // A hasher that always asks for a rehash, so a background rehash runs (and fails to store).
      const base = hmacSha256Hasher(HMAC_SECRET);
      const hasher: Hasher = { ...base, fast: true, needsRehash: () => true };
      const clock = testClock();
      const keymint = createKeymint({ adapter, hasher, now: clock.now, lastUsedDelayMs: 0 });
      const { key, apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
      await keymint.verifyKey(key);
      await keymint.verifyKey(key, { role: 'Admin' });
      await keymint.verifyKey(`${key}x`);
      await keymint.verifyKey(key.toLowerCase());
      await flush();
      await flush();
      await keymint.revokeApiKey(apiKey.id).catch(() => {});
      failing = true;
      await keymint.close();
      await keymint.verifyKey(key).catch(() => {});
      await keymint.getApiKey(apiKey.id).catch(() => {});
      await keymint.createApiKey({ name: key, role: 'Viewer', ttl: key }).catch(() => {});
      await keymint.verifyKey(key, { [key]: 1 } as never).catch(() => {});
      await flush();
      await flush();
    } finally {
      process.off('unhandledRejection', onUnhandled);
      vi.restoreAllMocks();
    }
    expect(background.rehash).toBeGreaterThan(0);
    expect(background.touch).toBeGreaterThan(0);
    expect(unhandled).toEqual([]);
    expect(written.map((args) => inspect(args, { depth: 4 }))).toEqual([]);
  });
});

describe('HTTP answers other than the create answer never carry the key', () => {
  it('routes and authenticateRequest, given the key in paths, bodies, queries and headers, and the key verifying, expiring and revoked', async () => {
    const fixture = routesFixture();
    const created = await fixture.create({ name: 'ci', role: 'Editor', ttl: '1h' });
    const { key, id } = created;
    const { secret } = keyParts(key);
    const json = { 'content-type': 'application/json' };
    const answers: { what: string; text: string; headers: Headers }[] = [];
    const call = async (what: string, ...args: Parameters<typeof fixture.call>) => {
      const response = await fixture.call(...args);
      answers.push({ what, text: response.text, headers: response.headers });
      return response;
    };

    await call('list', 'GET', '/api/auth/keys?includeExpired=true');
    await call('list with the key as the flag', 'GET', `/api/auth/keys?includeExpired=${key}`);
    await call('list with the key as a parameter name', 'GET', `/api/auth/keys?${key}=1`);
    await call('delete the key as the id', 'DELETE', `/api/auth/keys/${key}`);
    await call('delete the secret as the id', 'DELETE', `/api/auth/keys/${secret}`);
    await call('revoke the key as the id', 'POST', `/api/auth/keys/${key}/revoke`, { json: {} });
    await call('the key as a path segment', 'GET', `/api/auth/keys/${key}`);
    await call('the key as a deeper path', 'POST', `/api/auth/keys/${id}/${key}`, { json: {} });
    await call('create: name with a control character', 'POST', '/api/auth/keys', {
      json: { name: `${key}\u0007`, role: 'Viewer', ttl: '1h' },
    });
    await call('create: role', 'POST', '/api/auth/keys', {
      json: { name: 'x', role: key, ttl: '1h' },
    });
    await call('create: ttl', 'POST', '/api/auth/keys', {
      json: { name: 'x', role: 'Viewer', ttl: key },
    });
    await call('create: secondsToLive', 'POST', '/api/auth/keys', {
      json: { name: 'x', role: 'Viewer', secondsToLive: key },
    });
    await call('create: name too long', 'POST', '/api/auth/keys', {
      json: { name: key.repeat(5), role: 'Viewer', ttl: '1h' },
    });
    await call('create: the key as the body', 'POST', '/api/auth/keys', { json: key });
    await call('create: the key as bad JSON', 'POST', '/api/auth/keys', {
      body: `{"name": "${key}"`,
      headers: json,
    });
    await call('create: the key as a content type', 'POST', '/api/auth/keys', {
      body: '{}',
      headers: { 'content-type': key },
    });
    await call('create: the key in a body over the limit', 'POST', '/api/auth/keys', {
      body: JSON.stringify({ name: key.repeat(400) }),
      headers: json,
    });
    await call('create: bob above his role', 'POST', '/api/auth/keys', {
      as: 'bob',
      json: { name: key, role: 'Admin', ttl: '1h' },
    });
    await call('no session', 'GET', '/api/auth/keys', {
      as: null,
      headers: { authorization: `Bearer ${key}` },
    });
    await call('the key as the session', 'GET', '/api/auth/keys', { as: key });
    await call('a method not allowed', 'PUT', `/api/auth/keys/${key}`, { json: { key } });
    // The key as a name in another fixture: the second create is a 409 that quotes the name.
    const named = routesFixture();
    await named.create({ name: key, role: 'Viewer', ttl: '1h' });
    const taken = await named.call('POST', '/api/auth/keys', {
      json: { name: key, role: 'Viewer', ttl: '1h' },
    });
    expect(taken.status).toBe(409);
    answers.push({
      what: 'create: the key as a taken name',
      text: taken.text,
      headers: taken.headers,
    });

    // authenticateRequest: the key verifying, with too low a role, mangled, rate limited, revoked, expired.
    const authenticate = async (what: string, authorization: string, role?: string) => {
      const request = new Request('http://localhost/api/dashboards', {
        headers: { authorization },
      });
      const result = await authenticateRequest(
        fixture.keymint,
        request,
        role ? { role } : undefined,
      );
      expectClean(
        result.ok ? { ok: true, id: result.apiKey.id } : result,
        key,
        `authenticateRequest: ${what}`,
      );
      const response = result.ok
        ? Response.json({ caller: result.apiKey.name })
        : toResponse(result);
      answers.push({
        what: `authenticate: ${what}`,
        text: await response.text(),
        headers: response.headers,
      });
      return result;
    };
    expect((await authenticate('Bearer', `Bearer ${key}`)).ok).toBe(true);
    await authenticate('Basic', `Basic ${btoa(`api_key:${key}`)}`);
    await authenticate('too low a role', `Bearer ${key}`, 'Admin');
    await authenticate('the secret alone', `Bearer ${secret}`);
    await authenticate('lower case', `Bearer ${key.toLowerCase()}`);
    await authenticate('Basic with another user', `Basic ${btoa(`admin:${key}`)}`);
    await authenticate('an unknown scheme', `Token ${key}`);
    await authenticate('too long', `Bearer ${key}${' '.repeat(500)}x`);
    const wrong = withChecksum(key.slice(0, -7) + (key.at(-7) === 'a' ? 'b' : 'a'));
    for (let i = 0; i < 12; i++) await authenticate(`wrong secret #${i + 1}`, `Bearer ${wrong}`);
    await call('revoke', 'POST', `/api/auth/keys/${id}/revoke`, { json: {} });
    await authenticate('revoked', `Bearer ${key}`);
    await call('list after revoke', 'GET', '/api/auth/keys?includeExpired=true');
    const later = await fixture.create({ name: 'later', role: 'Viewer', ttl: '1h' });
    fixture.clock.advance(2 * HOUR);
    await authenticate('expired', `Bearer ${later.key}`);
    await call('delete', 'DELETE', `/api/auth/keys/${id}`);
    await call('delete again', 'DELETE', `/api/auth/keys/${id}`);

    for (const { what, text, headers } of answers) {
      const headerText = [...headers].map(([name, value]) => `${name}: ${value}`).join('\n');
      for (const needle of [...needlesOf(key), ...needlesOf(later.key)]) {
        expect(text, what).not.toContain(needle);
        expect(headerText, what).not.toContain(needle);
      }
    }
    // The create answers are the only ones that held a key.
    for (const text of fixture.texts) {
      if (text.includes(key)) expect(JSON.parse(text)).toEqual({ id, name: 'ci', key });
    }
    expect(fixture.onError).not.toHaveBeenCalled();
    figures.responses += answers.length;
  });
});

/** A session of the calls that write: create, verify (last-used), a wrong secret, revoke, a rehash. */
async function session(adapter: KeyAdapter, options: { rehash?: boolean } = {}) {
  const clock = testClock();
  const base = hmacSha256Hasher(HMAC_SECRET);
  const hasher: Hasher = options.rehash ? { ...base, needsRehash: () => true } : base;
  const keymint = createKeymint({
    adapter,
    hasher,
    now: clock.now,
    lastUsedDelayMs: 0,
    lastUsedInterval: '1s',
  });
  const first = await keymint.createApiKey({
    name: 'ci',
    role: 'Editor',
    ttl: '1h',
    metadata: { team: 'a' },
  });
  const second = await keymint.createApiKey({
    name: 'other',
    role: 'Viewer',
    ttl: '2h',
    scope: 'org-2',
  });
  expect((await keymint.verifyKey(first.key)).valid).toBe(true);
  clock.advance(5_000);
  await keymint.verifyKey(first.key);
  await keymint.verifyKey(
    withChecksum(first.key.slice(0, -7) + (first.key.at(-7) === 'a' ? 'b' : 'a')),
  );
  expect((await keymint.verifyKey(second.key, { scope: 'org-2' })).valid).toBe(true);
  await flush();
  await keymint.revokeApiKey(first.apiKey.id);
  await keymint.verifyKey(first.key);
  await keymint.listApiKeys({ includeExpired: true });
  await keymint.close();
  await flush();
  return { keys: [first.key, second.key], ids: [first.apiKey.id, second.apiKey.id], keymint };
}

describe('the store never holds the key or the secret', () => {
  it('the memory adapter: what its find and list methods return, and util.inspect of the adapter', async () => {
    const adapter = memoryAdapter();
    const { keys, ids } = await session(adapter, { rehash: true });
    const records = [
      ...(await Promise.all(ids.map((id) => adapter.findById(id)))),
      await adapter.list({ scope: 'default', limit: 1000 }),
      await adapter.list({ scope: 'org-2', limit: 1000 }),
    ];
    expect(records.flat().filter(Boolean)).toHaveLength(4);
    for (const key of keys) {
      expectClean(records, key, 'the stored records');
      expectClean(adapter, key, 'the memory adapter');
    }
    const stored = (await adapter.findById(ids[0]!))!;
    expect(stored.secretHash.startsWith('hmac-sha256:')).toBe(true);
  });

  it('SQLite: the bytes of the database files (and its WAL) after a create / verify / revoke session hold neither the key nor the secret', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keymint-hygiene-'));
    try {
      const keys: string[] = [];
      for (const journal of ['WAL', 'DELETE']) {
        const db = new Database(join(dir, `keys-${journal}.db`));
        db.pragma(`journal_mode = ${journal}`);
        migrate(db);
        const result = await session(sqliteAdapter(db), { rehash: true });
        keys.push(...result.keys);
        // Read the files while the WAL is still there, then again after the checkpoint on close.
        const before = readDir(dir);
        db.close();
        const after = readDir(dir);
        for (const bytes of [...before, ...after]) {
          figures.sqliteBytes += bytes.length;
          for (const key of result.keys) {
            for (const needle of needlesOf(key)) {
              for (const encoding of ['utf8', 'utf16le'] as const) {
                expect(bytes.includes(Buffer.from(needle, encoding))).toBe(false);
              }
            }
          }
        }
        // The public id is in the file: the search above is not blind.
        expect(after.some((bytes) => bytes.includes(Buffer.from(result.ids[0]!)))).toBe(true);
      }
      expect(keys).toHaveLength(4);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  function readDir(dir: string): Buffer[] {
    return readdirSync(dir).map((name) => readFileSync(join(dir, name)));
  }
});

describe('the adapter never receives the key or the secret', () => {
  /** Every string reachable from the arguments of every adapter call. */
  function searchCalls(calls: readonly AdapterCall[], keys: readonly string[]) {
    figures.adapterCalls += calls.length;
    for (const { method, args } of calls) {
      for (const key of keys) {
        const leak = leakIn(args, needlesOf(key));
        expect(
          leak,
          `adapter.${method} received ${leak === key ? 'the key' : 'the secret'}`,
        ).toBeUndefined();
      }
    }
  }

  it('every argument of every adapter method, searched deeply, over a session of every public method (memory and SQLite)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'keymint-hygiene-'));
    try {
      const db = new Database(join(dir, 'keys.db'));
      migrate(db);
      for (const inner of [memoryAdapter(), sqliteAdapter(db)]) {
        const spy = spyAdapter(inner);
        const { keys, ids, keymint } = await session(spy.adapter, { rehash: true });
        await keymint.getApiKey(ids[1]!);
        await keymint.purgeExpired();
        await keymint.deleteApiKey(ids[1]!);
        await keymint.verifyKey(keys[1]);
        await flush();
        const methods = new Set(spy.calls.map((c) => c.method));
        for (const method of ['insert', 'findById', 'list', 'update', 'delete', 'deleteExpired']) {
          expect(methods).toContain(method);
        }
        searchCalls(spy.calls, keys);
        // The lookups carry the public id only.
        for (const call of spy.calls.filter((c) => c.method === 'findById')) {
          expect(ids).toContain(call.args[0]);
        }
      }
      db.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a store error that quotes the key: the KeymintError message and the HTTP answers stay clean; the adapter error is passed through untouched as the cause', async () => {
    // The adapter cannot know the key (it only receives the id): this one closes over it, as a
    // buggy host-side wrapper that logs the Authorization header might.
    let key = '';
    const inner = memoryAdapter();
    let failing = false;
    const adapter: KeyAdapter = {
      ...inner,
      findById: async (id) => {
        if (failing) throw new Error(`bad ${key}`);
        return inner.findById(id);
      },
    };
    const keymint = createKeymint({
      adapter,
      hasher: hmacSha256Hasher(HMAC_SECRET),
      cache: false,
    });
    const created = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
    key = created.key;
    failing = true;

    let thrown: unknown;
    try {
      await keymint.verifyKey(key);
    } catch (error) {
      thrown = error;
    }
    expect(isKeymintError(thrown, 'STORE_FAILURE')).toBe(true);
    const error = thrown as KeymintError;
    expect(error.message).not.toContain(key);
    expect(error.stack).not.toContain(key);
    expect(JSON.stringify(error)).not.toContain(key);
    // keymint does not rewrite errors it does not own: the driver's error is the cause, as is.
    expect((error.cause as Error).message).toBe(`bad ${key}`);

    const request = new Request('http://localhost/x', {
      headers: { authorization: `Bearer ${key}` },
    });
    const auth = await authenticateRequest(keymint, request);
    expect(auth).toMatchObject({ ok: false, status: 503 });
    const response = toResponse(auth as never);
    const text = await response.text();
    expect(text).not.toContain(key);
    expect(JSON.parse(text)).toEqual({ message: 'The key store is unavailable; try again later' });

    const onError = vi.fn();
    const routes = createApiKeyRoutes(keymint, {
      authenticate: () => ({ name: 'a' }),
      // No authorize hook on this instance: every signed-in caller may manage keys here.
      allowAnyActor: true,
      onError,
    });
    const revoke = await routes(
      new Request(`http://localhost/api/auth/keys/${created.apiKey.id}/revoke`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{}',
      }),
    );
    expect(revoke.status).toBe(503);
    expect(await revoke.text()).not.toContain(key);
    // The host hears about it, with the original error for its logs.
    expect(onError).toHaveBeenCalledTimes(1);
    figures.renderings += renderings(error).length;
  });
});
