import { KeymintError } from '../errors.js';
import { parseTtl, type TtlInput } from '../core/ttl.js';
import { MONOTONIC } from '../internal/monotonic.js';

/**
 * A clock a test moves by hand; pass `clock.now` as keymint's `now` option. Test-only.
 *
 * It drives both of keymint's clocks: the wall clock (`now()`), which decides a key's expiry,
 * and a monotonic clock, which measures intervals (cache freshness, the wrong-secret window, the
 * last-used interval) and, as a real one, never goes back. Moving forward moves both; moving
 * back (a negative `advance`, an earlier `set`) moves the wall clock only, as an NTP step would;
 * {@link TestClock.stepWall} moves the wall clock alone, either way.
 *
 * @example
 * ```ts
 * import { createTestClock } from 'keymint/testing';
 * const clock = createTestClock();
 * clock.advanceBy('1h');
 * ```
 */
export interface TestClock {
  /** The current instant, as a fresh `Date` each call. */
  now(): Date;
  /**
   * Moves the clock forward (or back, when negative) by this many milliseconds. The monotonic
   * clock moves forward with it, and stays where it is when the wall clock goes back.
   */
  advance(ms: number): void;
  /** Moves the clock forward by a time to live in keymint's syntax: `'90s'`, `'1h'`, `'30d'`. */
  advanceBy(ttl: TtlInput): void;
  /** Sets the wall clock to an instant (the monotonic clock moves forward only). */
  set(at: Date | number): void;
  /**
   * Steps the wall clock alone by this many milliseconds (negative: back), as an NTP correction
   * or an operator does; the monotonic clock, and so every interval keymint measures, does not
   * move.
   *
   * @example
   * ```ts
   * import { createTestClock } from 'keymint/testing';
   * const clock = createTestClock();
   * clock.stepWall(-3_600_000); // the wall clock jumps back an hour; cache.ttl still counts
   * ```
   */
  stepWall(ms: number): void;
  /** The monotonic reading in ms (it starts at 0): what keymint measures intervals on. */
  monotonic(): number;
}

function instant(at: Date | number, what: string): number {
  const ms = typeof at === 'number' ? at : at instanceof Date ? at.getTime() : Number.NaN;
  if (!Number.isFinite(ms) || Number.isNaN(new Date(ms).getTime())) {
    throw new KeymintError('INVALID_INPUT', `${what} must be a valid Date or epoch milliseconds.`);
  }
  return ms;
}

/**
 * Creates a {@link TestClock} starting at `start` (default: the real time when called). Test-only:
 * it never moves by itself.
 *
 * @example
 * ```ts
 * import { createKeymint } from 'keymint';
 * import { memoryAdapter } from 'keymint/adapters/memory';
 * import { createTestClock } from 'keymint/testing';
 *
 * const clock = createTestClock();
 * const keymint = createKeymint({ adapter: memoryAdapter(), now: clock.now });
 * const { key } = await keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
 * clock.advanceBy('1h');
 * await keymint.verifyKey(key); // { valid: false, reason: 'expired' }
 * ```
 */
export function createTestClock(start: Date | number = Date.now()): TestClock {
  let current = instant(start, 'The start of a test clock');
  let mono = 0;
  const move = (to: number, monotonic = true) => {
    const next = instant(to, 'The test clock');
    if (monotonic && next > current) mono += next - current;
    current = next;
  };
  const milliseconds = (ms: unknown, what: string) => {
    if (typeof ms !== 'number') {
      throw new KeymintError(
        'INVALID_INPUT',
        `${what} takes milliseconds; use advanceBy() for "1h".`,
      );
    }
    return ms;
  };
  const monotonic = () => mono;
  const now = Object.assign(() => new Date(current), { [MONOTONIC]: monotonic });
  return {
    now,
    advance: (ms) => move(current + milliseconds(ms, 'advance()')),
    advanceBy: (ttl) => move(current + parseTtl(ttl, { max: '36500d' }) * 1000),
    set: (at) => move(instant(at, 'The time set on a test clock')),
    stepWall: (ms) => move(current + milliseconds(ms, 'stepWall()'), false),
    monotonic,
  };
}
