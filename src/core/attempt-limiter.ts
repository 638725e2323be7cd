interface Window {
  /** Wrong secrets seen in this window. */
  failures: number;
  /** Attempts that passed the check and are still being verified. */
  pending: number;
  resetAt: number;
}

/**
 * Counts wrong secrets per key id in fixed windows. Once an id has had `failures` wrong secrets
 * within `windowMs`, it is blocked until that window ends: further attempts are refused without
 * a hash, so a leaked id cannot be used to burn the server's CPU. Attempts in progress count
 * against the limit too, so a burst of concurrent guesses cannot slip past it. Memory is bounded:
 * past `maxTracked` ids the oldest window is forgotten.
 */
export class AttemptLimiter {
  private readonly windows = new Map<string, Window>();

  constructor(
    readonly failures: number,
    readonly windowMs: number,
    readonly maxTracked = 100_000,
  ) {}

  /** True when this id has used up its wrong secrets for the current window. */
  blocked(id: string, nowMs: number): boolean {
    const window = this.current(id, nowMs);
    return window !== undefined && window.failures >= this.failures;
  }

  /** How long until this id's window ends, in ms (at least 1). */
  retryAfter(id: string, nowMs: number): number {
    const window = this.windows.get(id);
    return Math.max(1, window ? window.resetAt - nowMs : this.windowMs);
  }

  /** Reserves an attempt; `false` when the id's failures plus attempts in progress reach the limit. */
  begin(id: string, nowMs: number): boolean {
    let window = this.current(id, nowMs);
    if (window === undefined) {
      if (this.windows.size >= this.maxTracked) this.dropOldest(nowMs);
      window = { failures: 0, pending: 0, resetAt: nowMs + this.windowMs };
      this.windows.set(id, window);
    }
    if (window.failures + window.pending >= this.failures) return false;
    window.pending++;
    return true;
  }

  /** Ends an attempt begun with {@link begin}; `wrong` counts it as a failure. */
  end(id: string, wrong: boolean, nowMs: number): void {
    const window = this.windows.get(id);
    if (window === undefined) {
      if (wrong) this.windows.set(id, { failures: 1, pending: 0, resetAt: nowMs + this.windowMs });
      return;
    }
    if (window.pending > 0) window.pending--;
    if (wrong) window.failures++;
    else if (window.failures === 0 && window.pending === 0) this.windows.delete(id);
  }

  private current(id: string, nowMs: number): Window | undefined {
    const window = this.windows.get(id);
    if (window === undefined) return undefined;
    if (nowMs < window.resetAt) return window;
    if (window.pending === 0) {
      this.windows.delete(id);
      return undefined;
    }
    // A new window while attempts from the old one are still in progress.
    window.failures = 0;
    window.resetAt = nowMs + this.windowMs;
    return window;
  }

  private dropOldest(nowMs: number): void {
    // Insertion order is window start order: expired windows sit at the front.
    for (const [id, window] of this.windows) {
      this.windows.delete(id);
      if (window.resetAt > nowMs) return;
    }
  }
}
