import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { Redis as Redis5 } from 'ioredis5';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { redisAdapter, type RedisClient } from '../src/adapters/redis/index.js';
import type { InvalidationListener, KeyAdapter, StoredApiKey, Subscription } from '../src/index.js';
import { bundleFixture, runOnce, startPeer, type Bundle, type Peer } from './fixtures/children.js';
import { freePort, tcpProxy, withPort } from './fixtures/net.js';
import { until } from './fixtures/wait.js';
import { expectCode, HOUR, storedRecord } from './helpers.js';
import { describeWith, describeWithServer, withheld } from './servers.js';

const FILE_PREFIX = `keymint-inv:${randomBytes(4).toString('hex')}:`;
let counter = 0;
const randomPrefix = () => `${FILE_PREFIX}${++counter}:`;
const uniqueName = (what: string) => `keymint-${what}-${process.pid}-${++counter}`;

/** A record with dates near the real time: Redis expires keys by its own clock. */
const liveRecord = (overrides: Partial<StoredApiKey> = {}) =>
  storedRecord({
    id: randomBytes(9).toString('base64url').replace(/[-_]/g, 'x').slice(0, 12),
    name: `key ${++counter}`,
    createdAt: new Date(Date.now()),
    expiresAt: new Date(Date.now() + HOUR),
    ...overrides,
  });

/** A listener that records its calls: the id for invalidate, 'reset' for reset. */
function recorder() {
  const events: string[] = [];
  const listener: InvalidationListener = {
    invalidate: (id) => void events.push(id),
    reset: () => void events.push('reset'),
  };
  return { events, listener };
}

/** CLIENT LIST entries as field maps. */
async function clientList(redis: Redis): Promise<Map<string, string>[]> {
  const text = String(await redis.call('CLIENT', 'LIST'));
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map(
      (line) =>
        new Map(
          line
            .trim()
            .split(' ')
            .map((pair) => split(pair)),
        ),
    );
}
const split = (pair: string): [string, string] => {
  const at = pair.indexOf('=');
  return [pair.slice(0, at), pair.slice(at + 1)];
};

/** Ids of the subscribed (pubsub) connections named `name`. */
async function subscribers(redis: Redis, name: string): Promise<string[]> {
  return (await clientList(redis))
    .filter((entry) => entry.get('name') === name && (entry.get('flags') ?? '').includes('P'))
    .map((entry) => entry.get('id')!);
}

type ClientClass = new (url: string, options?: RedisOptions) => Redis;
const CLIENTS: [string, ClientClass][] = [
  ['ioredis 6', Redis],
  // ioredis 5's class has the same commands; its types differ only in private details.
  ['ioredis 5', Redis5 as unknown as ClientClass],
];

const hasBinary = (name: string) => spawnSync(name, ['--version']).status === 0;
const hasClusterTools = !withheld('redis') && hasBinary('redis-server') && hasBinary('redis-cli');
const clusterTools = {
  what: 'redis-server and redis-cli on PATH (for a Redis Cluster of three nodes)',
  missing: hasClusterTools ? undefined : "install Debian's redis-server (it brings redis-cli)",
};

describeWithServer('redis', 'redisAdapter() touchMany and subscribe', (url) => {
  let admin: Redis;
  const opened: Redis[] = [];
  const subscriptions: Subscription[] = [];
  const open = (Client: ClientClass = Redis, options: RedisOptions = {}, at = url) => {
    const redis = new Client(at, options);
    redis.on('error', () => {});
    opened.push(redis);
    return redis;
  };
  const subscribe = async (adapter: KeyAdapter, listener: InvalidationListener) => {
    const subscription = await adapter.subscribe!(listener);
    subscriptions.push(subscription);
    return subscription;
  };

  beforeAll(() => {
    admin = new Redis(url);
  });
  afterEach(async () => {
    await Promise.all(subscriptions.splice(0).map((subscription) => subscription.close()));
    for (const redis of opened.splice(0)) redis.disconnect();
  });
  afterAll(async () => {
    const keys = await admin.keys(`${FILE_PREFIX}*`);
    if (keys.length > 0) await admin.del(...keys);
    await admin.quit();
  });

  describe.each(CLIENTS)('touchMany() over %s', (_, Client) => {
    it('moves each lastUsedAt forward only, ignores unknown ids and never creates a record', async () => {
      const prefix = randomPrefix();
      const adapter = redisAdapter(open(Client), { prefix });
      const base = Date.now();
      const fresh = liveRecord();
      const used = liveRecord({ lastUsedAt: new Date(base + 5_000) });
      const other = liveRecord();
      for (const record of [fresh, used, other]) await adapter.insert(record);
      const ttlBefore = await admin.pttl(`${prefix}key:${fresh.id}`);

      await adapter.touchMany!([
        { id: fresh.id, lastUsedAt: new Date(base + 1_000) },
        { id: used.id, lastUsedAt: new Date(base + 1_000) }, // older than stored: ignored
        { id: 'UNKNOWNxxxxx', lastUsedAt: new Date(base) },
        { id: fresh.id, lastUsedAt: new Date(base + 3_000) },
        { id: fresh.id, lastUsedAt: new Date(base + 2_000) }, // a duplicate: the latest wins
      ]);

      expect(await adapter.findById(fresh.id)).toEqual({
        ...fresh,
        lastUsedAt: new Date(base + 3_000),
      });
      expect(await adapter.findById(used.id)).toEqual(used);
      expect(await adapter.findById(other.id)).toEqual(other);
      expect(await admin.exists(`${prefix}key:UNKNOWNxxxxx`)).toBe(0);
      expect((await admin.keys(`${prefix}*`)).sort()).toEqual(
        [
          `${prefix}expiry`,
          `${prefix}names:default`,
          `${prefix}order:default`,
          ...[fresh, used, other].map((record) => `${prefix}key:${record.id}`),
        ].sort(),
      );
      // The record keeps its Redis expiry.
      expect(Math.abs((await admin.pttl(`${prefix}key:${fresh.id}`)) - ttlBefore)).toBeLessThan(
        5_000,
      );
      // Numbers, not strings: '10000' < '9999' as text.
      const numeric = liveRecord({ lastUsedAt: new Date(9_999) });
      await adapter.insert(numeric);
      await adapter.touchMany!([{ id: numeric.id, lastUsedAt: new Date(10_000) }]);
      expect((await adapter.findById(numeric.id))?.lastUsedAt).toEqual(new Date(10_000));
    });

    it('does not bring back a record Redis dropped or one that was deleted', async () => {
      const prefix = randomPrefix();
      const adapter = redisAdapter(open(Client), { prefix });
      const dropped = liveRecord();
      const deleted = liveRecord();
      await adapter.insert(dropped);
      await adapter.insert(deleted);
      await admin.pexpire(`${prefix}key:${dropped.id}`, 1);
      await adapter.delete(deleted.id);
      await until(async () => (await admin.exists(`${prefix}key:${dropped.id}`)) === 0, 'the drop');
      await adapter.touchMany!([
        { id: dropped.id, lastUsedAt: new Date() },
        { id: deleted.id, lastUsedAt: new Date() },
      ]);
      expect(await admin.exists(`${prefix}key:${dropped.id}`, `${prefix}key:${deleted.id}`)).toBe(
        0,
      );
    });

    it("works under ioredis's stringNumbers option (counts come back as strings)", async () => {
      const adapter = redisAdapter(open(Client, { stringNumbers: true }), {
        prefix: randomPrefix(),
      });
      const record = liveRecord();
      await adapter.insert(record);
      const at = new Date(Date.now() + 1);
      await adapter.touchMany!([{ id: record.id, lastUsedAt: at }]);
      expect((await adapter.findById(record.id))?.lastUsedAt).toEqual(at);
    });

    it('runs after SCRIPT FLUSH (NOSCRIPT fallback) and rejects with the Redis error', async () => {
      const prefix = randomPrefix();
      const adapter = redisAdapter(open(Client), { prefix });
      const record = liveRecord();
      await adapter.insert(record);
      await admin.script('FLUSH');
      const at = new Date(Date.now() + 1);
      await adapter.touchMany!([{ id: record.id, lastUsedAt: at }]);
      expect((await adapter.findById(record.id))?.lastUsedAt).toEqual(at);

      await admin.set(`${prefix}key:NOTAHASHxxxx`, 'x');
      await expect(
        adapter.touchMany!([{ id: 'NOTAHASHxxxx', lastUsedAt: new Date() }]),
      ).rejects.toThrow(/WRONGTYPE/);
    });
  });

  describe('touchMany() round trips', () => {
    /** Commands the Redis server receives from `client`'s connection while `run` runs (MONITOR). */
    async function commandsOf(client: Redis, run: () => Promise<unknown>): Promise<string[][]> {
      await client.ping(); // connected: its local port is known
      const source = `127.0.0.1:${client.stream.localPort}`;
      const monitor = await admin.monitor();
      const seen: string[][] = [];
      monitor.on('monitor', (_time: string, args: string[], from: string) => {
        if (from === source) seen.push(args);
      });
      try {
        const marker = `marker-${++counter}`;
        await run();
        await client.echo(marker);
        // MONITOR shows one connection's commands in order: once the marker is in, all are.
        await until(() => seen.some((args) => args[1] === marker), 'the marker in MONITOR');
        return seen.filter((args) => args[1] !== marker);
      } finally {
        monitor.disconnect();
      }
    }

    it('sends one script for a batch of 300 and nothing for an empty batch', async () => {
      const client = open();
      const adapter = redisAdapter(client, { prefix: randomPrefix() });
      const records = Array.from({ length: 300 }, () => liveRecord());
      for (const record of records) await adapter.insert(record);
      await adapter.touchMany!([{ id: records[0]!.id, lastUsedAt: new Date() }]); // script cached
      const at = new Date(Date.now() + 10);
      const sent = await commandsOf(client, () =>
        adapter.touchMany!(records.map(({ id }) => ({ id, lastUsedAt: at }))),
      );
      // EVAL follows only when another test file flushed the scripts in between (NOSCRIPT).
      const names = sent.map((args) => args[0]!.toLowerCase());
      expect(names).toEqual(names.length === 1 ? ['evalsha'] : ['evalsha', 'eval']);
      expect(sent.at(-1)![2]).toBe('300'); // numkeys: the whole batch in one script
      for (const record of records) {
        expect((await adapter.findById(record.id))?.lastUsedAt).toEqual(at);
      }
      expect(await commandsOf(client, () => adapter.touchMany!([]))).toEqual([]);
    });

    it('sends the scripts of a big batch back to back, without waiting for a reply', async () => {
      const client = open();
      let inFlight = 0;
      let most = 0;
      // Counts EVALSHA calls that are in flight at the same time.
      const counting = new Proxy(client, {
        get(target, property, receiver) {
          const value = Reflect.get(target, property, receiver) as unknown;
          if (property !== 'evalsha' || typeof value !== 'function') return value;
          return async (...args: unknown[]) => {
            most = Math.max(most, ++inFlight);
            try {
              return await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
            } finally {
              inFlight--;
            }
          };
        },
      });
      const adapter = redisAdapter(counting, { prefix: randomPrefix() });
      const record = liveRecord();
      await adapter.insert(record);
      const at = new Date(Date.now() + 10);
      const entries = Array.from({ length: 2_500 }, (_, i) => ({
        id: i === 2_499 ? record.id : `UNKNOWN${String(i).padStart(5, '0')}`,
        lastUsedAt: at,
      }));
      most = 0;
      await adapter.touchMany!(entries);
      expect(most).toBe(3);
      expect((await adapter.findById(record.id))?.lastUsedAt).toEqual(at);
    });
  });

  describe.each(CLIENTS)('subscribe() over %s', (_, Client) => {
    /** Adapter A writes over its own client; adapter B subscribes over another one. */
    const pair = (prefix = randomPrefix(), options: RedisOptions = {}) => ({
      a: redisAdapter(open(Redis, options), { prefix }),
      b: redisAdapter(open(Client, options), { prefix }),
      prefix,
    });

    it('delivers a revocation and a delete made over another client, at once', async () => {
      const { a, b } = pair();
      const { events, listener } = recorder();
      await subscribe(b, listener);
      const revoked = liveRecord();
      const deleted = liveRecord();
      await a.insert(revoked);
      await a.insert(deleted);

      let started = Date.now();
      await a.update(revoked.id, { revokedAt: new Date() });
      await until(() => events.includes(revoked.id), 'the revocation');
      expect(Date.now() - started).toBeLessThan(1_000);
      started = Date.now();
      expect(await a.delete(deleted.id)).toBe(true);
      await until(() => events.includes(deleted.id), 'the delete');
      expect(Date.now() - started).toBeLessThan(1_000);
      expect(events).toEqual([revoked.id, deleted.id]);
    });

    it('publishes nothing for last-used, rehash, insert, purge, touchMany or unknown ids', async () => {
      const { a, b } = pair();
      const { events, listener } = recorder();
      await subscribe(b, listener);
      const record = liveRecord();
      const expired = liveRecord({ expiresAt: new Date(Date.now() - 1) });
      await a.insert(record);
      await a.insert(expired);
      await a.update(record.id, { lastUsedAt: new Date() });
      await a.update(record.id, { secretHash: 'rehashed' });
      await a.update(record.id, {});
      await a.touchMany!([{ id: record.id, lastUsedAt: new Date(Date.now() + 5) }]);
      expect(await a.deleteExpired(new Date())).toBe(1);
      expect(await a.update('UNKNOWNxxxxx', { revokedAt: new Date() })).toBeNull();
      expect(await a.delete('UNKNOWNxxxxx')).toBe(false);
      // Messages on one channel arrive in order: once the marker is in, nothing else came.
      const marker = liveRecord();
      await a.insert(marker);
      await a.update(marker.id, { revokedAt: new Date() });
      await until(() => events.includes(marker.id), 'the marker');
      expect(events).toEqual([marker.id]);
    });

    it('publishes on <keyPrefix><prefix>invalidate, also under the client keyPrefix', async () => {
      const outer = randomPrefix();
      const { a, b } = pair('km:', { keyPrefix: outer });
      const { events, listener } = recorder();
      await subscribe(b, listener);
      const raw = open();
      const heard: [string, string][] = [];
      raw.on('message', (channel: string, message: string) => heard.push([channel, message]));
      await raw.subscribe(`${outer}km:invalidate`);
      const record = liveRecord();
      await a.insert(record);
      await a.update(record.id, { revokedAt: new Date() });
      await until(() => events.includes(record.id) && heard.length > 0, 'both subscribers');
      expect(heard).toEqual([[`${outer}km:invalidate`, record.id]]);
      // Revoking again (idempotent) publishes again: harmless, and the change is there.
      expect(events).toEqual([record.id]);
    });

    it('keeps two prefixes apart', async () => {
      const first = pair();
      const second = pair();
      const one = recorder();
      const two = recorder();
      await subscribe(first.b, one.listener);
      await subscribe(second.b, two.listener);
      const record = liveRecord();
      await first.a.insert(record);
      await second.a.insert(record); // the same id under the other prefix
      await first.a.update(record.id, { revokedAt: new Date() });
      await first.a.delete(record.id);
      const marker = liveRecord();
      await second.a.insert(marker);
      await second.a.delete(marker.id);
      await until(() => two.events.includes(marker.id), 'the marker');
      await until(() => one.events.length === 2, 'both messages on the first prefix');
      expect(one.events).toEqual([record.id, record.id]);
      expect(two.events).toEqual([marker.id]);
    });

    it('after CLIENT KILL of its connection: reset(), reconnects, reset() again, delivers again', async () => {
      const name = uniqueName('sub');
      const { a, b } = pair(randomPrefix(), { connectionName: name });
      const { events, listener } = recorder();
      await subscribe(b, listener);
      const [first, ...more] = await subscribers(admin, name);
      expect(first).toBeDefined();
      expect(more).toEqual([]);

      await admin.call('CLIENT', 'KILL', 'ID', first!);
      await until(() => events.length === 1, 'the reset when the connection drops');
      expect(events).toEqual(['reset']);
      await until(() => events.length === 2, 'the reset once subscribed again');
      expect(events).toEqual(['reset', 'reset']);
      const [second, ...others] = await subscribers(admin, name);
      expect(second).toBeDefined();
      expect(second).not.toBe(first);
      expect(others).toEqual([]);

      const record = liveRecord();
      await a.insert(record);
      await a.update(record.id, { revokedAt: new Date() });
      await until(() => events.length === 3, 'the revocation after the reconnection');
      expect(events).toEqual(['reset', 'reset', record.id]);
    });

    it('close() stops it: no more messages or reconnections; idempotent', async () => {
      const name = uniqueName('sub');
      const { a, b } = pair(randomPrefix(), { connectionName: name });
      const { events, listener } = recorder();
      const control = recorder();
      const subscription = await b.subscribe!(listener);
      await subscribe(b, control.listener);
      expect(await subscribers(admin, name)).toHaveLength(2);

      await subscription.close();
      await subscription.close();
      await until(async () => (await subscribers(admin, name)).length === 1, 'one subscriber');
      const record = liveRecord();
      await a.insert(record);
      await a.update(record.id, { revokedAt: new Date() });
      await until(() => control.events.includes(record.id), 'the control subscriber');
      // A barrier past the first reconnection delay: the control's connection is killed, and it
      // reconnects (reset when lost, reset when subscribed again); the closed one did not.
      const [controlId] = await subscribers(admin, name);
      await admin.client('KILL', 'ID', controlId!);
      await until(
        () => control.events.filter((event) => event === 'reset').length === 2,
        'the control subscriber to reconnect',
      );
      expect(await subscribers(admin, name)).toHaveLength(1);
      expect(events).toEqual([]);
    });

    it('keeps delivering when a listener throws', async () => {
      const { a, b } = pair();
      const seen: string[] = [];
      await subscribe(b, {
        invalidate(id) {
          seen.push(id);
          throw new Error('listener bug');
        },
        reset() {
          throw new Error('listener bug');
        },
      });
      const records = [liveRecord(), liveRecord()];
      for (const record of records) {
        await a.insert(record);
        await a.delete(record.id);
      }
      await until(() => seen.length === 2, 'both deletes');
      expect(seen).toEqual(records.map((record) => record.id));
    });

    it('subscribes on a connection of its own, with the client options, even a lazy one', async () => {
      const name = uniqueName('lazy');
      const client = open(Client, { connectionName: name, lazyConnect: true, db: 3 });
      const adapter = redisAdapter(client, { prefix: randomPrefix() });
      const { events, listener } = recorder();
      await subscribe(adapter, listener);
      expect(client.status).toBe('wait'); // the client itself was not used
      const entries = (await clientList(admin)).filter((entry) => entry.get('name') === name);
      expect(entries).toHaveLength(1);
      expect(entries[0]!.get('db')).toBe('3');
      expect(events).toEqual([]);
    });
  });

  it('delivers over a RESP3 client (ioredis 6, protocol: 3)', async () => {
    const prefix = randomPrefix();
    const a = redisAdapter(open(), { prefix });
    const b = redisAdapter(open(Redis, { protocol: 3 }), { prefix });
    const { events, listener } = recorder();
    await subscribe(b, listener);
    const record = liveRecord();
    await a.insert(record);
    await a.update(record.id, { revokedAt: new Date() });
    await until(() => events.includes(record.id), 'the revocation');
    expect(events).toEqual([record.id]);
  });

  describe('subscribe() failures', () => {
    it('rejects with the connection error when the first connection fails', async () => {
      const port = await freePort();
      const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true });
      client.on('error', () => {});
      opened.push(client);
      const started = Date.now();
      await expect(redisAdapter(client).subscribe!(recorder().listener)).rejects.toMatchObject({
        code: 'ECONNREFUSED',
      });
      expect(Date.now() - started).toBeLessThan(2_000);
    });

    it("rejects within the client's connectTimeout when Redis never answers", async () => {
      const sockets = new Set<net.Socket>();
      // Reads (and drops) everything, answers nothing.
      const silent = net.createServer((socket) => {
        socket.resume();
        sockets.add(socket);
        socket.on('close', () => sockets.delete(socket));
      });
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      try {
        const { port } = silent.address() as net.AddressInfo;
        const client = new Redis({
          host: '127.0.0.1',
          port,
          lazyConnect: true,
          connectTimeout: 300,
        });
        client.on('error', () => {});
        opened.push(client);
        const started = Date.now();
        await expect(redisAdapter(client).subscribe!(recorder().listener)).rejects.toThrow(
          /did not subscribe within 300 ms/,
        );
        expect(Date.now() - started).toBeLessThan(2_000);
        await until(() => sockets.size === 0, 'the connection to be closed');
      } finally {
        for (const socket of sockets) socket.destroy();
        await new Promise((resolve) => silent.close(resolve));
      }
    });

    it('rejects with NOPERM for an ACL user without the channel, whose revocations still work', async () => {
      const user = uniqueName('acl');
      const prefix = randomPrefix();
      await admin.call(
        'ACL',
        'SETUSER',
        user,
        'on',
        '>pw',
        `~${prefix}*`,
        '+@all',
        'resetchannels',
      );
      try {
        const client = open(Redis, { username: user, password: 'pw' });
        const adapter = redisAdapter(client, { prefix });
        await expect(adapter.subscribe!(recorder().listener)).rejects.toThrow(/NOPERM/);
        const record = liveRecord();
        await adapter.insert(record);
        expect((await adapter.update(record.id, { revokedAt: new Date() }))?.revokedAt).toEqual(
          expect.any(Date),
        );
        expect(await adapter.delete(record.id)).toBe(true);
      } finally {
        await admin.call('ACL', 'DELUSER', user);
      }
    });

    it('refuses a client it cannot duplicate with CONFIG', async () => {
      const fake = { evalsha: async () => 0, eval: async () => 0, hgetall: async () => ({}) };
      const error = await expectCode(
        redisAdapter(fake as unknown as RedisClient).subscribe!(recorder().listener),
        'CONFIG',
      );
      expect(error.message).toMatch(/ioredis Redis or Cluster client/);
    });

    it('rejects over a Cluster client that knows no node yet', async () => {
      const cluster = new Cluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true });
      try {
        const adapter = redisAdapter(cluster, { prefix: '{keymint}:' });
        await expect(adapter.subscribe!(recorder().listener)).rejects.toThrow(/knows no node yet/);
      } finally {
        cluster.disconnect();
      }
    });
  });

  describe('subscribe() through an outage', () => {
    it('resets once when lost and once when back, reconnecting with backoff, then delivers', async () => {
      const proxy = await tcpProxy(Number(new URL(url).port || 6379));
      try {
        const prefix = randomPrefix();
        // Only the subscriber reconnects through the proxy: b's own client, idle here, does not.
        const through = open(Redis, { retryStrategy: () => null }, withPort(url, proxy.port));
        const b = redisAdapter(through, { prefix });
        const a = redisAdapter(open(), { prefix });
        const { events, listener } = recorder();
        await subscribe(b, listener);

        await proxy.cut();
        await until(() => events.length === 1, 'the reset when the connection is lost');
        // Several attempts fail meanwhile (after 100, 200, 400 ms...): the proxy counts them.
        await until(() => proxy.closed() >= 3, 'three failed reconnection attempts', 8_000);
        const record = liveRecord();
        await a.insert(record);
        await a.update(record.id, { revokedAt: new Date() }); // lost: nobody subscribed
        expect(events).toEqual(['reset']);

        await proxy.up();
        await until(() => events.length === 2, 'the reset once subscribed again', 8_000);
        expect(events).toEqual(['reset', 'reset']);
        expect(await a.delete(record.id)).toBe(true);
        await until(() => events.length === 3, 'the delete after the outage');
        expect(events).toEqual(['reset', 'reset', record.id]);
      } finally {
        await proxy.down();
      }
    });
  });

  describe('a process with a live subscription', () => {
    let bundle: Bundle | undefined;
    beforeAll(async () => {
      bundle = await bundleFixture('redis-invalidation-child.ts');
    });
    afterAll(() => bundle?.remove());

    for (const mode of ['plain', 'lost', 'back'] as const) {
      it(`exits on its own, without close() (${mode})`, async () => {
        const { code, stdout, stderr } = await runOnce(
          bundle!.file,
          {
            KEYMINT_CHILD_URL: url,
            KEYMINT_CHILD_PREFIX: randomPrefix(),
            KEYMINT_CHILD_MODE: mode,
          },
          8_000,
        );
        expect(stderr).toBe('');
        expect(code).toBe(0); // not null: SIGKILL after 8 s means it hung
        const report = JSON.parse(stdout.split('\n')[0]!) as { ready: boolean; events: string[] };
        const expected = {
          plain: [expect.stringMatching(/^invalidate:CH/)],
          lost: [expect.stringMatching(/^invalidate:CH/), 'reset'],
          back: [expect.stringMatching(/^invalidate:CH/), 'reset', 'reset'],
        }[mode];
        expect(report).toEqual({ ready: true, events: expected });
      }, 15_000);
    }
  });

  describe('two processes with verify caches', () => {
    let bundle: Bundle | undefined;
    const peers: Peer[] = [];
    const prefix = randomPrefix();
    const peer = (env: Record<string, string> = {}) => {
      const started = startPeer(bundle!.file, {
        KEYMINT_PEER_URL: url,
        KEYMINT_PEER_PREFIX: prefix,
        ...env,
      });
      peers.push(started);
      return started;
    };
    let writer: Peer;
    let readers: [string, Peer][];
    let unpushed: Peer;

    beforeAll(async () => {
      bundle = await bundleFixture('redis-invalidation-peer.ts');
      writer = peer();
      readers = [
        ['ioredis 6', peer({ KEYMINT_PEER_IOREDIS: '6' })],
        ['ioredis 5', peer({ KEYMINT_PEER_IOREDIS: '5' })],
      ];
      unpushed = peer({ KEYMINT_PEER_PUSH: '0', KEYMINT_PEER_CACHE_TTL: '60s' });
      await Promise.all(peers.map((started) => started.ready));
    }, 20_000);

    afterAll(async () => {
      // Closing stdin: each peer calls keymint.close(), quits its client and must exit by itself.
      const exits = await Promise.all(peers.map((started) => started.finish(5_000)));
      const codes = exits.map(({ code }) => code);
      await bundle?.remove();
      expect(codes).toEqual(peers.map(() => 0));
      expect(peers.map((started) => started.stderr())).toEqual(peers.map(() => ''));
    });

    const created = async (name: string) => {
      const reply = await writer.send({ op: 'create', name });
      expect(reply.ok).toBe(true);
      return (reply as { result: { key: string; apiKey: { id: string } } }).result;
    };
    const warm = async (reader: Peer, key: string) =>
      expect(await reader.send({ op: 'verify', key })).toMatchObject({
        ok: true,
        result: { valid: true },
      });

    it('a revocation in process A reaches the warm cache of process B within 1 s', async () => {
      const { key, apiKey } = await created('revoked in A');
      for (const [, reader] of readers) await warm(reader, key);
      expect(await writer.send({ op: 'revoke', id: apiKey.id })).toMatchObject({ ok: true });
      for (const [name, reader] of readers) {
        const reply = await reader.send({ op: 'verifyUntilInvalid', key, ms: 1_000 });
        expect({ name, reply }).toMatchObject({
          name,
          reply: { ok: true, result: { result: { valid: false, reason: 'revoked' } } },
        });
        const { elapsedMs } = (reply as { result: { elapsedMs: number } }).result;
        expect(elapsedMs).toBeLessThan(1_000);
      }
    });

    it('a role downgrade and a rotation in process A reach the warm caches of B within 1 s', async () => {
      const downgraded = await created('downgraded in A');
      for (const [, reader] of readers) await warm(reader, downgraded.key);
      expect(
        await writer.send({ op: 'update', id: downgraded.apiKey.id, patch: { role: 'Viewer' } }),
      ).toMatchObject({ ok: true, result: { role: 'Viewer' } });
      for (const [name, reader] of readers) {
        const reply = await reader.send({
          op: 'verifyUntilInvalid',
          key: downgraded.key,
          ms: 1_000,
          role: 'Editor',
        });
        expect({ name, reply }).toMatchObject({
          name,
          reply: { ok: true, result: { result: { valid: false, reason: 'insufficient_role' } } },
        });
        expect((reply as { result: { elapsedMs: number } }).result.elapsedMs).toBeLessThan(1_000);
      }

      const rotated = await created('rotated in A');
      for (const [, reader] of readers) await warm(reader, rotated.key);
      const rotation = await writer.send({ op: 'rotate', id: rotated.apiKey.id });
      expect(rotation.ok).toBe(true);
      const { key: newKey } = (rotation as { result: { key: string } }).result;
      for (const [name, reader] of readers) {
        const reply = await reader.send({ op: 'verifyUntilInvalid', key: rotated.key, ms: 1_000 });
        expect({ name, reply }).toMatchObject({
          name,
          reply: { ok: true, result: { result: { valid: false, reason: 'rotated' } } },
        });
        expect((reply as { result: { elapsedMs: number } }).result.elapsedMs).toBeLessThan(1_000);
        await warm(reader, newKey);
      }
    });

    it('a delete in process A reaches the warm cache of process B within 1 s', async () => {
      const { key, apiKey } = await created('deleted in A');
      for (const [, reader] of readers) await warm(reader, key);
      expect(await writer.send({ op: 'delete', id: apiKey.id })).toEqual({
        ok: true,
        result: null,
      });
      for (const [, reader] of readers) {
        expect(await reader.send({ op: 'verifyUntilInvalid', key, ms: 1_000 })).toMatchObject({
          ok: true,
          result: { result: { valid: false, reason: 'not_found' } },
        });
      }
    });

    it('control: without subscribe, a 60 s cache still answers valid after the revocation', async () => {
      const { key, apiKey } = await created('revoked, not pushed');
      await warm(unpushed, key);
      await warm(readers[0]![1], key);
      expect(await writer.send({ op: 'revoke', id: apiKey.id })).toMatchObject({ ok: true });
      // The pushed reader sees it at once; the one without push keeps its cached answer.
      expect(await readers[0]![1].send({ op: 'verifyUntilInvalid', key, ms: 1_000 })).toMatchObject(
        {
          ok: true,
          result: { result: { valid: false, reason: 'revoked' } },
        },
      );
      expect(await unpushed.send({ op: 'verify', key })).toMatchObject({
        ok: true,
        result: { valid: true, apiKey: { id: apiKey.id } },
      });
      const waited = await unpushed.send({ op: 'verifyUntilInvalid', key, ms: 1_500 });
      expect(waited).toMatchObject({ ok: true, result: { result: { valid: true } } });
      const { elapsedMs } = (waited as { result: { elapsedMs: number } }).result;
      expect(elapsedMs).toBeGreaterThanOrEqual(1_500);
    });
  });

  describeWith(clusterTools, 'over Redis Cluster', () => {
    const servers: ChildProcess[] = [];
    let dir = '';
    let ports: number[] = [];

    beforeAll(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'keymint-cluster-'));
      ports = [await freePort(), await freePort(), await freePort()];
      for (const port of ports) {
        const args = [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          path.join(dir, `nodes-${port}.conf`),
          '--dir',
          dir,
          '--save',
          '',
          '--appendonly',
          'no',
        ];
        servers.push(spawn('redis-server', args, { stdio: 'ignore' }));
      }
      for (const port of ports) {
        await until(async () => {
          const probe = new Redis({ port, lazyConnect: true, retryStrategy: () => null });
          probe.on('error', () => {});
          try {
            await probe.connect();
            return (await probe.ping()) === 'PONG';
          } catch {
            return false;
          } finally {
            probe.disconnect();
          }
        }, `cluster node ${port}`);
      }
      const created = spawnSync(
        'redis-cli',
        [
          '--cluster',
          'create',
          ...ports.map((port) => `127.0.0.1:${port}`),
          '--cluster-replicas',
          '0',
          '--cluster-yes',
        ],
        { encoding: 'utf8', timeout: 20_000 },
      );
      if (created.status !== 0) throw new Error(`redis-cli --cluster create: ${created.stdout}`);
      const probe = new Redis({ port: ports[0] });
      try {
        await until(
          async () => String(await probe.cluster('INFO')).includes('cluster_state:ok'),
          'cluster_state:ok',
          15_000,
        );
      } finally {
        probe.disconnect();
      }
    }, 30_000);

    afterAll(async () => {
      for (const server of servers) server.kill('SIGKILL');
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    const clusterClient = async () => {
      const cluster = new Cluster([{ host: '127.0.0.1', port: ports[0]! }]);
      cluster.on('error', () => {});
      await new Promise((resolve) => cluster.once('ready', resolve));
      return cluster;
    };

    it('delivers revocations to a subscriber on another Cluster client, also after CLIENT KILL', async () => {
      const writer = await clusterClient();
      const reader = await clusterClient();
      try {
        const a = redisAdapter(writer, { prefix: '{keymint}:' });
        const b = redisAdapter(reader, { prefix: '{keymint}:' });
        const { events, listener } = recorder();
        await subscribe(b, listener);
        const record = liveRecord();
        await a.insert(record);
        await a.touchMany!([{ id: record.id, lastUsedAt: new Date(Date.now() + 1) }]);
        await a.update(record.id, { revokedAt: new Date() });
        await until(() => events.includes(record.id), 'the revocation');

        // Its connection goes to one node, picked at random: kill the pubsub connections of all.
        for (const port of ports) {
          const node = new Redis({ port });
          try {
            await node.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
          } finally {
            node.disconnect();
          }
        }
        await until(() => events.length === 3, 'reset twice');
        expect(events).toEqual([record.id, 'reset', 'reset']);
        expect(await a.delete(record.id)).toBe(true);
        await until(() => events.length === 4, 'the delete');
        expect(events[3]).toBe(record.id);
      } finally {
        writer.disconnect();
        reader.disconnect();
      }
    });
  });
});
