import type { KeyAdapter } from '../adapter.js';
import type { Hasher } from './hasher.js';
import { ADAPTER_METHODS } from '../schemas.js';

/** What a store or hasher call that did not answer in time rejects with (the `cause`). */
export class DeadlineError extends Error {
  constructor(what: string, ms: number) {
    super(`${what} did not answer within ${ms} ms`);
    this.name = 'DeadlineError';
  }
}

/**
 * Runs `call` and rejects with a {@link DeadlineError} once `ms` pass without an answer. The call
 * itself is abandoned, not stopped: its late answer is ignored. The timer does not keep the
 * process alive.
 */
export function withDeadline<T>(call: () => Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new DeadlineError(what, ms)), ms);
    timer.unref?.();
    const settle = () => clearTimeout(timer);
    let pending: Promise<T>;
    try {
      pending = call();
    } catch (error) {
      settle();
      reject(error);
      return;
    }
    Promise.resolve(pending).then(
      (value) => {
        settle();
        resolve(value);
      },
      (error: unknown) => {
        settle();
        reject(error);
      },
    );
  });
}

/** Every store method keymint calls: the required ones, then the optional ones. */
const STORE_METHODS = [
  ...ADAPTER_METHODS,
  'touchMany',
  'countLive',
  'modify',
  'revokeByOwner',
  'reserveFailure',
  'releaseFailure',
  'consumeUsage',
] as const;

/**
 * The adapter keymint calls: each method of `adapter` (called on it, so `this` holds) bounded by
 * `ms`, so that a store that never answers fails (STORE_FAILURE) instead of holding a single
 * flight, a create or a shutdown forever. `subscribe` is passed through: it resolves once the
 * listener is live, and the invalidation loop has its own retry.
 */
export function boundAdapter(adapter: KeyAdapter, ms: number): KeyAdapter {
  const bounded: Record<string, unknown> = {};
  for (const method of STORE_METHODS) {
    const inner = adapter[method] as ((...args: never[]) => Promise<unknown>) | undefined;
    if (typeof inner !== 'function') continue;
    bounded[method] = (...args: never[]) =>
      withDeadline(() => inner.apply(adapter, args), ms, `The key store's ${method}()`);
  }
  if (typeof adapter.subscribe === 'function') bounded.subscribe = adapter.subscribe.bind(adapter);
  return bounded as unknown as KeyAdapter;
}

/**
 * The hasher keymint calls: `hash` and `verify` bounded by `ms`. Inside the hashing queue a hung
 * call then gives its slot back at the deadline (HASHER_FAILURE) instead of holding it forever.
 */
export function boundHasher(hasher: Hasher, ms: number): Hasher {
  return {
    fast: hasher.fast,
    hash: (secret) => withDeadline(() => hasher.hash(secret), ms, "The hasher's hash()"),
    verify: (hash, secret) =>
      withDeadline(() => hasher.verify(hash, secret), ms, "The hasher's verify()"),
    ...(typeof hasher.needsRehash === 'function' && {
      needsRehash: (hash: string) => hasher.needsRehash!(hash),
    }),
  };
}
