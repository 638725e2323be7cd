import * as crypto from 'node:crypto';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { KeymintError } from '../errors.js';
import { attachTwin, VERIFY_SYNC } from '../internal/sync-twin.js';

/**
 * How secrets are stored. `hash` turns a secret into the string an adapter keeps; `verify`
 * checks a presented secret against it in constant time; `needsRehash` says that a stored hash
 * was made with other parameters, and keymint then replaces it after the next successful verify.
 *
 * `verify` returns `false` for a hash it does not recognise; it throws only when it cannot work.
 *
 * @example
 * ```ts
 * import type { Hasher } from 'keymint';
 * import { createHash, timingSafeEqual } from 'node:crypto';
 *
 * const sha256: Hasher = {
 *   async hash(secret) { return 'sha256:' + createHash('sha256').update(secret).digest('hex'); },
 *   async verify(hash, secret) {
 *     const expected = Buffer.from(await this.hash(secret));
 *     const actual = Buffer.from(hash);
 *     return actual.length === expected.length && timingSafeEqual(actual, expected);
 *   },
 * };
 * ```
 */
export interface Hasher {
  hash(secret: string): Promise<string>;
  verify(hash: string, secret: string): Promise<boolean>;
  needsRehash?(hash: string): boolean;
  /**
   * `true` when `hash` and `verify` take microseconds (a keyed fast hash). keymint bounds how many
   * hashes of a hasher that is not fast run at once (`hashing` option); fast ones run unbounded.
   */
  readonly fast?: boolean;
}

/**
 * argon2id parameters. The defaults are {@link ARGON2ID_KEY_PARAMETERS} (256 KiB, 8 iterations,
 * parallelism 1): keys carry 166 random bits, which no stretching is needed for (see
 * docs/security.md). {@link ARGON2ID_OWASP_PARAMETERS} are OWASP's for passwords.
 *
 * @example
 * ```ts
 * import type { Argon2idOptions } from 'keymint';
 * const stronger: Argon2idOptions = { memoryCost: 47_104, timeCost: 1 };
 * ```
 */
export interface Argon2idOptions {
  /** KiB of memory. Default 256. */
  memoryCost?: number;
  /** Iterations. Default 8. */
  timeCost?: number;
  /** Lanes. Default 1. */
  parallelism?: number;
}

/**
 * The default argon2id parameters for keys: 256 KiB, 8 iterations, 1 lane, about 1.5 ms of CPU
 * per verify. A key's secret is 166 bits from a CSPRNG: a guess costs nothing less than 2^165
 * tries on average whatever the parameters, so they only set what every verification costs the
 * server. 256 KiB stays in a core's own L2 cache on current server CPUs (512 KiB to 2 MiB), so
 * verifications on several cores at once need not compete for the shared cache and memory; the
 * 8 passes keep the work of one verification that of 2 MiB in one pass (the earlier default),
 * at less CPU (docs/security.md, "argon2id parameters for keys").
 *
 * @example
 * ```ts
 * import { ARGON2ID_KEY_PARAMETERS, argon2idHasher } from 'keymint';
 * const hasher = argon2idHasher({ ...ARGON2ID_KEY_PARAMETERS, timeCost: 16 });
 * ```
 */
export const ARGON2ID_KEY_PARAMETERS: Readonly<Required<Argon2idOptions>> = Object.freeze({
  memoryCost: 256,
  timeCost: 8,
  parallelism: 1,
});

/**
 * OWASP's first recommendation for passwords: 19 MiB, 2 iterations, 1 lane (keymint's earlier
 * default). About 15 to 30 times the cost of {@link ARGON2ID_KEY_PARAMETERS} per verification, for
 * no gain with random keys; for hosts whose policy names these parameters.
 *
 * @example
 * ```ts
 * import { ARGON2ID_OWASP_PARAMETERS, argon2idHasher } from 'keymint';
 * const hasher = argon2idHasher(ARGON2ID_OWASP_PARAMETERS);
 * ```
 */
export const ARGON2ID_OWASP_PARAMETERS: Readonly<Required<Argon2idOptions>> = Object.freeze({
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
});

type Argon2Module = typeof import('argon2');
let argon2Module: Promise<Argon2Module> | undefined;
/** The module once loaded: a verification then reaches the thread pool without a promise hop. */
let argon2Loaded: Argon2Module | undefined;
// Loaded on first use, so a host that plugs in another hasher never loads the native addon.
const loadArgon2 = () =>
  (argon2Module ??= import('argon2').then(
    (m) => (argon2Loaded = (m as { default?: Argon2Module }).default ?? m),
  ));

function boundedInt(
  value: number | undefined,
  fallback: number,
  what: string,
  max: number,
): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new KeymintError('CONFIG', `argon2id ${what} must be a whole number from 1 to ${max}.`);
  }
  return value;
}

const ARGON2ID_PHC = /^\$argon2id\$v=(\d+)\$m=(\d+),(?:t=(\d+),p=(\d+)|p=(\d+),t=(\d+))\$/;

/**
 * The default hasher: argon2id through the `argon2` package, with
 * {@link ARGON2ID_KEY_PARAMETERS} unless given others (pass {@link ARGON2ID_OWASP_PARAMETERS}
 * for OWASP's password parameters). A verify costs about 1.5 ms of CPU with the defaults (25 to
 * 50 ms with OWASP's) on the 2-core Intel Xeon test machine (`npm run bench`); it runs on libuv's
 * thread pool, not on the event loop. Hashes are written as standard PHC strings
 * (`$argon2id$v=19$m=256,t=8,p=1$salt$hash`); a stored hash made with other parameters still
 * verifies, and is replaced after its next successful verification (`needsRehash`).
 *
 * @example
 * ```ts
 * import { argon2idHasher, createKeymint } from 'keymint';
 * import { memoryAdapter } from 'keymint/adapters/memory';
 *
 * const keymint = createKeymint({
 *   adapter: memoryAdapter(),
 *   hasher: argon2idHasher({ memoryCost: 47_104, timeCost: 1 }),
 * });
 * ```
 */
export function argon2idHasher(options: Argon2idOptions = {}): Hasher {
  const UINT32_MAX = 2 ** 32 - 1;
  const defaults = ARGON2ID_KEY_PARAMETERS;
  const parallelism = boundedInt(
    options.parallelism,
    defaults.parallelism,
    'parallelism',
    2 ** 24 - 1,
  );
  const params = {
    memoryCost: boundedInt(options.memoryCost, defaults.memoryCost, 'memoryCost (KiB)', UINT32_MAX),
    timeCost: boundedInt(options.timeCost, defaults.timeCost, 'timeCost', UINT32_MAX),
    parallelism,
  };
  if (params.memoryCost < 8 * parallelism) {
    throw new KeymintError(
      'CONFIG',
      `argon2id memoryCost must be at least 8 KiB per lane (${8 * parallelism} for parallelism ${parallelism}).`,
    );
  }
  return {
    async hash(secret) {
      const argon2 = argon2Loaded ?? (await loadArgon2());
      const encoded = await argon2.hash(secret, { ...params, type: argon2.argon2id });
      // argon2 0.45 writes m,p,t; the PHC format (and every other argon2 library) wants m,t,p.
      return encoded.replace(
        /^(\$argon2id\$v=\d+\$)m=(\d+),p=(\d+),t=(\d+)\$/,
        '$1m=$2,t=$4,p=$3$',
      );
    },
    async verify(hash, secret) {
      if (!hash.startsWith('$argon2')) return false;
      // Without an await when loaded: in a burst of queued verifications, the next one reaches
      // the thread pool as soon as a slot frees, not after every other queued continuation.
      const argon2 = argon2Loaded ?? (await loadArgon2());
      return argon2.verify(hash, secret);
    },
    needsRehash(hash) {
      const match = ARGON2ID_PHC.exec(hash);
      if (!match) return true;
      const [, version, m, t1, p1, p2, t2] = match;
      return (
        Number(version) !== 19 ||
        Number(m) !== params.memoryCost ||
        Number(t1 ?? t2) !== params.timeCost ||
        Number(p1 ?? p2) !== params.parallelism
      );
    },
  };
}

/**
 * A keyed SHA-256 hasher (HMAC-SHA-256 with a server-side secret). Verification costs
 * microseconds instead of argon2's tens of milliseconds. Keys carry 166 bits from a CSPRNG, so
 * no dictionary or brute-force attack applies; the HMAC secret keeps a stolen database from being
 * checked offline at all. Use it when every request verifies a key and argon2's cost is too high;
 * keep the secret out of the database (an environment variable or a secret manager).
 *
 * @param secret At least 32 bytes (a string of 32+ characters, or a Buffer).
 *
 * @example
 * ```ts
 * import { createKeymint, hmacSha256Hasher } from 'keymint';
 * import { memoryAdapter } from 'keymint/adapters/memory';
 *
 * const keymint = createKeymint({
 *   adapter: memoryAdapter(),
 *   hasher: hmacSha256Hasher(process.env.KEYMINT_HMAC_SECRET!),
 * });
 * ```
 */
export function hmacSha256Hasher(secret: string | Uint8Array): Hasher {
  const keyBytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : Buffer.from(secret);
  if (keyBytes.length < 32) {
    throw new KeymintError(
      'CONFIG',
      'hmacSha256Hasher needs a secret of at least 32 bytes; generate one with `openssl rand -base64 48`.',
    );
  }
  const PREFIX = 'hmac-sha256:';
  const digest = hmacSha256(keyBytes);
  // Both sides of the compare, kept for the purpose: no allocation per verification.
  const stored = Buffer.alloc(DIGEST);
  const actual = Buffer.alloc(DIGEST);
  const verifySync = (hash: string, value: string): boolean => {
    if (!hash.startsWith(PREFIX)) return false;
    const mac = digest(value, 'base64url');
    // The spelling hash() writes, compared in constant time (every character, no early exit):
    // no buffer is written on the common path.
    if (hash.length === PREFIX.length + mac.length) {
      let diff = 0;
      for (let i = 0; i < mac.length; i++) {
        diff |= hash.charCodeAt(PREFIX.length + i) ^ mac.charCodeAt(i);
      }
      if (diff === 0) return true;
    }
    // Any other spelling of the same 32 bytes (base64 with + and /, padding) still matches.
    const encoded = hash.slice(PREFIX.length);
    // Every byte of `stored` written anew, or no match: nothing of an earlier compare counts.
    if (Buffer.byteLength(encoded, 'base64url') !== DIGEST) return false;
    if (stored.write(encoded, 0, DIGEST, 'base64url') !== DIGEST) return false;
    actual.write(mac, 0, DIGEST, 'base64url');
    return timingSafeEqual(stored, actual);
  };
  const hasher: Hasher = {
    fast: true,
    async hash(value) {
      return PREFIX + digest(value, 'base64url');
    },
    async verify(hash, value) {
      return verifySync(hash, value);
    },
    needsRehash(hash) {
      return !hash.startsWith(PREFIX);
    },
  };
  // keymint's verification calls it directly: no promise, no deadline (it is CPU work only).
  return attachTwin(hasher, VERIFY_SYNC, 'verify', verifySync);
}

const BLOCK = 64;
const DIGEST = 32;
/** Values up to this many UTF-8 bytes are hashed in a buffer kept for the purpose. */
const SCRATCH = 256;

type OneShot = (algorithm: string, data: Uint8Array, encoding: 'binary' | 'base64url') => string;

/**
 * HMAC-SHA-256 (RFC 2104) with the key's inner and outer pads computed once: two one-shot
 * SHA-256 calls per message, into buffers kept for the purpose, instead of an Hmac object that
 * takes the key again each time. Before Node 20.12 (no `crypto.hash`), Node's Hmac.
 */
export function hmacSha256(
  keyBytes: Buffer,
): (value: string, encoding: 'binary' | 'base64url') => string {
  if (typeof crypto.hash !== 'function') {
    return (value, encoding) =>
      createHmac('sha256', keyBytes).update(value, 'utf8').digest(encoding);
  }
  const hash = crypto.hash as OneShot;
  const key = Buffer.alloc(BLOCK);
  if (keyBytes.length > BLOCK) key.write(hash('sha256', keyBytes, 'binary'), 'latin1');
  else keyBytes.copy(key);
  const inner = Buffer.allocUnsafe(BLOCK + SCRATCH);
  const outer = Buffer.allocUnsafe(BLOCK + DIGEST);
  for (let i = 0; i < BLOCK; i++) {
    inner[i] = key[i]! ^ 0x36;
    outer[i] = key[i]! ^ 0x5c;
  }
  key.fill(0);
  /** `inner` cut at each message length met so far: no view made per call. */
  const views: Buffer[] = [];
  return (value, encoding) => {
    let message = inner;
    if (value.length * 3 > SCRATCH && Buffer.byteLength(value, 'utf8') > SCRATCH) {
      message = Buffer.allocUnsafe(BLOCK + Buffer.byteLength(value, 'utf8'));
      inner.copy(message, 0, 0, BLOCK);
    }
    const end = BLOCK + message.write(value, BLOCK, 'utf8');
    const view = message === inner ? (views[end] ??= inner.subarray(0, end)) : message;
    const innerDigest = hash('sha256', view, 'binary');
    // The secret does not stay behind in the buffer.
    message.fill(0, BLOCK, end);
    outer.write(innerDigest, BLOCK, DIGEST, 'latin1');
    return hash('sha256', outer, encoding);
  };
}
