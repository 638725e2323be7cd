import { performance } from 'node:perf_hooks';

/**
 * Where a test clock's `now` function carries its monotonic reading, so that `now: clock.now`
 * drives both of keymint's clocks. Not public: hosts' own `now` functions leave intervals to
 * `performance.now()`.
 */
export const MONOTONIC = Symbol.for('keymint.monotonic');

type WithMonotonic = { [MONOTONIC]?: unknown };

/** The monotonic clock (ms) that goes with this `now` option. */
export function monotonicFor(now: (() => Date) | undefined): () => number {
  const attached = (now as WithMonotonic | undefined)?.[MONOTONIC];
  if (typeof attached === 'function') return attached as () => number;
  return () => performance.now();
}
