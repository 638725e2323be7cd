// Every row tinybench measures: the floor, keymint on each store and hasher, and the peers.
// SUBJECTS lists them in table order as { id, name, group, env?, make }. Each is measured in a
// worker thread of its own (bench/worker.mjs), where make(cleanup) builds it: { call, check,
// sync?, init?, afterBatch?, note? }. `call` does one operation, `check` throws unless its
// result is the expected one.
import * as crypto from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { threadId } from 'node:worker_threads';
import { argon2idHasher, createKeymint, hmacSha256Hasher } from 'keymint';
import { memoryAdapter } from 'keymint/adapters/memory';
import { randomBase62 } from './key-format.mjs';

export const POSTGRES_ENV = 'KEYMINT_TEST_POSTGRES_URL';
export const REDIS_ENV = 'KEYMINT_TEST_REDIS_URL';
export const MYSQL_ENV = 'KEYMINT_TEST_MYSQL_URL';

/** The cache of every measured instance, unless a row turns it off: keymint's defaults. */
export const CACHE = { ttl: '30s', maxEntries: 10_000 };

/** The installed version of a dependency, for the notes. */
export function versionOf(name) {
  const file = new URL(`../node_modules/${name}/package.json`, import.meta.url);
  return JSON.parse(readFileSync(file, 'utf8')).version;
}

export const expectValid = (result) => {
  if (result?.valid !== true) {
    throw new Error(`expected a valid key, got ${JSON.stringify(result)}`);
  }
};
const expectReason = (reason) => (result) => {
  if (result?.valid !== false || result.reason !== reason) {
    throw new Error(`expected ${reason}, got ${JSON.stringify(result)}`);
  }
};

/** Closes every instance, client and temp dir made for a subject, in reverse order. */
export class Cleanup {
  steps = [];
  add(step) {
    this.steps.push(step);
  }
  async run() {
    for (const step of this.steps.reverse()) {
      try {
        await step();
      } catch (error) {
        console.error(`cleanup: ${error.message}`);
      }
    }
    this.steps = [];
  }
}

const hmac = () => hmacSha256Hasher(crypto.randomBytes(48));
/** Names that stay apart when several threads share one database. */
const unique = () => `${process.pid}_${threadId}_${randomBase62(6)}`;

/** A keymint instance over `adapter`, closed at the end, with one Editor key created. */
/**
 * A key as a server receives it: a flat string decoded from the request's bytes, as Node's HTTP
 * parser produces. The strings createApiKey returns (and any string built with `+`) are V8 "cons"
 * strings, whose characters V8 reads several times slower from code that has also seen flat
 * ones; presenting those would measure V8's string representation, not a verification. Every
 * row, the floor and the peers included, is given its key this way.
 */
export const asReceived = (key) => Buffer.from(key, 'latin1').toString('latin1');

async function instance(cleanup, adapter, options) {
  const keymint = createKeymint({ adapter, ...options });
  cleanup.add(() => keymint.close());
  const { key } = await keymint.createApiKey({ name: 'bench', role: 'Editor', ttl: '1d' });
  expectValid(await keymint.verifyKey(key));
  return { keymint, key: asReceived(key) };
}

/** verifyKey of one valid key, again and again. */
const verifying = ({ keymint, key }, note) => ({
  call: () => keymint.verifyKey(key),
  check: expectValid,
  note,
});

/**
 * SHA-256 by the cheapest means Node offers: one-shot crypto.hash() (Node 20.12 and later),
 * digest as a one-byte string.
 */
export const sha256 =
  typeof crypto.hash === 'function'
    ? (value) => crypto.hash('sha256', value, 'latin1')
    : (value) => crypto.createHash('sha256').update(value).digest('latin1');

/** The floor: SHA-256 of a presented key (a real one), then a Map lookup that finds it. */
async function floor(cleanup, sync) {
  const { key } = await instance(cleanup, memoryAdapter(), { hasher: hmac() });
  const digest = sha256;
  const map = new Map([[digest(key), { id: 'x' }]]);
  const floorAsync = async (value) => map.get(digest(value));
  const floorSync = (value) => map.get(digest(value));
  return {
    sync,
    call: sync ? () => floorSync(key) : () => floorAsync(key),
    check: (record) => {
      if (record === undefined) throw new Error('floor: Map miss');
    },
    note: sync
      ? 'synchronous variant, for transparency only: not awaited, not the reference'
      : 'the least a verify that hashes the presented key can do; awaited like every row',
  };
}

async function sqlite(cleanup) {
  const { default: Database } = await import('better-sqlite3');
  const { migrate, sqliteAdapter } = await import('keymint/adapters/sqlite');
  const dir = await mkdtemp(path.join(tmpdir(), 'keymint-bench-'));
  cleanup.add(() => rm(dir, { recursive: true, force: true }));
  const db = new Database(path.join(dir, 'keymint.db'));
  cleanup.add(() => db.close());
  migrate(db);
  const subject = await instance(cleanup, sqliteAdapter(db), { hasher: hmac(), cache: CACHE });
  return verifying(subject, 'better-sqlite3, a file in a temp dir');
}

async function postgres(cleanup, url) {
  const { default: pg } = await import('pg');
  const { migrate, postgresAdapter } = await import('keymint/adapters/postgres');
  const pool = new pg.Pool({
    connectionString: url,
    connectionTimeoutMillis: 5_000,
    statement_timeout: 4_000,
    query_timeout: 5_000,
  });
  cleanup.add(() => pool.end());
  const table = `keymint_bench_${unique()}`;
  await migrate(pool, { table });
  cleanup.add(() => pool.query(`DROP TABLE IF EXISTS "${table}"`));
  const adapter = postgresAdapter(pool, { table });
  const subject = await instance(cleanup, adapter, { hasher: hmac(), cache: CACHE });
  return verifying(subject, 'pg.Pool over loopback');
}

/** A mysql2 pool and a migrated table of its own, dropped at the end. */
async function mysqlTable(cleanup, url) {
  const { default: mysql } = await import('mysql2/promise');
  const { migrate, mysqlAdapter } = await import('keymint/adapters/mysql');
  const pool = mysql.createPool({ uri: url, connectTimeout: 5_000, connectionLimit: 10 });
  cleanup.add(() => pool.end());
  const table = `keymint_bench_${unique()}`;
  await migrate(pool, { table });
  cleanup.add(() =>
    pool.query(
      `DROP TABLE IF EXISTS \`${table}\`, \`${table}_changes\`, \`${table}_failures\`, \`${table}_migrations\``,
    ),
  );
  return { pool, table, adapter: mysqlAdapter(pool, { table }) };
}

/** keymint over MariaDB: `cache: false` makes every verify a primary-key read (the cold path). */
async function mysqlVerify(cleanup, url, cold) {
  const { adapter } = await mysqlTable(cleanup, url);
  const subject = await instance(cleanup, adapter, { hasher: hmac(), cache: cold ? false : CACHE });
  return verifying(
    subject,
    cold
      ? 'cache: false; every verify reads the row through a mysql2 pool over loopback'
      : 'mysql2 pool over loopback',
  );
}

/** The raw read the cold MariaDB row makes, through the same kind of pool: its floor. */
async function mysqlRaw(cleanup, url) {
  const { pool, table } = await mysqlTable(cleanup, url);
  const { keymint, key } = await instance(
    cleanup,
    (await import('keymint/adapters/mysql')).mysqlAdapter(pool, { table }),
    { hasher: hmac(), cache: false },
  );
  const [{ id }] = await keymint.listApiKeys();
  const sql = `SELECT id, scope, name, role, secret_hash, expires_at, revoked_at FROM \`${table}\` WHERE id = ?`;
  void key;
  return {
    call: async () => (await pool.query(sql, [id]))[0],
    check: (rows) => {
      if (rows.length !== 1) throw new Error('raw MariaDB select: no row');
    },
    note: `mysql2 ${versionOf('mysql2')}: pool.query of one row by primary key, no keymint`,
  };
}

async function redis(cleanup, url) {
  const { Redis } = await import('ioredis');
  const { redisAdapter } = await import('keymint/adapters/redis');
  const client = new Redis(url, {
    maxRetriesPerRequest: 1,
    commandTimeout: 1_000,
    lazyConnect: true,
  });
  await client.connect();
  cleanup.add(() => client.quit());
  const prefix = `keymint-bench:${unique()}:`;
  cleanup.add(async () => {
    const keys = await client.keys(`${prefix}*`);
    if (keys.length > 0) await client.del(...keys);
  });
  const subject = await instance(cleanup, redisAdapter(client, { prefix }), {
    hasher: hmac(),
    cache: CACHE,
  });
  return verifying(subject, 'ioredis over loopback');
}

async function malformed(cleanup, kind) {
  const { keymint, key } = await instance(cleanup, memoryAdapter(), {
    hasher: hmac(),
    cache: CACHE,
  });
  // 'checksum-cold': a key of an id this process never verified (a typo of another server's key,
  // or a forged id); 'checksum': the key verified above, so its id is in the cache.
  const target =
    kind === 'checksum-cold'
      ? (await keymint.createApiKey({ name: 'other', role: 'Viewer', ttl: '1d' })).key
      : key;
  const presented = asReceived(
    kind === 'random'
      ? randomBase62(key.length)
      : target.slice(0, -1) + (target.endsWith('A') ? 'B' : 'A'),
  );
  return {
    call: () => keymint.verifyKey(presented),
    check: expectReason('malformed'),
    note: {
      checksum: 'a cached key with its last character changed: a SHA-256 first, then the checksum',
      'checksum-cold': 'a key never verified here, last character changed: the checksum alone',
      random: `${key.length} random base62 characters (a real key's length)`,
    }[kind],
  };
}

/** createApiKey on a memory adapter; a fresh adapter every 20,000 keys keeps memory bounded. */
function creating(cleanup, hasher) {
  let keymint;
  let made = 0;
  const renew = async () => {
    await keymint?.close();
    keymint = createKeymint({ adapter: memoryAdapter(), hasher, cache: CACHE });
    made = 0;
  };
  cleanup.add(() => keymint?.close());
  return {
    init: renew,
    call: () => keymint.createApiKey({ name: `c${made++}`, role: 'Viewer', ttl: '1h' }),
    check: (created) => {
      if (typeof created?.key !== 'string') throw new Error('createApiKey returned no key');
    },
    afterBatch: () => (made >= 20_000 ? renew() : undefined),
  };
}

/** better-auth with its api-key plugin on its memory adapter: one user, one key. */
async function betterAuth() {
  const { betterAuth } = await import('better-auth');
  const { memoryAdapter: betterAuthMemory } = await import('better-auth/adapters/memory');
  const { apiKey } = await import('@better-auth/api-key');
  // The memory adapter needs every model's table to exist up front.
  const db = { user: [], session: [], account: [], verification: [], apikey: [] };
  const auth = betterAuth({
    secret: crypto.randomBytes(32).toString('base64'),
    baseURL: 'http://localhost:3000',
    database: betterAuthMemory(db),
    // The only change to the plugin's defaults: its per-key rate limit (10 requests per day by
    // default) would refuse every verification after the 10th.
    plugins: [apiKey({ rateLimit: { enabled: false } })],
  });
  const context = await auth.$context;
  const user = await context.internalAdapter.createUser({
    email: 'bench@example.com',
    name: 'bench',
    emailVerified: true,
  });
  const created = await auth.api.createApiKey({ body: { userId: user.id, name: 'bench' } });
  const key = asReceived(created.key);
  const check = (result) => {
    if (result?.valid !== true) throw new Error(`better-auth: ${JSON.stringify(result?.error)}`);
  };
  check(await auth.api.verifyApiKey({ body: { key } }));
  return {
    call: () => auth.api.verifyApiKey({ body: { key } }),
    check,
    note:
      `better-auth ${versionOf('better-auth')} + @better-auth/api-key ` +
      `${versionOf('@better-auth/api-key')}, its memory adapter; its rate limit off`,
  };
}

/** prefixed-api-key: checkAPIKey(token, longTokenHash), a SHA-256 and a compare, no store. */
async function prefixedApiKey() {
  const { default: prefixed } = await import('prefixed-api-key');
  const { token, longTokenHash } = await prefixed.generateAPIKey({ keyPrefix: 'bench' });
  const checkAsync = async (value) => prefixed.checkAPIKey(value, longTokenHash);
  const presented = asReceived(token);
  return {
    call: () => checkAsync(presented),
    check: (ok) => {
      if (ok !== true) throw new Error('prefixed-api-key: check failed');
    },
    note: `prefixed-api-key ${versionOf('prefixed-api-key')}; a hash compare, no store lookup`,
  };
}

const memory = (options) => (cleanup) => instance(cleanup, memoryAdapter(), options);

/** The rows tinybench measures, in table order. */
export const SUBJECTS = [
  {
    id: 'floor',
    name: 'floor: SHA-256 + Map.get (async)',
    group: 'floor',
    make: (cleanup) => floor(cleanup, false),
  },
  {
    id: 'floor-sync',
    name: 'floor: SHA-256 + Map.get (sync)',
    group: 'floor',
    make: (cleanup) => floor(cleanup, true),
  },
  {
    id: 'warm-memory',
    name: 'verifyKey warm, hmac, memory',
    group: 'keymint',
    make: async (cleanup) => verifying(await memory({ hasher: hmac(), cache: CACHE })(cleanup)),
  },
  { id: 'warm-sqlite', name: 'verifyKey warm, hmac, SQLite', group: 'keymint', make: sqlite },
  {
    id: 'warm-postgres',
    name: 'verifyKey warm, hmac, PostgreSQL',
    group: 'keymint',
    env: POSTGRES_ENV,
    make: postgres,
  },
  {
    id: 'warm-mysql',
    name: 'verifyKey warm, hmac, MariaDB',
    group: 'keymint',
    env: MYSQL_ENV,
    make: (cleanup, url) => mysqlVerify(cleanup, url, false),
  },
  {
    id: 'cold-mysql',
    name: 'verifyKey cold, hmac, MariaDB',
    group: 'keymint',
    env: MYSQL_ENV,
    make: (cleanup, url) => mysqlVerify(cleanup, url, true),
  },
  {
    id: 'raw-mysql',
    name: 'raw SELECT by id, mysql2 pool, MariaDB',
    group: 'floor',
    env: MYSQL_ENV,
    make: mysqlRaw,
  },
  {
    id: 'warm-redis',
    name: 'verifyKey warm, hmac, Redis',
    group: 'keymint',
    env: REDIS_ENV,
    make: redis,
  },
  {
    id: 'warm-memory-argon2id',
    name: 'verifyKey warm, argon2id, memory',
    group: 'keymint',
    make: async (cleanup) =>
      verifying(
        await memory({ cache: CACHE })(cleanup),
        'default hasher; the cache answers, no argon2id after the first verify',
      ),
  },
  {
    id: 'cold-argon2id',
    name: 'verifyKey cold, argon2id, memory',
    group: 'keymint',
    make: async (cleanup) =>
      verifying(
        await memory({ hasher: argon2idHasher(), cache: false })(cleanup),
        'cache: false; every verify runs argon2id (default key parameters: 2 MiB, t=1, p=1)',
      ),
  },
  {
    id: 'cold-hmac',
    name: 'verifyKey cold, hmac, memory',
    group: 'keymint',
    make: async (cleanup) =>
      verifying(
        await memory({ hasher: hmac(), cache: false })(cleanup),
        'cache: false; every verify runs HMAC-SHA-256',
      ),
  },
  {
    id: 'malformed-checksum',
    name: 'verifyKey malformed: bad checksum, cached id',
    group: 'keymint',
    make: (cleanup) => malformed(cleanup, 'checksum'),
  },
  {
    id: 'malformed-checksum-cold',
    name: 'verifyKey malformed: bad checksum, id not cached',
    group: 'keymint',
    make: (cleanup) => malformed(cleanup, 'checksum-cold'),
  },
  {
    id: 'malformed-random',
    name: 'verifyKey malformed: random 50 chars',
    group: 'keymint',
    make: (cleanup) => malformed(cleanup, 'random'),
  },
  {
    id: 'create-argon2id',
    name: 'createApiKey, argon2id, memory',
    group: 'keymint',
    make: (cleanup) => creating(cleanup, argon2idHasher()),
  },
  {
    id: 'create-hmac',
    name: 'createApiKey, hmac, memory',
    group: 'keymint',
    make: (cleanup) => creating(cleanup, hmac()),
  },
  {
    id: 'better-auth',
    name: 'better-auth api-key: verifyApiKey',
    group: 'peer',
    make: betterAuth,
  },
  {
    id: 'prefixed-api-key',
    name: 'prefixed-api-key: checkAPIKey',
    group: 'peer',
    make: prefixedApiKey,
  },
];
