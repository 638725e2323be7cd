// Concurrency at scale on the shared PostgreSQL and Redis servers (each test in a table or key
// prefix of its own): 1,000 concurrent creates land exactly once, 100 concurrent creates of one
// name give one key, and a revocation racing verifications is never answered valid afterwards:
// on one instance from the moment revokeApiKey() returns, on another instance within the pushed
// invalidation's bound. The timings are printed as `[figures]` lines for docs/security.md.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { migrate, postgresAdapter } from '../src/adapters/postgres/index.js';
import { redisAdapter } from '../src/adapters/redis/index.js';
import {
  createKeymint,
  hmacSha256Hasher,
  KeymintError,
  type KeyAdapter,
  type Keymint,
} from '../src/index.js';
import { dropSchemas, openPool, randomSchema } from './fixtures/postgres.js';
import { observeSubscription, tick } from './fixtures/workload.js';
import { HMAC_SECRET } from './helpers.js';
import { describeWithServer, type ServerKind } from './servers.js';

// The fast HMAC hasher: the store, not argon2id, is what these tests load.
const hasher = hmacSha256Hasher(HMAC_SECRET);
const CREATES = 1_000;
const SAME_NAME = 100;
const ROUNDS = 20;
/** The documented bound for a revocation pushed to another instance (docs/performance.md). */
const PUSH_BOUND_MS = 1_000;

/** One isolated store on a shared server: a table, or a key prefix. */
interface Store {
  /** An adapter on connection set `which` (two, so that two instances do not share a pool). */
  adapter(which: 'a' | 'b'): KeyAdapter;
  /** How many records the store holds, and how many hold `name` (scope 'default'). */
  count(): Promise<number>;
  countName(name: string): Promise<number>;
}

interface Backend {
  open(tag: string): Promise<Store>;
}

function scaleTests(kind: ServerKind, backend: () => Backend): void {
  const instances: Keymint[] = [];
  afterEach(async () => {
    await Promise.all(instances.splice(0).map((keymint) => keymint.close()));
  });
  const keymintOver = (adapter: KeyAdapter) => {
    const keymint = createKeymint({ adapter, hasher, cache: { ttl: '60s' } });
    instances.push(keymint);
    return keymint;
  };

  it(`${CREATES} concurrent creates with distinct names each land exactly once, and every key verifies`, async () => {
    const store = await backend().open('distinct');
    const keymint = keymintOver(store.adapter('a'));
    const names = Array.from({ length: CREATES }, (_, i) => `key ${i}`);
    const started = performance.now();
    const created = await Promise.all(
      names.map((name) => keymint.createApiKey({ name, role: 'Editor', ttl: '1h' })),
    );
    const createMs = performance.now() - started;
    expect(created.map((c) => c.apiKey.name)).toEqual(names);
    expect(new Set(created.map((c) => c.apiKey.id)).size).toBe(CREATES);
    expect(await store.count()).toBe(CREATES);
    for (const name of [names[0]!, names[CREATES - 1]!])
      expect(await store.countName(name)).toBe(1);

    const verifyStarted = performance.now();
    const verified = await Promise.all(created.map((c) => keymint.verifyKey(c.key)));
    const verifyMs = performance.now() - verifyStarted;
    verified.forEach((result, i) => {
      expect(result).toMatchObject({ valid: true, apiKey: { id: created[i]!.apiKey.id } });
    });
    console.log(
      `[figures] ${kind}: ${CREATES} concurrent creates (distinct names) in ${createMs.toFixed(0)} ms ` +
        `(${Math.round((CREATES / createMs) * 1000)}/s), ${CREATES} rows; ${CREATES} concurrent ` +
        `cold verifications in ${verifyMs.toFixed(0)} ms`,
    );
  });

  it(`${SAME_NAME} concurrent creates of one name give one key and ${SAME_NAME - 1} NAME_TAKEN`, async () => {
    const store = await backend().open('same');
    // Two instances on two connection sets, as two servers of a fleet would be.
    const keymints = [keymintOver(store.adapter('a')), keymintOver(store.adapter('b'))];
    const started = performance.now();
    const results = await Promise.allSettled(
      Array.from({ length: SAME_NAME }, (_, i) =>
        keymints[i % 2]!.createApiKey({ name: 'deploy', role: 'Editor', ttl: '1h' }),
      ),
    );
    const ms = performance.now() - started;
    const won = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const lost = results.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    expect(won).toHaveLength(1);
    expect(lost).toHaveLength(SAME_NAME - 1);
    for (const error of lost) {
      expect(error).toBeInstanceOf(KeymintError);
      expect((error as KeymintError).code).toBe('NAME_TAKEN');
    }
    expect(await store.count()).toBe(1);
    expect(await store.countName('deploy')).toBe(1);
    expect(await keymints[1]!.verifyKey(won[0]!.key)).toMatchObject({ valid: true });
    console.log(
      `[figures] ${kind}: ${SAME_NAME} concurrent creates of one name from two instances in ` +
        `${ms.toFixed(0)} ms: 1 key, ${SAME_NAME - 1} NAME_TAKEN`,
    );
  });

  /**
   * Verifies `key` on `keymint` in `loops` loops (a macrotask between calls, as requests arrive)
   * until stop(); records when each call started and whether it answered valid.
   */
  function verifyLoops(keymint: Keymint, key: string, loops: number) {
    const calls: { startedAt: number; endedAt: number; result: string }[] = [];
    let stopped = false;
    const running = Array.from({ length: loops }, async () => {
      while (!stopped) {
        const startedAt = performance.now();
        let result: string;
        try {
          const verified = await keymint.verifyKey(key);
          result = verified.valid ? 'valid' : verified.reason;
        } catch (error) {
          result = (error as KeymintError).code ?? String(error);
        }
        calls.push({ startedAt, endedAt: performance.now(), result });
        await tick();
      }
    });
    return {
      calls,
      async stop() {
        stopped = true;
        await Promise.all(running);
        return calls;
      },
    };
  }
  const waitForCalls = async (calls: readonly unknown[], count: number) => {
    const deadline = Date.now() + 5_000;
    while (calls.length < count) {
      if (Date.now() > deadline) throw new Error(`fewer than ${count} verifications in 5 s`);
      await tick();
    }
  };

  it(`a revoke racing verifications: never valid after revokeApiKey() returned on the same instance, and within ${PUSH_BOUND_MS} ms on another (${ROUNDS} rounds each)`, async () => {
    const store = await backend().open('race');
    const a = observeSubscription(store.adapter('a'));
    const b = observeSubscription(store.adapter('b'));
    const keymintA = keymintOver(a.adapter);
    const keymintB = keymintOver(b.adapter);
    await Promise.all([a.live(), b.live()]);

    let sameAfter = 0;
    let maxPushGap = 0;
    let maxFirstRefusal = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const { key, apiKey } = await keymintA.createApiKey({
        name: `race ${round}`,
        role: 'Editor',
        ttl: '1h',
      });
      // Odd rounds revoke while the first lookups are still in flight (nothing cached yet).
      const warm = round % 2 === 0;
      if (warm) {
        for (const keymint of [keymintA, keymintB]) {
          expect(await keymint.verifyKey(key)).toMatchObject({ valid: true });
        }
      }
      const same = verifyLoops(keymintA, key, 4);
      const other = verifyLoops(keymintB, key, 4);
      if (warm) await waitForCalls(same.calls, 8);
      await keymintA.revokeApiKey(apiKey.id);
      const revokedAt = performance.now();
      // Until B refuses it, and a few more calls on each side.
      const deadline = Date.now() + PUSH_BOUND_MS * 3;
      while (!other.calls.some((c) => c.startedAt > revokedAt && c.result === 'revoked')) {
        if (Date.now() > deadline) break;
        await tick();
      }
      await waitForCalls(same.calls, same.calls.length + 8);
      await waitForCalls(other.calls, other.calls.length + 8);
      const [sameCalls, otherCalls] = await Promise.all([same.stop(), other.stop()]);

      for (const call of [...sameCalls, ...otherCalls]) {
        expect(['valid', 'revoked']).toContain(call.result);
      }
      // The same instance: nothing that started after the revoke returned is valid.
      const afterSame = sameCalls.filter((call) => call.startedAt > revokedAt);
      expect(afterSame.filter((call) => call.result === 'valid')).toEqual([]);
      sameAfter += afterSame.length;
      // Another instance: valid only within the push bound, then revoked.
      const afterOther = otherCalls.filter((call) => call.startedAt > revokedAt);
      const lateValid = afterOther.filter((call) => call.result === 'valid');
      const gap = Math.max(0, ...lateValid.map((call) => call.startedAt - revokedAt));
      const firstRefusal = afterOther.find((call) => call.result === 'revoked');
      expect(firstRefusal).toBeDefined();
      expect(gap).toBeLessThan(PUSH_BOUND_MS);
      maxPushGap = Math.max(maxPushGap, gap);
      maxFirstRefusal = Math.max(maxFirstRefusal, firstRefusal!.endedAt - revokedAt);
    }
    console.log(
      `[figures] ${kind}: revoke racing verifications, ${ROUNDS} rounds (half with warm caches): ` +
        `same instance 0 valid among ${sameAfter} verifications started after revokeApiKey() ` +
        `returned; other instance (pushed) answered valid at most ${maxPushGap.toFixed(1)} ms ` +
        `after it returned, first refusal within ${maxFirstRefusal.toFixed(1)} ms`,
    );
  });
}

describeWithServer('postgres', 'concurrency at scale on PostgreSQL', (url) => {
  const schema = randomSchema('keymint_scale');
  const pools: pg.Pool[] = [];
  let admin: pg.Pool;
  beforeAll(async () => {
    admin = openPool(url, { max: 2 });
    pools.push(admin);
  });
  afterAll(async () => {
    if (admin) await dropSchemas(admin, [schema]);
    await Promise.all(pools.map((pool) => pool.end()));
  });

  scaleTests('postgres', () => ({
    async open(tag) {
      const table = `${tag}_keys`;
      await migrate(admin, { schema, table });
      const sets = { a: openPool(url, { max: 10 }), b: openPool(url, { max: 10 }) };
      pools.push(sets.a, sets.b);
      const countWhere = async (where: string, values: unknown[]) => {
        const { rows } = await admin.query<{ n: string }>(
          `SELECT count(*) AS n FROM "${schema}"."${table}" ${where}`,
          values,
        );
        return Number(rows[0]!.n);
      };
      return {
        adapter: (which) => postgresAdapter(sets[which], { schema, table }),
        count: () => countWhere('', []),
        countName: (name) => countWhere(`WHERE scope = 'default' AND name = $1`, [name]),
      };
    },
  }));
});

describeWithServer('redis', 'concurrency at scale on Redis', (url) => {
  const filePrefix = `keymint-scale:${randomBytes(4).toString('hex')}:`;
  const clients: Redis[] = [];
  let admin: Redis;
  beforeAll(() => {
    admin = new Redis(url);
    admin.on('error', () => {});
    clients.push(admin);
  });
  afterAll(async () => {
    if (admin) {
      const keys = await admin.keys(`${filePrefix}*`);
      if (keys.length > 0) await admin.del(...keys);
    }
    for (const client of clients) client.disconnect();
  });

  scaleTests('redis', () => ({
    async open(tag) {
      const prefix = `${filePrefix}${tag}:`;
      const client = (which: string) => {
        const redis = new Redis(url, { connectionName: `keymint-scale-${which}` });
        redis.on('error', () => {});
        clients.push(redis);
        return redis;
      };
      const sets = { a: client('a'), b: client('b') };
      return {
        adapter: (which) => redisAdapter(sets[which], { prefix }),
        count: async () => (await admin.keys(`${prefix}key:*`)).length,
        countName: async (name) => {
          const id = await admin.hget(`${prefix}names:default`, name);
          expect(await admin.hlen(`${prefix}names:default`)).toBe(
            (await admin.keys(`${prefix}key:*`)).length,
          );
          return id !== null && (await admin.exists(`${prefix}key:${id}`)) === 1 ? 1 : 0;
        },
      };
    },
  }));
});
