import { afterEach, beforeEach, describe } from 'vitest';
import type { KeyAdapter, StoredApiKey } from '../adapter.js';
import { generateKeyId } from '../core/key-format.js';
import { KeymintError } from '../errors.js';
import { changesGroups } from './groups/changes.js';
import { failureGroups } from './groups/failures.js';
import { lifeCycleGroup } from './groups/life-cycle.js';
import { listingGroups } from './groups/listing.js';
import { modifyGroups } from './groups/modify.js';
import { optionalGroups } from './groups/optional.js';
import { recordGroups } from './groups/records.js';
import { ownerGroups } from './groups/owners.js';
import { rotationGroup } from './groups/rotation.js';
import { usageGroups } from './groups/usage.js';

/**
 * The groups of {@link describeAdapterConformance}, each a vitest `describe` that `skip` can
 * switch off by name.
 *
 * @example
 * ```ts
 * import { CONFORMANCE_GROUPS } from 'keymint/testing';
 * console.log(CONFORMANCE_GROUPS.join(', '));
 * ```
 */
export const CONFORMANCE_GROUPS = [
  'insert and find',
  'not found',
  'scopes',
  'unique names',
  'list',
  'paging',
  'update',
  'delete',
  'purge',
  'life cycle',
  'touch many',
  'invalidation',
  'count live',
  'modify',
  'rotation',
  'owners',
  'revoke by owner',
  'failure counter',
  'rate limit',
  'credits',
] as const;

/**
 * A group name of the conformance suite.
 *
 * @example
 * ```ts
 * import type { ConformanceGroup } from 'keymint/testing';
 * const slow: ConformanceGroup = 'paging';
 * ```
 */
export type ConformanceGroup = (typeof CONFORMANCE_GROUPS)[number];

/**
 * Options of {@link describeAdapterConformance}.
 *
 * @example
 * ```ts
 * import type { AdapterConformanceOptions } from 'keymint/testing';
 * import { memoryAdapter } from 'keymint/adapters/memory';
 * const options: AdapterConformanceOptions = { name: 'memory', createAdapter: () => memoryAdapter() };
 * ```
 */
export interface AdapterConformanceOptions {
  /** Shown in the test titles: `keymint adapter conformance: <name>`. */
  name: string;
  /** Called before each test; must return an adapter over an **empty** store. */
  createAdapter: () => KeyAdapter | Promise<KeyAdapter>;
  /** Called after each test with that test's adapter: close connections, drop data. */
  cleanup?: (adapter: KeyAdapter) => void | Promise<void>;
  /** Groups to leave out, by name (see {@link CONFORMANCE_GROUPS}); they show as skipped. */
  skip?: readonly ConformanceGroup[];
  /**
   * Timeout of the slow tests (10,000 keys, 50 concurrent inserts or renames), in ms. Default
   * 120,000.
   */
  slowTimeout?: number;
}

/** What each group gets: the current test's adapter and a record factory. */
export interface SuiteContext {
  adapter(): KeyAdapter;
  record(overrides?: Partial<StoredApiKey>): StoredApiKey;
  /** A millisecond-precise instant near the real time, fixed per test (Redis expires by it). */
  now(): number;
  slowTimeout: number;
}

export type GroupBody = (context: SuiteContext) => void;

/**
 * Registers the adapter conformance suite: vitest `describe`/`it` groups that check every rule of
 * the {@link KeyAdapter} contract against a real store, and the full life cycle of a key through
 * `createKeymint`. Call it at the top level of a test file; vitest is an optional peer dependency.
 * Every adapter keymint ships runs it, the memory adapter included.
 *
 * @example
 * ```ts
 * // test/my-adapter.test.ts
 * import { describeAdapterConformance } from 'keymint/testing';
 * import { myAdapter } from '../src/my-adapter.js';
 *
 * describeAdapterConformance({
 *   name: 'my-adapter',
 *   createAdapter: async () => {
 *     await db.truncate('keymint_api_keys');
 *     return myAdapter(db);
 *   },
 *   skip: ['paging'], // only while developing: it inserts 10,000 keys
 * });
 * ```
 */
export function describeAdapterConformance(options: AdapterConformanceOptions): void {
  if (typeof options?.createAdapter !== 'function' || typeof options.name !== 'string') {
    throw new KeymintError(
      'CONFIG',
      'describeAdapterConformance() needs { name, createAdapter } where createAdapter returns a fresh adapter.',
    );
  }
  const skip = new Set<string>(options.skip ?? []);
  for (const group of skip) {
    if (!(CONFORMANCE_GROUPS as readonly string[]).includes(group)) {
      throw new KeymintError(
        'CONFIG',
        `Unknown conformance group ${JSON.stringify(group)}: the groups are ${CONFORMANCE_GROUPS.join(', ')}.`,
      );
    }
  }

  let current: KeyAdapter | undefined;
  let base = 0;
  const context: SuiteContext = {
    adapter: () => {
      if (!current) throw new Error('No adapter: createAdapter() has not run for this test.');
      return current;
    },
    now: () => base,
    record: (overrides = {}) => ({
      id: generateKeyId(),
      name: `key ${generateKeyId()}`,
      role: 'Viewer',
      scope: 'default',
      secretHash: `hash-${generateKeyId()}`,
      createdAt: new Date(base),
      expiresAt: new Date(base + 3_600_000),
      lastUsedAt: null,
      revokedAt: null,
      metadata: null,
      ttlSeconds: 3_600,
      previousSecretHash: null,
      previousSecretExpiresAt: null,
      rotatedAt: null,
      owner: null,
      permissions: null,
      limits: null,
      ...overrides,
    }),
    slowTimeout: options.slowTimeout ?? 120_000,
  };

  const groups: Record<ConformanceGroup, GroupBody> = {
    ...recordGroups,
    ...listingGroups,
    ...changesGroups,
    'life cycle': lifeCycleGroup,
    ...optionalGroups,
    ...modifyGroups,
    rotation: rotationGroup,
    ...ownerGroups,
    ...failureGroups,
    ...usageGroups,
  };

  describe(`keymint adapter conformance: ${options.name}`, () => {
    beforeEach(async () => {
      // Whole seconds plus 123 ms, so a store that drops milliseconds fails the round trip.
      base = Math.floor(Date.now() / 1000) * 1000 + 123;
      current = await options.createAdapter();
    });
    afterEach(async () => {
      const adapter = current;
      current = undefined;
      if (adapter && options.cleanup) await options.cleanup(adapter);
    });
    for (const name of CONFORMANCE_GROUPS) {
      (skip.has(name) ? describe.skip : describe)(name, () => groups[name](context));
    }
  });
}
