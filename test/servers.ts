// Where the tests find their PostgreSQL and Redis servers. test/global-setup.ts starts throwaway
// ones when the binaries are installed (or takes the URLs below from the environment). Without a
// server, its tests are skipped locally, and fail under CI=true: never a silent skip in CI.
import { describe, inject, it } from 'vitest';

declare module 'vitest' {
  export interface ProvidedContext {
    postgresUrl: string | undefined;
    redisUrl: string | undefined;
  }
}

export type ServerKind = 'postgres' | 'redis';

export const SERVER_ENV: Record<ServerKind, string> = {
  postgres: 'KEYMINT_TEST_POSTGRES_URL',
  redis: 'KEYMINT_TEST_REDIS_URL',
};

const PACKAGE: Record<ServerKind, string> = { postgres: 'postgresql', redis: 'redis-server' };

/** The server's URL, or undefined when no server is available to the tests. */
export function serverUrl(kind: ServerKind): string | undefined {
  const fromEnv = process.env[SERVER_ENV[kind]];
  if (fromEnv) return fromEnv;
  return (kind === 'postgres' ? inject('postgresUrl') : inject('redisUrl')) || undefined;
}

/**
 * Registers `body`'s tests with the server's URL. Without a server they are skipped, except under
 * CI=true, where a failing test says which server is missing.
 */
export function describeWithServer(
  kind: ServerKind,
  title: string,
  body: (url: string) => void,
): void {
  const url = serverUrl(kind);
  if (url) {
    describe(title, () => body(url));
    return;
  }
  const hint = `install Debian's ${PACKAGE[kind]} (test/global-setup.ts starts it) or set ${SERVER_ENV[kind]}`;
  if (process.env.CI && process.env.CI !== 'false') {
    describe(title, () => {
      it(`needs a ${kind} server`, () => {
        throw new Error(`No ${kind} server for the tests under CI=true: ${hint}.`);
      });
    });
    return;
  }
  describe.skip(`${title} (skipped: no ${kind} server; ${hint})`, () => body('unavailable'));
}
