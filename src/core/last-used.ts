import type { KeyAdapter, LastUsedEntry } from '../adapter.js';

const MAX_BATCH = 500;
const UPDATE_CONCURRENCY = 8;

/**
 * Last-used writes, off the request path: verifications queue an id and a time; a timer flushes
 * the queue in batches (one `touchMany` call per 500 keys when the adapter has it, otherwise
 * `update` calls, a few at a time). A key queued twice before a flush is written once, with
 * the later time.
 */
export class LastUsedWriter {
  private pending = new Map<string, number>();
  private timer: ReturnType<typeof setTimeout> | ReturnType<typeof setImmediate> | undefined;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly adapter: KeyAdapter,
    private readonly delayMs: number,
    private readonly onError: (error: unknown, ids: readonly string[]) => void,
  ) {}

  queue(id: string, atMs: number): void {
    const queued = this.pending.get(id);
    if (queued === undefined || atMs > queued) this.pending.set(id, atMs);
    if (this.pending.size >= MAX_BATCH) this.flushSoon(true);
    else this.flushSoon(false);
  }

  /** Writes everything queued so far; resolves when those writes have finished. */
  flush(): Promise<void> {
    this.cancelTimer();
    const batch = this.pending;
    if (batch.size === 0) return this.flushing;
    this.pending = new Map();
    const previous = this.flushing;
    const run = previous.then(() => this.write(batch));
    this.flushing = run;
    return run;
  }

  private flushSoon(now: boolean): void {
    if (this.timer !== undefined && !now) return;
    this.cancelTimer();
    const fire = () => {
      this.timer = undefined;
      void this.flush();
    };
    if (now || this.delayMs === 0) {
      this.timer = setImmediate(fire);
    } else {
      this.timer = setTimeout(fire, this.delayMs);
    }
    // Pending last-used times never keep a process alive; close() flushes them.
    this.timer.unref?.();
  }

  private cancelTimer(): void {
    if (this.timer === undefined) return;
    clearTimeout(this.timer as ReturnType<typeof setTimeout>);
    clearImmediate(this.timer as ReturnType<typeof setImmediate>);
    this.timer = undefined;
  }

  private async write(batch: Map<string, number>): Promise<void> {
    const entries: LastUsedEntry[] = [...batch].map(([id, at]) => ({
      id,
      lastUsedAt: new Date(at),
    }));
    for (let start = 0; start < entries.length; start += MAX_BATCH) {
      const chunk = entries.slice(start, start + MAX_BATCH);
      if (this.adapter.touchMany) {
        try {
          await this.adapter.touchMany(chunk);
        } catch (error) {
          this.onError(
            error,
            chunk.map((entry) => entry.id),
          );
        }
        continue;
      }
      for (let i = 0; i < chunk.length; i += UPDATE_CONCURRENCY) {
        await Promise.all(
          chunk.slice(i, i + UPDATE_CONCURRENCY).map(async (entry) => {
            try {
              await this.adapter.update(entry.id, { lastUsedAt: entry.lastUsedAt });
            } catch (error) {
              this.onError(error, [entry.id]);
            }
          }),
        );
      }
    }
  }
}
