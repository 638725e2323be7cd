import * as zlib from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  formatKey,
  generateKeyId,
  KEY_ALPHABET,
  KEY_SECRET_LENGTH,
  keyPattern,
  MAX_KEY_LENGTH,
  parseKey,
} from '../src/core/key-format.js';
import {
  keyPattern as publicKeyPattern,
  MAX_KEY_LENGTH as PUBLIC_MAX_KEY_LENGTH,
} from '../src/index.js';
import { crc32 } from '../src/internal/crc32.js';

/** The regular expression the docs give secret scanners for the default prefix. */
const DOCUMENTED_PATTERN = /\bkm_[0-9A-Za-z]{12}_[0-9A-Za-z]{34}\b/;
const LONGEST_PREFIX = 'p23456789abcdefg';

function newKey(prefix = 'km'): { key: string; id: string; secret: string } {
  const id = generateKeyId();
  return { id, ...formatKey(prefix, id) };
}

/** A fixed pool, so that fast-check picks keys reproducibly from its seed. */
const POOL = Array.from({ length: 200 }, () => newKey().key);
const anyKey = fc.constantFrom(...POOL);
const alphabetChar = fc.constantFrom(...KEY_ALPHABET);

function replaceAt(text: string, index: number, char: string): string {
  return text.slice(0, index) + char + text.slice(index + 1);
}

describe('formatKey()', () => {
  it("makes a key that keyPattern('km') matches", () => {
    expect(newKey().key).toMatch(keyPattern('km'));
  });

  it('makes a key that the documented regex \\bkm_[0-9A-Za-z]{12}_[0-9A-Za-z]{34}\\b matches', () => {
    expect(newKey().key).toMatch(DOCUMENTED_PATTERN);
  });

  it('makes a key that keyPattern() matches whole, from start to end', () => {
    const { key } = newKey();
    expect(keyPattern('km').exec(key)?.[0]).toBe(key);
  });

  it('makes a key of 50 characters with the default prefix', () => {
    expect(newKey().key).toHaveLength(50);
  });

  it('makes a key of exactly MAX_KEY_LENGTH (64) characters with a 16-character prefix', () => {
    const { key } = newKey(LONGEST_PREFIX);
    expect(key).toHaveLength(64);
    expect(key.length).toBe(MAX_KEY_LENGTH);
  });

  it('MAX_KEY_LENGTH exported from the package is 64', () => {
    expect(PUBLIC_MAX_KEY_LENGTH).toBe(64);
  });

  it('makes a key with a 16-character prefix that keyPattern(prefix) matches', () => {
    expect(newKey(LONGEST_PREFIX).key).toMatch(keyPattern(LONGEST_PREFIX));
  });

  it('makes URL-safe keys (encodeURIComponent leaves them unchanged)', () => {
    for (const key of POOL) expect(encodeURIComponent(key)).toBe(key);
  });

  it('lays the key out as <prefix>_<id>_<secret><checksum>', () => {
    const { key, id, secret } = newKey();
    expect(key.startsWith(`km_${id}_${secret}`)).toBe(true);
    expect(key.length - `km_${id}_${secret}`.length).toBe(6);
  });

  it('ends the key with the CRC-32 of the rest, written in 6 zero-padded base62 digits', () => {
    const { key } = newKey();
    const body = key.slice(0, -6);
    let value = 0;
    for (const char of key.slice(-6)) value = value * 62 + KEY_ALPHABET.indexOf(char);
    expect(value).toBe(crc32(body));
  });
});

describe('keyPattern()', () => {
  it("keyPattern('km') has the documented source", () => {
    expect(keyPattern('km').source).toBe(DOCUMENTED_PATTERN.source);
  });

  it("keyPattern() defaults to the prefix 'km'", () => {
    expect(publicKeyPattern().source).toBe(DOCUMENTED_PATTERN.source);
  });

  it('finds a key inside surrounding text, as a secret scanner would', () => {
    const { key } = newKey();
    expect(keyPattern('km').exec(`export TOKEN="${key}"; echo done`)?.[0]).toBe(key);
  });

  it('does not match a key glued to further base62 characters', () => {
    expect(keyPattern('km').test(`${newKey().key}x`)).toBe(false);
  });

  it('does not match a key with another prefix', () => {
    expect(keyPattern('km').test(newKey('gh').key)).toBe(false);
  });
});

describe('parseKey()', () => {
  it('returns the id and the secret of a key it made', () => {
    const { key, id, secret } = newKey();
    expect(parseKey('km', key)).toEqual({ id, secret });
  });

  it('returns the id and the secret of a key with a 16-character prefix', () => {
    const { key, id, secret } = newKey(LONGEST_PREFIX);
    expect(parseKey(LONGEST_PREFIX, key)).toEqual({ id, secret });
  });

  it('accepts every key of a pool of 200 fresh keys', () => {
    for (const key of POOL) expect(parseKey('km', key)).not.toBeNull();
  });

  it('returns null for a key read with another prefix', () => {
    expect(parseKey('gh', newKey().key)).toBeNull();
  });

  it('returns null for a key whose prefix was swapped for another of the same length', () => {
    expect(parseKey('kn', `kn${newKey().key.slice(2)}`)).toBeNull();
  });

  it('returns null for a key read with a longer prefix that starts the same', () => {
    expect(parseKey('kmx', newKey().key)).toBeNull();
  });

  it('returns null for a key whose underscores were replaced', () => {
    const { key } = newKey();
    expect(parseKey('km', replaceAt(key, 2, '-'))).toBeNull();
  });

  it('returns null for a key with surrounding whitespace', () => {
    expect(parseKey('km', ` ${newKey().key} `)).toBeNull();
  });

  it.each([
    ['null', null],
    ['undefined', undefined],
    ['a number', 42],
    ['a bigint', 42n],
    ['a boolean', true],
    ['a symbol', Symbol('km')],
    ['an object', {}],
    ['an array holding a key', [POOL[0]]],
    ['a function', () => POOL[0]],
    ['a String object holding a key', new String(POOL[0])],
    ['a Buffer holding a key', Buffer.from(POOL[0] ?? '')],
  ])('returns null for %s', (_label, input) => {
    expect(parseKey('km', input)).toBeNull();
  });

  it('returns null for the empty string', () => {
    expect(parseKey('km', '')).toBeNull();
  });

  it('returns null, quickly, for a 1 MB string', () => {
    const huge = `km_${'a'.repeat(1 << 20)}`;
    const start = performance.now();
    expect(parseKey('km', huge)).toBeNull();
    expect(performance.now() - start).toBeLessThan(50);
  });

  it('returns null, quickly, for a valid key followed by 1 MB of characters', () => {
    const huge = newKey().key + 'a'.repeat(1 << 20);
    const start = performance.now();
    expect(parseKey('km', huge)).toBeNull();
    expect(performance.now() - start).toBeLessThan(50);
  });

  it('returns null for a key with a non-ASCII character whose low byte equals the original', () => {
    const { key } = newKey();
    // charCodeAt(10) + 0x100 has the same low byte: a checksum over bytes alone would not see it.
    expect(
      parseKey('km', replaceAt(key, 10, String.fromCharCode(key.charCodeAt(10) + 0x100))),
    ).toBeNull();
  });
});

describe('parseKey() detects every single-character error', () => {
  it('rejects every substitution of one base62 character by another, at every position, in 20 keys', () => {
    for (const key of POOL.slice(0, 20)) {
      for (let i = 0; i < key.length; i++) {
        for (const char of KEY_ALPHABET) {
          if (char !== key[i]) expect(parseKey('km', replaceAt(key, i, char))).toBeNull();
        }
      }
    }
  });

  it('rejects every change of one character of the checksum', () => {
    for (const key of POOL.slice(0, 20)) {
      for (let i = key.length - 6; i < key.length; i++) {
        for (const char of KEY_ALPHABET) {
          if (char !== key[i]) expect(parseKey('km', replaceAt(key, i, char))).toBeNull();
        }
      }
    }
  });

  it('rejects every swap of two adjacent different characters, in every key of the pool', () => {
    for (const key of POOL) {
      for (let i = 0; i + 1 < key.length; i++) {
        if (key[i] === key[i + 1]) continue;
        const swapped = key.slice(0, i) + key[i + 1] + key[i] + key.slice(i + 2);
        expect(parseKey('km', swapped)).toBeNull();
      }
    }
  });

  it('rejects a substitution by another base62 character (property)', () => {
    fc.assert(
      fc.property(anyKey, fc.nat(), alphabetChar, (key, n, char) => {
        const i = n % key.length;
        fc.pre(key[i] !== char);
        expect(parseKey('km', replaceAt(key, i, char))).toBeNull();
      }),
      { numRuns: 2_000 },
    );
  });

  it('rejects a substitution by any Unicode character (property)', () => {
    const anyChar = fc.string({ unit: 'binary', minLength: 1, maxLength: 1 });
    fc.assert(
      fc.property(anyKey, fc.nat(), anyChar, (key, n, char) => {
        const i = n % key.length;
        fc.pre(key[i] !== char);
        expect(parseKey('km', replaceAt(key, i, char))).toBeNull();
      }),
      { numRuns: 2_000 },
    );
  });

  it('rejects the deletion of one character (property)', () => {
    fc.assert(
      fc.property(anyKey, fc.nat(), (key, n) => {
        const i = n % key.length;
        expect(parseKey('km', key.slice(0, i) + key.slice(i + 1))).toBeNull();
      }),
      { numRuns: 2_000 },
    );
  });

  it('rejects the insertion of one character (property)', () => {
    const inserted = fc.oneof(
      alphabetChar,
      fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
    );
    fc.assert(
      fc.property(anyKey, fc.nat(), inserted, (key, n, char) => {
        const i = n % (key.length + 1);
        expect(parseKey('km', key.slice(0, i) + char + key.slice(i))).toBeNull();
      }),
      { numRuns: 2_000 },
    );
  });

  it('rejects the swap of two adjacent different characters (property)', () => {
    fc.assert(
      fc.property(anyKey, fc.nat(), (key, n) => {
        const i = n % (key.length - 1);
        fc.pre(key[i] !== key[i + 1]);
        expect(parseKey('km', key.slice(0, i) + key[i + 1] + key[i] + key.slice(i + 2))).toBeNull();
      }),
      { numRuns: 2_000 },
    );
  });

  it('returns null or a well-formed result for any string, never throwing (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string(), fc.string({ unit: 'binary', minLength: 50, maxLength: 50 })),
        (input) => {
          const parsed = parseKey('km', input);
          if (parsed !== null) {
            expect(parsed.id).toHaveLength(12);
            expect(parsed.secret).toHaveLength(KEY_SECRET_LENGTH);
          }
        },
      ),
      { numRuns: 1_000 },
    );
  });
});

describe('secrets and ids', () => {
  it('a secret carries at least 160 bits (28 characters of 62 symbols)', () => {
    const { secret } = newKey();
    expect(new Set(KEY_ALPHABET).size).toBe(62);
    expect(secret).toHaveLength(KEY_SECRET_LENGTH);
    expect(secret.length * Math.log2(62)).toBeGreaterThanOrEqual(160);
  });

  it('a secret is made only of base62 characters', () => {
    for (let i = 0; i < 100; i++) expect(newKey().secret).toMatch(/^[0-9A-Za-z]{28}$/);
  });

  it('an id is 12 base62 characters', () => {
    expect(generateKeyId()).toMatch(/^[0-9A-Za-z]{12}$/);
  });

  it('10,000 generated secrets are all different', () => {
    const secrets = new Set<string>();
    for (let i = 0; i < 10_000; i++) secrets.add(formatKey('km', 'AAAAAAAAAAAA').secret);
    expect(secrets.size).toBe(10_000);
  });

  it('10,000 generated ids are all different', () => {
    const ids = new Set<string>();
    for (let i = 0; i < 10_000; i++) ids.add(generateKeyId());
    expect(ids.size).toBe(10_000);
  });

  /** Counts of each alphabet character over at least 100,000 secret characters. */
  function secretCharCounts(): { counts: Map<string, number>; total: number } {
    const counts = new Map<string, number>([...KEY_ALPHABET].map((c) => [c, 0]));
    let total = 0;
    while (total < 100_000) {
      for (const char of formatKey('km', 'AAAAAAAAAAAA').secret) {
        counts.set(char, (counts.get(char) ?? 0) + 1);
        total++;
      }
    }
    return { counts, total };
  }

  it('every alphabet character appears in secrets within ±25% of its expected frequency', () => {
    const { counts, total } = secretCharCounts();
    const expected = total / 62;
    expect(counts.size).toBe(62);
    for (const [char, count] of counts) {
      expect(count, `count of ${char}`).toBeGreaterThanOrEqual(expected * 0.75);
      expect(count, `count of ${char}`).toBeLessThanOrEqual(expected * 1.25);
    }
  });

  it('the characters of secrets pass a chi-square test of uniformity (generous bound)', () => {
    const { counts, total } = secretCharCounts();
    const expected = total / 62;
    let chiSquare = 0;
    for (const count of counts.values()) chiSquare += (count - expected) ** 2 / expected;
    // 61 degrees of freedom: mean 61; 150 is far beyond the 99.9999th percentile.
    expect(chiSquare).toBeLessThan(150);
  });
});

describe('crc32()', () => {
  it("crc32('123456789') is 0xCBF43926, the standard CRC-32 check value", () => {
    expect(crc32('123456789')).toBe(0xcbf43926);
  });

  it("crc32('') is 0", () => {
    expect(crc32('')).toBe(0);
  });

  it("crc32('The quick brown fox jumps over the lazy dog') is 0x414FA339", () => {
    expect(crc32('The quick brown fox jumps over the lazy dog')).toBe(0x414fa339);
  });

  it('always returns an unsigned 32-bit integer', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        const value = crc32(text);
        expect(Number.isInteger(value) && value >= 0 && value <= 0xffffffff).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  const zlibCrc32 = (zlib as { crc32?: (data: string) => number }).crc32;

  it.runIf(typeof zlibCrc32 === 'function')(
    'matches node:zlib crc32() on every ASCII string',
    () => {
      const ascii = fc.string({
        unit: fc.integer({ min: 0, max: 127 }).map((c) => String.fromCharCode(c)),
        maxLength: 200,
      });
      fc.assert(
        fc.property(ascii, (text) => {
          expect(crc32(text)).toBe(zlibCrc32!(text));
        }),
        { numRuns: 1_000 },
      );
    },
  );

  it.runIf(typeof zlibCrc32 === 'function')('matches node:zlib crc32() on generated keys', () => {
    for (const key of POOL) expect(crc32(key)).toBe(zlibCrc32!(key));
  });
});
