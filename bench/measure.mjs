// Measurement helpers: tinybench tasks that time a batch of calls and report the mean per call,
// medians and percentiles.
import { Bench } from 'tinybench';

export const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/** The p-th percentile (0..100) of the first `count` values, nearest rank. */
export function percentile(values, p, count = values.length) {
  if (count === 0) return NaN;
  const sorted = Float64Array.from(values.subarray ? values.subarray(0, count) : values).sort();
  const rank = Math.min(count - 1, Math.max(0, Math.ceil((p / 100) * count) - 1));
  return sorted[rank];
}

/**
 * Calls `call` until `budgetMs` has passed (at least twice) and returns how many calls make one
 * sample of about `sampleUs` microseconds: 1 for slow operations, up to 1000 for fast ones. Also
 * serves as a first warm-up.
 */
export async function calibrate(subject, { budgetMs = 30, sampleUs = 100 } = {}) {
  const { call, check, sync } = subject;
  let calls = 0;
  const start = performance.now();
  while (calls < 2 || performance.now() - start < budgetMs) {
    check(sync ? call() : await call());
    calls++;
  }
  const perCallUs = ((performance.now() - start) * 1000) / calls;
  return Math.max(1, Math.min(1000, Math.ceil(sampleUs / perCallUs)));
}

/**
 * A tinybench task function that runs `batch` calls back to back (each awaited, unless the
 * subject is synchronous), checks each result, and reports the mean per call as the sample.
 * Timing a batch keeps tinybench's own per-iteration cost (timer, await, bookkeeping) out of
 * sub-microsecond figures; it applies to every row alike.
 */
function batchTask(subject, batch) {
  const { call, check, sync, afterBatch } = subject;
  if (sync) {
    return () => {
      const start = performance.now();
      for (let i = 0; i < batch; i++) check(call());
      const elapsed = performance.now() - start;
      afterBatch?.();
      return { overriddenDuration: elapsed / batch, overriddenIterationCost: elapsed };
    };
  }
  return async () => {
    const start = performance.now();
    for (let i = 0; i < batch; i++) check(await call());
    const elapsed = performance.now() - start;
    await afterBatch?.();
    return { overriddenDuration: elapsed / batch, overriddenIterationCost: elapsed };
  };
}

/** Runs one subject through tinybench once and returns its median sample in nanoseconds. */
export async function measureOnce(subject, batch, { timeMs, warmupMs }) {
  const bench = new Bench({
    time: timeMs,
    warmupTime: warmupMs,
    iterations: 5,
    warmupIterations: 2,
    throws: true,
  });
  bench.add('subject', batchTask(subject, batch), { async: !subject.sync });
  await bench.run();
  const { result } = bench.tasks[0];
  if (!('latency' in result)) throw new Error(`tinybench: ${result.state}`);
  return result.latency.p50 * 1e6;
}

/** A row's worker thread (bench/worker.mjs), driven one request at a time; one per round. */
export class SubjectWorker {
  static async start(descriptor) {
    const { Worker } = await import('node:worker_threads');
    const worker = new Worker(new URL('./worker.mjs', import.meta.url), {
      workerData: { id: descriptor.id },
    });
    const self = new SubjectWorker(descriptor, worker);
    const ready = await self.#next();
    self.batch = ready.batch;
    self.note = ready.note;
    return self;
  }

  constructor(descriptor, worker) {
    this.descriptor = descriptor;
    this.worker = worker;
  }

  /** The next message of the expected kinds; rejects on an error message or an early exit. */
  #next() {
    return new Promise((resolve, reject) => {
      const onMessage = (message) => {
        done();
        if (message.type === 'error') {
          reject(new Error(`${this.descriptor.name}: ${message.message}`));
        } else resolve(message);
      };
      const onError = (error) => {
        done();
        reject(new Error(`${this.descriptor.name}: ${error.stack ?? error}`));
      };
      const onExit = (code) => {
        done();
        reject(new Error(`${this.descriptor.name}: worker exited with code ${code}`));
      };
      const done = () => {
        this.worker.off('message', onMessage);
        this.worker.off('error', onError);
        this.worker.off('exit', onExit);
      };
      this.worker.on('message', onMessage);
      this.worker.on('error', onError);
      this.worker.on('exit', onExit);
    });
  }

  /** One tinybench measurement in the worker: the median sample in nanoseconds. */
  async run(options) {
    this.worker.postMessage({ type: 'run', ...options });
    return (await this.#next()).ns;
  }

  /** Cleans up in the worker (instances, clients, temp files), then ends it. */
  async close() {
    let timer;
    try {
      this.worker.postMessage({ type: 'close' });
      const timeout = new Promise((resolve) => (timer = setTimeout(resolve, 10_000)));
      await Promise.race([this.#next().catch(() => {}), timeout]);
    } finally {
      clearTimeout(timer);
      await this.worker.terminate();
    }
  }
}
