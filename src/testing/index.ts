/**
 * Test helpers for adapter authors and for hosts' own test suites. **Test-only**: nothing here
 * belongs in production code. vitest is an optional peer dependency of this entry point.
 *
 * ```sh
 * npm install --save-dev vitest
 * ```
 *
 * - {@link describeAdapterConformance}: the adapter conformance suite every keymint adapter
 *   passes, for an adapter you write (as `@keyv/test-suite` is for keyv stores).
 * - {@link createTestKeymint} and {@link createTestClock}: a ready keymint on the memory adapter
 *   with a fast hasher and a clock you move by hand, to assert your own key rules cheaply.
 *
 * @example
 * ```ts
 * import { describeAdapterConformance, createTestKeymint } from 'keymint/testing';
 * import { memoryAdapter } from 'keymint/adapters/memory';
 *
 * describeAdapterConformance({ name: 'memory', createAdapter: () => memoryAdapter() });
 * const { keymint, clock } = createTestKeymint();
 * ```
 *
 * @module
 */
export {
  describeAdapterConformance,
  CONFORMANCE_GROUPS,
  type AdapterConformanceOptions,
  type ConformanceGroup,
} from './conformance.js';
export { createTestClock, type TestClock } from './clock.js';
export { createTestKeymint, type TestKeymint } from './test-keymint.js';
