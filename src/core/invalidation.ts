import type { InvalidationListener, KeyAdapter, Subscription } from '../adapter.js';
import { KeymintError } from '../errors.js';

const FIRST_RETRY_MS = 1_000;
const MAX_RETRY_MS = 30_000;

/** A started listener: `close()` stops it, also while it is still connecting. */
export interface InvalidationHandle {
  close(): Promise<void>;
}

/**
 * Starts the adapter's invalidation listener for a verify cache. Until it is live, and whenever
 * it drops, `cache.ttl` is the bound; once it is live the cache is emptied (anything cached while
 * it was connecting may have missed a message). A start that fails is reported and retried with
 * backoff (1 s doubling to 30 s) until `close()`, which also aborts a start in progress.
 */
export function startInvalidation(
  subscribe: NonNullable<KeyAdapter['subscribe']>,
  listener: InvalidationListener,
  report: (error: unknown) => void,
  onLive: (subscription: Subscription) => void = () => {},
): InvalidationHandle {
  const controller = new AbortController();
  let retry: ReturnType<typeof setTimeout> | undefined;
  let live: { close(): Promise<void> } | undefined;

  const start = (delayMs: number) => {
    subscribe(listener, { signal: controller.signal }).then(
      (handle) => {
        if (controller.signal.aborted) return handle.close();
        live = handle;
        onLive(handle);
        listener.reset();
      },
      (error: unknown) => {
        if (controller.signal.aborted) return;
        report(
          new KeymintError(
            'STORE_FAILURE',
            'The key store could not start the invalidation listener; revocations by other processes are seen within cache.ttl until it starts. See the cause.',
            { cause: error },
          ),
        );
        retry = setTimeout(() => start(Math.min(delayMs * 2, MAX_RETRY_MS)), delayMs);
        retry.unref?.();
      },
    );
  };
  start(FIRST_RETRY_MS);

  return {
    async close() {
      controller.abort();
      clearTimeout(retry);
      const handle = live;
      live = undefined;
      await handle?.close();
    },
  };
}

/**
 * A listener that holds its target weakly, so that a subscription (kept by the adapter, often
 * with a connection of its own) never keeps a dropped keymint instance and its cache alive. The
 * target lives as long as the instance or any method taken from it. Once it is gone, the first
 * message closes the subscription.
 */
export function weakListener(target: InvalidationListener): {
  listener: InvalidationListener;
  bind(subscription: Subscription): void;
} {
  const ref = new WeakRef(target);
  let subscription: Subscription | undefined;
  const gone = () => {
    subscription?.close().catch(() => {});
    subscription = undefined;
  };
  return {
    listener: {
      invalidate(id) {
        const live = ref.deref();
        if (live) live.invalidate(id);
        else gone();
      },
      reset() {
        const live = ref.deref();
        if (live) live.reset();
        else gone();
      },
    },
    bind(live) {
      subscription = live;
    },
  };
}
