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
import { checksumCheck, formatKey, generateKeyId, parseKey } from '../src/core/key-format.js';
import { countingHasher, fastKeymint } from './helpers.js';
import {
  applyEdit,
  editArb,
  hostileValues,
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

  /** Values presented as a key, from every corner: wrapped real keys included. */
  const presented = (key: string): fc.Arbitrary<unknown> =>
    fc.oneof(
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
      // The real key, wrapped or dressed up: never the key itself.
      fc.constantFrom<unknown>(
        new String(key),
        [key],
        { key },
        { toString: () => key },
        { valueOf: () => key, [Symbol.toPrimitive]: () => key },
        ` ${key}`,
        `${key} `,
        `${key}\u0000`,
        `Bearer ${key}`,
        key.toUpperCase(),
        Buffer.from(key),
        new TextEncoder().encode(key),
      ),
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

  it('never throws, is never valid, and answers a documented reason for any presented value; non-strings and wrong lengths are malformed without a store read', async () => {
    const { keymint, key, spy } = await setUp();
    await checkAsync(
      [presented(key)],
      async (generated) => {
        const value = unwrap(generated);
        const before = spy.count('findById');
        const result = await keymint.verifyKey(value);
        expect(result.valid).toBe(false);
        expect(REASONS).toContain((result as { reason: string }).reason);
        if (typeof value !== 'string' || value.length !== key.length) {
          expect(result).toEqual({ valid: false, reason: 'malformed' });
          expect(spy.count('findById')).toBe(before);
        }
      },
      800,
    );
    expect((await keymint.verifyKey(key)).valid).toBe(true);
  });

  it('many presented values at once (single flights, cache, limiter) still never throw and are never valid', async () => {
    const { keymint, key } = await setUp();
    await checkAsync(
      [fc.array(presented(key), { minLength: 2, maxLength: 30 })],
      async (values) => {
        const results = await Promise.all(values.map((value) => keymint.verifyKey(unwrap(value))));
        for (const result of results) {
          expect(result.valid).toBe(false);
          expect(REASONS).toContain((result as { reason: string }).reason);
        }
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
