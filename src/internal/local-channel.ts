import type { InvalidationListener, Subscription } from '../adapter.js';

/**
 * Invalidations within one process, for a store that lives in it (memory): every adapter over the
 * same store object shares one channel.
 */
export interface LocalChannel {
  publish(id: string): void;
  subscribe(listener: InvalidationListener): Promise<Subscription>;
}

export function localChannel(): LocalChannel {
  const listeners = new Set<InvalidationListener>();
  return {
    publish(id) {
      for (const listener of listeners) {
        try {
          listener.invalidate(id);
        } catch {
          // A listener's failure is its own; the change already happened.
        }
      }
    },
    async subscribe(listener) {
      // Wrapped, so that close() removes exactly this subscription even for a shared listener.
      const own: InvalidationListener = {
        invalidate: (id) => listener.invalidate(id),
        reset: () => listener.reset(),
      };
      listeners.add(own);
      return {
        async close() {
          listeners.delete(own);
        },
      };
    },
  };
}
