// Fault injection against a real MariaDB of this file's own (never the shared server of
// test/global-setup.ts): the pool's connections killed mid-run (KILL from another session), the
// server stopped and started again with its data, and a row lock held past the lock wait timeout.
// The rule throughout: keymint fails closed (never `valid` for a key that is not valid; failures
// are STORE_FAILURE with the driver's error as cause, nothing half-written), and the same
// instance, on the same pool, works again once the database is back.
import type mysql from 'mysql2/promise';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { migrate, mysqlAdapter } from '../src/adapters/mysql/index.js';
import {
  createKeymint,
  hmacSha256Hasher,
  type Keymint,
  type KeymintOptions,
} from '../src/index.js';
import { openPool } from './fixtures/mysql.js';
import { describeWithOwnServer } from './fixtures/restartable.js';
import { sleep } from './fixtures/wait.js';
import {
  cachedUntilFailure,
  failures,
  recovered,
  revokeReachesPeer,
  startWorkload,
  tally,
  workloadKeys,
  wrongOutcomes,
} from './fixtures/workload.js';
import { expectCode, HMAC_SECRET } from './helpers.js';

const hasher = hmacSha256Hasher(HMAC_SECRET);
/** The documented bound for a change pushed to another instance: a guarantee, kept at 1 s. */
const PUSH_BOUND_MS = 1_000;
/** How soon cached answers stop once the server is down (the feed resets after 600 ms). */
const CACHE_DROP_BOUND_MS = 5_000;

describeWithOwnServer('mysql', 'MariaDB faults, on a server of its own', (server) => {
  let admin: mysql.Pool;
  const pools: mysql.Pool[] = [];
  const instances: Keymint[] = [];
  let tables = 0;

  beforeAll(() => {
    admin = openPool(server().url, { connectionLimit: 2 });
  });
  afterEach(async () => {
    await Promise.all(instances.splice(0).map((keymint) => keymint.close()));
    await Promise.all(pools.splice(0).map((pool) => pool.end().catch(() => {})));
  });
  afterAll(async () => {
    await admin?.end();
  });

  async function freshTable(what: string): Promise<string> {
    const table = `${what}_${++tables}`;
    await migrate(admin, { table });
    return table;
  }

  /** A host's pool; `threads` collects the server connection ids it opens. */
  function hostPool(sessionSql: string[] = []) {
    const pool = openPool(server().url, { connectionLimit: 4, connectTimeout: 2_000 }, sessionSql);
    const threads = new Set<number>();
    pool.pool.on('connection', (connection) => {
      if (connection.threadId !== null) threads.add(connection.threadId);
    });
    pools.push(pool);
    return { pool, threads };
  }

  function keymintOver(pool: mysql.Pool, table: string, options: Partial<KeymintOptions> = {}) {
    const keymint = createKeymint({
      adapter: mysqlAdapter(pool, { table }),
      hasher,
      rateLimit: false,
      onBackgroundError: () => {},
      ...options,
    });
    instances.push(keymint);
    return keymint;
  }

  describe('KILL on the pool’s connections mid-run', () => {
    it.each([
      ['without the verify cache', false as const],
      ['with the verify cache', undefined],
    ])(
      'never answers valid wrongly, fails with STORE_FAILURE only, and recovers (%s)',
      async (_label, cache) => {
        const table = await freshTable('killed');
        const { pool, threads } = hostPool();
        const keymint = keymintOver(pool, table, cache === false ? { cache } : {});
        const keys = await workloadKeys(keymint, 'fixed');
        const load = startWorkload(keymint, keys, { workers: 4, createPrefix: 'load' });
        let killed = 0;
        for (let round = 0; round < 6; round++) {
          await sleep(150);
          for (const id of threads) {
            await admin.query(`KILL ${id}`).then(
              () => killed++,
              () => {}, // gone already
            );
          }
          threads.clear();
        }
        await sleep(150);
        const outcomes = await load.stop();
        expect(killed).toBeGreaterThan(0);
        expect(wrongOutcomes(outcomes), JSON.stringify(tally(outcomes))).toEqual([]);
        if (cache === false) expect(failures(outcomes)).toBeGreaterThan(0);
        // The same instance, on the same pool, works again.
        expect((await recovered(keymint, keys.valid)).result).toMatchObject({ valid: true });
        await keymint.createApiKey({ name: 'after the kills', role: 'Viewer', ttl: '1h' });
      },
      60_000,
    );
  });

  describe('the server stopped and started again', () => {
    it('drops the cache while down (STORE_FAILURE, never a cached valid for long), then serves again and pushes revocations < 1 s', async () => {
      const own = server();
      const table = await freshTable('restart');
      const a = keymintOver(hostPool().pool, table);
      const b = keymintOver(hostPool().pool, table);
      const created = await a.createApiKey({ name: 'survivor', role: 'Editor', ttl: '1h' });
      const doomed = await a.createApiKey({ name: 'doomed', role: 'Editor', ttl: '1h' });
      expect(await a.verifyKey(created.key)).toMatchObject({ valid: true });
      try {
        await own.stop('normal');
        const since = performance.now();
        const { firstFailureMs } = await cachedUntilFailure(
          a,
          created.key,
          since,
          CACHE_DROP_BOUND_MS,
        );
        expect(firstFailureMs).toBeLessThan(CACHE_DROP_BOUND_MS);
        const failed = await expectCode(a.revokeApiKey(doomed.apiKey.id), 'STORE_FAILURE');
        expect(failed.cause).toBeInstanceOf(Error);
      } finally {
        await own.ensureStarted();
      }
      expect((await recovered(a, created.key, 10_000)).result).toMatchObject({ valid: true });
      const { refusedMs } = await revokeReachesPeer(a, b, doomed, PUSH_BOUND_MS);
      expect(refusedMs).toBeLessThan(PUSH_BOUND_MS);
    }, 60_000);

    it('keeps every committed key across a crash (SIGKILL) of the server', async () => {
      const own = server();
      const table = await freshTable('crash');
      const keymint = keymintOver(hostPool().pool, table, { cache: false });
      const made = await keymint.createApiKey({ name: 'committed', role: 'Admin', ttl: '1h' });
      try {
        await own.stop('kill');
        await expectCode(keymint.verifyKey(made.key), 'STORE_FAILURE');
      } finally {
        await own.ensureStarted();
      }
      expect((await recovered(keymint, made.key, 10_000)).result).toMatchObject({
        valid: true,
        apiKey: { name: 'committed', role: 'Admin' },
      });
    }, 60_000);
  });

  describe('a lock wait timeout', () => {
    it('fails a revoke and an update on a locked row with STORE_FAILURE (the driver error as cause), writes nothing, and verify keeps answering', async () => {
      const table = await freshTable('locked');
      const { pool } = hostPool(['SET SESSION innodb_lock_wait_timeout = 1']);
      const keymint = keymintOver(pool, table, { cache: false });
      const made = await keymint.createApiKey({ name: 'held', role: 'Editor', ttl: '1h' });
      const holder = await admin.getConnection();
      try {
        await holder.query('START TRANSACTION');
        await holder.query(`SELECT id FROM ${table} WHERE id = ? FOR UPDATE`, [made.apiKey.id]);
        const revoke = await expectCode(keymint.revokeApiKey(made.apiKey.id), 'STORE_FAILURE');
        expect((revoke.cause as { code?: string }).code).toBe('ER_LOCK_WAIT_TIMEOUT');
        const update = await expectCode(
          keymint.updateApiKey(made.apiKey.id, { role: 'Admin' }),
          'STORE_FAILURE',
        );
        expect((update.cause as { code?: string }).code).toBe('ER_LOCK_WAIT_TIMEOUT');
        // Plain reads take no lock: verification goes on while the row is held.
        expect(await keymint.verifyKey(made.key)).toMatchObject({ valid: true });
      } finally {
        await holder.query('ROLLBACK');
        holder.release();
      }
      const [changes] = (await admin.query(`SELECT COUNT(*) AS n FROM ${table}_changes`)) as [
        { n: number }[],
        unknown,
      ];
      expect(Number(changes[0]!.n)).toBe(0);
      expect(await keymint.verifyKey(made.key)).toMatchObject({
        valid: true,
        apiKey: { role: 'Editor' },
      });
      await keymint.revokeApiKey(made.apiKey.id);
      expect(await keymint.verifyKey(made.key)).toEqual({ valid: false, reason: 'revoked' });
    }, 30_000);
  });
});
