// Property tests for the three things every caller feeds keymint: a time to live, a key, and any
// value presented as a key. fast-check picks a new random seed on every run and prints it (with the
// shrunk counterexample) when a property fails, so a failure can be replayed with { seed, path }.
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createKeymint,
  DEFAULT_MAX_TTL_SECONDS,
  hmacSha256Hasher,
  isKeymintError,
  KeymintError,
  keyPattern,
  MAX_KEY_LENGTH,
  parseTtl,
  type TtlInput,
  type VerifyFailureReason,
} from '../src/index.js';
import { memoryAdapter } from '../src/adapters/memory/index.js';
import {
  checksumCheck,
  formatKey,
  generateKeyId,
  parseKey,
  withChecksum,
} from '../src/core/key-format.js';
import { countingHasher, fastKeymint } from './helpers.js';
import {
  applyEdit,
  base62,
  editArb,
  hostileValues,
  nonBase62Char,
  prefixArb,
  spyAdapter,
  TRIMMED_WHITESPACE,
  trimmedWhitespace,
  TTL_UNITS,
  ttlOracle,
  unwrap,
  UNIT_LETTERS,
  withLeadingZeros,
  type Unit,
} from './fixtures/arbitraries.js';

const HUNDRED_YEARS = 100 * 365 * 86_400;
const REASONS: readonly VerifyFailureReason[] = [
  'malformed',
  'not_found',
  'expired',
  'revoked',
  'insufficient_role',
  'rate_limited',
  'busy',
];

/** Properties run and cases generated, for the figures line. */
const figures = { properties: 0, cases: 0 };
afterAll(() => {
  console.log(
    `[figures] properties: ${figures.properties} properties, ${figures.cases} generated cases`,
  );
});

/** fc.assert that counts the cases it ran. Default random seed: fast-check prints it on failure. */
function check<Ts extends [unknown, ...unknown[]]>(
  arbs: { [K in keyof Ts]: fc.Arbitrary<Ts[K]> },
  predicate: (...args: Ts) => void,
  numRuns: number,
): void {
  figures.properties++;
  fc.assert(
    fc.property(...arbs, (...args: Ts) => {
      figures.cases++;
      predicate(...args);
    }),
    { numRuns },
  );
}

async function checkAsync<Ts extends [unknown, ...unknown[]]>(
  arbs: { [K in keyof Ts]: fc.Arbitrary<Ts[K]> },
  predicate: (...args: Ts) => Promise<void>,
  numRuns: number,
): Promise<void> {
  figures.properties++;
  await fc.assert(
    fc.asyncProperty(...arbs, async (...args: Ts) => {
      figures.cases++;
      await predicate(...args);
    }),
    { numRuns },
  );
}

/** What parseTtl does with an input: its value, or the thrown error (any error, any type). */
function outcomeOf(input: unknown, max?: TtlInput): { ok: number } | { error: unknown } {
  try {
    return { ok: parseTtl(input as TtlInput, max === undefined ? undefined : { max }) };
  } catch (error) {
    return { error };
  }
}

/** Asserts a thrown value is a KeymintError INVALID_TTL / TTL_TOO_LONG and nothing else; returns it. */
function ttlRejection(thrown: unknown): KeymintError {
  expect(thrown).toBeInstanceOf(KeymintError);
  expect(Object.getPrototypeOf(thrown)).toBe(KeymintError.prototype);
  const error = thrown as KeymintError;
  expect(isKeymintError(error)).toBe(true);
  expect(['INVALID_TTL', 'TTL_TOO_LONG']).toContain(error.code);
  expect(error.name).toBe('KeymintError');
  expect(error.cause).toBeUndefined();
  return error;
}

// ---------------------------------------------------------------------------------------------
// Generators for time-to-live inputs.

/** `${ws}${zeros}${n}${unit}${ws}` with n × unit at most `maxSeconds`: exactly the documented grammar. */
const acceptedTtl = (maxSeconds: number) =>
  fc.constantFrom(...UNIT_LETTERS).chain((unit) =>
    fc.integer({ min: 1, max: Math.max(1, Math.floor(maxSeconds / TTL_UNITS[unit])) }).chain((n) =>
      fc
        .tuple(trimmedWhitespace, withLeadingZeros(n), trimmedWhitespace)
        .map(([before, digits, after]) => ({
          text: `${before}${digits}${unit}${after}`,
          n,
          unit,
        })),
    ),
  );

/** A maximum in any form keymint takes, up to 100 years, with its value in seconds. */
const maxArb: fc.Arbitrary<{ max: TtlInput; seconds: number }> = fc.oneof(
  fc.integer({ min: 1, max: HUNDRED_YEARS }).map((seconds) => ({ max: seconds, seconds })),
  fc.constantFrom(...UNIT_LETTERS).chain((unit) =>
    fc.integer({ min: 1, max: Math.floor(HUNDRED_YEARS / TTL_UNITS[unit]) }).chain((n) =>
      fc.tuple(trimmedWhitespace, withLeadingZeros(n), trimmedWhitespace).map(([a, digits, b]) => ({
        max: `${a}${digits}${unit}${b}`,
        seconds: n * TTL_UNITS[unit],
      })),
    ),
  ),
);

/** Characters around the grammar: digits of other scripts, look-alike letters, invisible spaces. */
const NEAR_CHARS = [
  ...'0123456789',
  ...UNIT_LETTERS,
  ...'SHDWyY.,_+-eExob ',
  '\u0661', // Arabic-Indic one
  '\uff11', // fullwidth one
  '\u{1d7cf}', // mathematical bold one (a surrogate pair)
  '\u0127', // ħ
  '\u200b', // zero-width space: not trimmed
  '\u180e', // Mongolian vowel separator: no longer whitespace
  '\u0085', // NEL: not trimmed by String.prototype.trim
  '\u0000',
  ...TRIMMED_WHITESPACE,
];
const nearTtl = fc
  .array(fc.constantFrom(...NEAR_CHARS), { maxLength: 12 })
  .map((chars) => chars.join(''));

/** Grammar strings on both sides of a maximum (n from 0 to about 3 × the maximum), plus huge counts. */
const aroundMax = (maxSeconds: number) =>
  fc
    .constantFrom(...UNIT_LETTERS)
    .chain((unit) =>
      fc
        .tuple(
          trimmedWhitespace,
          fc.oneof(
            fc
              .integer({ min: 0, max: Math.ceil((3 * maxSeconds) / TTL_UNITS[unit]) + 2 })
              .map(String),
            fc.bigInt({ min: 0n, max: 10n ** 40n }).map(String),
          ),
          trimmedWhitespace,
        )
        .map(([a, digits, b]) => `${a}${digits}${unit}${b}`),
    );

const numbersArb = fc.oneof(
  fc.integer({ min: -10, max: HUNDRED_YEARS + 10 }),
  fc.double(),
  fc.constantFrom(0, -0, Number.NaN, Infinity, -Infinity, 0.5, 1e21, Number.MAX_VALUE, 2 ** 53),
);

const anyTtlInput = (maxSeconds: number): fc.Arbitrary<unknown> =>
  fc.oneof(
    aroundMax(maxSeconds),
    nearTtl,
    numbersArb,
    fc.string({ unit: 'binary', maxLength: 40 }),
    fc.anything({ withBigInt: true, withBoxedValues: true, withNullPrototype: true }),
    hostileValues(),
  );

describe('parseTtl() properties (random seed, printed on failure)', () => {
  it('every string of the documented grammar (any trimmed whitespace, leading zeros, any unit) round-trips to n × unit seconds under the 30-day default', () => {
    check(
      [acceptedTtl(DEFAULT_MAX_TTL_SECONDS)],
      ({ text, n, unit }) => {
        const seconds = parseTtl(text);
        expect(seconds).toBe(n * TTL_UNITS[unit as Unit]);
        expect(seconds).toBeLessThanOrEqual(DEFAULT_MAX_TTL_SECONDS);
      },
      600,
    );
    // The two facts the grammar turns on, stated once outside the generator.
    expect(parseTtl('1M')).toBe(30 * 86_400);
    expect(parseTtl('1M')).toBe(DEFAULT_MAX_TTL_SECONDS);
  });

  it('under any maximum (number or string form, up to 100 years), parseTtl agrees with an independent oracle on every input: same seconds, or the same code', () => {
    check(
      [maxArb.chain((m) => fc.tuple(fc.constant(m), anyTtlInput(m.seconds)))],
      ([{ max, seconds: maxSeconds }, generated]) => {
        const input = unwrap(generated);
        const expected = ttlOracle(input, maxSeconds);
        const actual = outcomeOf(input, max);
        if ('ok' in expected) {
          expect(actual).toEqual({ ok: expected.ok });
        } else {
          expect('error' in actual).toBe(true);
          const error = ttlRejection((actual as { error: unknown }).error);
          expect(error.code).toBe(expected.code);
        }
      },
      1_000,
    );
  });

  it('with the default maximum, parseTtl agrees with the oracle on every input, and accepted values never pass 30 days', () => {
    check(
      [anyTtlInput(DEFAULT_MAX_TTL_SECONDS)],
      (generated) => {
        const input = unwrap(generated);
        const expected = ttlOracle(input, DEFAULT_MAX_TTL_SECONDS);
        const actual = outcomeOf(input);
        if ('ok' in expected) {
          expect(actual).toEqual({ ok: expected.ok });
        } else {
          const error = ttlRejection((actual as { error: unknown }).error);
          expect(error.code).toBe(expected.code);
        }
      },
      1_500,
    );
  });

  // The fixed text of the messages, for telling an echo of the input from the message's own words.
  const TEMPLATES = [
    outcomeOf('x'),
    outcomeOf('0h'),
    outcomeOf('31d'),
    outcomeOf(1.5),
    outcomeOf(null),
    outcomeOf('2h', '1h'),
  ].map((o) => ((o as { error: KeymintError }).error as KeymintError).message);
  const inTemplate = (window: string) => TEMPLATES.some((t) => t.includes(window));

  it('a rejection echoes at most 16 characters of the input: no longer run of it reaches the message, and the message stays short', () => {
    const longish = fc.oneof(
      fc.string({ unit: 'binary', minLength: 10, maxLength: 300 }),
      fc.string({ unit: 'grapheme', minLength: 5, maxLength: 60 }),
      // Long but near-valid: whitespace-padded, many digits, a valid unit.
      fc
        .tuple(
          trimmedWhitespace,
          fc.stringMatching(/^[0-9]{15,60}$/),
          fc.constantFrom(...UNIT_LETTERS),
        )
        .map(([ws, digits, unit]) => `${ws}${ws}${digits}${unit}${ws}${ws}`),
      // A key where a TTL belongs.
      fc.constant(formatKey('km', generateKeyId()).key),
    );
    check(
      [longish, fc.option(maxArb, { nil: undefined })],
      (input, max) => {
        const outcome = outcomeOf(input, max?.max);
        fc.pre('error' in outcome);
        const error = ttlRejection((outcome as { error: unknown }).error);
        // echo() shows at most 16 UTF-16 units, JSON-escaped (6 characters each at worst).
        expect(error.message.length).toBeLessThanOrEqual(400);
        for (let i = 0; i + 17 <= input.length; i++) {
          const window = input.slice(i, i + 17);
          if (!inTemplate(window)) expect(error.message).not.toContain(window);
        }
        if (input.length <= 16) expect(error.message).toContain(JSON.stringify(input));
        else expect(error.message).toContain(`(a string of ${input.length} characters)`);
      },
      800,
    );
  });

  it('createApiKey({ ttl }) agrees with parseTtl(ttl, { max: maxTtl }): the same lifetime, or the same code and message', async () => {
    let n = 0;
    const instances = [30 * 86_400, 3_600, HUNDRED_YEARS].map((maxTtl) => ({
      maxTtl,
      ...fastKeymint({ maxTtl }),
    }));
    const cases = fc
      .constantFrom(...instances)
      .chain((instance) => fc.tuple(fc.constant(instance), anyTtlInput(instance.maxTtl)));
    await checkAsync(
      [cases],
      async ([instance, generated]) => {
        const ttl = unwrap(generated);
        const expected = outcomeOf(ttl, instance.maxTtl);
        let created: Awaited<ReturnType<typeof instance.keymint.createApiKey>> | undefined;
        let thrown: unknown;
        try {
          created = await instance.keymint.createApiKey({
            name: `k${n++}`,
            role: 'Viewer',
            ttl: ttl as TtlInput,
          });
        } catch (error) {
          thrown = error;
        }
        if ('ok' in expected) {
          expect(thrown).toBeUndefined();
          const { createdAt, expiresAt } = created!.apiKey;
          expect(expiresAt!.getTime() - createdAt.getTime()).toBe(expected.ok * 1000);
        } else if (ttl === null || ttl === undefined) {
          // No TTL at all: keymint's own INVALID_TTL ("a time to live is required").
          expect(ttlRejection(thrown).code).toBe('INVALID_TTL');
        } else {
          const error = ttlRejection(thrown);
          const reference = expected.error as KeymintError;
          expect(error.code).toBe(reference.code);
          expect(error.message).toBe(reference.message);
        }
      },
      400,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Key format.

describe('key format properties (random seed, printed on failure)', () => {
  it('formatKey(prefix, generateKeyId()) for any allowed prefix parses back, matches keyPattern(prefix) whole, and has prefix + 48 characters', () => {
    check(
      [prefixArb],
      (prefix) => {
        const id = generateKeyId();
        const { key, secret } = formatKey(prefix, id);
        expect(parseKey(prefix, key)).toEqual({ id, secret });
        expect(checksumCheck(prefix)(key)).toBe(true);
        expect(key).toHaveLength(prefix.length + 48);
        expect(key.length).toBeLessThanOrEqual(MAX_KEY_LENGTH);
        const match = keyPattern(prefix).exec(key);
        expect(match?.[0]).toBe(key);
        expect(key.startsWith(`${prefix}_${id}_${secret}`)).toBe(true);
      },
      600,
    );
  });

  it('any single-character edit (substitution by any character, insertion, deletion, case flip) of a generated key fails parseKey', () => {
    check(
      [prefixArb, fc.array(editArb, { minLength: 1, maxLength: 20 })],
      (prefix, edits) => {
        const { key } = formatKey(prefix, generateKeyId());
        for (const edit of edits) {
          const edited = applyEdit(key, edit);
          if (edited === key) continue;
          expect(parseKey(prefix, edited)).toBeNull();
        }
      },
      1_000,
    );
  });

  it('keys from createApiKey (any prefix, HMAC hasher) verify; every single-character edit is refused as malformed with no store read and no hash, cold or after the key was cached', async () => {
    await checkAsync(
      [prefixArb, fc.boolean(), fc.array(editArb, { minLength: 1, maxLength: 12 })],
      async (prefix, warm, edits) => {
        const spy = spyAdapter(memoryAdapter());
        const hasher = countingHasher({ fast: true });
        const keymint = createKeymint({ adapter: spy.adapter, hasher, prefix });
        const { key, apiKey } = await keymint.createApiKey({
          name: 'ci',
          role: 'Editor',
          ttl: '1h',
        });
        const parsed = parseKey(prefix, key);
        expect(parsed?.id).toBe(apiKey.id);
        expect(checksumCheck(prefix)(key)).toBe(true);
        if (warm) expect((await keymint.verifyKey(key)).valid).toBe(true);
        const reads = spy.count('findById');
        const hashes = hasher.calls.verify;
        for (const edit of edits) {
          const edited = applyEdit(key, edit);
          if (edited === key) continue;
          expect(await keymint.verifyKey(edited)).toEqual({ valid: false, reason: 'malformed' });
        }
        expect(spy.count('findById')).toBe(reads);
        expect(hasher.calls.verify).toBe(hashes);
        // And the real key still verifies afterwards: the edits did not poison anything.
        expect((await keymint.verifyKey(key)).valid).toBe(true);
      },
      200,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// verifyKey on anything.

describe('verifyKey() properties (random seed, printed on failure)', () => {
  const setUp = async () => {
    const spy = spyAdapter(memoryAdapter());
    const keymint = createKeymint({
      adapter: spy.adapter,
      hasher: hmacSha256Hasher('x'.repeat(32)),
    });
    const { key } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
    return { keymint, key, spy };
  };

  /** A string of exactly `n` UTF-16 code units, any of the 65,536. */
  const utf16 = (n: number) =>
    fc.string({
      unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)),
      minLength: n,
      maxLength: n,
    });

  /** Values presented as a key that owe nothing to a real key: every type, every shape. */
  const junk: fc.Arbitrary<unknown> = fc.oneof(
    fc.anything({
      withBigInt: true,
      withBoxedValues: true,
      withDate: true,
      withMap: true,
      withSet: true,
      withTypedArray: true,
      withSparseArray: true,
      withNullPrototype: true,
      withObjectString: true,
      stringUnit: 'binary',
    }),
    hostileValues(),
    // The right length, underscores in place, any UTF-16 units in between (lone surrogates too).
    fc.tuple(utf16(12), utf16(34)).map(([a, b]) => `km_${a}_${b}`),
    fc.integer({ min: 48, max: 52 }).chain((n) => utf16(n)),
    // Long and huge strings: up to 2 MB.
    fc
      .tuple(
        fc.constantFrom(51, 64, 65, 1_000, 100_000, 2_000_000),
        fc.string({ minLength: 1, maxLength: 3 }),
      )
      .map(([length, unit]) => unit.repeat(Math.ceil(length / unit.length)).slice(0, length)),
  );

  /** A real key, wrapped or dressed up: never the key itself. */
  const WRAPS: Record<string, (key: string) => unknown> = {
    'String object': (key) => new String(key),
    array: (key) => [key],
    object: (key) => ({ key }),
    'toString method': (key) => ({ toString: () => key }),
    'valueOf and toPrimitive': (key) => ({ valueOf: () => key, [Symbol.toPrimitive]: () => key }),
    'leading space': (key) => ` ${key}`,
    'trailing space': (key) => `${key} `,
    'trailing NUL': (key) => `${key}\u0000`,
    'Bearer scheme': (key) => `Bearer ${key}`,
    'upper case': (key) => key.toUpperCase(),
    Buffer: (key) => Buffer.from(key),
    Uint8Array: (key) => new TextEncoder().encode(key),
  };

  // The keys of one world (a fresh instance per run, so that a failure replays from its seed).
  const BUDGET = 3;
  const RANK = { Viewer: 0, Editor: 1, Admin: 2 } as const;
  type Role = keyof typeof RANK;
  interface RecordSpec {
    role: Role;
    scope: string;
    revoked: boolean;
    expired: boolean;
  }
  const RECORDS = {
    real: { role: 'Editor', scope: 'default', revoked: false, expired: false },
    revoked: { role: 'Editor', scope: 'default', revoked: true, expired: false },
    expired: { role: 'Editor', scope: 'default', revoked: false, expired: true },
    'low role': { role: 'Viewer', scope: 'default', revoked: false, expired: false },
    'other scope': { role: 'Editor', scope: 'other', revoked: false, expired: false },
  } as const satisfies Record<string, RecordSpec>;
  type RecordName = keyof typeof RECORDS;
  const RECORD_NAMES = Object.keys(RECORDS) as RecordName[];
  type Options = { role?: Role; scope?: string } | undefined;

  /**
   * Options a record's own key is presented with. Only the real key ever gets options it meets:
   * the low-role key always asks for more than Viewer, the other-scope key for another scope.
   */
  const ANY_OPTIONS: Options[] = [
    undefined,
    {},
    { role: 'Viewer' },
    { role: 'Editor' },
    { role: 'Admin' },
    { scope: 'default' },
    { scope: 'other' },
    { role: 'Editor', scope: 'default' },
    { role: 'Admin', scope: 'default' },
  ];
  const OPTIONS_FOR: Record<RecordName, Options[]> = {
    real: ANY_OPTIONS,
    revoked: ANY_OPTIONS,
    expired: ANY_OPTIONS,
    'low role': [
      { role: 'Editor' },
      { role: 'Admin' },
      { role: 'Editor', scope: 'default' },
      { role: 'Admin', scope: 'other' },
    ],
    'other scope': [
      { scope: 'default' },
      { scope: 'elsewhere' },
      { role: 'Viewer', scope: 'default' },
      { role: 'Admin', scope: 'other' },
    ],
  };

  /** One presentation, described so that a failure names it. */
  type Presentation =
    | { kind: 'junk'; value: unknown }
    | { kind: 'wrapped'; record: RecordName; how: string }
    | { kind: 'non-base62 with a valid checksum'; record: RecordName; at: number; char: string }
    | { kind: 'other prefix'; record: RecordName; prefix: string }
    | { kind: 'unknown id'; id: string; secret: string }
    | { kind: 'wrong secret'; record: RecordName; secret: string }
    | { kind: 'whole'; record: RecordName; options: Options };

  const recordArb = fc.constantFrom(...RECORD_NAMES);
  const presentationArb: fc.Arbitrary<Presentation> = fc.oneof(
    { weight: 2, arbitrary: junk.map((value) => ({ kind: 'junk' as const, value })) },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('wrapped' as const),
        record: recordArb,
        how: fc.constantFrom(...Object.keys(WRAPS)),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('non-base62 with a valid checksum' as const),
        record: recordArb,
        at: fc.nat({ max: 12 + 28 - 1 }),
        char: nonBase62Char,
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        kind: fc.constant('other prefix' as const),
        record: recordArb,
        prefix: prefixArb.filter((p) => p !== 'km'),
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        kind: fc.constant('unknown id' as const),
        id: base62(12),
        secret: base62(28),
      }),
    },
    {
      weight: 4,
      arbitrary: fc.record({
        kind: fc.constant('wrong secret' as const),
        record: recordArb,
        secret: base62(28),
      }),
    },
    {
      weight: 4,
      arbitrary: recordArb.chain((record) =>
        fc.record({
          kind: fc.constant('whole' as const),
          record: fc.constant(record),
          options: fc.constantFrom(...OPTIONS_FOR[record]),
        }),
      ),
    },
  );

  /**
   * Presentations in order, with bursts of wrong secrets for one id (up to twice the budget),
   * often followed by that id's own key, so that blocked ids are common and their keys get
   * presented (the real key's id most often: its key is the one verified before any attack).
   */
  const burstArb: fc.Arbitrary<Presentation[]> = fc
    .oneof(fc.constant<RecordName>('real'), recordArb)
    .chain((record) =>
      fc
        .tuple(
          fc.array(base62(28), { minLength: 1, maxLength: 2 * BUDGET }),
          fc.option(fc.constantFrom(...OPTIONS_FOR[record]), { nil: null, freq: 2 }),
        )
        .map(([secrets, options]): Presentation[] => [
          ...secrets.map((secret): Presentation => ({ kind: 'wrong secret', record, secret })),
          ...(options === null ? [] : [{ kind: 'whole' as const, record, options }]),
        ]),
    );
  const sequenceArb = (minLength: number) =>
    fc
      .array(
        fc.oneof(
          { weight: 5, arbitrary: presentationArb.map((p) => [p]) },
          { weight: 1, arbitrary: burstArb },
        ),
        { minLength: 1, maxLength: 12 },
      )
      .map((steps) => steps.flat())
      .filter((presentations) => presentations.length >= minLength);

  /**
   * A fresh instance (HMAC hasher, test clock, a budget of 3 wrong secrets a minute) with five
   * keys: the real one (Editor, default scope), a revoked one, an expired one, a Viewer one and
   * one in another scope. The owner of the real key has verified it once, as a host does before
   * any attack (an attacker who blocks an id first is shown in hot-path-limits.test.ts).
   */
  async function world() {
    const spy = spyAdapter(memoryAdapter());
    const hasher = countingHasher({ fast: true });
    const { keymint, clock } = fastKeymint({
      adapter: spy.adapter,
      hasher,
      rateLimit: { failures: BUDGET, window: '1m' },
    });
    const keys = {} as Record<RecordName, { key: string; id: string; secret: string }>;
    for (const name of RECORD_NAMES) {
      const spec: RecordSpec = RECORDS[name];
      const created = await keymint.createApiKey({
        name,
        role: spec.role,
        ttl: spec.expired ? '1s' : '1h',
        scope: spec.scope,
      });
      if (spec.revoked) await keymint.revokeApiKey(created.apiKey.id);
      const parsed = parseKey('km', created.key)!;
      keys[name] = { key: created.key, ...parsed };
    }
    clock.advance(2_000);
    expect((await keymint.verifyKey(keys.real.key)).valid).toBe(true);
    return { keymint, keys, spy, hasher };
  }

  /** The value a presentation stands for, in a given world. */
  function valueOf(p: Presentation, keys: Awaited<ReturnType<typeof world>>['keys']): unknown {
    switch (p.kind) {
      case 'junk':
        return unwrap(p.value);
      case 'wrapped':
        return WRAPS[p.how]!(keys[p.record].key);
      case 'non-base62 with a valid checksum': {
        // Replace one character of the id or the secret, then give the result a valid checksum.
        const { id, secret } = keys[p.record];
        const body = `${id}${secret}`;
        const changed = body.slice(0, p.at) + p.char + body.slice(p.at + 1);
        return withChecksum(`km_${changed.slice(0, 12)}_${changed.slice(12)}`);
      }
      case 'other prefix':
        return withChecksum(`${p.prefix}_${keys[p.record].id}_${keys[p.record].secret}`);
      case 'unknown id':
        return withChecksum(`km_${p.id}_${p.secret}`);
      case 'wrong secret':
        return withChecksum(`km_${keys[p.record].id}_${p.secret}`);
      case 'whole':
        return keys[p.record].key;
    }
  }

  /** A short name for a presentation (fast-check prints the whole counterexample). */
  const label = (p: Presentation) =>
    `${p.kind}${'record' in p ? ` of the ${p.record} key` : ''}${p.kind === 'whole' ? ` with ${fc.stringify(p.options)}` : ''}`;

  const optionsOf = (p: Presentation): Options => (p.kind === 'whole' ? p.options : undefined);

  /** What a matching key gets with these options (README: scope, revoked, expired, then role). */
  function verdictOf(spec: RecordSpec, options: Options): 'valid' | VerifyFailureReason {
    if (options?.scope !== undefined && options.scope !== spec.scope) return 'not_found';
    if (spec.revoked) return 'revoked';
    if (spec.expired) return 'expired';
    if (options?.role !== undefined && RANK[spec.role] < RANK[options.role]) {
      return 'insufficient_role';
    }
    return 'valid';
  }

  /** A revoked or expired record: refused before any hashing, whatever the secret. */
  const deadReason = (spec: RecordSpec): 'revoked' | 'expired' | undefined =>
    spec.revoked ? 'revoked' : spec.expired ? 'expired' : undefined;

  /** The three corners of the wrong-secret limit the sequential property must reach. */
  const CORNERS = [
    'guess past the budget',
    'never-verified key of a blocked id',
    'verified key of a blocked id',
  ] as const;
  type Corner = (typeof CORNERS)[number];

  /**
   * The documented behaviour (README "Verifying a key", docs/performance.md "Abuse limits"),
   * written from the docs rather than from the verifier: malformed keys and checksum failures
   * touch nothing; unknown ids cost a read and no hash; a revoked or expired record is refused
   * from the record (a read, no hash, not a wrong secret), whatever the secret; each wrong secret
   * for a live id costs a read and a hash until `BUDGET` of them, then the id answers
   * rate_limited with neither; a key
   * that verified before (cached) is judged without either, block or not; any other key of a
   * blocked id is refused like a guess. Presentations one at a time, the clock standing still.
   */
  function model() {
    const failures = new Map<RecordName, number>();
    const matched = new Set<RecordName>(['real']);
    const blocked = (name: RecordName) => (failures.get(name) ?? 0) >= BUDGET;
    return (
      p: Presentation,
    ): {
      reason: 'valid' | VerifyFailureReason;
      reads: 0 | 1;
      hashes: 0 | 1;
      /** The documented corner this presentation hits, when it hits one. */
      corner?: Corner;
    } => {
      switch (p.kind) {
        case 'junk':
        case 'wrapped':
        case 'non-base62 with a valid checksum':
        case 'other prefix':
          return { reason: 'malformed', reads: 0, hashes: 0 };
        case 'unknown id':
          return { reason: 'not_found', reads: 1, hashes: 0 };
        case 'wrong secret':
          if (blocked(p.record)) {
            return { reason: 'rate_limited', reads: 0, hashes: 0, corner: 'guess past the budget' };
          }
          if (deadReason(RECORDS[p.record])) {
            return { reason: deadReason(RECORDS[p.record])!, reads: 1, hashes: 0 };
          }
          failures.set(p.record, (failures.get(p.record) ?? 0) + 1);
          return { reason: 'not_found', reads: 1, hashes: 1 };
        case 'whole': {
          const reason = verdictOf(RECORDS[p.record], p.options);
          // Never cached: refused from the record each time.
          if (deadReason(RECORDS[p.record])) return { reason, reads: 1, hashes: 0 };
          if (matched.has(p.record)) {
            const corner = blocked(p.record) ? 'verified key of a blocked id' : undefined;
            return { reason, reads: 0, hashes: 0, ...(corner && { corner }) };
          }
          if (blocked(p.record)) {
            return {
              reason: 'rate_limited',
              reads: 0,
              hashes: 0,
              corner: 'never-verified key of a blocked id',
            };
          }
          matched.add(p.record);
          return { reason, reads: 1, hashes: 1 };
        }
      }
    };
  }

  /** How often each answer (and each corner of the limit) was reached: one at a time, at once. */
  const alone = new Map<string, number>();
  const atOnce = new Map<string, number>();
  const reach = (counts: Map<string, number>, what: string) =>
    counts.set(what, (counts.get(what) ?? 0) + 1);
  afterAll(() => {
    const count = (counts: Map<string, number>, names: readonly string[]) =>
      names.map((r) => `${r} ${counts.get(r) ?? 0}`).join(', ');
    const answers = ['valid', ...REASONS];
    console.log(
      `[figures] verifyKey properties, one at a time: ${count(alone, answers)}; ` +
        `limit corners: ${count(alone, CORNERS)}. At once: ${count(atOnce, answers)}`,
    );
  });

  it('never throws and is never valid except for the real key presented whole (then always valid): every answer, store read and hash is the documented one, and every reason but busy is reached', async () => {
    await checkAsync(
      [sequenceArb(1)],
      async (presentations) => {
        const { keymint, keys, spy, hasher } = await world();
        const expected = model();
        for (const p of presentations) {
          const want = expected(p);
          const reads = spy.count('findById');
          const hashes = hasher.calls.verify;
          const result = await keymint.verifyKey(valueOf(p, keys), optionsOf(p));
          const got = result.valid ? 'valid' : result.reason;
          reach(alone, got);
          if (want.corner) reach(alone, want.corner);
          expect(got, label(p)).toBe(want.reason);
          if (result.valid) {
            expect(p).toMatchObject({ kind: 'whole', record: 'real' });
            expect(result.apiKey.id).toBe(keys.real.id);
          }
          expect(spy.count('findById') - reads, 'store reads').toBe(want.reads);
          expect(hasher.calls.verify - hashes, 'hashes').toBe(want.hashes);
        }
        // Whatever happened to the id, its owner still gets through.
        expect((await keymint.verifyKey(keys.real.key)).valid).toBe(true);
      },
      250,
    );
    // Each reason of the documented set is reached by this property (busy needs a slow hasher
    // with a full queue: hot-path-limits.test.ts), and so is valid.
    for (const answer of ['valid', ...REASONS.filter((r) => r !== 'busy'), ...CORNERS]) {
      expect(alone.get(answer) ?? 0, answer).toBeGreaterThan(0);
    }
  });

  it('many presentations at once (single flights, cache, limiter) never throw, are never valid but for the real key whole, and answer what they would alone or rate_limited', async () => {
    await checkAsync(
      [sequenceArb(2)],
      async (presentations) => {
        const { keymint, keys } = await world();
        const results = await Promise.all(
          presentations.map((p) => keymint.verifyKey(valueOf(p, keys), optionsOf(p))),
        );
        /** Per id, the distinct wrong secrets that were checked (answered not_found). */
        const checked = new Map<RecordName, Set<string>>();
        presentations.forEach((p, i) => {
          const result = results[i]!;
          const got = result.valid ? 'valid' : result.reason;
          reach(atOnce, got);
          const where = label(p);
          switch (p.kind) {
            case 'unknown id':
              expect(got, where).toBe('not_found');
              break;
            case 'wrong secret':
              if (deadReason(RECORDS[p.record])) {
                expect(got, where).toBe(deadReason(RECORDS[p.record]));
                break;
              }
              expect(['not_found', 'rate_limited'], where).toContain(got);
              if (got === 'not_found') {
                const seen = checked.get(p.record) ?? new Set<string>();
                checked.set(p.record, seen.add(p.secret));
              }
              break;
            case 'whole': {
              const verdict = verdictOf(RECORDS[p.record], p.options);
              // The real key verified before the burst: cached, so never limited.
              if (p.record === 'real') expect(got, where).toBe(verdict);
              else expect([verdict, 'rate_limited'], where).toContain(got);
              break;
            }
            default:
              expect(got, where).toBe('malformed');
          }
        });
        // Attempts in flight count against the limit: at most the budget of guesses per id.
        for (const [record, secrets] of checked) {
          expect(secrets.size, `wrong secrets checked for the ${record} key`).toBeLessThanOrEqual(
            BUDGET,
          );
        }
        expect((await keymint.verifyKey(keys.real.key)).valid).toBe(true);
      },
      100,
    );
  });

  it('with any options value, verifyKey answers a result or throws a KeymintError INVALID_INPUT / INVALID_ROLE, and nothing else', async () => {
    const { keymint, key } = await setUp();
    const roleArb = fc.oneof(
      fc.constantFrom('Viewer', 'editor', ' ADMIN ', 'Owner', ''),
      fc.string(),
      fc.anything(),
    );
    const optionsArb = fc.oneof(
      fc.record(
        { role: roleArb, scope: fc.oneof(fc.constant('default'), fc.string(), fc.anything()) },
        {
          requiredKeys: [],
        },
      ),
      fc.anything({ withNullPrototype: true, withBoxedValues: true }),
      hostileValues(),
    );
    await checkAsync(
      [fc.constantFrom<unknown>(key, 'not a key'), optionsArb],
      async (value, options) => {
        let result;
        try {
          result = await keymint.verifyKey(value, unwrap(options) as never);
        } catch (error) {
          expect(error).toBeInstanceOf(KeymintError);
          expect(['INVALID_INPUT', 'INVALID_ROLE']).toContain((error as KeymintError).code);
          return;
        }
        if (result.valid) expect(value).toBe(key);
        else expect(REASONS).toContain(result.reason);
      },
      600,
    );
  });
});
