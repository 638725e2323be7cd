/**
 * Whether two digests are equal, in time that depends on their length only, never on where
 * they differ: the equivalent of `crypto.timingSafeEqual` for the SHA-256 digests the verify cache keeps
 * (32 bytes as 16 UTF-16 code units), without turning them into buffers on the hit path.
 * A presented key's digest is compared with one this process proved; an early exit would tell
 * a caller how much of a valid key's digest its guess shares. Lengths are public (always 16).
 */
export function sameDigest(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
