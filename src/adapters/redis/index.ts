/**
 * The Redis adapter, over the [ioredis](https://github.com/redis/ioredis) client you already
 * have (`Redis` or `Cluster`; ioredis 5 or 6). Name uniqueness and every multi-key change run as
 * Lua scripts, so they are atomic; records expire from Redis on their own some time after the key
 * does (the `retention` option).
 *
 * ```sh
 * npm install keymint ioredis
 * ```
 *
 * @example
 * ```ts
 * import { Redis } from 'ioredis';
 * import { createKeymint } from 'keymint';
 * import { redisAdapter } from 'keymint/adapters/redis';
 *
 * const redis = new Redis(process.env.REDIS_URL!);
 * const keymint = createKeymint({ adapter: redisAdapter(redis) });
 * const { key } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '12h' });
 * ```
 *
 * @module
 */
import type {
  InsertResult,
  InvalidationListener,
  KeyAdapter,
  KeyChanges,
  KeyPatch,
  LastUsedEntry,
  ListQuery,
  ModifyCondition,
  ModifyResult,
  StoredApiKey,
  SubscribeOptions,
  Subscription,
} from '../../adapter.js';
import { adapterOptions } from '../../internal/sql.js';
import { failureMethods } from './failures.js';
import { CHANGE_FIELDS, fromFields, toFields } from './records.js';
import { recordReader } from './find.js';
import { runScript, SCRIPTS, unexpected, type Script } from './scripts.js';
import {
  resolveClient,
  resolvePrefix,
  resolveRetention,
  type RedisAdapterOptions,
  type RedisClient,
} from './options.js';
import { subscriberFactory } from './connections.js';
import { subscribeTo } from './subscribe.js';
import { usageMethods } from './usage.js';

export type { RedisAdapterOptions, RedisClient } from './options.js';

const DEFAULT_PREFIX = 'keymint:';
const DEFAULT_RETENTION = '30d';
/** Names one list call looks at: keeps every script short however many expired keys a scope has. */
const LIST_BUDGET = 1_000;
const PURGE_BATCH = 500;
/** Entries one touch script writes: keeps each script short however big the batch. */
const TOUCH_BATCH = 1_000;

/**
 * Creates a {@link KeyAdapter} that keeps keys in Redis, through your ioredis client.
 *
 * **Layout** (every key starts with `prefix`): `key:<id>` is a hash of the record's fields (dates
 * as epoch milliseconds, absent when null; metadata as JSON); `names:<scope>` is a hash from name
 * to id, the uniqueness index; `order:<scope>` is a sorted set of the scope's names (all scores 0,
 * read by lex range, which is UTF-8 byte order and so code point order); `owner:<scope> NUL
 * <owner>` is the same for one owner's keys (`list({ owner })`, `revokeByOwner`); `expiry` is a sorted set
 * of expiring records by `expiresAt`, for `deleteExpired`. Records are written and removed with
 * their index entries in one Lua script (EVALSHA, with EVAL when the server lacks the script).
 *
 * **Expiry and retention.** A record with `expiresAt` gets a Redis expiry at `expiresAt +
 * retention` (`PEXPIREAT`, by the Redis server's clock). Until then the core sees the key as
 * expired and keeps its name taken, like every other adapter; after that Redis drops the record,
 * `findById` returns `null` (`verifyKey` reports `not_found`), and the name is free again. Index
 * entries left behind are harmless: `insert` and `list` skip and remove them, and
 * `deleteExpired` clears them in batches; run it (or the core's `purgeExpired()`) now and then,
 * for example hourly, to keep the indexes small. `insert` of a record whose `expiresAt +
 * retention` is already past by the Redis server's clock writes nothing and throws (the core
 * reports `STORE_FAILURE`): Redis would drop the record at once. `update` keeps the later
 * `lastUsedAt` (like SQL `GREATEST`), so a late write of an older time changes nothing.
 * `touchMany` writes a batch of last-used times the same way, in one script per 1,000 entries
 * (all sent at once: one round trip), and skips ids that have no record, never creating one.
 *
 * **Revocations pushed to every process.** `update` with `revokedAt` and `delete` PUBLISH the
 * key's id in the same script as the change (nothing when there was no record; last-used and
 * rehash updates publish nothing), on the channel `<keyPrefix><prefix>invalidate` (ioredis's own
 * `keyPrefix` option, then the adapter's `prefix`: `keymint:invalidate` by default; run
 * `SUBSCRIBE keymint:invalidate` in redis-cli to watch it). Channels are global to the server,
 * whatever the database number (`db`): one prefix used in two databases shares a channel, and
 * each side then also drops the other's ids from its cache (harmless, but give them different
 * prefixes). On Redis Cluster a PUBLISH reaches every node. With an ACL user, allow the channel (`&keymint:invalidate`
 * or `allchannels`; Redis 7 gives new users none): without it the change still happens but
 * nobody hears of it, and `subscribe` fails (NOPERM), so the core reports it.
 *
 * `subscribe` (which the core's verify cache calls) opens one dedicated connection with your
 * client's options (`client.duplicate()`; on a Cluster, a duplicate of one of its nodes) and
 * SUBSCRIBEs to the channel. It resolves once SUBSCRIBE is confirmed, and rejects with the
 * connection's error when that first attempt fails or takes longer than the client's
 * `connectTimeout` (10 s by default). Its socket never keeps the process alive. When the
 * connection drops, the listener's `reset()` is called and the adapter reconnects by itself,
 * with a new connection (after 100 ms, doubling up to 5 s) until `close()`, calling `reset()`
 * again once it is subscribed, since messages may have been missed in between. `close()` ends
 * the connection; it is idempotent. The subscriber never logs.
 *
 * **Failing fast.** By default ioredis queues commands while it is disconnected and retries them,
 * so a request can wait a long time for a Redis that is down. For API key checks, prefer an
 * error: `new Redis(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, commandTimeout:
 * 1_000 })`. Then every call fails within about a second while Redis is unreachable (the core
 * reports `STORE_FAILURE`; `verifyKey` never reports a key valid), and works again once ioredis
 * has reconnected by itself. With `enableOfflineQueue: false`, wait for the client's `'ready'`
 * event before the first call.
 *
 * **Server settings.** Use `maxmemory-policy noeviction`: an evicting Redis may drop a record
 * (the key stops working) or an index (a name is no longer unique); `volatile-*` policies pick
 * exactly the records, which carry a TTL. Turn on persistence (AOF) if keys must survive a Redis
 * restart. Replication is asynchronous: after a failover, a key created or revoked just before it
 * may be lost.
 *
 * Bad options throw a `KeymintError` with code `CONFIG`.
 *
 * @example
 * ```ts
 * import { Redis } from 'ioredis';
 * import { createKeymint } from 'keymint';
 * import { redisAdapter } from 'keymint/adapters/redis';
 *
 * const redis = new Redis(process.env.REDIS_URL!, {
 *   maxRetriesPerRequest: 1,
 *   enableOfflineQueue: false,
 *   commandTimeout: 1_000,
 * });
 * const adapter = redisAdapter(redis, { prefix: 'myapp:keymint:', retention: '7d' });
 * const keymint = createKeymint({ adapter });
 *
 * setInterval(() => void adapter.deleteExpired(new Date()).catch(console.error), 3_600_000);
 * ```
 */
export function redisAdapter(client: RedisClient, options?: RedisAdapterOptions): KeyAdapter {
  const given = adapterOptions<RedisAdapterOptions>(options, 'redisAdapter', [
    'prefix',
    'retention',
  ]);
  const { commands, keyPrefix, isCluster } = resolveClient(client);
  const prefix = resolvePrefix(given.prefix ?? DEFAULT_PREFIX, keyPrefix, isCluster);
  const retentionMs = resolveRetention(given.retention ?? DEFAULT_RETENTION) * 1000;
  // ioredis puts its keyPrefix before KEYS; the keys a script builds need it spelled out.
  const scriptPrefix = keyPrefix + prefix;
  const recordKey = (id: string) => `${prefix}key:${id}`;
  // Neither a scope nor an owner may hold NUL (the core refuses control characters).
  const ownerKey = (scope: string, owner: string) => `${prefix}owner:${scope}\u0000${owner}`;
  // ioredis never prefixes channels: the scripts and the subscriber spell out the full name.
  const channel = `${scriptPrefix}invalidate`;

  const run = (script: Script, keys: string[], args: string[]) =>
    runScript(commands, script, keys, args);
  const failures = failureMethods(commands, prefix);
  const find = recordReader(commands);
  const usage = usageMethods(run, prefix);

  return {
    async insert(record: StoredApiKey): Promise<InsertResult> {
      const expires = record.expiresAt?.getTime();
      const dropAt = expires === undefined ? undefined : expires + retentionMs;
      const reply = await run(
        SCRIPTS.insert,
        [
          recordKey(record.id),
          `${prefix}names:${record.scope}`,
          `${prefix}order:${record.scope}`,
          `${prefix}expiry`,
          ...(record.owner ? [ownerKey(record.scope, record.owner)] : []),
        ],
        [
          scriptPrefix,
          record.id,
          record.name,
          dropAt === undefined ? '' : String(dropAt),
          expires === undefined ? '' : String(expires),
          `${record.id}\u0000${record.scope}\u0000${record.name}`,
          ...toFields(record),
        ],
      );
      if (reply === 'ok') return { ok: true };
      if (reply === 'name' || reply === 'id') return { ok: false, conflict: reply };
      if (reply === 'gone') {
        throw new Error(
          `The Redis record of key ${record.id} would expire from Redis at once: its expiresAt + retention (${new Date(dropAt!).toISOString()}) is already past by the Redis server's clock. Check the server's clock and the redisAdapter() retention option.`,
        );
      }
      throw unexpected(reply, 'insert');
    },

    async findById(id: string): Promise<StoredApiKey | null> {
      return find(recordKey(id));
    },

    async list({ scope, limit, after, activeAt, owner }: ListQuery): Promise<StoredApiKey[]> {
      const records: StoredApiKey[] = [];
      let min = after === undefined ? '-' : `(${after}`;
      for (;;) {
        const reply = await run(
          SCRIPTS.list,
          [
            owner === undefined ? `${prefix}order:${scope}` : ownerKey(scope, owner),
            `${prefix}names:${scope}`,
          ],
          [
            scriptPrefix,
            min,
            String(limit - records.length),
            activeAt ? String(activeAt.getTime()) : '',
            String(LIST_BUDGET),
            owner ?? '',
          ],
        );
        if (!Array.isArray(reply) || !Array.isArray(reply[2])) throw unexpected(reply, 'list');
        for (const fields of reply[2]) records.push(fromFields(fields)!);
        if (Number(reply[0]) !== 1 || records.length >= limit) return records;
        min = `(${String(reply[1])}`;
      }
    },

    consumeUsage: usage.consumeUsage,

    async countLive(scope: string, at: Date): Promise<number> {
      const reply = await run(
        SCRIPTS.countLive,
        [`${prefix}names:${scope}`],
        [scriptPrefix, String(at.getTime())],
      );
      if (typeof reply !== 'number') throw unexpected(reply, 'count');
      return reply;
    },

    async update(id: string, patch: KeyPatch): Promise<StoredApiKey | null> {
      const reply = await run(
        SCRIPTS.update,
        [recordKey(id)],
        [
          patch.lastUsedAt ? String(patch.lastUsedAt.getTime()) : '',
          patch.revokedAt ? String(patch.revokedAt.getTime()) : '',
          patch.secretHash === undefined ? '0' : '1',
          patch.secretHash ?? '',
          channel,
          id,
        ],
      );
      return fromFields(reply);
    },

    async modify(
      id: string,
      changes: KeyChanges,
      condition?: ModifyCondition,
    ): Promise<ModifyResult> {
      const fields: string[] = [];
      for (const [field, write] of Object.entries(CHANGE_FIELDS)) {
        const value = changes[field as keyof KeyChanges];
        if (value === undefined) continue;
        if (value === null) fields.push(field, 'd', '');
        else fields.push(field, 's', write(value));
      }
      const reply = await run(
        SCRIPTS.modify,
        [recordKey(id)],
        [
          scriptPrefix,
          id,
          channel,
          condition?.secretHash === undefined ? '0' : '1',
          condition?.secretHash ?? '',
          String(retentionMs),
          ...fields,
        ],
      );
      if (Array.isArray(reply) && reply[0] === 'ok') {
        const record = fromFields(reply[1]);
        if (record) return { ok: true, record };
      }
      if (reply === 'not_found' || reply === 'revoked' || reply === 'secret' || reply === 'name') {
        return { ok: false, reason: reply };
      }
      if (reply === 'gone') {
        throw new Error(
          `The Redis record of key ${id} would expire from Redis at once: its new expiresAt + retention is already past by the Redis server's clock.`,
        );
      }
      throw unexpected(reply, 'modify');
    },

    async revokeByOwner(scope: string, owner: string, at: Date): Promise<string[]> {
      const reply = await run(
        SCRIPTS.revokeOwner,
        [ownerKey(scope, owner), `${prefix}names:${scope}`],
        [scriptPrefix, String(at.getTime()), channel, owner],
      );
      if (!Array.isArray(reply)) throw unexpected(reply, 'revoke by owner');
      return reply.map(String);
    },

    async delete(id: string): Promise<boolean> {
      const reply = await run(SCRIPTS.delete, [recordKey(id)], [scriptPrefix, id, channel]);
      return Number(reply) === 1;
    },

    async deleteExpired(before: Date): Promise<number> {
      let deleted = 0;
      for (;;) {
        const reply = await run(
          SCRIPTS.purge,
          [`${prefix}expiry`],
          [scriptPrefix, String(before.getTime()), String(PURGE_BATCH)],
        );
        if (!Array.isArray(reply)) throw unexpected(reply, 'purge');
        deleted += Number(reply[1]);
        if (Number(reply[0]) < PURGE_BATCH) return deleted;
      }
    },

    async touchMany(entries: readonly LastUsedEntry[]): Promise<void> {
      const scripts: Promise<unknown>[] = [];
      for (let i = 0; i < entries.length; i += TOUCH_BATCH) {
        const chunk = entries.slice(i, i + TOUCH_BATCH);
        scripts.push(
          run(
            SCRIPTS.touch,
            chunk.map((entry) => recordKey(entry.id)),
            chunk.map((entry) => String(entry.lastUsedAt.getTime())),
          ),
        );
      }
      // Sent back to back on the connection: one round trip however many chunks.
      for (const reply of await Promise.all(scripts)) {
        // A count; a string under ioredis's stringNumbers option.
        if (!/^\d+$/.test(String(reply))) throw unexpected(reply, 'touch');
      }
    },

    reserveFailure: failures.reserveFailure,
    releaseFailure: failures.releaseFailure,

    async subscribe(
      listener: InvalidationListener,
      options?: SubscribeOptions,
    ): Promise<Subscription> {
      return subscribeTo(subscriberFactory(client), channel, listener, options?.signal);
    },
  } satisfies KeyAdapter;
}
