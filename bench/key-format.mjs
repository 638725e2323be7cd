// The key format, for forging well-formed keys (valid checksum, wrong secret) in the abuse
// scenario. keymint does not export withChecksum, so this mirrors src/core/key-format.ts and
// src/internal/crc32.ts; run.mjs checks it against a real key at start-up, so a format change
// fails the benchmark instead of silently measuring malformed keys.
import { randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const SECRET_LENGTH = 28;
const CHECKSUM_LENGTH = 6;

const TABLE = new Uint32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  TABLE[n] = c >>> 0;
}

function crc32(text) {
  let crc = 0xffffffff;
  for (let i = 0; i < text.length; i++)
    crc = TABLE[(crc ^ text.charCodeAt(i)) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** Appends the CRC-32 checksum (6 base62 characters) to `<prefix>_<id>_<secret>`. */
export function withChecksum(body) {
  let rest = crc32(body);
  let out = '';
  for (let i = 0; i < CHECKSUM_LENGTH; i++) {
    out = ALPHABET[rest % 62] + out;
    rest = Math.floor(rest / 62);
  }
  return body + out;
}

/** `length` random base62 characters (slightly biased; fine for test data). */
export function randomBase62(length) {
  const bytes = randomBytes(length);
  let out = '';
  for (const byte of bytes) out += ALPHABET[byte % 62];
  return out;
}

/** Splits a key into prefix, id and secret (the key must be well formed). */
export function splitKey(key) {
  const [prefix, id, rest] = key.split('_');
  return { prefix, id, secret: rest.slice(0, SECRET_LENGTH) };
}

/** A well-formed key for the same id as `key`, with a fresh random (so wrong) secret. */
export function wrongSecretKey(key) {
  const { prefix, id } = splitKey(key);
  return withChecksum(`${prefix}_${id}_${randomBase62(SECRET_LENGTH)}`);
}
