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

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const services = await loadServices();
  const started: ThrowawayServer[] = [];
  const stopAll = async () => {
    await Promise.allSettled(started.map((server) => server.stop()));
  };

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

  const results = await Promise.allSettled([urlFor('postgres'), urlFor('redis'), urlFor('mysql')]);
  const failures = results.flatMap((result) => (result.status === 'rejected' ? [result] : []));
  if (failures.length > 0) {
    // vitest registers no teardown when setup throws: stop what did start.
    await stopAll();
    const messages = failures.map((failure) => String(failure.reason?.message ?? failure.reason));
    throw new Error(
      `test/global-setup.ts could not start the test servers (set ${ENV.postgres}, ` +
        `${ENV.redis} or ${ENV.mysql} to use running ones instead):\n${messages.join('\n')}`,
    );
  }
  const [postgresUrl, redisUrl, mysqlUrl] = results.map((result) =>
    result.status === 'fulfilled' ? result.value : undefined,
  );
  project.provide('postgresUrl', postgresUrl);
  project.provide('redisUrl', redisUrl);
  project.provide('mysqlUrl', mysqlUrl);
  return stopAll;
}
