/**
 * Synchronous twins of public async methods, for keymint's own hot path. An adapter over a
 * synchronous driver (better-sqlite3, memory) or a hasher that is plain CPU work (HMAC) attaches
 * the synchronous function its async method wraps; the core then calls it directly, without a
 * promise per call or a deadline timer that could never fire before a synchronous call returns.
 *
 * The twin is a non-enumerable property under a `Symbol.for` key (so the ESM and CommonJS builds
 * and the CLI bundle agree) and names the async method it stands for: a host that replaces that
 * method, or copies the object with spread, gets its own method called, never the twin.
 */
interface Twin<F> {
  readonly of: unknown;
  readonly run: F;
}

export const FIND_BY_ID_SYNC = Symbol.for('keymint.internal.findByIdSync');
export const VERIFY_SYNC = Symbol.for('keymint.internal.verifySync');

/** Attaches `run` to `target` as the twin of `target[method]`; returns `target`. */
export function attachTwin<T extends object, F>(
  target: T,
  key: symbol,
  method: keyof T,
  run: F,
): T {
  const twin: Twin<F> = { of: target[method], run };
  Object.defineProperty(target, key, { value: twin });
  return target;
}

/** The twin of `target[method]`, when it still has the method the twin was made for. */
export function twinOf<F>(target: object, key: symbol, method: string): F | undefined {
  let twin: Twin<F> | undefined;
  try {
    twin = (target as Record<symbol, Twin<F> | undefined>)[key];
  } catch {
    return undefined; // A Proxy that throws: use its methods as they are.
  }
  if (twin === undefined || typeof twin.run !== 'function') return undefined;
  return (target as Record<string, unknown>)[method] === twin.of ? twin.run : undefined;
}
