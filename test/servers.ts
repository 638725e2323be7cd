// What the tests need from the machine, and what they do without it. Servers: test/global-setup.ts
// starts throwaway PostgreSQL, Redis and MariaDB when the binaries are installed (or takes the URLs below
// from the environment). Without what a group needs, its body is not even collected: one
// placeholder test is skipped locally with the reason as its note (test/skip-reporter.ts prints the
// reasons after the run), and fails under CI=true: never a silent skip in CI.
import { describe, inject, it } from 'vitest';
import { isCI, withheld } from '../scripts/test-env.mjs';

export { isCI, withheld };

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string | undefined;
    redisUrl: string | undefined;
    mysqlUrl: string | undefined;
  }
}

export type ServerKind = 'postgres' | 'redis' | 'mysql';

export const SERVER_ENV: Record<ServerKind, string> = {
  postgres: 'KEYMINT_TEST_POSTGRES_URL',
  redis: 'KEYMINT_TEST_REDIS_URL',
  mysql: 'KEYMINT_TEST_MYSQL_URL',
};

const PACKAGE: Record<ServerKind, string> = {
  postgres: 'postgresql',
  redis: 'redis-server',
  mysql: 'mariadb-server',
};

/** What a group of tests needs from the machine. */
export interface Need {
  /** What it is, as in "needs a PostgreSQL server". */
  what: string;
  /** Why it is not here and how to get it; undefined when it is here. */
  missing: string | undefined;
}

/**
 * The placeholder test that stands for a group whose need is missing: skipped with the reason as
 * its note, or failing with it under CI=true.
 */
function needsTest(need: Need & { missing: string }): void {
  it(`needs ${need.what}`, (context) => {
    const reason = `needs ${need.what}: ${need.missing}`;
    if (isCI()) throw new Error(`Under CI=true nothing is skipped, and this group ${reason}.`);
    context.skip(reason);
  });
}

/** Registers `body`'s tests when `need` is met; else only the placeholder test (see above). */
export function describeWith(need: Need, title: string, body: () => void): void {
  const { missing } = need;
  if (missing === undefined) describe(title, body);
  else describe(title, () => needsTest({ ...need, missing }));
}

/** The server's URL, or undefined when no server is available to the tests. */
export function serverUrl(kind: ServerKind): string | undefined {
  if (withheld(kind)) return undefined;
  const fromEnv = process.env[SERVER_ENV[kind]];
  if (fromEnv) return fromEnv;
  const injected = { postgres: 'postgresUrl', redis: 'redisUrl', mysql: 'mysqlUrl' } as const;
  return inject(injected[kind]) || undefined;
}

/** The need for a server of `kind` (the URL tests get), with how to get one when missing. */
export function serverNeed(kind: ServerKind, url = serverUrl(kind)): Need {
  return {
    what: `a ${kind} server`,
    missing: url
      ? undefined
      : `install Debian's ${PACKAGE[kind]} (test/global-setup.ts starts it) or set ${SERVER_ENV[kind]}`,
  };
}

/**
 * Registers `body`'s tests with the server's URL. Without a server, `body` is not called: the
 * group is skipped with the reason, except under CI=true, where a failing test says what is missing.
 */
export function describeWithServer(
  kind: ServerKind,
  title: string,
  body: (url: string) => void,
): void {
  const url = serverUrl(kind);
  describeWith(serverNeed(kind, url), title, () => body(url!));
}
