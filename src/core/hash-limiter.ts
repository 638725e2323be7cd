import { FairQueue, MAX_WAITING_PER_ID, type Lane } from './fair-queue.js';

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
  /** The instance's monotonic clock, ms: durations are differences of it. */
  now: () => number;
  /**
   * The CPUs the tasks share (default: unbounded). With more tasks running than cores, each
   * runs slower: a duration is recorded as the time the task would have taken with a core of
   * its own, and the wait is estimated over `min(concurrency, cores)` lanes.
   */
  cores?: number;
}

/**
 * libuv's thread pool, read as libuv reads it: 4 threads without UV_THREADPOOL_SIZE, else its
 * `atoi()`, 0 (or no number) meaning 1, a negative number or one over 1,024 meaning 1,024.
 */
export function threadPoolSize(env: string | undefined = process.env.UV_THREADPOOL_SIZE): number {
  if (env === undefined) return 4;
  const size = Number.parseInt(env, 10) || 0;
  if (size === 0) return 1;
  return size < 0 || size > 1024 ? 1024 : size;
}

/**
 * keymint's default `hashing.concurrency` for a pool of `pool` threads on `cores` CPUs: one
 * more than the cores, so a core whose hash has finished runs another while the event loop hands
 * that thread its next hash (docs/performance.md, "Bounded hashing"); below the pool, so file
 * and DNS work keep a thread; one on a single CPU, where the event loop would lose its share.
 */
export function defaultHashConcurrency(pool: number, cores: number): number {
  const wanted = cores <= 1 ? 1 : cores + 1;
  return Math.max(1, Math.min(Math.floor(pool) - 1, wanted));
}

/**
 * Bounds slow hashing (argon2 runs on libuv's thread pool, which file and DNS work share): at
 * most `concurrency` tasks run at once; the others wait in a {@link FairQueue} (issue 14): keys
 * this process has proven first, then the scopes take turns, then the ids within a scope, and no
 * id holds more than {@link MAX_WAITING_PER_ID} places. A task run without a lane is a scope-less
 * task of its own (first come, first served among such tasks).
 *
 * A new task is refused with {@link Busy} at once when its estimated wait, the work ahead of
 * THIS task in the fair order times the moving average of measured task durations (each as if it
 * had had a core of its own) divided by `min(concurrency, cores)`, would exceed `maxWaitMs`; when its id already holds its places; or when
 * `maxQueue` tasks already wait and its scope holds its share (otherwise the scope holding the
 * most gives up its newest waiting task, which gets {@link Busy}). Until a first task has
 * finished there is no average, and only the cap applies: a fresh process takes a burst up to
 * the cap. (The time the first task has been running is no lower bound of a hash: while a burst
 * arrives, the event loop sees no completion, so that time grows with the burst, not the hash.)
 */
export class HashLimiter {
  private running = 0;
  /** Waiting tasks' start functions (`false`: refused after all, at the cap). */
  private readonly line = new FairQueue<(started: boolean) => void>();
  /** Ids for tasks run without a lane: each its own. */
  private anonymous = 0;
  /** Moving average of task durations in ms; meaningful once `measured`. */
  private meanMs = 0;
  private measured = false;

  readonly concurrency: number;
  readonly maxQueue: number;
  readonly maxWaitMs: number;
  private readonly now: () => number;
  private readonly cores: number;
  /** Tasks that make progress at once: `min(concurrency, cores)`. */
  private readonly lanes: number;

  constructor(options: HashLimiterOptions) {
    this.concurrency = options.concurrency;
    this.maxQueue = options.maxQueue;
    this.maxWaitMs = options.maxWaitMs;
    this.now = options.now;
    this.cores = options.cores ?? Number.POSITIVE_INFINITY;
    this.lanes = Math.min(this.concurrency, this.cores);
  }

  /** How many tasks wait (not counting those running). */
  get waiting(): number {
    return this.line.size;
  }

  /**
   * The mean task duration in ms the estimate uses, each as if the task had had a core of its
   * own (0: nothing measured yet).
   */
  meanTaskMs(): number {
    return this.measured ? this.meanMs : 0;
  }

  /**
   * The estimated wait, in ms, of a task queued now in this lane: the work ahead of it in the
   * fair order over the lanes (without a lane: behind everything that waits).
   */
  estimateWaitMs(lane?: Lane): number {
    if (this.running < this.concurrency) return 0;
    const place = lane ? this.line.positionOf(lane) : this.line.size + 1;
    return (place * this.meanTaskMs()) / this.lanes;
  }

  async run<T>(task: () => Promise<T>, lane?: Lane): Promise<T | Busy> {
    if (this.running < this.concurrency) {
      this.running++;
    } else {
      const own = lane ?? { scope: '', id: String(this.anonymous++ % Number.MAX_SAFE_INTEGER) };
      const waitMs = this.estimateWaitMs(own);
      if (this.line.idFull(own) || waitMs > this.maxWaitMs) return this.busy(waitMs);
      if (this.line.size >= this.maxQueue) {
        const evicted = this.maxQueue > 0 ? this.line.evictFor(own) : undefined;
        if (!evicted) return this.busy(waitMs);
        evicted(false);
      }
      // The slot is handed over by the task that finishes (`running` stays counted).
      const started = await new Promise<boolean>((start) => this.line.push(start, own));
      if (!started) return this.busy(this.estimateWaitMs(own));
    }
    const startedAt = this.now();
    try {
      return await task();
    } finally {
      // Of `running` tasks on fewer cores, each had min(running, cores) / running of a core.
      this.record(((this.now() - startedAt) * Math.min(this.running, this.cores)) / this.running);
      const next = this.line.shift();
      if (next) next(true);
      else this.running--;
    }
  }

  private busy(waitMs: number): Busy {
    return new Busy(waitMs > 0 ? Math.ceil(waitMs) : UNMEASURED_RETRY_MS);
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
