import { expect } from 'vitest';
import {
  createKeymint,
  hmacSha256Hasher,
  KeymintError,
  type Hasher,
  type KeyAdapter,
  type Keymint,
  type KeymintErrorCode,
  type KeymintOptions,
  type StoredApiKey,
} from '../src/index.js';
import { memoryAdapter } from '../src/adapters/memory/index.js';
import { withChecksum } from '../src/core/key-format.js';
import { ADAPTER_METHODS } from '../src/schemas.js';
import { createTestClock, type TestClock } from '../src/testing/clock.js';

/**
 * A clock the test moves by hand: keymint/testing's, which drives both the wall clock and the
 * monotonic clock intervals are measured on. Every call to now() returns a fresh Date.
 */
export type { TestClock };

export const T0 = Date.UTC(2030, 0, 1, 12, 0, 0);
export const SECOND = 1_000;
export const MINUTE = 60 * SECOND;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;

export function testClock(start: number = T0): TestClock {
  return createTestClock(start);
}

export const HMAC_SECRET = 'x'.repeat(32);

export interface FastKeymint<Actor> {
  keymint: Keymint<Actor>;
  adapter: KeyAdapter;
  clock: TestClock;
}

/**
 * A keymint with the fast HMAC hasher, a fresh memory adapter and a controllable clock; any
 * option may be overridden. When `now` is overridden, `clock` is unused by the instance.
 */
export function fastKeymint<Actor = unknown>(
  overrides: Partial<KeymintOptions<Actor>> = {},
): FastKeymint<Actor> {
  const clock = testClock();
  const options: KeymintOptions<Actor> = {
    adapter: memoryAdapter(),
    hasher: hmacSha256Hasher(HMAC_SECRET),
    now: clock.now,
    // Last-used writes on the next turn of the event loop, so flush() sees them.
    lastUsedDelayMs: 0,
    ...overrides,
  };
  return { keymint: createKeymint<Actor>(options), adapter: options.adapter, clock };
}

/** What a database driver throws. */
export class DriverError extends Error {
  readonly code = 'ECONNRESET';
  constructor(message = 'connection reset by peer') {
    super(message);
    this.name = 'DriverError';
  }
}

export type AdapterMethod = keyof KeyAdapter;
const METHODS: readonly AdapterMethod[] = ADAPTER_METHODS;

export interface FaultyAdapter {
  /** Pass this one to createKeymint. */
  adapter: KeyAdapter;
  /** The real store underneath, to look at what was really stored. */
  inner: KeyAdapter;
  /** How many times each method was called through `adapter`. */
  calls: Record<AdapterMethod, number>;
  /** From now on, `method` throws `error` (a new DriverError by default); returns the error. */
  fail(method: AdapterMethod, error?: Error): Error;
  /** Stops failing `method`. */
  heal(method: AdapterMethod): void;
  /** Calls of `method` wait until the returned function is called. */
  hold(method: AdapterMethod): () => void;
}

/** Fault injection around a real memory adapter: each method can be made to throw or to wait. */
export function failingAdapter(inner: KeyAdapter = memoryAdapter()): FaultyAdapter {
  const calls = Object.fromEntries(METHODS.map((m) => [m, 0])) as Record<AdapterMethod, number>;
  const failures = new Map<AdapterMethod, Error>();
  const gates = new Map<AdapterMethod, Promise<void>>();

  async function run<T>(method: AdapterMethod, call: () => Promise<T>): Promise<T> {
    calls[method]++;
    const gate = gates.get(method);
    if (gate) await gate;
    const failure = failures.get(method);
    if (failure) throw failure;
    return call();
  }

  const adapter: KeyAdapter = {
    insert: (record) => run('insert', () => inner.insert(record)),
    findById: (id) => run('findById', () => inner.findById(id)),
    list: (query) => run('list', () => inner.list(query)),
    update: (id, patch) => run('update', () => inner.update(id, patch)),
    delete: (id) => run('delete', () => inner.delete(id)),
    deleteExpired: (before) => run('deleteExpired', () => inner.deleteExpired(before)),
    // Passed through without faults, so that update and rotation work over this adapter too.
    ...(inner.modify && { modify: inner.modify.bind(inner) }),
    ...(inner.consumeUsage && { consumeUsage: inner.consumeUsage.bind(inner) }),
  };

  return {
    adapter,
    inner,
    calls,
    fail(method, error = new DriverError()) {
      failures.set(method, error);
      return error;
    },
    heal(method) {
      failures.delete(method);
    },
    hold(method) {
      let release!: () => void;
      gates.set(
        method,
        new Promise<void>((resolve) => {
          release = resolve;
        }),
      );
      return () => {
        gates.delete(method);
        release();
      };
    },
  };
}

/** A complete stored record for adapter tests. */
export function storedRecord(overrides: Partial<StoredApiKey> = {}): StoredApiKey {
  return {
    id: 'AAAAAAAAAAAA',
    name: 'ci',
    role: 'Editor',
    scope: 'default',
    secretHash: 'hmac-sha256:abc',
    createdAt: new Date(T0),
    expiresAt: new Date(T0 + HOUR),
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
  };
}

/** Lets every pending microtask and I/O callback run (background writes on the memory adapter). */
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** The rejection of `promise`; fails the test when it resolves. */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the promise to reject, but it resolved');
}

/** Asserts that `promise` rejects with a KeymintError of this code, and returns the error. */
export async function expectCode(
  promise: Promise<unknown>,
  code: KeymintErrorCode,
): Promise<KeymintError> {
  const error = await rejectionOf(promise);
  expect(error).toBeInstanceOf(KeymintError);
  expect((error as KeymintError).code).toBe(code);
  return error as KeymintError;
}

/** Asserts that `run` throws a KeymintError of this code, and returns the error. */
export function expectThrowsCode(run: () => unknown, code: KeymintErrorCode): KeymintError {
  let thrown: unknown;
  try {
    run();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(KeymintError);
  expect((thrown as KeymintError).code).toBe(code);
  return thrown as KeymintError;
}

/**
 * `key` with its last character (part of the checksum) changed to another one: never the key
 * itself, whatever the key ends with (a fixed replacement is the key again once in 62 runs).
 */
export const withOtherLast = (key: string): string =>
  key.slice(0, -1) + (key.endsWith('x') ? 'y' : 'x');

/** A well-formed key for `key`'s id with another secret: a guess that reaches the store. */
export function guessFor(key: string, n: number): string {
  const { prefix, id } = keyParts(key);
  return withChecksum(`${prefix}_${id}_${n.toString(36).padStart(28, 'g')}`);
}

/** Splits a key `<prefix>_<id>_<secret><checksum>` into its parts. */
export function keyParts(key: string): {
  prefix: string;
  id: string;
  secret: string;
  checksum: string;
} {
  const match = /^([a-z][a-z0-9]*)_([0-9A-Za-z]{12})_([0-9A-Za-z]{28})([0-9A-Za-z]{6})$/.exec(key);
  if (!match) throw new Error(`not a key: ${key}`);
  return { prefix: match[1]!, id: match[2]!, secret: match[3]!, checksum: match[4]! };
}

/** Replaces the character at `index` with another base62 character. */
export function changeCharAt(text: string, index: number): string {
  const current = text[index];
  const replacement = current === 'a' ? 'b' : 'a';
  return text.slice(0, index) + replacement + text.slice(index + 1);
}

/** Compares strings by Unicode code point (independent of the code under test). */
export function byCodePoint(a: string, b: string): number {
  const x = [...a].map((c) => c.codePointAt(0)!);
  const y = [...b].map((c) => c.codePointAt(0)!);
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i]! - y[i]!;
  }
  return x.length - y.length;
}

/**
 * A key created honestly, and a second keymint over the same store whose findById hands back
 * what `change` makes of the real record: a broken or hostile store.
 */
export async function keymintOverBrokenStore(change: (record: StoredApiKey) => unknown) {
  const inner = memoryAdapter();
  const clock = testClock();
  const honest = createKeymint({
    adapter: inner,
    hasher: hmacSha256Hasher(HMAC_SECRET),
    now: clock.now,
  });
  const { key } = await honest.createApiKey({ name: 'ci', role: 'Editor', ttl: '1h' });
  const broken = createKeymint({
    adapter: {
      ...inner,
      findById: async (id) => change((await inner.findById(id))!) as StoredApiKey,
    },
    hasher: hmacSha256Hasher(HMAC_SECRET),
    now: clock.now,
  });
  return { keymint: broken, key };
}

/** A real HMAC hasher that counts its calls, can hold them at a gate, and can claim to be slow. */
export interface CountingHasher extends Hasher {
  calls: { hash: number; verify: number };
  /** The most hash/verify calls that were running at once. */
  peak: number;
  /** From now on calls wait until the returned function is called. */
  hold(): () => void;
}

export function countingHasher(options: { fast?: boolean } = {}): CountingHasher {
  const inner = hmacSha256Hasher(HMAC_SECRET);
  const calls = { hash: 0, verify: 0 };
  let gate: Promise<void> | undefined;
  let running = 0;
  const hasher: CountingHasher = {
    calls,
    peak: 0,
    fast: options.fast ?? false,
    hold() {
      let release!: () => void;
      gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      return () => {
        gate = undefined;
        release();
      };
    },
    async hash(secret) {
      calls.hash++;
      return track(() => inner.hash(secret));
    },
    async verify(hash, secret) {
      calls.verify++;
      return track(() => inner.verify(hash, secret));
    },
  };
  async function track<T>(run: () => Promise<T>): Promise<T> {
    running++;
    hasher.peak = Math.max(hasher.peak, running);
    try {
      if (gate) await gate;
      return await run();
    } finally {
      running--;
    }
  }
  return hasher;
}
