// The Redis adapter's options and client: their public types, and the checks that turn what
// redisAdapter() was given into the commands, key prefix and retention it uses.
import type { Cluster, Redis } from 'ioredis';
import { KeymintError } from '../../errors.js';
import { parseTtlWithMax } from '../../core/ttl.js';
import { echo } from '../../internal/echo.js';

/**
 * The client {@link redisAdapter} takes: an ioredis `Redis` (standalone or Sentinel) or
 * `Cluster`. The adapter only sends commands; connecting, reconnecting and `quit()` stay yours.
 *
 * @example
 * ```ts
 * import { Redis } from 'ioredis';
 * import type { RedisClient } from 'keymint/adapters/redis';
 * const client: RedisClient = new Redis('redis://localhost:6379');
 * ```
 */
export type RedisClient = Redis | Cluster;

/**
 * Options of {@link redisAdapter}.
 *
 * @example
 * ```ts
 * import type { RedisAdapterOptions } from 'keymint/adapters/redis';
 * const options: RedisAdapterOptions = { prefix: '{keymint}:billing:', retention: '7d' };
 * ```
 */
export interface RedisAdapterOptions {
  /**
   * Put before every Redis key the adapter uses, so that several apps (or keymint instances)
   * share one Redis. Default `'keymint:'`. On Redis Cluster it must contain a hash tag, such as
   * `'{keymint}:'`, so that all of the adapter's keys live in one slot (and so on one node): the
   * scripts touch keys they compute from ids and scopes.
   */
  prefix?: string;
  /**
   * How long a record stays in Redis after its key expires, before Redis drops it by itself: a
   * time to live such as `'30d'` or `'12h'` (see `parseTtl`), or a number of seconds; `0` drops
   * the record at the expiry instant. Default `'30d'`, at most 100 years. Keys without expiry
   * are never dropped. `insert` throws for a record already past `expiresAt + retention`.
   */
  retention?: string | number;
}

const MAX_PREFIX_LENGTH = 100;
const MAX_RETENTION_SECONDS = 100 * 365 * 86_400;
const ZERO = /^0+[smhdwM]?$/;

/** The ioredis commands the adapter sends (`Redis` and `Cluster` both have them). */
export interface RedisCommands {
  evalsha(...args: unknown[]): Promise<unknown>;
  eval(...args: unknown[]): Promise<unknown>;
  hgetall(key: string): Promise<unknown>;
}

export interface ResolvedClient {
  commands: RedisCommands;
  /** ioredis's own `keyPrefix` option, which it puts before KEYS but scripts do not see. */
  keyPrefix: string;
  isCluster: boolean;
}

export function resolveClient(client: unknown): ResolvedClient {
  const candidate = client as Partial<RedisCommands> & {
    isCluster?: unknown;
    options?: { keyPrefix?: unknown };
  };
  if (
    candidate === null ||
    typeof candidate !== 'object' ||
    typeof candidate.evalsha !== 'function' ||
    typeof candidate.eval !== 'function' ||
    typeof candidate.hgetall !== 'function'
  ) {
    throw new KeymintError(
      'CONFIG',
      'redisAdapter() needs an ioredis client: redisAdapter(new Redis(url)) or a Cluster.',
    );
  }
  const keyPrefix = candidate.options?.keyPrefix;
  return {
    commands: candidate as RedisCommands,
    keyPrefix: typeof keyPrefix === 'string' ? keyPrefix : '',
    isCluster: candidate.isCluster === true,
  };
}

/** Redis Cluster hashes only the text between the first `{` and the next `}`, when not empty. */
function hasHashTag(text: string): boolean {
  const open = text.indexOf('{');
  return open >= 0 && text.indexOf('}', open + 1) > open + 1;
}

export function resolvePrefix(prefix: unknown, keyPrefix: string, isCluster: boolean): string {
  if (typeof prefix !== 'string' || prefix.length === 0 || prefix.length > MAX_PREFIX_LENGTH) {
    throw new KeymintError(
      'CONFIG',
      `Invalid redisAdapter() prefix ${echo(prefix)}: use a string of 1 to ${MAX_PREFIX_LENGTH} characters, such as 'keymint:'.`,
    );
  }
  if (isCluster && !hasHashTag(keyPrefix + prefix)) {
    throw new KeymintError(
      'CONFIG',
      `On Redis Cluster the redisAdapter() prefix needs a hash tag, such as '{keymint}:', so that all of keymint's keys share one slot (got ${echo(prefix)}).`,
    );
  }
  return prefix;
}

/** The retention in seconds: a time to live or seconds, or 0 for none. */
export function resolveRetention(retention: unknown): number {
  if (retention === 0 || (typeof retention === 'string' && ZERO.test(retention.trim()))) return 0;
  try {
    return parseTtlWithMax(retention, MAX_RETENTION_SECONDS);
  } catch (error) {
    throw new KeymintError(
      'CONFIG',
      `Invalid redisAdapter() retention ${echo(retention)}: use a time to live such as '30d' or '12h', a number of seconds, or 0; at most 100 years.`,
      { cause: error },
    );
  }
}
