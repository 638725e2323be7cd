// CRC-32 (IEEE 802.3), the checksum GitHub's and Grafana's tokens carry. A table of signed 32-bit
// values keeps every step in small integers (a Uint32Array would box values above 2^31): on
// Node 20 this is faster than node:zlib's crc32() for a key's 44 to 58 characters.
const TABLE = new Int32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  TABLE[n] = c;
}
// Slicing by 4: T1..T3 advance the CRC by one, two and three more bytes, so a step takes four
// characters with four independent lookups instead of a chain of four.
const T1 = new Int32Array(256);
const T2 = new Int32Array(256);
const T3 = new Int32Array(256);
for (let n = 0; n < 256; n++) {
  T1[n] = (TABLE[n]! >>> 8) ^ TABLE[TABLE[n]! & 0xff]!;
  T2[n] = (T1[n]! >>> 8) ^ TABLE[T1[n]! & 0xff]!;
  T3[n] = (T2[n]! >>> 8) ^ TABLE[T2[n]! & 0xff]!;
}

/** One step: the running CRC (start at -1) after one more character. */
function crc32Step(crc: number, charCode: number): number {
  return TABLE[(crc ^ charCode) & 0xff]! ^ (crc >>> 8);
}

/** The final CRC-32 value from a running one. */
export function crc32Final(crc: number): number {
  return (crc ^ -1) >>> 0;
}

/**
 * The running CRC (start at -1) after the characters `text[start..end)`, four at a time. Only
 * the low byte of each character counts: callers check that the characters are ASCII.
 */
export function crc32Range(crc: number, text: string, start: number, end: number): number {
  let c = crc;
  let i = start;
  for (; i + 4 <= end; i += 4) {
    c ^=
      (text.charCodeAt(i) & 0xff) |
      ((text.charCodeAt(i + 1) & 0xff) << 8) |
      ((text.charCodeAt(i + 2) & 0xff) << 16) |
      (text.charCodeAt(i + 3) << 24);
    c = T3[c & 0xff]! ^ T2[(c >>> 8) & 0xff]! ^ T1[(c >>> 16) & 0xff]! ^ TABLE[c >>> 24]!;
  }
  for (; i < end; i++) c = crc32Step(c, text.charCodeAt(i));
  return c;
}

/** CRC-32 of the string's characters; callers only pass ASCII. */
export function crc32(text: string): number {
  let crc = -1;
  for (let i = 0; i < text.length; i++) crc = crc32Step(crc, text.charCodeAt(i));
  return crc32Final(crc);
}
