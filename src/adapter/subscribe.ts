// The invalidation types of the adapter contract (re-exported by ../adapter.ts).
import type { KeyAdapter } from '../adapter.js';

/**
 * What {@link KeyAdapter.subscribe} calls. `invalidate` gets the id of a key that was revoked,
 * deleted, updated or rotated, by this process or another. `reset` means that messages may have been lost (the
 * connection dropped, or came back): the listener then forgets everything it cached.
 *
 * @example
 * ```ts
 * import type { InvalidationListener } from 'keymint';
 * const listener: InvalidationListener = {
 *   invalidate: (id) => cache.delete(id),
 *   reset: () => cache.clear(),
 * };
 * ```
 */
export interface InvalidationListener {
  invalidate(id: string): void;
  reset(): void;
}

/**
 * Options of {@link KeyAdapter.subscribe}.
 *
 * @example
 * ```ts
 * const controller = new AbortController();
 * const pending = adapter.subscribe?.(listener, { signal: controller.signal });
 * controller.abort(); // shutting down before it connected
 * ```
 */
export interface SubscribeOptions {
  /** Aborts a subscribe that has not resolved yet (the core aborts it in `keymint.close()`). */
  signal?: AbortSignal;
}

/**
 * A live {@link KeyAdapter.subscribe} listener. `close` stops it and releases its connection.
 *
 * @example
 * ```ts
 * const subscription = await adapter.subscribe?.(listener);
 * await subscription?.close();
 * ```
 */
export interface Subscription {
  close(): Promise<void>;
}
