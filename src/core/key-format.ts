import { customAlphabet } from 'nanoid';
import { crc32, crc32Final, crc32Range } from '../internal/crc32.js';

/**
 * The alphabet of every generated part: base62 (digits, then upper, then lower case letters).
 * URL-safe, and a double click selects a whole key.
 */
export const KEY_ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

/** Length of the public lookup id (about 71 bits). */
export const KEY_ID_LENGTH = 12;
/** Length of the secret: 28 base62 characters carry 166.7 bits from the CSPRNG. */
export const KEY_SECRET_LENGTH = 28;
/** Length of the checksum: CRC-32 written in 6 base62 characters, zero-padded. */
export const KEY_CHECKSUM_LENGTH = 6;

/** A prefix: a lower-case letter, then up to 15 lower-case letters or digits. */
export const PREFIX_PATTERN = /^[a-z][a-z0-9]{0,15}$/;

const FIXED_LENGTH = 1 + KEY_ID_LENGTH + 1 + KEY_SECRET_LENGTH + KEY_CHECKSUM_LENGTH;

/**
 * The longest key any configuration produces (64): a 16-character prefix plus 48 characters.
 * With the default prefix `km`, keys are 50 characters long.
 *
 * @example
 * ```ts
 * import { MAX_KEY_LENGTH } from 'keymint';
 * if (header.length > MAX_KEY_LENGTH + 'Bearer '.length) return reject();
 * ```
 */
export const MAX_KEY_LENGTH = 16 + FIXED_LENGTH;

const newId = customAlphabet(KEY_ALPHABET, KEY_ID_LENGTH);
const newSecret = customAlphabet(KEY_ALPHABET, KEY_SECRET_LENGTH);

const CHAR_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < KEY_ALPHABET.length; i++) CHAR_VALUE[KEY_ALPHABET.charCodeAt(i)] = i;

function encodeChecksum(value: number): string {
  let out = '';
  let rest = value;
  for (let i = 0; i < KEY_CHECKSUM_LENGTH; i++) {
    out = KEY_ALPHABET[rest % 62]! + out;
    rest = Math.floor(rest / 62);
  }
  return out;
}

/** A key taken apart. `secret` is sensitive: never log or store it. */
export interface ParsedKey {
  id: string;
  secret: string;
}

/**
 * The regular expression that matches keys with the given prefix, for secret scanners
 * (anchored with word boundaries, not with `^…$`).
 *
 * @example
 * ```ts
 * import { keyPattern } from 'keymint';
 * keyPattern('km').source; // '\\bkm_[0-9A-Za-z]{12}_[0-9A-Za-z]{34}\\b'
 * ```
 */
export function keyPattern(prefix = 'km'): RegExp {
  return new RegExp(
    `\\b${prefix}_[0-9A-Za-z]{${KEY_ID_LENGTH}}_[0-9A-Za-z]{${KEY_SECRET_LENGTH + KEY_CHECKSUM_LENGTH}}\\b`,
  );
}

/** Makes a new lookup id. */
export function generateKeyId(): string {
  return newId();
}

/** Builds `<prefix>_<id>_<secret><checksum>` with a fresh secret. */
export function formatKey(prefix: string, id: string): { key: string; secret: string } {
  const secret = newSecret();
  return { key: withChecksum(`${prefix}_${id}_${secret}`), secret };
}

/** Appends the checksum to `<prefix>_<id>_<secret>` (tests use it to forge well-formed keys). */
export function withChecksum(body: string): string {
  return body + encodeChecksum(crc32(body));
}

/**
 * A check for one prefix: true when `input` has the shape of a key with this prefix (length,
 * prefix, underscores) and its checksum matches. The cheap first check of every verification,
 * before any hashing; the CRC of the prefix is computed once, here. It does not check the
 * alphabet; {@link parseKey} does.
 */
export function checksumCheck(prefix: string): (input: unknown) => input is string {
  const p = prefix.length;
  const expected = p + FIXED_LENGTH;
  const checksumStart = expected - KEY_CHECKSUM_LENGTH;
  const secondUnderscore = p + 1 + KEY_ID_LENGTH;
  const prefixCrc = crc32Range(-1, `${prefix}_`, 0, p + 1);
  return (input: unknown): input is string => {
    if (typeof input !== 'string' || input.length !== expected) return false;
    if (input.charCodeAt(p) !== 95 || input.charCodeAt(secondUnderscore) !== 95) return false;
    if (!input.startsWith(prefix)) return false;
    const crc = crc32Range(prefixCrc, input, p + 1, checksumStart);
    let checksum = 0;
    for (let i = checksumStart; i < expected; i++) {
      const code = input.charCodeAt(i);
      const value = code < 128 ? CHAR_VALUE[code]! : -1;
      if (value < 0) return false;
      checksum = checksum * 62 + value;
    }
    return checksum === crc32Final(crc);
  };
}

/**
 * A check for one prefix: true when `input` has the shape of a key with this prefix (type,
 * length, underscores, prefix), without the checksum. Constant time for a string of the wrong
 * length; a few comparisons otherwise.
 */
export function shapeCheck(prefix: string): (input: unknown) => input is string {
  const p = prefix.length;
  const expected = p + FIXED_LENGTH;
  const secondUnderscore = p + 1 + KEY_ID_LENGTH;
  return (input: unknown): input is string =>
    typeof input === 'string' &&
    input.length === expected &&
    input.charCodeAt(p) === 95 &&
    input.charCodeAt(secondUnderscore) === 95 &&
    input.startsWith(prefix);
}

/**
 * Takes a presented key apart, or returns `null` when it is not a well-formed key with this
 * prefix and a matching checksum. Runs in time linear in the key's length, touches no store.
 */
export function parseKey(prefix: string, input: unknown): ParsedKey | null {
  return checksumCheck(prefix)(input) ? splitChecked(prefix, input) : null;
}

/**
 * The id and secret of a key whose shape and checksum already passed {@link checksumCheck}, or
 * `null` when a character after the prefix is not base62.
 */
export function splitChecked(prefix: string, input: string): ParsedKey | null {
  const p = prefix.length;
  const secondUnderscore = p + 1 + KEY_ID_LENGTH;
  for (let i = p + 1; i < input.length - KEY_CHECKSUM_LENGTH; i++) {
    const code = input.charCodeAt(i);
    if (i !== secondUnderscore && (code > 127 || CHAR_VALUE[code]! < 0)) return null;
  }
  return {
    id: input.slice(p + 1, secondUnderscore),
    secret: input.slice(secondUnderscore + 1, input.length - KEY_CHECKSUM_LENGTH),
  };
}
