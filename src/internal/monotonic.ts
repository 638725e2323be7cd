import { performance } from 'node:perf_hooks';

/**
 * Where a test clock's `now` function carries its monotonic reading, so that `now: clock.now`
 * drives both of keymint's clocks. Not public: hosts' own `now` functions leave intervals to
 * `performance.now()`.
 */
export const MONOTONIC = Symbol.for('keymint.monotonic');

type WithMonotonic = { [MONOTONIC]?: unknown };

/**
 * Whether this `now` option's wall clock moves with its monotonic clock (the default clocks, or a
 * test clock that carries its monotonic reading), so that a wall time can be projected forward
 * from a monotonic one between two reads of the wall clock. A host's own `now` may jump freely.
 */
export function wallFollowsMonotonic(now: (() => Date) | undefined): boolean {
  return now === undefined || typeof (now as WithMonotonic)[MONOTONIC] === 'function';
}

/** The monotonic clock (ms) that goes with this `now` option. */
export function monotonicFor(now: (() => Date) | undefined): () => number {
  const attached = (now as WithMonotonic | undefined)?.[MONOTONIC];
  if (typeof attached === 'function') return attached as () => number;
  return () => performance.now();
}
