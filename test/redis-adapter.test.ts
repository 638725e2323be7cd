import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { Redis as Redis5 } from 'ioredis5';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { memoryAdapter } from '../src/adapters/memory/index.js';
import { redisAdapter, type RedisAdapterOptions } from '../src/adapters/redis/index.js';
import { createKeymint, hmacSha256Hasher, KeymintError, type KeyAdapter } from '../src/index.js';
import { describeAdapterConformance } from '../src/testing/index.js';
import { freePort } from './fixtures/net.js';
import { until as waitUntil } from './fixtures/wait.js';
import { DAY, expectCode, expectThrowsCode, HMAC_SECRET, HOUR, storedRecord } from './helpers.js';
import { describeWith, describeWithServer, withheld } from './servers.js';

const FAIL_FAST: RedisOptions = {
  maxRetriesPerRequest: 1,
  enableOfflineQueue: false,
  commandTimeout: 1_000,
};
const FILE_PREFIX = `keymint-test:${randomBytes(4).toString('hex')}:`;
let prefixes = 0;
const randomPrefix = () => `${FILE_PREFIX}${++prefixes}:`;

const keymintOver = (adapter: KeyAdapter, options: { cache?: false } = {}) =>
  createKeymint({ adapter, hasher: hmacSha256Hasher(HMAC_SECRET), ...options });
/** A record with dates near the real time: Redis expires keys by its own clock. */
const liveRecord = (overrides: Parameters<typeof storedRecord>[0] = {}) =>
  storedRecord({
    id: randomBytes(9).toString('base64url').replace(/[-_]/g, 'x').slice(0, 12),
    createdAt: new Date(Date.now()),
    expiresAt: new Date(Date.now() + HOUR),
    ...overrides,
  });

/** Polls every 25 ms, for 5 s at most. */
const until = (done: () => Promise<boolean> | boolean, what: string) =>
  waitUntil(done, what, 5_000, 25);

describeWithServer('redis', 'redisAdapter()', (url) => {
  let client: Redis;
  const prefixOf = new WeakMap<KeyAdapter, string>();
  const adapterAt = (options: RedisAdapterOptions = {}) => {
    const prefix = options.prefix ?? randomPrefix();
    const adapter = redisAdapter(client, { ...options, prefix });
    prefixOf.set(adapter, prefix);
    return { adapter, prefix };
  };
  const keysUnder = async (prefix: string) => (await client.keys(`${prefix}*`)).sort();
  const drop = async (prefix: string) => {
    const keys = await client.keys(`${prefix}*`);
    if (keys.length > 0) await client.del(...keys);
  };

  beforeAll(() => {
    client = new Redis(url);
  });
  afterAll(async () => {
    await drop(FILE_PREFIX);
    await client.quit();
  });

  describeAdapterConformance({
    name: 'redis',
    createAdapter: () => adapterAt().adapter,
    cleanup: (adapter) => drop(prefixOf.get(adapter)!),
  });

  describe('over ioredis 5 (the peer range is ^5 || ^6)', () => {
    let client5: Redis5;
    beforeAll(() => {
      client5 = new Redis5(url);
    });
    afterAll(() => client5.quit());
    describeAdapterConformance({
      name: 'redis, ioredis 5',
      // ioredis 5's class has the same commands; its types differ only in private details.
      createAdapter: () => {
        const prefix = randomPrefix();
        const adapter = redisAdapter(client5 as unknown as Redis, { prefix });
        prefixOf.set(adapter, prefix);
        return adapter;
      },
      cleanup: (adapter) => drop(prefixOf.get(adapter)!),
    });
  });

  describe('key layout', () => {
    it('keeps a record and its indexes under the prefix, as epoch-ms strings and JSON', async () => {
      const { adapter, prefix } = adapterAt();
      const record = liveRecord({ scope: 'org 1', metadata: { team: 'ops' } });
      await adapter.insert(record);
      expect(await keysUnder(prefix)).toEqual(
        [
          `${prefix}expiry`,
          `${prefix}key:${record.id}`,
          `${prefix}names:org 1`,
          `${prefix}order:org 1`,
        ].sort(),
      );
      expect(await client.hgetall(`${prefix}key:${record.id}`)).toEqual({
        id: record.id,
        name: 'ci',
        role: 'Editor',
        scope: 'org 1',
        secretHash: record.secretHash,
        createdAt: String(record.createdAt.getTime()),
        expiresAt: String(record.expiresAt!.getTime()),
        metadata: '{"team":"ops"}',
        ttlSeconds: '3600',
      });
      expect(await client.hget(`${prefix}names:org 1`, 'ci')).toBe(record.id);
      expect(await client.zrange(`${prefix}order:org 1`, 0, '-1')).toEqual(['ci']);
      expect(await client.zscore(`${prefix}order:org 1`, 'ci')).toBe('0');
      expect(await client.zscore(`${prefix}expiry`, `${record.id}\u0000org 1\u0000ci`)).toBe(
        String(record.expiresAt!.getTime()),
      );
    });

    it('isolates two prefixes on one Redis', async () => {
      const a = adapterAt().adapter;
      const b = adapterAt().adapter;
      const record = liveRecord();
      expect(await a.insert(record)).toEqual({ ok: true });
      expect(await b.insert(record)).toEqual({ ok: true });
      expect(await a.delete(record.id)).toBe(true);
      expect(await a.findById(record.id)).toBeNull();
      expect(await b.findById(record.id)).toEqual(record);
      expect(await b.list({ scope: 'default', limit: 10 })).toEqual([record]);
    });

    it("works under the client's own keyPrefix (keys the scripts compute included)", async () => {
      const outer = randomPrefix();
      const prefixed = new Redis(url, { keyPrefix: outer });
      try {
        const adapter = redisAdapter(prefixed, { prefix: 'km:' });
        const record = liveRecord();
        await adapter.insert(record);
        expect(await keysUnder(outer)).toContain(`${outer}km:names:default`);
        expect(await adapter.list({ scope: 'default', limit: 10 })).toEqual([record]);
        expect(await adapter.delete(record.id)).toBe(true);
        expect(await keysUnder(outer)).toEqual([]);
      } finally {
        await prefixed.quit();
      }
    });

    it('works over a RESP3 client', async () => {
      const resp3 = new Redis(url, { protocol: 3 });
      try {
        const adapter = redisAdapter(resp3, { prefix: randomPrefix() });
        const record = liveRecord({ metadata: { a: [1] } });
        await adapter.insert(record);
        expect(await adapter.findById(record.id)).toEqual(record);
        expect(await adapter.list({ scope: 'default', limit: 5 })).toEqual([record]);
        const at = new Date(Date.now() + 1);
        expect(await adapter.update(record.id, { revokedAt: at })).toEqual({
          ...record,
          revokedAt: at,
        });
      } finally {
        await resp3.quit();
      }
    });

    it('fails with STORE_FAILURE on a hash that is not a readable keymint record', async () => {
      const { adapter, prefix } = adapterAt();
      const keymint = keymintOver(adapter);
      const id = 'AAAAAAAAAAAA';
      await client.hset(`${prefix}key:${id}`, 'name', 'ci');
      const partial = await expectCode(keymint.getApiKey(id), 'STORE_FAILURE');
      expect((partial.cause as Error).message).toMatch(/lacks id, role, .*: not a keymint record/);
      const fields = { id, role: 'Viewer', scope: 'default', secretHash: 'h', createdAt: 'today' };
      await client.hset(`${prefix}key:${id}`, fields);
      const badDate = await expectCode(keymint.getApiKey(id), 'STORE_FAILURE');
      expect((badDate.cause as Error).message).toMatch(/unreadable createdAt/);
    });
  });

  describe('expiry and retention', () => {
    const pttlOf = async (retention?: string | number, expiresIn: number | null = HOUR) => {
      const { adapter, prefix } = adapterAt(retention === undefined ? {} : { retention });
      const record = liveRecord({
        expiresAt: expiresIn === null ? null : new Date(Date.now() + expiresIn),
      });
      await adapter.insert(record);
      return client.pttl(`${prefix}key:${record.id}`);
    };
    const near = (actual: number, expected: number) =>
      expect(Math.abs(actual - expected)).toBeLessThan(5_000);

    it('sets the Redis expiry to expiresAt + 30 days by default', async () => {
      near(await pttlOf(), HOUR + 30 * DAY);
    });

    it('gives a non-expiring key no Redis expiry', async () => {
      expect(await pttlOf(undefined, null)).toBe(-1);
    });

    it('takes a retention as a TTL string, as seconds, or 0 (drop at expiry)', async () => {
      near(await pttlOf('2h'), 3 * HOUR);
      near(await pttlOf(90), HOUR + 90_000);
      near(await pttlOf(0), HOUR);
      near(await pttlOf('0d'), HOUR);
    });

    it('refuses, writing nothing, a record whose expiresAt + retention is already past', async () => {
      const { adapter, prefix } = adapterAt({ retention: '1d' });
      const record = liveRecord({ expiresAt: new Date(Date.now() - 2 * DAY) });
      await expect(adapter.insert(record)).rejects.toThrow(
        /would expire from Redis at once: .*already past by the Redis server's clock/,
      );
      expect(await adapter.findById(record.id)).toBeNull();
      expect(await keysUnder(prefix)).toEqual([]);
      // With retention 0, as soon as expiresAt is past.
      const atOnce = adapterAt({ retention: 0 });
      await expect(
        atOnce.adapter.insert(liveRecord({ expiresAt: new Date(Date.now() - 1_000) })),
      ).rejects.toThrow(/retention option/);
      expect(await keysUnder(atOnce.prefix)).toEqual([]);
    });

    it('makes createApiKey fail with STORE_FAILURE under a clock far in the past', async () => {
      const { adapter, prefix } = adapterAt();
      const keymint = createKeymint({
        adapter,
        hasher: hmacSha256Hasher(HMAC_SECRET),
        now: () => new Date(Date.now() - 40 * DAY),
      });
      const error = await expectCode(
        keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' }),
        'STORE_FAILURE',
      );
      expect((error.cause as Error).message).toMatch(/would expire from Redis at once/);
      expect(await keysUnder(prefix)).toEqual([]);
      expect(await keymint.listApiKeys()).toEqual([]);
    });

    it('frees the name of a record Redis dropped, and leaves it out of list()', async () => {
      const { adapter, prefix } = adapterAt();
      const old = liveRecord({ name: 'nightly' });
      const other = liveRecord({ name: 'other' });
      await adapter.insert(old);
      await adapter.insert(other);
      await client.pexpire(`${prefix}key:${old.id}`, 1);
      await until(async () => (await client.exists(`${prefix}key:${old.id}`)) === 0, 'the drop');
      expect(await adapter.list({ scope: 'default', limit: 10 })).toEqual([other]);
      expect(await client.hget(`${prefix}names:default`, 'nightly')).toBeNull();
      const fresh = liveRecord({ name: 'nightly' });
      expect(await adapter.insert(fresh)).toEqual({ ok: true });
      expect(await adapter.list({ scope: 'default', limit: 10 })).toEqual([fresh, other]);
    });

    it('lets a new insert take over a dangling name entry at once', async () => {
      const { adapter, prefix } = adapterAt({ retention: 0 });
      const old = liveRecord({ expiresAt: new Date(Date.now() + 30) });
      await adapter.insert(old);
      await until(async () => (await client.exists(`${prefix}key:${old.id}`)) === 0, 'the drop');
      expect(await client.hget(`${prefix}names:default`, 'ci')).toBe(old.id);
      const fresh = liveRecord();
      expect(await adapter.insert(fresh)).toEqual({ ok: true });
      expect(await client.hget(`${prefix}names:default`, 'ci')).toBe(fresh.id);
    });

    it('purge cleans the index entries of records Redis already dropped', async () => {
      const { adapter, prefix } = adapterAt();
      const records = [liveRecord({ name: 'a' }), liveRecord({ name: 'b', scope: 'other' })];
      for (const record of records) {
        await adapter.insert(record);
        await client.pexpire(`${prefix}key:${record.id}`, 1);
      }
      for (const record of records) {
        const key = `${prefix}key:${record.id}`;
        await until(async () => (await client.exists(key)) === 0, `the drop of ${key}`);
      }
      expect(await keysUnder(prefix)).toHaveLength(5);
      expect(await adapter.deleteExpired(new Date(Date.now() + 2 * HOUR))).toBe(0);
      expect(await keysUnder(prefix)).toEqual([]);
    });

    it('pages past more expired names than one list script looks at', async () => {
      const { adapter } = adapterAt();
      const expired = Array.from({ length: 1_100 }, (_, i) =>
        liveRecord({
          name: `a ${String(i).padStart(4, '0')}`,
          expiresAt: new Date(Date.now() - 1),
        }),
      );
      for (let i = 0; i < expired.length; i += 200) {
        await Promise.all(expired.slice(i, i + 200).map((r) => adapter.insert(r)));
      }
      const active = [liveRecord({ name: 'b' }), liveRecord({ name: 'c' })];
      for (const record of active) await adapter.insert(record);
      const page = await adapter.list({ scope: 'default', limit: 10, activeAt: new Date() });
      expect(page).toEqual(active);
      expect(await adapter.list({ scope: 'default', limit: 3 })).toHaveLength(3);
    });
  });

  describe('lastUsedAt', () => {
    it('only moves forward: a late write of an older time changes nothing', async () => {
      const { adapter, prefix } = adapterAt();
      const record = liveRecord();
      await adapter.insert(record);
      const base = record.createdAt.getTime();
      const newer = new Date(base + 2_000);
      const older = new Date(base + 1_000);
      expect((await adapter.update(record.id, { lastUsedAt: newer }))?.lastUsedAt).toEqual(newer);
      expect(await adapter.update(record.id, { lastUsedAt: older })).toEqual({
        ...record,
        lastUsedAt: newer,
      });
      expect((await adapter.update(record.id, { lastUsedAt: newer }))?.lastUsedAt).toEqual(newer);
      expect(await client.hget(`${prefix}key:${record.id}`, 'lastUsedAt')).toBe(
        String(newer.getTime()),
      );
      // The rest of a patch still applies when lastUsedAt stays.
      const revoked = await adapter.update(record.id, { lastUsedAt: older, revokedAt: older });
      expect(revoked).toEqual({ ...record, lastUsedAt: newer, revokedAt: older });
    });

    it('compares times as numbers, not as strings', async () => {
      const { adapter } = adapterAt();
      const record = liveRecord({ lastUsedAt: new Date(9_999) });
      await adapter.insert(record);
      const later = new Date(10_000); // '10000' < '9999' as strings
      expect((await adapter.update(record.id, { lastUsedAt: later }))?.lastUsedAt).toEqual(later);
    });

    it('keeps the latest of 20 concurrent writes, whatever order they land in', async () => {
      const { adapter } = adapterAt();
      const record = liveRecord();
      await adapter.insert(record);
      const base = record.createdAt.getTime();
      const times = [7, 19, 3, 12, 0, 18, 5, 9, 14, 1, 16, 11, 2, 8, 17, 4, 13, 6, 10, 15];
      await Promise.all(
        times.map((i) => adapter.update(record.id, { lastUsedAt: new Date(base + i) })),
      );
      expect((await adapter.findById(record.id))?.lastUsedAt).toEqual(new Date(base + 19));
    });
  });

  it('runs every script again after SCRIPT FLUSH (NOSCRIPT fallback)', async () => {
    const { adapter } = adapterAt();
    const record = liveRecord({ expiresAt: new Date(Date.now() - 1) });
    const flush = () => client.script('FLUSH');
    await flush();
    expect(await adapter.insert(record)).toEqual({ ok: true });
    await flush();
    expect(await adapter.list({ scope: 'default', limit: 1 })).toEqual([record]);
    await flush();
    expect((await adapter.update(record.id, { secretHash: 'x' }))?.secretHash).toBe('x');
    await flush();
    expect(await adapter.deleteExpired(new Date())).toBe(1);
    await adapter.insert(record);
    await flush();
    expect(await adapter.delete(record.id)).toBe(true);
  });

  describe('options', () => {
    it.each([
      ['an unknown option', { prefx: 'x' }],
      ['an empty prefix', { prefix: '' }],
      ['a prefix that is not a string', { prefix: 5 }],
      ['a prefix over 100 characters', { prefix: 'p'.repeat(101) }],
      ['a fractional retention', { retention: '1.5h' }],
      ['a negative retention', { retention: -1 }],
      ['a retention over 100 years', { retention: '36501d' }],
      ['a retention that is not a TTL', { retention: 'forever' }],
    ])('refuses %s with CONFIG', (_, options) => {
      expectThrowsCode(() => redisAdapter(client, options as RedisAdapterOptions), 'CONFIG');
    });

    it('refuses options that are not an object, and a client that is not ioredis', () => {
      expectThrowsCode(() => redisAdapter(client, 'keymint:' as never), 'CONFIG');
      expectThrowsCode(() => redisAdapter(null as never), 'CONFIG');
      expectThrowsCode(() => redisAdapter({ get: () => null } as never), 'CONFIG');
    });

    it('needs a hash tag in the prefix on Redis Cluster', async () => {
      const cluster = new Cluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true });
      try {
        const error = expectThrowsCode(() => redisAdapter(cluster), 'CONFIG');
        expect(error.message).toContain('hash tag');
        expectThrowsCode(() => redisAdapter(cluster, { prefix: '{}:keymint:' }), 'CONFIG');
        expect(redisAdapter(cluster, { prefix: '{keymint}:' })).toBeDefined();
      } finally {
        cluster.disconnect();
      }
    });
  });

  it('gives one of 50 concurrent creates with one name the key, 49 NAME_TAKEN', async () => {
    const keymint = keymintOver(adapterAt().adapter);
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, () =>
        keymint.createApiKey({ name: 'race', role: 'Viewer', ttl: '1h' }),
      ),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const codes = results.flatMap((r) =>
      r.status === 'rejected' ? [(r.reason as KeymintError).code] : [],
    );
    expect(codes).toEqual(Array(49).fill('NAME_TAKEN'));
    expect(await keymint.listApiKeys()).toHaveLength(1);
  });

  describe('store failures', () => {
    const children: ChildProcess[] = [];
    const clients: Redis[] = [];
    const failFast = (port: number, options: RedisOptions = {}) => {
      const redis = new Redis({ host: '127.0.0.1', port, ...FAIL_FAST, ...options });
      redis.on('error', () => {});
      clients.push(redis);
      return redis;
    };
    afterEach(async () => {
      for (const redis of clients.splice(0)) redis.disconnect();
      for (const child of children.splice(0)) child.kill('SIGKILL');
    });

    it('reports STORE_FAILURE with the ioredis error as cause when Redis is unreachable', async () => {
      const down = keymintOver(redisAdapter(failFast(await freePort())));
      const { key } = await keymintOver(memoryAdapter()).createApiKey({
        name: 'ci',
        role: 'Viewer',
        ttl: '1h',
      });
      for (const attempt of [
        down.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' }),
        down.verifyKey(key),
      ]) {
        const error = await expectCode(attempt, 'STORE_FAILURE');
        expect(error.cause).toBeInstanceOf(Error);
        expect(error.cause).not.toBeInstanceOf(KeymintError);
        expect((error.cause as Error).message).toMatch(/enableOfflineQueue/);
      }
    });

    const hasRedisServer =
      !withheld('redis') && spawnSync('redis-server', ['--version']).status === 0;
    const redisServer = {
      what: 'redis-server on PATH (these tests kill and restart one of their own)',
      missing: hasRedisServer ? undefined : "install Debian's redis-server",
    };
    describeWith(redisServer, 'against a redis-server of its own', () => {
      it.each([
        ['without the verify cache', false],
        ['with the verify cache: the listener’s reset empties it', true],
      ])(
        'fails closed while the server is gone and recovers on the same client when it is back (%s)',
        async (_what, cached) => {
          const port = await freePort();
          const start = async () => {
            const args = [
              '--port',
              String(port),
              '--bind',
              '127.0.0.1',
              '--save',
              '',
              '--appendonly',
              'no',
            ];
            const child = spawn('redis-server', args, { stdio: 'ignore' });
            children.push(child);
            return child;
          };
          let server = await start();
          const redis = failFast(port, { retryStrategy: () => 50 });
          await until(() => redis.status === 'ready', 'the first connection');
          const prefix = randomPrefix();
          const keymint = keymintOver(
            redisAdapter(redis, { prefix }),
            cached ? {} : { cache: false },
          );
          const first = await keymint.createApiKey({ name: 'before', role: 'Viewer', ttl: '1h' });
          expect((await keymint.verifyKey(first.key)).valid).toBe(true);
          // With the cache, wait until the invalidation listener is live (it subscribes
          // asynchronously): the server then counts one subscriber on the instance's channel.
          if (cached) {
            const channel = `${prefix}invalidate`;
            await until(
              async () => (await redis.pubsub('NUMSUB', channel))[1] === 1,
              `a subscriber on ${channel}`,
            );
          }

          const exited = new Promise((resolve) => server.once('exit', resolve));
          server.kill('SIGKILL');
          await exited;
          if (cached) {
            // The cached key may be served until the listener notices the dropped connection and
            // resets the cache; from then on every verification reaches the store and fails closed.
            await until(
              () =>
                keymint.verifyKey(first.key).then(
                  () => false,
                  (error: KeymintError) => error.code === 'STORE_FAILURE',
                ),
              'the cache to be emptied',
            );
          } else {
            // Right after the crash (the socket may still look open), and once ioredis has noticed.
            await expectCode(keymint.verifyKey(first.key), 'STORE_FAILURE');
          }
          await until(() => redis.status !== 'ready', 'the client to notice');
          await expectCode(keymint.verifyKey(first.key), 'STORE_FAILURE');

          server = await start();
          await until(() => redis.status === 'ready', 'the reconnection');
          const second = await keymint.createApiKey({ name: 'after', role: 'Viewer', ttl: '1h' });
          expect((await keymint.verifyKey(second.key)).valid).toBe(true);
          expect(await keymint.verifyKey(first.key)).toEqual({ valid: false, reason: 'not_found' });
          await keymint.close();
        },
      );
    });
  });
});
