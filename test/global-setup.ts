// vitest globalSetup: the PostgreSQL, Redis and MariaDB servers the tests use (see test/servers.ts). For each
// kind: the URL from KEYMINT_TEST_POSTGRES_URL / _REDIS_URL / _MYSQL_URL when set; else, when the
// binaries are installed, a throwaway server started by scripts/services.mjs and stopped at
// teardown; else undefined (its tests are skipped locally and fail under CI=true). KEYMINT_TEST_WITHOUT
// (scripts/test-env.mjs) withholds a kind as if it were not installed.
import type { TestProject } from 'vitest/node';
import { withheld } from '../scripts/test-env.mjs';
import type { ServerKind } from './servers.js';

/** A server started by scripts/services.mjs. */
export interface ThrowawayServer {
  kind: ServerKind;
  url: string;
  host: string;
  port: number;
  /** The server's process id (the postmaster for PostgreSQL), when known. */
  pid: number | undefined;
  /** Its temp dir (data, socket, log), removed by stop(). */
  dir: string;
  logFile: string;
  /** Stops the server and removes its temp dir. Safe to call more than once. */
  stop(): Promise<void>;
}

/** The parts of scripts/services.mjs the tests use. */
export interface ServicesModule {
  startPostgres(options?: { port?: number }): Promise<ThrowawayServer>;
  startRedis(options?: { port?: number }): Promise<ThrowawayServer>;
  startMysql(options?: { port?: number }): Promise<ThrowawayServer>;
  hasPostgres(): boolean;
  hasRedis(): boolean;
  hasMysql(): boolean;
}

/** Loads scripts/services.mjs (plain JavaScript without a declaration file, hence the cast). */
export async function loadServices(): Promise<ServicesModule> {
  const href = new URL('../scripts/services.mjs', import.meta.url).href;
  return (await import(href)) as ServicesModule;
}

const ENV: Record<ServerKind, string> = {
  postgres: 'KEYMINT_TEST_POSTGRES_URL',
  redis: 'KEYMINT_TEST_REDIS_URL',
  mysql: 'KEYMINT_TEST_MYSQL_URL',
};

type Urls = Record<ServerKind, string | undefined>;

/** The servers of this vitest process: started once, whatever the number of projects. */
interface Shared {
  urls: Promise<Urls>;
  users: number;
  stop(): Promise<void>;
}
const SHARED = Symbol.for('keymint.test.servers');
const shared = globalThis as { [SHARED]?: Shared };

/** Starts (or takes from the environment) each kind of server; stops what started on failure. */
function startServers(): Shared {
  const started: ThrowawayServer[] = [];
  const stop = async () => {
    await Promise.allSettled(started.map((server) => server.stop()));
  };
  const urls = (async (): Promise<Urls> => {
    const services = await loadServices();
    const urlFor = async (kind: ServerKind): Promise<string | undefined> => {
      if (withheld(kind)) return undefined;
      const fromEnv = process.env[ENV[kind]];
      if (fromEnv) return fromEnv;
      const has = {
        postgres: services.hasPostgres,
        redis: services.hasRedis,
        mysql: services.hasMysql,
      };
      if (!has[kind]()) return undefined;
      const start = {
        postgres: services.startPostgres,
        redis: services.startRedis,
        mysql: services.startMysql,
      };
      const server = await start[kind]();
      started.push(server);
      return server.url;
    };
    const results = await Promise.allSettled([
      urlFor('postgres'),
      urlFor('redis'),
      urlFor('mysql'),
    ]);
    const failures = results.flatMap((result) => (result.status === 'rejected' ? [result] : []));
    if (failures.length > 0) {
      // vitest registers no teardown when setup throws: stop what did start.
      await stop();
      const messages = failures.map((failure) => String(failure.reason?.message ?? failure.reason));
      throw new Error(
        `test/global-setup.ts could not start the test servers (set ${ENV.postgres}, ` +
          `${ENV.redis} or ${ENV.mysql} to use running ones instead):\n${messages.join('\n')}`,
      );
    }
    const [postgres, redis, mysql] = results.map((result) =>
      result.status === 'fulfilled' ? result.value : undefined,
    );
    return { postgres, redis, mysql };
  })();
  return { urls, users: 0, stop };
}

// vitest calls this once per project (and once for the root): the first call starts the servers,
// the others share them, and the last teardown stops them.
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const servers = (shared[SHARED] ??= startServers());
  let urls: Urls;
  try {
    urls = await servers.urls;
  } catch (error) {
    if (shared[SHARED] === servers) delete shared[SHARED];
    throw error;
  }
  servers.users += 1;
  project.provide('postgresUrl', urls.postgres);
  project.provide('redisUrl', urls.redis);
  project.provide('mysqlUrl', urls.mysql);
  return async () => {
    servers.users -= 1;
    if (servers.users > 0) return;
    if (shared[SHARED] === servers) delete shared[SHARED];
    await servers.stop();
  };
}
