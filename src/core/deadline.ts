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
 *
 * When the timer fires, the rejection waits one more turn of the event loop (`setImmediate`,
 * which runs after the I/O phase): after the loop was held up (a long synchronous task, a run of
 * microtasks), timers are due before the I/O that arrived meanwhile is read, and an answer that
 * is already there, from a socket or the thread pool, would otherwise lose to a deadline it met.
 * A call that has not answered still fails, in the turn its timer fires.
 */
export function withDeadline<T>(call: () => Promise<T>, ms: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let late: ReturnType<typeof setImmediate> | undefined;
    const timer = setTimeout(() => {
      // Not unref'd: an unref'd Immediate would let the loop sleep in the I/O phase until
      // something else woke it, so a hung call would fail late or never. This one exists only
      // once the timer has fired, and runs in that same turn.
      late = setImmediate(() => reject(new DeadlineError(what, ms)));
    }, ms);
    timer.unref?.();
    const settle = () => {
      clearTimeout(timer);
      if (late !== undefined) clearImmediate(late);
    };
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
