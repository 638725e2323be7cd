// CRC-32 (IEEE 802.3), the checksum GitHub's and Grafana's tokens carry. A table of signed 32-bit
// values keeps every step in small integers (a Uint32Array would box values above 2^31): on
// Node 20 this is faster than node:zlib's crc32() for a key's 44 to 58 characters.
const TABLE = new Int32Array(256);
for (let n = 0; n < 256; n++) {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  TABLE[n] = c;
}

/** One step: the running CRC (start at -1) after one more character. */
export function crc32Step(crc: number, charCode: number): number {
  return TABLE[(crc ^ charCode) & 0xff]! ^ (crc >>> 8);
}

/** The final CRC-32 value from a running one. */
export function crc32Final(crc: number): number {
  return (crc ^ -1) >>> 0;
}

/** CRC-32 of the string's characters; callers only pass ASCII. */
export function crc32(text: string): number {
  let crc = -1;
  for (let i = 0; i < text.length; i++) crc = crc32Step(crc, text.charCodeAt(i));
  return crc32Final(crc);
}
