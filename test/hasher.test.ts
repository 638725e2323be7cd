import { beforeAll, describe, expect, it } from 'vitest';
import {
  ARGON2ID_OWASP_PARAMETERS,
  argon2idHasher,
  type Argon2idOptions,
  type Hasher,
  hmacSha256Hasher,
  KeymintError,
} from '../src/index.js';

const SECRET = 'Zq3vT9xLm2Pw8Rk4Nb6Yc1Hd5Fs7Gj0A';
const OTHER_SECRET = 'Zq3vT9xLm2Pw8Rk4Nb6Yc1Hd5Fs7Gj0B';
const HMAC_KEY = 'k'.repeat(32);
const OTHER_HMAC_KEY = 'j'.repeat(32);

/** Small argon2id parameters for tests that are not about the defaults. */
const SMALL: Argon2idOptions = { memoryCost: 256, timeCost: 1, parallelism: 1 };

/** The m, t and p of a PHC argon2 string, whatever their order. */
function argon2Params(hash: string): Record<string, number> {
  const fields = hash.split('$');
  return Object.fromEntries(
    (fields[3] ?? '').split(',').map((pair) => {
      const [name = '', value = ''] = pair.split('=');
      return [name, Number(value)];
    }),
  );
}

function configError(make: () => unknown): KeymintError {
  try {
    make();
  } catch (error) {
    expect(error).toBeInstanceOf(KeymintError);
    return error as KeymintError;
  }
  throw new Error('expected a CONFIG error, got none');
}

describe('argon2idHasher() with its defaults', () => {
  let hasher: Hasher;
  let hash: string;

  beforeAll(async () => {
    hasher = argon2idHasher();
    hash = await hasher.hash(SECRET);
  });

  it("makes an argon2id hash, version 19 ('$argon2id$v=19$')", () => {
    expect(hash.startsWith('$argon2id$v=19$')).toBe(true);
  });

  it('uses the key parameters by default: 256 KiB of memory, 8 iterations, parallelism 1', () => {
    expect(argon2Params(hash)).toEqual({ m: 256, t: 8, p: 1 });
  });

  it("writes the parameters in the PHC order m, t, p ('$argon2id$v=19$m=256,t=8,p=1$'), so other argon2 libraries can read the hash", () => {
    expect(hash.startsWith('$argon2id$v=19$m=256,t=8,p=1$')).toBe(true);
  });

  it("ARGON2ID_OWASP_PARAMETERS makes OWASP's hash (19 MiB, t=2, p=1), which the default hasher verifies and wants to rehash", async () => {
    const owasp = await argon2idHasher(ARGON2ID_OWASP_PARAMETERS).hash(SECRET);
    expect(argon2Params(owasp)).toEqual({ m: 19_456, t: 2, p: 1 });
    expect(await hasher.verify(owasp, SECRET)).toBe(true);
    expect(hasher.needsRehash!(owasp)).toBe(true);
    expect(hasher.needsRehash!(hash)).toBe(false);
  });

  it('does not contain the secret', () => {
    expect(hash).not.toContain(SECRET);
  });

  it('verify() is true for the right secret', async () => {
    expect(await hasher.verify(hash, SECRET)).toBe(true);
  });

  it('verify() is false for a wrong secret', async () => {
    expect(await hasher.verify(hash, OTHER_SECRET)).toBe(false);
  });

  it('needsRehash() is false for a hash it made itself', () => {
    expect(hasher.needsRehash?.(hash)).toBe(false);
  });
});

describe('argon2idHasher()', () => {
  let small: Hasher;
  let smallHash: string;

  beforeAll(async () => {
    small = argon2idHasher(SMALL);
    smallHash = await small.hash(SECRET);
  });

  it('writes the parameters it was given into the hash', () => {
    expect(argon2Params(smallHash)).toEqual({ m: 256, t: 1, p: 1 });
  });

  it('salts: two hashes of the same secret differ', async () => {
    expect(await small.hash(SECRET)).not.toBe(smallHash);
  });

  it('salts: both hashes of the same secret verify', async () => {
    const second = await small.hash(SECRET);
    expect([await small.verify(smallHash, SECRET), await small.verify(second, SECRET)]).toEqual([
      true,
      true,
    ]);
  });

  it('verify() checks a hash made with other parameters (they are read from the hash)', async () => {
    expect(await argon2idHasher().verify(smallHash, SECRET)).toBe(true);
  });

  it('verify() is false for a secret that differs only in case', async () => {
    expect(await small.verify(smallHash, SECRET.toLowerCase())).toBe(false);
  });

  it('verify() is false for the empty secret', async () => {
    expect(await small.verify(smallHash, '')).toBe(false);
  });

  it.each([
    ['an HMAC-SHA-256 hash', `hmac-sha256:${'A'.repeat(43)}`],
    ['a bcrypt hash', '$2b$10$abcdefghijklmnopqrstuuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ01'],
    ['a bare hex digest', 'a'.repeat(64)],
    ['the empty string', ''],
  ])('verify() is false, without throwing, for %s', async (_label, stored) => {
    await expect(small.verify(stored, SECRET)).resolves.toBe(false);
  });

  it('needsRehash() is false, after a verify, for a hash made with the same parameters by another instance', async () => {
    const hasher = argon2idHasher(SMALL);
    await hasher.verify(smallHash, SECRET);
    expect(hasher.needsRehash?.(smallHash)).toBe(false);
  });

  it('needsRehash() is true, after a verify, for a hash made with other parameters', async () => {
    const hasher = argon2idHasher();
    await hasher.verify(smallHash, SECRET);
    expect(hasher.needsRehash?.(smallHash)).toBe(true);
  });

  it('needsRehash() is true for a hash made with other parameters, even before the hasher has hashed or verified anything', () => {
    // A fresh default hasher, as a migration script would use it to find hashes to upgrade.
    expect(argon2idHasher().needsRehash?.(smallHash)).toBe(true);
  });

  it.each([
    ['memoryCost', { ...SMALL, memoryCost: 512 }],
    ['timeCost', { ...SMALL, timeCost: 2 }],
    ['parallelism', { ...SMALL, parallelism: 2 }],
  ] as const)('needsRehash() is true for a hash whose %s differs', async (_label, options) => {
    const other = await argon2idHasher(options).hash(SECRET);
    expect(small.needsRehash?.(other)).toBe(true);
  });

  it.each([
    ['an HMAC-SHA-256 hash', `hmac-sha256:${'A'.repeat(43)}`],
    [
      'an argon2i hash',
      '$argon2i$v=19$m=256,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g',
    ],
    [
      'an argon2d hash',
      '$argon2d$v=19$m=256,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g',
    ],
    ['the empty string', ''],
  ])('needsRehash() is true for %s', (_label, stored) => {
    expect(small.needsRehash?.(stored)).toBe(true);
  });

  it.each(['memoryCost', 'timeCost', 'parallelism'] as const)(
    '%s of 0, -1, 1.5, NaN or Infinity is a CONFIG error',
    (name) => {
      for (const value of [0, -1, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
        expect(configError(() => argon2idHasher({ [name]: value })).code).toBe('CONFIG');
      }
    },
  );

  it('the CONFIG error names the parameter that is wrong', () => {
    expect(configError(() => argon2idHasher({ timeCost: 0 })).message).toContain('timeCost');
  });

  it("a memoryCost below argon2's minimum of 8 KiB per lane is a CONFIG error when the hasher is made, not a failure at the first hash", () => {
    expect(configError(() => argon2idHasher({ memoryCost: 4 })).code).toBe('CONFIG');
  });
});

describe('hmacSha256Hasher()', () => {
  let hasher: Hasher;

  beforeAll(() => {
    hasher = hmacSha256Hasher(HMAC_KEY);
  });

  it('refuses an HMAC secret of 31 bytes with a CONFIG error', () => {
    expect(configError(() => hmacSha256Hasher('k'.repeat(31))).code).toBe('CONFIG');
  });

  it('refuses an empty HMAC secret with a CONFIG error', () => {
    expect(configError(() => hmacSha256Hasher('')).code).toBe('CONFIG');
  });

  it('refuses a Uint8Array HMAC secret of 31 bytes with a CONFIG error', () => {
    expect(configError(() => hmacSha256Hasher(new Uint8Array(31))).code).toBe('CONFIG');
  });

  it('counts the HMAC secret in bytes: 16 two-byte characters are enough', () => {
    expect(() => hmacSha256Hasher('é'.repeat(16))).not.toThrow();
  });

  it('accepts an HMAC secret of exactly 32 bytes', () => {
    expect(() => hmacSha256Hasher('k'.repeat(32))).not.toThrow();
  });

  it("makes a hash that starts with 'hmac-sha256:'", async () => {
    expect((await hasher.hash(SECRET)).startsWith('hmac-sha256:')).toBe(true);
  });

  it('makes a hash that does not contain the secret', async () => {
    expect(await hasher.hash(SECRET)).not.toContain(SECRET);
  });

  it('is deterministic: the same secret and HMAC key give the same hash', async () => {
    expect(await hmacSha256Hasher(HMAC_KEY).hash(SECRET)).toBe(await hasher.hash(SECRET));
  });

  it('gives another hash under another HMAC key', async () => {
    expect(await hmacSha256Hasher(OTHER_HMAC_KEY).hash(SECRET)).not.toBe(await hasher.hash(SECRET));
  });

  it('gives another hash for another secret', async () => {
    expect(await hasher.hash(OTHER_SECRET)).not.toBe(await hasher.hash(SECRET));
  });

  it('computes the standard HMAC-SHA-256 (RFC 4231 test case 6), base64url-encoded', async () => {
    const key = new Uint8Array(131).fill(0xaa);
    const digest = Buffer.from(
      '60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54',
      'hex',
    );
    const hash = await hmacSha256Hasher(key).hash(
      'Test Using Larger Than Block-Size Key - Hash Key First',
    );
    expect(hash).toBe(`hmac-sha256:${digest.toString('base64url')}`);
  });

  it('accepts a Uint8Array HMAC secret and hashes as the same bytes given as a string', async () => {
    const bytes = new TextEncoder().encode(HMAC_KEY);
    expect(await hmacSha256Hasher(bytes).hash(SECRET)).toBe(await hasher.hash(SECRET));
  });

  it('verifies with a Uint8Array HMAC secret', async () => {
    const fromBytes = hmacSha256Hasher(new Uint8Array(32).fill(7));
    expect(await fromBytes.verify(await fromBytes.hash(SECRET), SECRET)).toBe(true);
  });

  it('copies a Uint8Array HMAC secret: changing the array afterwards changes nothing', async () => {
    const bytes = new Uint8Array(32).fill(7);
    const fromBytes = hmacSha256Hasher(bytes);
    const before = await fromBytes.hash(SECRET);
    bytes.fill(8);
    expect(await fromBytes.hash(SECRET)).toBe(before);
  });

  it('verify() is true for the right secret', async () => {
    expect(await hasher.verify(await hasher.hash(SECRET), SECRET)).toBe(true);
  });

  it('verify() is true for a non-ASCII secret', async () => {
    expect(await hasher.verify(await hasher.hash('ключ-🔑'), 'ключ-🔑')).toBe(true);
  });

  it('verify() is false for a wrong secret', async () => {
    expect(await hasher.verify(await hasher.hash(SECRET), OTHER_SECRET)).toBe(false);
  });

  it('verify() is false for a hash made under another HMAC key', async () => {
    expect(await hasher.verify(await hmacSha256Hasher(OTHER_HMAC_KEY).hash(SECRET), SECRET)).toBe(
      false,
    );
  });

  it('verify() is false, without throwing, for a stored hash with its last character cut off', async () => {
    const stored = await hasher.hash(SECRET);
    await expect(hasher.verify(stored.slice(0, -1), SECRET)).resolves.toBe(false);
  });

  it('verify() is false, without throwing, for a stored hash cut in half', async () => {
    const stored = await hasher.hash(SECRET);
    await expect(hasher.verify(stored.slice(0, 30), SECRET)).resolves.toBe(false);
  });

  it('verify() is false, without throwing, for a stored hash with one character garbled', async () => {
    const stored = await hasher.hash(SECRET);
    const i = 20;
    const garbled = stored.slice(0, i) + (stored[i] === 'A' ? 'B' : 'A') + stored.slice(i + 1);
    await expect(hasher.verify(garbled, SECRET)).resolves.toBe(false);
  });

  it('verify() is false, without throwing, for a stored hash longer than a digest (unequal lengths)', async () => {
    const stored = await hasher.hash(SECRET);
    await expect(hasher.verify(`${stored}AAAA`, SECRET)).resolves.toBe(false);
  });

  it('verify() is false, without throwing, for a stored hash of only the prefix', async () => {
    await expect(hasher.verify('hmac-sha256:', SECRET)).resolves.toBe(false);
  });

  it('verify() is false, without throwing, for a stored hash of characters outside base64url', async () => {
    await expect(hasher.verify(`hmac-sha256:${'!'.repeat(43)}`, SECRET)).resolves.toBe(false);
  });

  it('verify() is false for an undecodable stored hash right after a match: nothing of the earlier compare carries over', async () => {
    // The compare reuses its buffers: a hash that decodes to fewer bytes must not meet the last one's.
    const stored = await hasher.hash(SECRET);
    expect(await hasher.verify(stored, SECRET)).toBe(true);
    for (const broken of ['!'.repeat(43), `${'!'.repeat(42)}A`, `${stored.slice(12, 54)}!`]) {
      expect(await hasher.verify(`hmac-sha256:${broken}`, SECRET)).toBe(false);
      expect(await hasher.verify(stored, SECRET)).toBe(true);
    }
  });

  it('matches node:crypto HMAC-SHA-256 for keys shorter than, as long as and longer than the 64-byte block, and messages past its kept buffer', async () => {
    const { createHmac } = await import('node:crypto');
    for (const keyLength of [32, 63, 64, 65, 200]) {
      const key = Buffer.alloc(keyLength, keyLength);
      const keyed = hmacSha256Hasher(key);
      for (const message of [
        '',
        SECRET,
        'ключ-🔑',
        'x'.repeat(85),
        'é'.repeat(200),
        'y'.repeat(5000),
      ]) {
        const expected = createHmac('sha256', key).update(message, 'utf8').digest('base64url');
        const hash = await keyed.hash(message);
        expect(hash).toBe(`hmac-sha256:${expected}`);
        expect(await keyed.verify(hash, message)).toBe(true);
        expect(await keyed.verify(hash, `${message}.`)).toBe(false);
      }
    }
  });

  it('verify() takes any spelling of the stored digest, as the one it writes: base64 with + / and padding, unused trailing bits set; a changed byte still fails', async () => {
    let secret = SECRET;
    let stored = await hasher.hash(secret);
    // A digest whose base64url spelling has a - or _, so that standard base64 spells it otherwise.
    for (let i = 0; !/[-_]/.test(stored.slice(12)); i++) {
      secret = `${SECRET}${i}`;
      stored = await hasher.hash(secret);
    }
    const bytes = Buffer.from(stored.slice(12), 'base64url');
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(stored.at(-1)!);
    // The last of 43 characters carries 4 bits: its 2 low bits are not part of the digest.
    const trailing = `${stored.slice(0, -1)}${alphabet[last | 3]!}`;
    for (const spelling of [`hmac-sha256:${bytes.toString('base64')}`, trailing]) {
      expect(spelling).not.toBe(stored);
      expect(await hasher.verify(spelling, secret)).toBe(true);
      expect(await hasher.verify(spelling, `${secret}.`)).toBe(false);
    }
    const changed = Buffer.from(bytes);
    changed[0]! ^= 1;
    expect(await hasher.verify(`hmac-sha256:${changed.toString('base64url')}`, secret)).toBe(false);
    expect(await hasher.verify(`hmac-sha256:${changed.toString('base64')}`, secret)).toBe(false);
  });

  it('verify() is false, without throwing, for an argon2 hash', async () => {
    const argon2Hash = await argon2idHasher(SMALL).hash(SECRET);
    await expect(hasher.verify(argon2Hash, SECRET)).resolves.toBe(false);
  });

  it('verify() is false for the digest without its prefix', async () => {
    const stored = await hasher.hash(SECRET);
    expect(await hasher.verify(stored.slice('hmac-sha256:'.length), SECRET)).toBe(false);
  });

  it('needsRehash() is false for its own hash', async () => {
    expect(hasher.needsRehash?.(await hasher.hash(SECRET))).toBe(false);
  });

  it.each([
    [
      'an argon2id hash',
      '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g',
    ],
    ['a sha256 hash', `sha256:${'a'.repeat(64)}`],
    ['the empty string', ''],
  ])('needsRehash() is true for %s', (_label, stored) => {
    expect(hasher.needsRehash?.(stored)).toBe(true);
  });
});
