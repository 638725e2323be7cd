/** What {@link HashLimiter.run} resolves to when the queue is full: no work was started. */
export const BUSY = Symbol('busy');

/**
 * Bounds slow hashing (argon2 runs on libuv's thread pool, which file and DNS work share): at
 * most `concurrency` operations run at once and at most `queue` wait; past that, `run` answers
 * {@link BUSY} at once instead of piling up memory and latency.
 */
export class HashLimiter {
  private running = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(
    readonly concurrency: number,
    readonly queue: number,
  ) {}

  async run<T>(task: () => Promise<T>): Promise<T | typeof BUSY> {
    if (this.running >= this.concurrency) {
      if (this.waiting.length >= this.queue) return BUSY;
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    } else {
      this.running++;
    }
    try {
      return await task();
    } finally {
      // Hand the slot straight to the next waiter, or give it back.
      const next = this.waiting.shift();
      if (next) next();
      else this.running--;
    }
  }
}
