import { KeymintError } from '../errors.js';
import { parseTtl, type TtlInput } from '../core/ttl.js';

/**
 * A clock a test moves by hand; pass `clock.now` as keymint's `now` option. Test-only.
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
  /** Moves the clock forward (or back, when negative) by this many milliseconds. */
  advance(ms: number): void;
  /** Moves the clock forward by a time to live in keymint's syntax: `'90s'`, `'1h'`, `'30d'`. */
  advanceBy(ttl: TtlInput): void;
  /** Sets the clock to an instant. */
  set(at: Date | number): void;
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
  const move = (to: number) => {
    current = instant(to, 'The test clock');
  };
  return {
    now: () => new Date(current),
    advance: (ms) => {
      if (typeof ms !== 'number') {
        throw new KeymintError(
          'INVALID_INPUT',
          'advance() takes milliseconds; use advanceBy() for "1h".',
        );
      }
      move(current + ms);
    },
    advanceBy: (ttl) => move(current + parseTtl(ttl, { max: '36500d' }) * 1000),
    set: (at) => move(instant(at, 'The time set on a test clock')),
  };
}
