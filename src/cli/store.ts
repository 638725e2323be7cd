import fs from 'node:fs';
import type { KeyAdapter } from '../adapter.js';
import {
  migrate as migratePostgres,
  postgresAdapter,
  type PostgresQueryable,
} from '../adapters/postgres/index.js';
import { redisAdapter, type RedisClient } from '../adapters/redis/index.js';
import { migrate as migrateSqlite, sqliteAdapter } from '../adapters/sqlite/index.js';
import { StoreError } from './failures.js';
import { describeTarget, type DbTarget } from './target.js';

/** An opened store: the adapter, and how to release its connection or file. */
export interface Store {
  adapter: KeyAdapter;
  /** True when this call created the SQLite file. */
  created: boolean;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** Create a missing SQLite file (mode 0600). Only `create` does; other commands refuse. */
  create: boolean;
}

const messageOf = (error: unknown): string =>
  error instanceof Error ? error.message : String(error);

/** Imports an optional driver; when it is not installed, says which package to install. */
export async function loadDriver<T>(pkg: string, what: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    const missing =
      (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') &&
      messageOf(error).includes(`'${pkg}'`);
    const message = missing
      ? `${what} needs the '${pkg}' package, which is not installed. Install it next to keymint: npm install ${pkg}`
      : `Cannot load '${pkg}' for ${what}: ${messageOf(error)}`;
    throw new StoreError(message, { cause: error });
  }
}

const defaultExport = <T>(module: { default?: T } & Partial<T>): T =>
  (module.default ?? module) as T;

async function openSqlite(file: string, options: OpenOptions): Promise<Store> {
  const { default: Database } = await loadDriver(
    'better-sqlite3',
    'A SQLite --db',
    () => import('better-sqlite3'),
  );
  const where = describeTarget({ kind: 'sqlite', path: file });
  let created = false;
  if (file !== ':memory:' && !fs.existsSync(file)) {
    if (!options.create) {
      throw new StoreError(
        `There is no ${where}. Create a key first ('keymint create'), or point --db (or KEYMINT_DB) at the database.`,
      );
    }
    try {
      // Created here, with the mode, rather than by SQLite with the umask's (often 0644).
      fs.closeSync(fs.openSync(file, 'wx', 0o600));
      created = true;
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'EEXIST') {
        throw new StoreError(`Cannot create the ${where}: ${messageOf(error)}`, { cause: error });
      }
    }
  }
  let db: InstanceType<typeof Database>;
  try {
    db = new Database(file, { fileMustExist: file !== ':memory:' });
  } catch (error) {
    throw new StoreError(`Cannot open the ${where}: ${messageOf(error)}`, { cause: error });
  }
  try {
    migrateSqlite(db);
  } catch (error) {
    db.close();
    throw new StoreError(`Cannot prepare the ${where}: ${messageOf(error)}`, { cause: error });
  }
  return { adapter: sqliteAdapter(db), created, close: async () => void db.close() };
}

async function openPostgres(url: string): Promise<Store> {
  const pg = defaultExport(
    await loadDriver('pg', 'A postgres:// --db', () => import('pg')),
  ) as typeof import('pg');
  // pg waits forever by default: bounded, an unreachable server fails in seconds.
  const pool = new pg.Pool({
    connectionString: url,
    max: 2,
    connectionTimeoutMillis: 5_000,
    statement_timeout: 4_000,
    query_timeout: 5_000,
  });
  pool.on('error', () => {});
  try {
    await migratePostgres(pool as PostgresQueryable);
  } catch (error) {
    await pool.end().catch(() => {});
    const where = describeTarget({ kind: 'postgres', url });
    throw new StoreError(`Cannot use the ${where}: ${messageOf(error)}`, { cause: error });
  }
  return { adapter: postgresAdapter(pool), created: false, close: () => pool.end() };
}

async function openRedis(url: string): Promise<Store> {
  const { Redis } = await loadDriver('ioredis', 'A redis:// --db', () => import('ioredis'));
  // No retries and no offline queue: a down server is an error now, not a hang.
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 5_000,
    commandTimeout: 5_000,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (error) {
    client.disconnect();
    const where = describeTarget({ kind: 'redis', url });
    throw new StoreError(`Cannot use the ${where}: ${messageOf(error)}`, { cause: error });
  }
  return {
    adapter: redisAdapter(client as RedisClient),
    created: false,
    close: async () => {
      await client.quit().catch(() => client.disconnect());
    },
  };
}

/**
 * Opens the store `target` names and applies its schema (the adapters' idempotent `migrate`;
 * Redis needs none). Throws StoreError when the driver is missing or the store cannot be used.
 */
export function openStore(target: DbTarget, options: OpenOptions): Promise<Store> {
  switch (target.kind) {
    case 'sqlite':
      return openSqlite(target.path, options);
    case 'postgres':
      return openPostgres(target.url);
    case 'redis':
      return openRedis(target.url);
  }
}
