import { randomBytes } from 'node:crypto';
import { memoryAdapter } from '../adapters/memory/index.js';
import type { KeyAdapter } from '../adapter.js';
import { hmacSha256Hasher } from '../core/hasher.js';
import { createKeymint } from '../core/keymint.js';
import type { Keymint, KeymintOptions } from '../core/types.js';
import { createTestClock, type TestClock } from './clock.js';

/**
 * What {@link createTestKeymint} returns: the instance, its adapter and its clock.
 *
 * @example
 * ```ts
 * import { createTestKeymint, type TestKeymint } from 'keymint/testing';
 * const { keymint, adapter, clock }: TestKeymint = createTestKeymint();
 * ```
 */
export interface TestKeymint<Actor = unknown> {
  keymint: Keymint<Actor>;
  adapter: KeyAdapter;
  clock: TestClock;
}

/**
 * A ready keymint for a host's own test suite: a fresh memory adapter, a {@link TestClock}
 * starting now, and an HMAC-SHA-256 hasher with a random secret, so each create and verify takes
 * microseconds instead of argon2id's tens of milliseconds, and last-used times written on the
 * next turn of the event loop (`lastUsedDelayMs: 0`). **Test-only**: keys die with the
 * process, and the hasher's secret is thrown away. Any option may be overridden; when you pass
 * `now`, the returned clock is not used by the instance.
 *
 * @example
 * ```ts
 * import { expect, it } from 'vitest';
 * import { createTestKeymint } from 'keymint/testing';
 *
 * it('refuses a Viewer key on an admin route', async () => {
 *   const { keymint, clock } = createTestKeymint();
 *   const { key } = await keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
 *   expect(await keymint.verifyKey(key, { role: 'Admin' })).toEqual({
 *     valid: false,
 *     reason: 'insufficient_role',
 *   });
 *   clock.advanceBy('1h');
 *   expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'expired' });
 * });
 * ```
 */
export function createTestKeymint<Actor = unknown>(
  options: Partial<KeymintOptions<Actor>> = {},
): TestKeymint<Actor> {
  const clock = createTestClock();
  const adapter = options.adapter ?? memoryAdapter();
  const keymint = createKeymint<Actor>({
    hasher: hmacSha256Hasher(randomBytes(32)),
    now: clock.now,
    // Last-used times land on the next turn of the event loop, not a second later.
    lastUsedDelayMs: 0,
    ...options,
    adapter,
  });
  return { keymint, adapter, clock };
}
