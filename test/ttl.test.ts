import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  DEFAULT_MAX_TTL_SECONDS,
  KeymintError,
  parseTtl,
  type ParseTtlOptions,
  type TtlInput,
} from '../src/index.js';

const HOW_TO = 'enter a whole number followed by s, m, h, d, w or M, for example 12h or 1M';
const MAX_30_DAYS = 'the maximum is 30 days';
const HUNDRED_YEARS = 100 * 365 * 86_400;

/** Seconds per unit letter, as Grafana reads them. */
const UNITS = [
  ['s', 1],
  ['m', 60],
  ['h', 3_600],
  ['d', 86_400],
  ['w', 604_800],
  ['M', 2_592_000],
] as const;

/** Runs parseTtl on any value (the public type only admits strings and numbers). */
function parse(input: unknown, options?: ParseTtlOptions): number {
  return parseTtl(input as TtlInput, options);
}

/** The KeymintError that parseTtl throws for this input; fails the test when it throws nothing or something else. */
function errorOf(input: unknown, options?: ParseTtlOptions): KeymintError {
  let result: number;
  try {
    result = parse(input, options);
  } catch (error) {
    expect(error).toBeInstanceOf(KeymintError);
    return error as KeymintError;
  }
  throw new Error(`parseTtl(${String(input)}) returned ${result} instead of throwing`);
}

/** Whitespace that String.prototype.trim removes, for "surrounding whitespace" cases. */
const whitespace = fc.string({
  unit: fc.constantFrom(' ', '\t', '\n', '\r', '\u00a0', '\u2003', '\ufeff'),
  maxLength: 3,
});

describe('parseTtl() reads each unit as Grafana does', () => {
  it.each(UNITS)("parseTtl('1%s') is %i seconds", (unit, seconds) => {
    expect(parseTtl(`1${unit}`)).toBe(seconds);
  });

  it("parseTtl('12h') is 43200 seconds", () => {
    expect(parseTtl('12h')).toBe(43_200);
  });

  it("parseTtl('15m') reads a lower-case m as minutes (900 s), not months", () => {
    expect(parseTtl('15m')).toBe(900);
  });

  it("parseTtl('1M') reads an upper-case M as a month of 30 days", () => {
    expect(parseTtl('1M')).toBe(30 * 86_400);
  });

  it("parseTtl('01h') reads leading zeros as the number (3600), as Grafana's parseInt does", () => {
    expect(parseTtl('01h')).toBe(3_600);
  });

  it("parseTtl('0007d') reads several leading zeros as the number (7 days)", () => {
    expect(parseTtl('0007d')).toBe(7 * 86_400);
  });

  it("parseTtl(' 15m ') ignores surrounding spaces", () => {
    expect(parseTtl(' 15m ')).toBe(900);
  });

  it('parseTtl() ignores surrounding tabs and newlines', () => {
    expect(parseTtl('\t12h\n')).toBe(43_200);
  });
});

describe('parseTtl() accepts a number as a count of seconds', () => {
  it('parseTtl(3600) is 3600', () => {
    expect(parseTtl(3_600)).toBe(3_600);
  });

  it('parseTtl(1) accepts the smallest positive whole number', () => {
    expect(parseTtl(1)).toBe(1);
  });

  it.each([
    [0, 'zero'],
    [-0, 'negative zero'],
    [-1, 'a negative number'],
    [1.5, 'a fraction'],
    [Number.NaN, 'NaN'],
    [Number.POSITIVE_INFINITY, 'Infinity'],
    [Number.NEGATIVE_INFINITY, '-Infinity'],
    [Number.MIN_VALUE, 'the smallest positive double'],
  ])('parseTtl(%s) rejects %s with INVALID_TTL', (input) => {
    expect(errorOf(input).code).toBe('INVALID_TTL');
  });
});

describe('parseTtl() refuses every other string with INVALID_TTL', () => {
  it.each([
    ['1.5h', 'a decimal (Grafana reads it as one hour)'],
    ['0.5d', 'a decimal below one'],
    ['1h30m', 'a compound duration (Grafana reads it as one hour)'],
    ['1d12h', 'a compound duration of days and hours'],
    ['12', 'a number without a unit'],
    ['3600', 'seconds written without a unit'],
    ['h', 'a unit without a number'],
    ['+1h', 'a plus sign'],
    ['-1h', 'a minus sign'],
    ['1e3s', 'an exponent'],
    ['1y', 'years (Grafana has y, keymint does not)'],
    ['1ms', 'milliseconds'],
    ['1hr', 'a spelled-out unit'],
    ['1mo', 'a two-letter month'],
    ['1H', 'an upper-case H'],
    ['1D', 'an upper-case D'],
    ['1S', 'an upper-case S'],
    ['1W', 'an upper-case W'],
    ['0s', 'zero seconds'],
    ['00m', 'zero written with two digits'],
    ['0M', 'zero months'],
    ['1 h', 'a space between number and unit'],
    ['1\th', 'a tab between number and unit'],
    ['\u0661h', 'an Arabic-Indic digit'],
    ['\uff11h', 'a fullwidth digit'],
    ['1\u0127', 'a look-alike unit letter'],
    ['0x10s', 'a hexadecimal number'],
    ['1_000s', 'a digit separator'],
    ['1,000s', 'a thousands separator'],
    ['12h12h', 'a repeated duration'],
    ['1hh', 'a doubled unit'],
    ['', 'the empty string'],
    ['   ', 'only whitespace'],
    ['1h\u0000', 'a trailing NUL character'],
    ['Infinitys', 'Infinity as a number'],
    ['NaNh', 'NaN as a number'],
  ])('parseTtl(%j) rejects %s', (input) => {
    expect(errorOf(input).code).toBe('INVALID_TTL');
  });
});

describe('parseTtl() refuses values of any other type with INVALID_TTL', () => {
  it.each([
    ['null', null],
    ['undefined', undefined],
    ['true', true],
    ['false', false],
    ['an object', {}],
    ['an object with a toString', { toString: () => '1h' }],
    ['an array', []],
    ["an array holding '1h'", ['1h']],
    ['a bigint', 3_600n],
    ['a symbol', Symbol('1h')],
    ['a function', () => '1h'],
    ["a String object holding '1h'", new String('1h')],
    ['a Number object holding 3600', new Number(3_600)],
    ['a Date', new Date()],
  ])('parseTtl() rejects %s', (_label, input) => {
    expect(errorOf(input).code).toBe('INVALID_TTL');
  });
});

describe('parseTtl() holds a maximum of 30 days, inclusive', () => {
  it('DEFAULT_MAX_TTL_SECONDS is 30 days (2,592,000 s)', () => {
    expect(DEFAULT_MAX_TTL_SECONDS).toBe(2_592_000);
  });

  it.each(['30d', '1M', '720h', '43200m', '2592000s', ' 30d '])(
    'parseTtl(%j) accepts exactly 30 days',
    (input) => {
      expect(parseTtl(input)).toBe(2_592_000);
    },
  );

  it('parseTtl(2592000) accepts exactly 30 days given as a number', () => {
    expect(parseTtl(2_592_000)).toBe(2_592_000);
  });

  it("parseTtl('4w') accepts 28 days, the most weeks under the maximum", () => {
    expect(parseTtl('4w')).toBe(28 * 86_400);
  });

  it.each([
    '31d',
    '5w',
    '2M',
    '721h',
    '43201m',
    '2592001s',
    '99999999999999999999999s',
    `${'9'.repeat(400)}s`,
  ])('parseTtl(%j) rejects a time over 30 days with TTL_TOO_LONG', (input) => {
    expect(errorOf(input).code).toBe('TTL_TOO_LONG');
  });

  it('parseTtl(2592001) rejects one second over the maximum with TTL_TOO_LONG', () => {
    expect(errorOf(2_592_001).code).toBe('TTL_TOO_LONG');
  });

  it('parseTtl(1e300) rejects a huge whole number with TTL_TOO_LONG', () => {
    expect(errorOf(1e300).code).toBe('TTL_TOO_LONG');
  });
});

describe('parseTtl() options.max', () => {
  it("parseTtl('90d', { max: '365d' }) is 7776000", () => {
    expect(parseTtl('90d', { max: '365d' })).toBe(7_776_000);
  });

  it("parseTtl('365d', { max: '365d' }) accepts the maximum itself", () => {
    expect(parseTtl('365d', { max: '365d' })).toBe(365 * 86_400);
  });

  it("parseTtl('366d', { max: '365d' }) rejects a day over the raised maximum with TTL_TOO_LONG", () => {
    expect(errorOf('366d', { max: '365d' }).code).toBe('TTL_TOO_LONG');
  });

  it("parseTtl('2h', { max: '1h' }) rejects a time under 30 days but over a lowered maximum", () => {
    expect(errorOf('2h', { max: '1h' }).code).toBe('TTL_TOO_LONG');
  });

  it('options.max may be a number of seconds', () => {
    expect(parseTtl('1m', { max: 60 })).toBe(60);
  });

  it('options.max given as a number is inclusive and exclusive just above', () => {
    expect(errorOf('61s', { max: 60 }).code).toBe('TTL_TOO_LONG');
  });

  it('options.max: undefined keeps the default of 30 days', () => {
    expect(errorOf('31d', { max: undefined }).code).toBe('TTL_TOO_LONG');
  });

  it("options.max may be 100 years ('36500d') exactly", () => {
    expect(parseTtl('36500d', { max: '36500d' })).toBe(HUNDRED_YEARS);
  });

  it.each([
    ['36501d', 'a day over 100 years'],
    [HUNDRED_YEARS + 1, 'a second over 100 years'],
    ['1217M', '1217 months'],
    ['99999999999999999999999s', 'an enormous count'],
  ])('options.max %j (%s) is a CONFIG error', (max, _label) => {
    expect(errorOf('1h', { max }).code).toBe('CONFIG');
  });

  it.each([
    ['1.5h', 'a decimal'],
    ['1y', 'an unknown unit'],
    ['abc', 'a word'],
    ['', 'the empty string'],
    ['0d', 'zero'],
    [0, 'the number zero'],
    [-1, 'a negative number'],
    [1.5, 'a fraction'],
    [Number.NaN, 'NaN'],
    [null, 'null'],
    [true, 'a boolean'],
  ])('options.max %j (%s) is a CONFIG error, whatever the input', (max, _label) => {
    expect(errorOf('1h', { max: max as TtlInput }).code).toBe('CONFIG');
  });

  it('an invalid options.max is a CONFIG error even when the input is itself invalid', () => {
    expect(errorOf('bogus', { max: 'bogus' }).code).toBe('CONFIG');
  });

  it('the CONFIG error for an invalid options.max carries the INVALID_TTL error as its cause', () => {
    const error = errorOf('1h', { max: '1.5h' });
    expect(error.cause).toBeInstanceOf(KeymintError);
    expect((error.cause as KeymintError).code).toBe('INVALID_TTL');
  });
});

describe('parseTtl() messages tell the person what to type', () => {
  it.each([['1.5h'], ['1h30m'], ['12'], ['0s'], ['1H'], [''], [0], [1.5], [null], [{}]])(
    'the INVALID_TTL message for %j shows the accepted form',
    (input) => {
      expect(errorOf(input).message).toContain(HOW_TO);
    },
  );

  it.each([['1.5h'], ['0s'], [-1], [undefined]])(
    'the INVALID_TTL message for %j states the default maximum of 30 days',
    (input) => {
      expect(errorOf(input).message).toContain(MAX_30_DAYS);
    },
  );

  it.each([['31d'], ['5w'], [2_592_001]])(
    'the TTL_TOO_LONG message for %j names the 30-day limit',
    (input) => {
      expect(errorOf(input).message).toContain(MAX_30_DAYS);
    },
  );

  it('the TTL_TOO_LONG message shows the accepted form too', () => {
    expect(errorOf('31d').message).toContain(HOW_TO);
  });

  it("the TTL_TOO_LONG message names a configured maximum of '365d' as 365 days", () => {
    expect(errorOf('400d', { max: '365d' }).message).toContain('the maximum is 365 days');
  });

  it("the TTL_TOO_LONG message names a configured maximum of '12h' as 12 hours", () => {
    expect(errorOf('13h', { max: '12h' }).message).toContain('the maximum is 12 hours');
  });

  it("the INVALID_TTL message names a configured maximum of '1h' as 1 hour", () => {
    expect(errorOf('1.5h', { max: '1h' }).message).toContain('the maximum is 1 hour');
  });

  it('the message quotes the input so the person sees what was wrong', () => {
    expect(errorOf('1h30m').message).toContain('"1h30m"');
  });

  it('the message shortens a very long input instead of repeating it whole', () => {
    const input = `${'x'.repeat(10_000)}h`;
    expect(errorOf(input).message.length).toBeLessThan(500);
  });

  it('the CONFIG message for an invalid options.max shows the accepted form', () => {
    expect(errorOf('1h', { max: '1.5h' }).message).toContain(HOW_TO);
  });

  it('the CONFIG message for a maximum over 100 years says so', () => {
    expect(errorOf('1h', { max: '36501d' }).message).toContain('100 years');
  });
});

describe('parseTtl() properties', () => {
  it('every `${n}${unit}` with n from 1 to the maximum, with surrounding whitespace, is n × the unit in seconds', () => {
    const cases = fc.constantFrom(...UNITS).chain(([unit, seconds]) =>
      fc.record({
        n: fc.integer({ min: 1, max: Math.floor(DEFAULT_MAX_TTL_SECONDS / seconds) }),
        unit: fc.constant(unit),
        seconds: fc.constant(seconds),
        before: whitespace,
        after: whitespace,
      }),
    );
    fc.assert(
      fc.property(cases, ({ n, unit, seconds, before, after }) => {
        expect(parseTtl(`${before}${n}${unit}${after}`)).toBe(n * seconds);
      }),
      { numRuns: 1_000 },
    );
  });

  it('every `${n}${unit}` under a 100-year options.max is n × the unit in seconds', () => {
    const cases = fc
      .constantFrom(...UNITS)
      .chain(([unit, seconds]) =>
        fc.tuple(
          fc.integer({ min: 1, max: Math.floor(HUNDRED_YEARS / seconds) }),
          fc.constant(unit),
          fc.constant(seconds),
        ),
      );
    fc.assert(
      fc.property(cases, ([n, unit, seconds]) => {
        expect(parseTtl(`${n}${unit}`, { max: '36500d' })).toBe(n * seconds);
      }),
      { numRuns: 500 },
    );
  });

  it("digit strings with a unit (leading zeros included) give Grafana's parseInt × unit, or the right error", () => {
    const digits = fc.string({
      unit: fc.constantFrom(...'0123456789'),
      minLength: 1,
      maxLength: 9,
    });
    fc.assert(
      fc.property(digits, fc.constantFrom(...UNITS), (number, [unit, seconds]) => {
        const grafana = Number.parseInt(number, 10) * seconds;
        if (grafana === 0) {
          expect(errorOf(`${number}${unit}`).code).toBe('INVALID_TTL');
        } else if (grafana > DEFAULT_MAX_TTL_SECONDS) {
          expect(errorOf(`${number}${unit}`).code).toBe('TTL_TOO_LONG');
        } else {
          expect(parseTtl(`${number}${unit}`)).toBe(grafana);
        }
      }),
      { numRuns: 1_000 },
    );
  });

  it('numbers are accepted exactly when they are positive whole numbers up to the maximum', () => {
    const numbers = fc.oneof(
      fc.integer({ min: -10, max: DEFAULT_MAX_TTL_SECONDS + 10 }),
      fc.double(),
      fc.constantFrom(DEFAULT_MAX_TTL_SECONDS, DEFAULT_MAX_TTL_SECONDS + 1, 0.5, 1e21),
    );
    fc.assert(
      fc.property(numbers, (n) => {
        if (!Number.isInteger(n) || n <= 0) expect(errorOf(n).code).toBe('INVALID_TTL');
        else if (n > DEFAULT_MAX_TTL_SECONDS) expect(errorOf(n).code).toBe('TTL_TOO_LONG');
        else expect(parseTtl(n)).toBe(n);
      }),
      { numRuns: 1_000 },
    );
  });

  /** Either a positive whole number up to the maximum, or a KeymintError INVALID_TTL / TTL_TOO_LONG. */
  function assertWellBehaved(
    input: unknown,
    max = DEFAULT_MAX_TTL_SECONDS,
    options?: ParseTtlOptions,
  ): void {
    let result: number;
    try {
      result = parse(input, options);
    } catch (error) {
      expect(error).toBeInstanceOf(KeymintError);
      expect(['INVALID_TTL', 'TTL_TOO_LONG']).toContain((error as KeymintError).code);
      return;
    }
    expect(Number.isInteger(result)).toBe(true);
    expect(result).toBeGreaterThan(0);
    expect(result).toBeLessThanOrEqual(max);
  }

  it('any ASCII string gives a positive whole number up to the maximum, or INVALID_TTL / TTL_TOO_LONG', () => {
    fc.assert(
      fc.property(fc.string(), (input) => assertWellBehaved(input)),
      { numRuns: 2_000 },
    );
  });

  it('any Unicode string (lone surrogates included) gives a positive whole number up to the maximum, or INVALID_TTL / TTL_TOO_LONG', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' })),
        (input) => assertWellBehaved(input),
      ),
      { numRuns: 2_000 },
    );
  });

  it('strings close to the grammar give a positive whole number up to the maximum, or INVALID_TTL / TTL_TOO_LONG', () => {
    const nearMiss = fc.stringMatching(
      /^\s{0,2}[+-]?\d{0,12}(\.\d{1,2})?(e\d)?\s?[smhdwMyHSo]{0,2}\s{0,2}$/,
    );
    fc.assert(
      fc.property(nearMiss, (input) => assertWellBehaved(input)),
      { numRuns: 2_000 },
    );
  });

  it('any value of any type gives a positive whole number up to the maximum, or INVALID_TTL / TTL_TOO_LONG', () => {
    fc.assert(
      fc.property(
        fc.anything({
          withBigInt: true,
          withBoxedValues: true,
          withDate: true,
          withMap: true,
          withSet: true,
          withNullPrototype: true,
        }),
        (input) => assertWellBehaved(input),
      ),
      { numRuns: 1_000 },
    );
  });

  it('any string under a configured maximum of 12 hours stays at or under 12 hours', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.stringMatching(/^\d{1,6}[smhdwM]$/)), (input) =>
        assertWellBehaved(input, 43_200, { max: '12h' }),
      ),
      { numRuns: 1_000 },
    );
  });
});
