// Fault injection against a real PostgreSQL of this file's own (never the shared server of
// test/global-setup.ts, which other files use at the same time): backends terminated mid-run, the
// server crashed and started again with its data, connections killed mid-statement, and replies
// lost after a commit. The rule throughout: keymint fails closed (never `valid` for a key that is
// not valid; failures are STORE_FAILURE), and the same instance, on the same pool, works again
// once the database is back.
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { migrate, postgresAdapter } from '../src/adapters/postgres/index.js';
import {
  createKeymint,
  hmacSha256Hasher,
  KeymintError,
  type Keymint,
  type KeymintOptions,
} from '../src/index.js';
import { bundleFixture, runOnce } from './fixtures/children.js';
import { replyLosingProxy } from './fixtures/fault-proxy.js';
import { describeWithOwnServer } from './fixtures/restartable.js';
import { sleep, until } from './fixtures/wait.js';
import {
  failures,
  forgedKey,
  observeSubscription,
  startWorkload,
  tally,
  tick,
  workloadKeys,
  wrongOutcomes,
  type Outcome,
} from './fixtures/workload.js';
import { expectCode, HMAC_SECRET } from './helpers.js';

const hasher = hmacSha256Hasher(HMAC_SECRET);

/** The pool settings docs/adapters.md recommends: bounded waits, so that an outage fails closed. */
const DOCUMENTED: pg.PoolConfig = {
  connectionTimeoutMillis: 5_000,
  statement_timeout: 4_000,
  query_timeout: 5_000,
};

describeWithOwnServer('postgres', 'PostgreSQL faults, on a server of its own', (server) => {
  let admin: pg.Pool;
  const pools: pg.Pool[] = [];
  const instances: Keymint[] = [];
  let tables = 0;

  beforeAll(() => {
    admin = new pg.Pool({ connectionString: server().url, max: 2 });
    // The admin pool lives through restarts too.
    admin.on('error', () => {});
  });
  afterEach(async () => {
    await Promise.all(instances.splice(0).map((keymint) => keymint.close()));
    await Promise.all(pools.splice(0).map((pool) => pool.end()));
  });
  afterAll(async () => {
    await admin?.end();
  });

  /** A migrated table of its own for one test. */
  async function freshTable(what: string): Promise<string> {
    const table = `${what}_${++tables}`;
    await migrate(admin, { table });
    return table;
  }

  /**
   * A pool as a host makes it: the documented timeouts, and the 'error' listener docs/adapters.md
   * asks for (pg emits errors of idle connections on the pool; unhandled, they end the process).
   */
  function hostPool(applicationName: string, config: pg.PoolConfig = {}) {
    const idleErrors: (Error & { code?: string })[] = [];
    const pool = new pg.Pool({
      connectionString: server().url,
      max: 4,
      application_name: applicationName,
      ...DOCUMENTED,
      ...config,
    });
    pool.on('error', (error) => idleErrors.push(error));
    pools.push(pool);
    return { pool, idleErrors };
  }

  function keymintOver(
    pool: pg.Pool,
    table: string,
    options: Partial<KeymintOptions> = {},
  ): { keymint: Keymint; background: unknown[] } {
    const background: unknown[] = [];
    const keymint = createKeymint({
      adapter: postgresAdapter(pool, { table }),
      hasher,
      // Wrong secrets are part of the load: the abuse limit would answer rate_limited.
      rateLimit: false,
      onBackgroundError: (error) => background.push(error),
      ...options,
    });
    instances.push(keymint);
    return { keymint, background };
  }

  const terminate = async (applicationName: string) =>
    (
      await admin.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1`,
        [applicationName],
      )
    ).rowCount ?? 0;

  async function rowsNamed(table: string, pattern: string): Promise<Map<string, string>> {
    const { rows } = await admin.query<{ name: string; id: string }>(
      `SELECT name, id FROM ${table} WHERE name LIKE $1`,
      [pattern],
    );
    return new Map(rows.map((row) => [row.name, row.id]));
  }

  /**
   * Checks the rows the workload's creates left: every create that succeeded has its row (with
   * the id it returned); a create that failed has none, except when the INSERT committed and only
   * the answer was lost (ambiguous: counted and returned). Nothing else is there.
   */
  async function checkCreates(table: string, outcomes: readonly Outcome[], prefix: string) {
    const rows = await rowsNamed(table, `${prefix}-%`);
    const creates = outcomes.filter((outcome) => outcome.op === 'create');
    let ambiguous = 0;
    for (const create of creates) {
      if (create.result === 'created') expect(rows.get(create.name!)).toBe(create.id);
      else if (rows.has(create.name!)) ambiguous++;
    }
    const attempted = new Set(creates.map((create) => create.name));
    for (const name of rows.keys()) expect(attempted.has(name)).toBe(true);
    expect(rows.size).toBe(creates.filter((c) => c.result === 'created').length + ambiguous);
    return { created: creates.filter((c) => c.result === 'created'), ambiguous };
  }

  /** Verifies `key` until it answers (a dead pooled connection may fail one call); bounded. */
  async function recovered(keymint: Keymint, key: string, ms = 5_000) {
    const started = Date.now();
    let attempts = 0;
    for (;;) {
      attempts++;
      try {
        return { result: await keymint.verifyKey(key), attempts, ms: Date.now() - started };
      } catch (error) {
        expect(error).toBeInstanceOf(KeymintError);
        expect((error as KeymintError).code).toBe('STORE_FAILURE');
        if (Date.now() - started > ms) throw error;
        await sleep(20);
      }
    }
  }

  describe('pg_terminate_backend on the pool’s connections mid-run', () => {
    it.each([
      ['without the verify cache', false as const],
      ['with the verify cache', undefined],
    ])(
      'never answers valid wrongly, fails with STORE_FAILURE only, and the same instance recovers (%s)',
      async (label, cache) => {
        const table = await freshTable('terminate');
        const applicationName = `keymint_victim_${tables}`;
        const { pool, idleErrors } = hostPool(applicationName);
        const { keymint, background } = keymintOver(pool, table, cache === false ? { cache } : {});
        const keys = await workloadKeys(keymint, 'fixed');
        const doomed = await keymint.createApiKey({ name: 'doomed', role: 'Editor', ttl: '1h' });

        const load = startWorkload(keymint, keys, { workers: 4, createPrefix: 'load' });
        // One more loop on a key revoked mid-run: no verification that starts after the revoke
        // returned may answer valid.
        const doomedOutcomes: Outcome[] = [];
        let stopDoomed = false;
        const doomedLoop = (async () => {
          while (!stopDoomed) {
            const startedAt = performance.now();
            let result: string;
            try {
              const verified = await keymint.verifyKey(doomed.key);
              result = verified.valid ? 'valid' : verified.reason;
            } catch (error) {
              result = (error as KeymintError).code ?? String(error);
            }
            doomedOutcomes.push({ op: 'valid', result, startedAt, endedAt: performance.now() });
            await tick();
          }
        })();

        let terminated = 0;
        let rounds = 0;
        let revokedAt: number | undefined;
        const deadline = Date.now() + 8_000;
        // Until the fault has really hit calls in flight (and at least 12 rounds), bounded.
        while ((rounds < 12 || failures(load.outcomes) < 3) && Date.now() < deadline) {
          terminated += await terminate(applicationName);
          rounds++;
          if (rounds === 6) {
            // Revoke in the middle of the fault; a failed revoke may or may not have landed, so
            // retry until one returns (the second finds it revoked and returns it).
            for (let attempt = 1; ; attempt++) {
              try {
                await keymint.revokeApiKey(doomed.apiKey.id);
                revokedAt = performance.now();
                break;
              } catch (error) {
                expect((error as KeymintError).code).toBe('STORE_FAILURE');
                if (attempt === 20) throw error;
              }
            }
          }
          await sleep(50);
        }
        const outcomes = await load.stop();
        stopDoomed = true;
        await doomedLoop;

        expect(wrongOutcomes(outcomes)).toEqual([]);
        expect(failures(outcomes)).toBeGreaterThanOrEqual(3);
        expect(terminated).toBeGreaterThan(0);
        expect(revokedAt).toBeDefined();
        const lateValid = doomedOutcomes.filter(
          (outcome) => outcome.startedAt > revokedAt! && outcome.result === 'valid',
        );
        expect(lateValid).toEqual([]);
        expect(doomedOutcomes.filter((o) => o.startedAt > revokedAt!).length).toBeGreaterThan(0);
        for (const outcome of doomedOutcomes) {
          expect(['valid', 'revoked', 'STORE_FAILURE']).toContain(outcome.result);
        }
        // The idle connections the server ended reached the pool's listener, nothing else.
        for (const error of idleErrors) expect(error.code).toBe('57P01');
        for (const error of background) {
          expect(error).toBeInstanceOf(KeymintError);
          expect((error as KeymintError).code).toBe('STORE_FAILURE');
        }

        // The same instance, same pool: verifies and creates again.
        const again = await recovered(keymint, keys.valid);
        expect(again.result).toMatchObject({ valid: true });
        expect(again.attempts).toBeLessThanOrEqual(3);
        const after = await keymint.createApiKey({ name: 'after', role: 'Editor', ttl: '1h' });
        expect(await keymint.verifyKey(after.key)).toMatchObject({ valid: true });
        expect(await keymint.verifyKey(keys.revoked)).toEqual({ valid: false, reason: 'revoked' });
        expect(await keymint.verifyKey(doomed.key)).toEqual({ valid: false, reason: 'revoked' });

        const { created, ambiguous } = await checkCreates(table, outcomes, 'load');
        for (const create of created) {
          expect(await keymint.verifyKey(create.key)).toMatchObject({ valid: true });
        }
        console.log(
          `[figures] postgres pg_terminate_backend mid-run (${label}): ${rounds} rounds, ` +
            `${terminated} backends terminated, ${outcomes.length} calls ` +
            `(${failures(outcomes)} STORE_FAILURE, 0 wrong answers), ${created.length} creates ` +
            `stored, ${ambiguous} committed but reported failed; ${idleErrors.length} idle-client ` +
            `errors on pool.on('error'); recovered on attempt ${again.attempts}`,
          tally(outcomes),
        );
      },
    );

    it('needs the pool ‘error’ listener the docs ask for: without it, a host process dies', async () => {
      const table = await freshTable('idle_child');
      const bundle = await bundleFixture('pg-idle-error-child.ts');
      try {
        const env = { KEYMINT_CHILD_URL: server().url, KEYMINT_CHILD_TABLE: table };
        const [withListener, without] = await Promise.all([
          runOnce(bundle.file, { ...env, KEYMINT_CHILD_LISTENER: '1' }, 10_000),
          runOnce(bundle.file, { ...env, KEYMINT_CHILD_LISTENER: '0' }, 10_000),
        ]);
        expect(withListener.stderr).toBe('');
        expect(withListener.code).toBe(0);
        expect(JSON.parse(withListener.stdout)).toEqual({
          survived: true,
          terminated: 1,
          first: true,
          again: true,
          seen: ['57P01'],
        });
        // pg's Pool re-emits the idle client's error; with no listener, Node throws it.
        expect(without.code).toBe(1);
        expect(without.stdout).toBe('');
        expect(without.stderr).toMatch(/terminating connection due to administrator command/);
      } finally {
        await bundle.remove();
      }
    });
  });

  describe('the server crashes and starts again with its data', () => {
    it('fails closed during the outage, stores no failed create, frees its name, and the same instance recovers', async () => {
      const table = await freshTable('outage');
      const { pool, idleErrors } = hostPool(`keymint_outage_${tables}`);
      const { keymint } = keymintOver(pool, table, { cache: false });
      const keys = await workloadKeys(keymint, 'fixed');
      const load = startWorkload(keymint, keys, { workers: 3, createPrefix: 'load' });
      await until(() => load.outcomes.length >= 60, 'the load to run');

      await server().stop('immediate');
      const stoppedAt = Date.now();
      const down = performance.now();
      // Every call during the outage fails at once with STORE_FAILURE, the correct key included.
      for (const key of [keys.valid, keys.revoked, keys.wrong, keys.unknown]) {
        const started = Date.now();
        const error = await expectCode(keymint.verifyKey(key), 'STORE_FAILURE');
        expect(Date.now() - started).toBeLessThan(1_000);
        expect(error.cause).toBeInstanceOf(Error);
      }
      const failedCreate = await expectCode(
        keymint.createApiKey({ name: 'during outage', role: 'Editor', ttl: '1h' }),
        'STORE_FAILURE',
      );
      expect((failedCreate.cause as { code?: string }).code).toBe('ECONNREFUSED');
      const during = load.outcomes.length;
      await until(() => load.outcomes.length >= during + 30, 'calls during the outage');

      const restarting = performance.now();
      await server().start();
      const outageMs = Date.now() - stoppedAt;
      const again = await recovered(keymint, keys.valid);
      expect(again.result).toMatchObject({ valid: true });
      const outcomes = await load.stop();

      expect(wrongOutcomes(outcomes)).toEqual([]);
      const inOutage = outcomes.filter((o) => o.startedAt > down && o.endedAt < restarting);
      expect(inOutage.length).toBeGreaterThan(0);
      expect(inOutage.every((outcome) => outcome.result === 'STORE_FAILURE')).toBe(true);

      // The failed create left no row, and its name is free for the same instance.
      expect((await rowsNamed(table, 'during outage')).size).toBe(0);
      const retried = await keymint.createApiKey({
        name: 'during outage',
        role: 'Editor',
        ttl: '1h',
      });
      expect(await keymint.verifyKey(retried.key)).toMatchObject({ valid: true });
      const { created, ambiguous } = await checkCreates(table, outcomes, 'load');
      // Durable across the crash: every create that returned a key is there and verifies.
      for (const create of created) {
        expect(await keymint.verifyKey(create.key)).toMatchObject({ valid: true });
      }
      // What the pool's 'error' listener got: the idle connections the crash ended.
      const idleCodes = [...new Set(idleErrors.map((error) => error.code ?? error.message))];
      console.log(
        `[figures] postgres crash (pg_ctl -m immediate) and restart: outage ${outageMs} ms, ` +
          `${outcomes.length} calls (${failures(outcomes)} STORE_FAILURE, 0 wrong answers), ` +
          `${created.length} creates stored, ${ambiguous} committed but reported failed; same ` +
          `instance verified again ${again.ms} ms after the restart (attempt ${again.attempts}); ` +
          `pool 'error' events: ${idleErrors.length} (${idleCodes.join(', ')})`,
      );
    });

    it('with the verify cache: cached keys answer only until the listener notices, and pushed revocations come back after the restart', async () => {
      const table = await freshTable('cached_outage');
      const a = observeSubscription(postgresAdapter(hostPool('keymint_cached_a').pool, { table }));
      const b = observeSubscription(postgresAdapter(hostPool('keymint_cached_b').pool, { table }));
      const options = { hasher, cache: { ttl: '60s' } };
      const keymintA = createKeymint({ adapter: a.adapter, ...options });
      const keymintB = createKeymint({ adapter: b.adapter, ...options });
      instances.push(keymintA, keymintB);
      await Promise.all([a.live(), b.live()]);

      const first = await keymintB.createApiKey({ name: 'first', role: 'Editor', ttl: '1h' });
      for (let i = 0; i < 2; i++) {
        expect(await keymintA.verifyKey(first.key)).toMatchObject({ valid: true });
      }

      await server().stop('immediate');
      const stoppedAt = performance.now();
      // Cached answers (valid, for the right key only) until the listener's reset() empties the
      // cache; from then on STORE_FAILURE.
      let cachedAnswers = 0;
      let failedAt: number | undefined;
      while (failedAt === undefined && performance.now() - stoppedAt < 2_000) {
        try {
          expect(await keymintA.verifyKey(first.key)).toMatchObject({ valid: true });
          cachedAnswers++;
          await tick();
        } catch (error) {
          expect((error as KeymintError).code).toBe('STORE_FAILURE');
          failedAt = performance.now();
        }
      }
      expect(failedAt).toBeDefined();
      const servedForMs = failedAt! - stoppedAt;
      expect(servedForMs).toBeLessThan(1_000);
      expect(a.resets()).toBeGreaterThanOrEqual(1);
      // A wrong secret for the cached id is never answered from the cache.
      await expectCode(keymintA.verifyKey(forgedKey(first.key)), 'STORE_FAILURE');

      await server().start();
      const startedAt = performance.now();
      // Both listeners come back on their own: reset() when lost, reset() again once listening.
      await Promise.all([a.untilResets(2), b.untilResets(2)]);
      const relistenMs = performance.now() - startedAt;

      // The cache was emptied: warm it again, then revoke in B.
      expect((await recovered(keymintA, first.key)).result).toMatchObject({ valid: true });
      expect(await keymintA.verifyKey(first.key)).toMatchObject({ valid: true });
      await keymintB.revokeApiKey(first.apiKey.id);
      const revokedAt = performance.now();
      let lastValidAt = revokedAt;
      for (;;) {
        const result = await keymintA.verifyKey(first.key);
        if (!result.valid) {
          expect(result).toEqual({ valid: false, reason: 'revoked' });
          break;
        }
        lastValidAt = performance.now();
        expect(lastValidAt - revokedAt).toBeLessThan(1_000);
        await tick();
      }
      const pushMs = lastValidAt - revokedAt;
      console.log(
        `[figures] postgres crash with the verify cache: cached key served ${servedForMs.toFixed(1)} ms ` +
          `(${cachedAnswers} answers) after the server was down, then STORE_FAILURE; listeners ` +
          `back ${relistenMs.toFixed(0)} ms after the restart; a revoke in B reached A's cache ` +
          `${pushMs.toFixed(1)} ms after it returned`,
      );
    });
  });

  describe('all or nothing: a create cut short', () => {
    it('whose backend is terminated mid-statement stores nothing, and its name is free', async () => {
      const table = await freshTable('cut_insert');
      const applicationName = `keymint_cut_${tables}`;
      const { pool } = hostPool(applicationName);
      const { keymint } = keymintOver(pool, table, { cache: false });
      await keymint.createApiKey({ name: 'warm', role: 'Editor', ttl: '1h' });

      const lock = await admin.connect();
      try {
        await lock.query('BEGIN');
        await lock.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
        const pending = expectCode(
          keymint.createApiKey({ name: 'cut', role: 'Editor', ttl: '1h' }),
          'STORE_FAILURE',
        );
        // The INSERT is in progress on the server: it waits for the lock.
        await until(async () => {
          const { rowCount } = await admin.query(
            `SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`,
            [applicationName],
          );
          return rowCount === 1;
        }, 'the INSERT to wait on the lock');
        expect(await terminate(applicationName)).toBeGreaterThanOrEqual(1);
        const error = await pending;
        expect((error.cause as { code?: string }).code).toBe('57P01');
      } finally {
        await lock.query('ROLLBACK');
        lock.release();
      }
      expect((await rowsNamed(table, 'cut')).size).toBe(0);
      const retried = await keymint.createApiKey({ name: 'cut', role: 'Editor', ttl: '1h' });
      expect(await keymint.verifyKey(retried.key)).toMatchObject({ valid: true });
    });

    it('whose answer is lost after the commit leaves one row nobody has the key of: NAME_TAKEN until it is deleted', async () => {
      const table = await freshTable('lost_reply');
      const proxy = await replyLosingProxy(server().port);
      try {
        const url = new URL(server().url);
        url.port = String(proxy.port);
        const pool = new pg.Pool({ connectionString: url.toString(), max: 2, ...DOCUMENTED });
        pool.on('error', () => {});
        pools.push(pool);
        const { keymint } = keymintOver(pool, table, { cache: false });

        const lost = proxy.loseReplyTo('INSERT INTO');
        const error = await expectCode(
          keymint.createApiKey({ name: 'lost', role: 'Editor', ttl: '1h' }),
          'STORE_FAILURE',
        );
        await lost;
        expect((error.cause as Error).message).toMatch(/Connection terminated/);
        // The INSERT committed: the name is taken by a key whose plaintext nobody ever saw.
        const rows = await rowsNamed(table, 'lost');
        expect(rows.size).toBe(1);
        await expectCode(
          keymint.createApiKey({ name: 'lost', role: 'Editor', ttl: '1h' }),
          'NAME_TAKEN',
        );
        // Not forever: the host finds it by name (never used) and deletes it, and the name is free.
        const [orphan] = (await keymint.listApiKeys()).filter((key) => key.name === 'lost');
        expect(orphan).toMatchObject({ id: rows.get('lost'), lastUsedAt: null, revokedAt: null });
        await keymint.deleteApiKey(orphan!.id);
        const retried = await keymint.createApiKey({ name: 'lost', role: 'Editor', ttl: '1h' });
        expect(await keymint.verifyKey(retried.key)).toMatchObject({ valid: true });
      } finally {
        await proxy.close();
      }
    });

    it('given up by query_timeout commits later without statement_timeout, and is cancelled with it', async () => {
      const outcome = async (config: pg.PoolConfig) => {
        const table = await freshTable('timed_out');
        const { pool } = hostPool(`keymint_timeout_${tables}`, { max: 1, ...config });
        const { keymint } = keymintOver(pool, table, { cache: false });
        const lock = await admin.connect();
        try {
          await lock.query('BEGIN');
          await lock.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
          const error = await expectCode(
            keymint.createApiKey({ name: 'slow', role: 'Editor', ttl: '1h' }),
            'STORE_FAILURE',
          );
          expect((error.cause as Error).message).toMatch(/timeout/);
        } finally {
          await lock.query('COMMIT');
          lock.release();
        }
        // Give the abandoned INSERT, if any, time to run after the lock is gone.
        await until(
          async () =>
            (
              await admin.query(
                `SELECT 1 FROM pg_stat_activity
                  WHERE query LIKE 'INSERT INTO%' AND query LIKE '%${table}%' AND state = 'active'`,
              )
            ).rowCount === 0,
          'the abandoned INSERT to finish',
        );
        return (await rowsNamed(table, 'slow')).size;
      };
      // Only the client gave up: the server ran the INSERT once the lock was released.
      expect(await outcome({ query_timeout: 200, statement_timeout: undefined })).toBe(1);
      // statement_timeout (shorter than query_timeout) makes the server cancel it.
      expect(await outcome({ query_timeout: 500, statement_timeout: 200 })).toBe(0);
    });
  });
});
