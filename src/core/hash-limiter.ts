/**
 * What {@link HashLimiter.run} resolves to when a task would wait too long, or the queue is at its
 * cap: no work was started. `retryAfterMs` is the estimated time for the work ahead to drain.
 */
export class Busy {
  constructor(readonly retryAfterMs: number) {}
}

/** The retry hint when nothing has been measured yet: the old fixed `Retry-After: 1`. */
const UNMEASURED_RETRY_MS = 1_000;
/** Weight of each new duration in the moving average: about the last ten hashes count. */
const SMOOTHING = 0.2;

/** How a {@link HashLimiter} bounds its queue. */
export interface HashLimiterOptions {
  /** At most this many tasks run at once. */
  concurrency: number;
  /** At most this many tasks wait (the memory bound). */
  maxQueue: number;
  /** A task whose estimated wait is longer is refused with {@link Busy}; ms. */
  maxWaitMs: number;
  /** The instance's clock, epoch ms: durations are differences of it. */
  now: () => number;
}

/**
 * Bounds slow hashing (argon2 runs on libuv's thread pool, which file and DNS work share): at
 * most `concurrency` tasks run at once; the others wait in a queue, in the order
 * {@link HashLimiter.enqueue} and {@link HashLimiter.dequeue} give them (first come, first
 * served here: the one place an ordering policy goes).
 *
 * A new task is refused with {@link Busy} at once when its estimated wait, the work ahead of it
 * times the moving average of measured task durations divided by `concurrency`, would exceed
 * `maxWaitMs`, or when `maxQueue` tasks already wait. Until a first task has finished there is
 * no average, and only the cap applies: a fresh process takes a burst up to the cap. (The time
 * the first task has been running is no lower bound of a hash: while a burst arrives, the event
 * loop sees no completion, so that time grows with the burst, not with the hash.)
 */
export class HashLimiter {
  private running = 0;
  private waitingCount = 0;
  /** Waiting tasks' start functions; consumed from `head`, compacted now and then. */
  private readonly queue: Array<() => void> = [];
  private head = 0;
  /** Moving average of task durations in ms; meaningful once `measured`. */
  private meanMs = 0;
  private measured = false;

  readonly concurrency: number;
  readonly maxQueue: number;
  readonly maxWaitMs: number;
  private readonly now: () => number;

  constructor(options: HashLimiterOptions) {
    this.concurrency = options.concurrency;
    this.maxQueue = options.maxQueue;
    this.maxWaitMs = options.maxWaitMs;
    this.now = options.now;
  }

  /** How many tasks wait (not counting those running). */
  get waiting(): number {
    return this.waitingCount;
  }

  /** The mean task duration in ms the estimate uses (0: nothing measured yet). */
  meanTaskMs(): number {
    return this.measured ? this.meanMs : 0;
  }

  /** The estimated wait, in ms, of a task queued now: the work ahead of it over the slots. */
  estimateWaitMs(): number {
    if (this.running < this.concurrency) return 0;
    return ((this.waiting + 1) * this.meanTaskMs()) / this.concurrency;
  }

  async run<T>(task: () => Promise<T>): Promise<T | Busy> {
    if (this.running < this.concurrency) {
      this.running++;
    } else {
      const waitMs = this.estimateWaitMs();
      if (this.waiting >= this.maxQueue || waitMs > this.maxWaitMs) {
        return new Busy(waitMs > 0 ? Math.ceil(waitMs) : UNMEASURED_RETRY_MS);
      }
      // The slot is handed over by the task that finishes (`running` stays counted).
      this.waitingCount++;
      await new Promise<void>((start) => this.enqueue(start));
    }
    const startedAt = this.now();
    try {
      return await task();
    } finally {
      this.record(this.now() - startedAt);
      const next = this.waitingCount > 0 ? this.dequeue() : undefined;
      if (next) {
        this.waitingCount--;
        next();
      } else {
        this.running--;
      }
    }
  }

  /** Ordering policy: adds a waiting task. */
  protected enqueue(start: () => void): void {
    this.queue.push(start);
  }

  /** Ordering policy: the waiting task to run next, or undefined when none waits. */
  protected dequeue(): (() => void) | undefined {
    if (this.head === this.queue.length) return undefined;
    const next = this.queue[this.head]!;
    this.queue[this.head++] = undefined as never;
    // Compact once the consumed half dominates: O(1) amortised, memory bounded by the cap.
    if (this.head >= 1_024 && this.head * 2 >= this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    } else if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    }
    return next;
  }

  private record(durationMs: number): void {
    // A clock set back (a test clock, a wall-clock step) gives no duration worth keeping.
    if (!(durationMs >= 0) || !Number.isFinite(durationMs)) return;
    if (this.measured) this.meanMs += SMOOTHING * (durationMs - this.meanMs);
    else {
      this.meanMs = durationMs;
      this.measured = true;
    }
  }
}
