// The PostgreSQL adapter's optional methods: touchMany (batched last-used writes in one statement)
// and subscribe (revocations and deletes pushed through LISTEN/NOTIFY on a dedicated connection).
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  InvalidationListener,
  KeyAdapter,
  LastUsedEntry,
  StoredApiKey,
  Subscription,
} from '../src/adapter.js';
import { migrate, postgresAdapter } from '../src/adapters/postgres/index.js';
import { bundleFixture, runOnce, startPeer, type Bundle, type Peer } from './fixtures/children.js';
import { freePort, tcpProxy, withPort } from './fixtures/net.js';
import type { PeerReply } from './fixtures/peer-process.js';
import { dropSchemas, openPool, randomSchema } from './fixtures/postgres.js';
import { sleep, until } from './fixtures/wait.js';
import { storedRecord } from './helpers.js';
import { describeWithServer } from './servers.js';

let counter = 0;
/** A record with a fresh id and name. */
function rec(overrides: Partial<StoredApiKey> = {}): StoredApiKey {
  counter++;
  const id = `IV${String(counter).padStart(10, '0')}`;
  return storedRecord({ id, name: `key ${id}`, ...overrides });
}

const at = (seconds: number) => new Date(Date.UTC(2030, 0, 1, 12, 0, seconds, 7));

type ListenerEvent = { type: 'invalidate'; id: string; at: number } | { type: 'reset'; at: number };

/** A listener that records what it is told, with the time. */
function recorder() {
  const events: ListenerEvent[] = [];
  const listener: InvalidationListener = {
    invalidate: (id) => events.push({ type: 'invalidate', id, at: Date.now() }),
    reset: () => events.push({ type: 'reset', at: Date.now() }),
  };
  const ids = () => events.flatMap((event) => (event.type === 'invalidate' ? [event.id] : []));
  const resets = () => events.filter((event) => event.type === 'reset').length;
  /** Waits for the invalidation of `id` and returns when it arrived. */
  const arrival = async (id: string, ms = 2_000) => {
    await until(() => ids().includes(id), `the invalidation of ${id}`, ms);
    return events.find((event) => event.type === 'invalidate' && event.id === id)!.at;
  };
  return { listener, events, ids, resets, arrival };
}

function subscribe(adapter: KeyAdapter, listener: InvalidationListener): Promise<Subscription> {
  expect(adapter.subscribe).toBeTypeOf('function');
  return adapter.subscribe!(listener);
}

/** A pool whose `query` calls are counted; everything else (Client, options) passes through. */
function countingPool(pool: pg.Pool) {
  const queries: string[] = [];
  const proxy = new Proxy(pool, {
    get(target, property, receiver) {
      if (property === 'query') {
        return (text: string, values?: unknown[]) => {
          queries.push(text);
          return target.query(text, values);
        };
      }
      return Reflect.get(target, property, receiver) as unknown;
    },
  });
  return { pool: proxy, queries };
}

describeWithServer('postgres', 'postgresAdapter() touchMany and subscribe', (url) => {
  const schema = randomSchema();
  const otherSchema = randomSchema();
  const pools: pg.Pool[] = [];
  const subscriptions: Subscription[] = [];
  let pool: pg.Pool;

  const open = (config: pg.PoolConfig = {}, connectionString = url) => {
    const opened = openPool(connectionString, config);
    pools.push(opened);
    return opened;
  };
  /** A migrated table of its own for one test, and an adapter on it over `over`. */
  async function freshTable(table: string, over: pg.Pool = pool, inSchema = schema) {
    await migrate(pool, { schema: inSchema, table });
    return postgresAdapter(over, { schema: inSchema, table });
  }
  async function listening(adapter: KeyAdapter, listener: InvalidationListener) {
    const subscription = await subscribe(adapter, listener);
    subscriptions.push(subscription);
    return subscription;
  }
  /** The backends that run LISTEN for a pool with this application_name. */
  const listeners = async (applicationName: string) =>
    (
      await pool.query<{ pid: number; query: string }>(
        `SELECT pid, query FROM pg_stat_activity
          WHERE application_name = $1 AND query LIKE 'LISTEN%'`,
        [applicationName],
      )
    ).rows;

  beforeAll(async () => {
    pool = open({ max: 10 });
    await migrate(pool, { schema });
  });

  afterAll(async () => {
    await Promise.all(subscriptions.map((subscription) => subscription.close()));
    if (pool) await dropSchemas(pool, [schema, otherSchema]);
    await Promise.all(pools.map((p) => p.end()));
  });

  describe('touchMany()', () => {
    it('moves each lastUsedAt forward only, ignores unknown ids and keeps the latest of duplicates', async () => {
      const adapter = await freshTable('touch_keys');
      const never = rec();
      const older = rec({ lastUsedAt: at(10) });
      const newer = rec({ lastUsedAt: at(10) });
      const duplicated = rec({ lastUsedAt: at(1) });
      const untouched = rec({ lastUsedAt: at(3) });
      for (const record of [never, older, newer, duplicated, untouched]) {
        await adapter.insert(record);
      }
      await adapter.touchMany!([
        { id: never.id, lastUsedAt: at(5) },
        { id: older.id, lastUsedAt: at(5) }, // earlier than stored: ignored
        { id: newer.id, lastUsedAt: at(20) },
        { id: 'UNKNOWN00000', lastUsedAt: at(30) },
        { id: duplicated.id, lastUsedAt: at(40) },
        { id: duplicated.id, lastUsedAt: at(2) },
        { id: duplicated.id, lastUsedAt: at(30) },
      ]);
      expect(await adapter.findById(never.id)).toEqual({ ...never, lastUsedAt: at(5) });
      expect(await adapter.findById(older.id)).toEqual(older);
      expect(await adapter.findById(newer.id)).toEqual({ ...newer, lastUsedAt: at(20) });
      expect(await adapter.findById(duplicated.id)).toEqual({ ...duplicated, lastUsedAt: at(40) });
      expect(await adapter.findById(untouched.id)).toEqual(untouched);
      expect(await adapter.findById('UNKNOWN00000')).toBeNull();
      // The same instant changes nothing; a millisecond later moves it.
      const later = new Date(at(20).getTime() + 1);
      await adapter.touchMany!([{ id: newer.id, lastUsedAt: at(20) }]);
      expect((await adapter.findById(newer.id))?.lastUsedAt).toEqual(at(20));
      await adapter.touchMany!([{ id: newer.id, lastUsedAt: later }]);
      expect((await adapter.findById(newer.id))?.lastUsedAt).toEqual(later);
    });

    it('sends one query for a batch of 500, and none for an empty batch', async () => {
      await freshTable('touch_count_keys');
      const counted = countingPool(pool);
      const adapter = postgresAdapter(counted.pool, { schema, table: 'touch_count_keys' });
      const records = Array.from({ length: 500 }, () => rec());
      // Insert in bulk through the plain pool, so only touchMany goes through the counter.
      const direct = postgresAdapter(pool, { schema, table: 'touch_count_keys' });
      await Promise.all(records.map((record) => direct.insert(record)));

      await adapter.touchMany!([]);
      expect(counted.queries).toEqual([]);

      const entries: LastUsedEntry[] = records.map((record, i) => ({
        id: record.id,
        lastUsedAt: at(i % 60),
      }));
      await adapter.touchMany!(entries);
      expect(counted.queries).toHaveLength(1);
      const { rows } = await pool.query<{ id: string; ms: string }>(
        `SELECT id, (extract(epoch FROM last_used_at) * 1000)::int8 AS ms
           FROM "${schema}".touch_count_keys`,
      );
      const stored = new Map(rows.map((row) => [row.id, Number(row.ms)]));
      expect(stored.size).toBe(500);
      for (const entry of entries) expect(stored.get(entry.id)).toBe(entry.lastUsedAt.getTime());
    });

    it('stores extreme dates exactly, whatever the process time zone', async () => {
      const adapter = await freshTable('touch_date_keys');
      const first = rec();
      const second = rec();
      await adapter.insert(first);
      await adapter.insert(second);
      const timeZone = process.env.TZ;
      // UTC-0:44:30 until 1972: pg's own Date conversion would be 30 seconds off.
      process.env.TZ = 'Africa/Monrovia';
      try {
        const old = new Date(Date.UTC(1960, 0, 1, 0, 0, 0, 123));
        const ancient = new Date('0000-06-15T23:59:59.999Z');
        await adapter.touchMany!([
          { id: first.id, lastUsedAt: old },
          { id: second.id, lastUsedAt: ancient },
        ]);
        expect((await adapter.findById(first.id))?.lastUsedAt).toEqual(old);
        expect((await adapter.findById(second.id))?.lastUsedAt).toEqual(ancient);
      } finally {
        if (timeZone === undefined) delete process.env.TZ;
        else process.env.TZ = timeZone;
      }
    });

    it('does not deadlock when processes write overlapping batches in opposite orders', async () => {
      await freshTable('touch_race_keys');
      const adapters = [open({ max: 4 }), open({ max: 4 })].map((p) =>
        postgresAdapter(p, { schema, table: 'touch_race_keys' }),
      );
      const records = Array.from({ length: 300 }, () => rec());
      const direct = postgresAdapter(pool, { schema, table: 'touch_race_keys' });
      await Promise.all(records.map((record) => direct.insert(record)));
      for (let round = 1; round <= 8; round++) {
        const forward = records.map((record) => ({ id: record.id, lastUsedAt: at(round) }));
        const backward = [...forward].reverse().map((entry) => ({
          id: entry.id,
          lastUsedAt: at(round + 30),
        }));
        await Promise.all([
          adapters[0]!.touchMany!(forward),
          adapters[1]!.touchMany!(backward),
          adapters[0]!.touchMany!([...backward].reverse()),
          adapters[1]!.touchMany!([...forward].reverse()),
        ]);
      }
      const { rows } = await pool.query<{ n: string }>(
        `SELECT count(*) AS n FROM "${schema}".touch_race_keys WHERE last_used_at = $1`,
        [at(38).toISOString()],
      );
      expect(Number(rows[0]!.n)).toBe(300);
    });

    it('rejects with the driver error (missing table, code 42P01)', async () => {
      const adapter = postgresAdapter(pool, { schema, table: 'touch_not_migrated' });
      const error = await adapter.touchMany!([{ id: 'AAAAAAAAAAAA', lastUsedAt: at(1) }]).then(
        () => undefined,
        (caught: unknown) => caught as { code?: string; message: string },
      );
      expect(error?.code).toBe('42P01');
      expect(error?.message).toMatch(/migrate\(\)/);
    });
  });

  describe('subscribe()', () => {
    it("delivers another pool's revocation and delete to the subscriber at once", async () => {
      const a = await freshTable('push_keys', open({ max: 2 }));
      const b = postgresAdapter(open({ max: 2 }), { schema, table: 'push_keys' });
      const seen = recorder();
      await listening(b, seen.listener);
      const revoked = rec();
      const deleted = rec();
      await a.insert(revoked);
      await a.insert(deleted);

      const revokedAt = new Date();
      expect((await a.update(revoked.id, { revokedAt }))?.revokedAt).toEqual(revokedAt);
      const afterRevoke = Date.now();
      expect((await seen.arrival(revoked.id)) - afterRevoke).toBeLessThan(1_000);

      expect(await a.delete(deleted.id)).toBe(true);
      const afterDelete = Date.now();
      expect((await seen.arrival(deleted.id)) - afterDelete).toBeLessThan(1_000);
      expect(seen.events.map((event) => event.type)).toEqual(['invalidate', 'invalidate']);
    });

    it('notifies nothing for last-used, rehash, insert, purge, touchMany or unknown ids', async () => {
      const a = await freshTable('quiet_keys', open({ max: 2 }));
      const b = postgresAdapter(open({ max: 2 }), { schema, table: 'quiet_keys' });
      const seen = recorder();
      await listening(b, seen.listener);
      const record = rec();
      const expired = rec({ expiresAt: at(0) });
      const marker = rec();
      await a.insert(record);
      await a.insert(expired);
      await a.insert(marker);

      await a.update(record.id, { lastUsedAt: new Date() });
      await a.update(record.id, { secretHash: 'rehashed' });
      await a.update(record.id, {});
      await a.touchMany!([{ id: record.id, lastUsedAt: new Date() }]);
      expect(await a.deleteExpired(at(1))).toBe(1);
      expect(await a.update('UNKNOWN00000', { revokedAt: new Date() })).toBeNull();
      expect(await a.delete('UNKNOWN00000')).toBe(false);
      // Notifications arrive in commit order: once the marker's is here, any other would be too.
      await a.update(marker.id, { revokedAt: new Date() });
      await seen.arrival(marker.id);
      expect(seen.ids()).toEqual([marker.id]);

      // A revocation of a key that was already revoked still notifies (the cache may hold it).
      await a.update(marker.id, { revokedAt: new Date() });
      await until(() => seen.ids().length === 2, 'the second notification');
      expect(seen.ids()).toEqual([marker.id, marker.id]);
    });

    it('notifies only when the change commits: nothing before COMMIT, nothing after ROLLBACK', async () => {
      await freshTable('tx_keys');
      const b = postgresAdapter(open({ max: 2 }), { schema, table: 'tx_keys' });
      const seen = recorder();
      await listening(b, seen.listener);
      const records = [rec(), rec(), rec(), rec()] as const;
      const barrier = rec();
      const direct = postgresAdapter(pool, { schema, table: 'tx_keys' });
      for (const record of [...records, barrier]) await direct.insert(record);

      const client = await pool.connect();
      try {
        // The adapter over one client, inside the caller's transaction.
        const inTx = postgresAdapter(client, { schema, table: 'tx_keys' });
        await client.query('BEGIN');
        await inTx.update(records[0].id, { revokedAt: new Date() });
        expect(await inTx.delete(records[1].id)).toBe(true);
        await client.query('ROLLBACK');

        await client.query('BEGIN');
        await inTx.update(records[2].id, { revokedAt: new Date() });
        // A barrier: a change committed on another connection meanwhile arrives; had the open
        // transaction's change (or a rolled-back one) notified already, it would have come first.
        await direct.delete(barrier.id);
        await seen.arrival(barrier.id);
        expect(seen.ids()).toEqual([barrier.id]);
        await client.query('COMMIT');
        await seen.arrival(records[2].id);
      } finally {
        client.release();
      }
      await direct.delete(records[3].id);
      await seen.arrival(records[3].id);
      expect(seen.ids()).toEqual([barrier.id, records[2].id, records[3].id]);
      expect((await direct.findById(records[0].id))?.revokedAt).toBeNull();
      expect(await direct.findById(records[1].id)).not.toBeNull();
    });

    it('keeps tables apart: another table, the same table name in another schema', async () => {
      const tables = [
        await freshTable('apart_keys'),
        await freshTable('apart_other_keys'),
        await freshTable('apart_keys', pool, otherSchema),
      ];
      const recorders = tables.map(() => recorder());
      for (const [i, adapter] of tables.entries()) await listening(adapter, recorders[i]!.listener);
      const records = tables.map(() => rec());
      for (const [i, adapter] of tables.entries()) await adapter.insert(records[i]!);
      for (const [i, adapter] of tables.entries()) {
        await adapter.update(records[i]!.id, { revokedAt: new Date() });
      }
      for (const [i, seen] of recorders.entries()) await seen.arrival(records[i]!.id);
      // One more round, so that a crossed notification would have arrived by now.
      for (const [i, adapter] of tables.entries()) await adapter.delete(records[i]!.id);
      for (const [i, seen] of recorders.entries()) {
        await until(() => seen.ids().length === 2, 'the delete notification');
        expect(seen.ids()).toEqual([records[i]!.id, records[i]!.id]);
      }
    });

    it('listens on the documented channel, also for names too long for a readable one', async () => {
      const applicationName = randomSchema('keymint_channel');
      const listenerPool = open({ max: 1, application_name: applicationName });
      const longSchema = `s${'x'.repeat(39)}`;
      const longTable = `t${'y'.repeat(39)}`;
      const cases: [KeyAdapter, string][] = [
        [await freshTable('channel_keys', listenerPool), `keymint:${schema}.channel_keys`],
        [await freshTable(longTable, listenerPool, longSchema), 'keymint#'],
      ];
      try {
        for (const [adapter, channel] of cases) {
          const seen = recorder();
          const subscription = await listening(adapter, seen.listener);
          const [backend] = await listeners(applicationName);
          expect(backend?.query.startsWith(`LISTEN "${channel}`)).toBe(true);
          const name = backend!.query.slice('LISTEN "'.length, -1);
          expect(Buffer.byteLength(name)).toBeLessThanOrEqual(63);
          if (channel === 'keymint#') expect(name).toMatch(/^keymint#[0-9a-f]{40}$/);
          const record = rec();
          await adapter.insert(record);
          await adapter.delete(record.id);
          await seen.arrival(record.id);
          await subscription.close();
          await until(async () => (await listeners(applicationName)).length === 0, 'close');
        }
      } finally {
        await pool.query(`DROP SCHEMA IF EXISTS "${longSchema}" CASCADE`);
      }
    });

    it('listens on a connection of its own, outside the pool, with the pool options', async () => {
      await freshTable('own_connection_keys');
      const applicationName = randomSchema('keymint_own');
      const small = openPool(url, { max: 1, application_name: applicationName });
      const adapter = postgresAdapter(small, { schema, table: 'own_connection_keys' });
      const seen = recorder();
      const subscription = await listening(adapter, seen.listener);
      try {
        // The pool's only connection is still free, and the listener is not one of the pool's.
        expect(small.totalCount).toBe(0);
        const record = rec();
        await adapter.insert(record);
        expect(small.totalCount).toBe(1);
        expect(await listeners(applicationName)).toHaveLength(1);
        // pool.end() does not wait for the listening connection.
        await expect(Promise.race([small.end(), sleep(2_000).then(() => 'hung')])).resolves.toBe(
          undefined,
        );
        // The subscription outlives the pool: it is independent.
        await postgresAdapter(pool, { schema, table: 'own_connection_keys' }).delete(record.id);
        await seen.arrival(record.id);
      } finally {
        await subscription.close();
      }
    });

    it('is there only over a pg Pool: a single Client has none', async () => {
      const client = new pg.Client({ connectionString: url });
      expect(postgresAdapter(client).subscribe).toBeUndefined();
      expect(postgresAdapter(pool).subscribe).toBeTypeOf('function');
      expect(postgresAdapter(countingPool(pool).pool).subscribe).toBeTypeOf('function');
    });

    it('rejects with the driver error when the first connection fails', async () => {
      const port = await freePort();
      const broken = open(
        { connectionTimeoutMillis: 2_000 },
        `postgres://keymint@127.0.0.1:${port}/x`,
      );
      const seen = recorder();
      const error = await subscribe(postgresAdapter(broken), seen.listener).then(
        () => undefined,
        (caught: unknown) => caught as { code?: string },
      );
      expect(error?.code).toBe('ECONNREFUSED');
      await sleep(300);
      expect(seen.events).toEqual([]);
    });

    it('after its backend is terminated: reset(), reconnects, reset() again, and delivers again', async () => {
      const a = await freshTable('terminate_keys');
      const applicationName = randomSchema('keymint_listener');
      const b = postgresAdapter(open({ max: 1, application_name: applicationName }), {
        schema,
        table: 'terminate_keys',
      });
      const seen = recorder();
      await listening(b, seen.listener);
      const [before] = await listeners(applicationName);
      expect(before).toBeDefined();

      await pool.query('SELECT pg_terminate_backend($1)', [before!.pid]);
      await until(() => seen.resets() >= 1, 'the first reset()');
      await until(() => seen.resets() >= 2, 'the reset() after reconnecting');
      const [after] = await listeners(applicationName);
      expect(after?.pid).toBeDefined();
      expect(after?.pid).not.toBe(before!.pid);

      const record = rec();
      await a.insert(record);
      await a.update(record.id, { revokedAt: new Date() });
      const sent = Date.now();
      expect((await seen.arrival(record.id)) - sent).toBeLessThan(1_000);
      expect(seen.events.map((event) => event.type)).toEqual(['reset', 'reset', 'invalidate']);
    });

    it('reconnects with backoff through an outage, resetting once when lost and once when back', async () => {
      const a = await freshTable('outage_keys');
      const target = new URL(url);
      const proxy = await tcpProxy(Number(target.port), target.hostname);
      const through = withPort(url, proxy.port);
      const b = postgresAdapter(open({ max: 1, connectionTimeoutMillis: 1_000 }, through), {
        schema,
        table: 'outage_keys',
      });
      const seen = recorder();
      await listening(b, seen.listener);
      expect(proxy.accepted()).toBe(1);

      await proxy.cut();
      await until(() => seen.resets() === 1, 'the reset() when the connection dropped');
      // Attempts fail meanwhile (after 100, 200, 400 ms...), and no reset() while it is down:
      // the proxy counts the attempts it cut off (only the listener's pool goes through it).
      await until(() => proxy.closed() >= 3, 'three failed reconnection attempts', 8_000);
      expect(seen.resets()).toBe(1);
      await proxy.up();
      await until(() => seen.resets() === 2, 'the reset() after reconnecting', 8_000);
      expect(proxy.accepted()).toBe(2);

      const record = rec();
      await a.insert(record);
      await a.delete(record.id);
      await seen.arrival(record.id);
      expect(seen.events.map((event) => event.type)).toEqual(['reset', 'reset', 'invalidate']);
      await proxy.down();
      await until(() => seen.resets() === 3, 'the reset() of the second outage');
    });

    it('close() stops it: no more notifications or reconnections; idempotent', async () => {
      const a = await freshTable('close_keys');
      const applicationName = randomSchema('keymint_close');
      const b = postgresAdapter(open({ max: 1, application_name: applicationName }), {
        schema,
        table: 'close_keys',
      });
      const seen = recorder();
      const subscription = await subscribe(b, seen.listener);
      const other = recorder();
      const still = await listening(b, other.listener); // a second subscription is independent
      expect(await listeners(applicationName)).toHaveLength(2);

      await Promise.all([subscription.close(), subscription.close()]);
      await subscription.close();
      await until(async () => (await listeners(applicationName)).length === 1, 'the close');
      const record = rec();
      await a.insert(record);
      await a.delete(record.id);
      await other.arrival(record.id);
      expect(seen.events).toEqual([]);

      // Closed while waiting to reconnect: it never comes back. A barrier: a control subscription
      // on a pool of its own, cut off at the same moment, reconnects and delivers meanwhile.
      const controlName = randomSchema('keymint_close_control');
      const c = postgresAdapter(open({ max: 1, application_name: controlName }), {
        schema,
        table: 'close_keys',
      });
      const control = recorder();
      await listening(c, control.listener);
      const [backend] = await listeners(applicationName);
      const [controlBackend] = await listeners(controlName);
      await pool.query('SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [
        [backend!.pid, controlBackend!.pid],
      ]);
      await until(() => other.resets() === 1, 'the reset()');
      await still.close();
      await until(() => control.resets() === 2, 'the control to reconnect', 8_000);
      const later = rec();
      await a.insert(later);
      await a.delete(later.id);
      await control.arrival(later.id);
      expect(await listeners(applicationName)).toEqual([]);
      expect(other.resets()).toBe(1);
      expect(other.ids()).toEqual([record.id]);
    });

    it('close() returns within seconds when the listening backend stops answering', async () => {
      const applicationName = randomSchema('keymint_frozen');
      const listenerPool = open({ max: 1, application_name: applicationName });
      const a = await freshTable('frozen_keys', listenerPool);
      const subscription = await subscribe(a, { invalidate: () => {}, reset: () => {} });
      const [backend] = await listeners(applicationName);
      // SIGSTOP the backend (PostgreSQL runs on this machine): it keeps the socket, says nothing.
      process.kill(backend!.pid, 'SIGSTOP');
      try {
        const started = Date.now();
        await subscription.close();
        expect(Date.now() - started).toBeLessThan(4_000);
      } finally {
        process.kill(backend!.pid, 'SIGCONT');
      }
    });

    it('keeps delivering when a listener throws', async () => {
      const a = await freshTable('throwing_keys');
      const ids: string[] = [];
      await listening(a, {
        invalidate: (id) => {
          ids.push(id);
          throw new Error('listener bug');
        },
        reset: () => {},
      });
      const records = [rec(), rec()];
      for (const record of records) await a.insert(record);
      for (const record of records) await a.delete(record.id);
      await until(() => ids.length === 2, 'both notifications');
      expect(ids).toEqual(records.map((record) => record.id));
    });
  });

  describe('a process with a live subscription', () => {
    let child: Bundle | undefined;
    beforeAll(async () => {
      await migrate(pool, { schema, table: 'child_keys' });
      child = await bundleFixture('postgres-invalidation-child.ts');
    });
    afterAll(() => child?.remove());

    for (const mode of ['plain', 'backoff', 'reconnected'] as const) {
      it(`exits on its own, without close() (${mode})`, async () => {
        const result = await runOnce(
          child!.file,
          {
            KEYMINT_CHILD_URL: url,
            KEYMINT_CHILD_SCHEMA: schema,
            KEYMINT_CHILD_TABLE: 'child_keys',
            KEYMINT_CHILD_MODE: mode,
          },
          8_000,
        );
        expect(result.stderr).toBe('');
        expect(result.signal).toBeNull();
        expect(result.code).toBe(0);
        const report = JSON.parse(result.stdout) as { ready: boolean; events: string[] };
        expect(report.ready).toBe(true);
        // The subscription was live: the child saw its own revocation (and the resets).
        expect(report.events[0]).toMatch(/^invalidate:CH/);
        const resets = report.events.filter((event) => event === 'reset').length;
        expect(resets).toBe({ plain: 0, backoff: 1, reconnected: 2 }[mode]);
        expect(result.ms).toBeLessThan(5_000);
      });
    }
  });
});

describeWithServer('postgres', 'verify caches in two processes over postgresAdapter()', (url) => {
  const schema = randomSchema();
  const table = 'peer_keys';
  const peers: Peer[] = [];
  let bundle: Bundle | undefined;

  beforeAll(async () => {
    const pool = openPool(url, { max: 1 });
    try {
      await migrate(pool, { schema, table });
    } finally {
      await pool.end();
    }
    bundle = await bundleFixture('postgres-invalidation-peer.ts');
  });

  afterAll(async () => {
    for (const { child } of peers) {
      if (child.exitCode === null) child.kill();
    }
    const pool = openPool(url, { max: 1 });
    await dropSchemas(pool, [schema]);
    await pool.end();
    await bundle?.remove();
  });

  /** A peer with a 60 s cache: only a pushed invalidation can end a cached "valid" within 1 s. */
  async function start(push: boolean): Promise<Peer> {
    const peer = startPeer(bundle!.file, {
      KEYMINT_PEER_URL: url,
      KEYMINT_PEER_SCHEMA: schema,
      KEYMINT_PEER_TABLE: table,
      KEYMINT_PEER_CACHE_TTL: '60s',
      KEYMINT_PEER_PUSH: push ? '1' : '0',
    });
    peers.push(peer);
    await peer.ready;
    return peer;
  }
  const result = <T>(reply: PeerReply): T => {
    if (!reply.ok) throw new Error(`peer failed: ${reply.code} ${reply.message}`);
    return reply.result as T;
  };
  async function createAndWarm(a: Peer, b: Peer, name: string) {
    const created = result<{ key: string; apiKey: { id: string } }>(
      await a.send({ op: 'create', name }),
    );
    // Twice: the first verification fills B's cache, the second is answered from it.
    for (let i = 0; i < 2; i++) {
      expect(result(await b.send({ op: 'verify', key: created.key }))).toMatchObject({
        valid: true,
        apiKey: { id: created.apiKey.id },
      });
    }
    return { key: created.key, id: created.apiKey.id };
  }
  type Polled = { result: unknown; elapsedMs: number; attempts: number };

  it('B stops accepting a key within 1 s of A revoking or deleting it', async () => {
    const [a, b] = await Promise.all([start(true), start(true)]);
    const revoked = await createAndWarm(a, b, 'revoked');
    expect(await a.send({ op: 'revoke', id: revoked.id })).toMatchObject({ ok: true });
    const afterRevoke = result<Polled>(
      await b.send({ op: 'verifyUntilInvalid', key: revoked.key, ms: 3_000 }),
    );
    expect(afterRevoke.result).toEqual({ valid: false, reason: 'revoked' });
    expect(afterRevoke.elapsedMs).toBeLessThan(1_000);

    const deleted = await createAndWarm(a, b, 'deleted');
    expect(await a.send({ op: 'delete', id: deleted.id })).toEqual({ ok: true, result: null });
    const afterDelete = result<Polled>(
      await b.send({ op: 'verifyUntilInvalid', key: deleted.key, ms: 3_000 }),
    );
    expect(afterDelete.result).toEqual({ valid: false, reason: 'not_found' });
    expect(afterDelete.elapsedMs).toBeLessThan(1_000);

    // keymint.close() releases the listening connection: both processes then exit by themselves.
    for (const peer of [a, b]) {
      const { code, ms } = await peer.finish(10_000);
      expect(peer.stderr()).toBe('');
      expect(code).toBe(0);
      expect(ms).toBeLessThan(5_000);
    }
  }, 30_000);

  it('B sees a role downgrade and a rotation by A within 1 s, as a revocation', async () => {
    const [a, b] = await Promise.all([start(true), start(true)]);
    // Created as Editor; B's cache holds it as Editor.
    const downgraded = await createAndWarm(a, b, 'downgraded');
    expect(
      await a.send({ op: 'update', id: downgraded.id, patch: { role: 'Viewer' } }),
    ).toMatchObject({ ok: true, result: { role: 'Viewer' } });
    const afterUpdate = result<Polled>(
      await b.send({ op: 'verifyUntilInvalid', key: downgraded.key, ms: 3_000, role: 'Editor' }),
    );
    expect(afterUpdate.result).toEqual({ valid: false, reason: 'insufficient_role' });
    expect(afterUpdate.elapsedMs).toBeLessThan(1_000);

    const rotated = await createAndWarm(a, b, 'rotated');
    const rotation = result<{ key: string }>(await a.send({ op: 'rotate', id: rotated.id }));
    const afterRotate = result<Polled>(
      await b.send({ op: 'verifyUntilInvalid', key: rotated.key, ms: 3_000 }),
    );
    expect(afterRotate.result).toEqual({ valid: false, reason: 'rotated' });
    expect(afterRotate.elapsedMs).toBeLessThan(1_000);
    expect(result(await b.send({ op: 'verify', key: rotation.key }))).toMatchObject({
      valid: true,
    });
    for (const peer of [a, b]) expect((await peer.finish(10_000)).code).toBe(0);
  }, 30_000);

  it('control: without subscribe, B keeps answering valid from its cache after the revoke', async () => {
    const [a, b] = await Promise.all([start(true), start(false)]);
    const key = await createAndWarm(a, b, 'unpushed');
    expect(await a.send({ op: 'revoke', id: key.id })).toMatchObject({ ok: true });
    const polled = result<Polled>(
      await b.send({ op: 'verifyUntilInvalid', key: key.key, ms: 1_500 }),
    );
    expect(polled.result).toMatchObject({ valid: true, apiKey: { id: key.id } });
    expect(polled.elapsedMs).toBeGreaterThanOrEqual(1_500);
    expect(polled.attempts).toBeGreaterThan(10);
    for (const peer of [a, b]) expect((await peer.finish(10_000)).code).toBe(0);
  }, 30_000);
});
