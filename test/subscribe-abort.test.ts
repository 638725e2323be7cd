// keymint.close() aborts an adapter's subscribe that is still connecting: against a server that
// accepts TCP connections and never answers (pg has no connect timeout by default), the pending
// connection must be closed, so that nothing is left holding the process.
import { createServer, type AddressInfo, type Socket } from 'node:net';
import pg from 'pg';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { postgresAdapter } from '../src/adapters/postgres/index.js';
import { redisAdapter } from '../src/adapters/redis/index.js';
import { createKeymint, hmacSha256Hasher, type KeyAdapter } from '../src/index.js';
import { HMAC_SECRET } from './helpers.js';

/** A TCP server that accepts and then says nothing; reports when each connection closes. */
async function blackHole() {
  const sockets: Socket[] = [];
  let closed = 0;
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on('close', () => closed++);
    socket.on('error', () => {});
    socket.resume(); // read and drop what the client sends, so its FIN is seen
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    accepted: () => sockets.length,
    closed: () => closed,
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (check()) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const holes: Array<Awaited<ReturnType<typeof blackHole>>> = [];
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
  for (const hole of holes.splice(0)) await hole.stop();
});

const adapters: Array<[string, (port: number) => KeyAdapter]> = [
  [
    'postgres',
    (port) => {
      // No connectionTimeoutMillis: pg would wait forever.
      const pool = new pg.Pool({ connectionString: `postgres://keymint@127.0.0.1:${port}/x` });
      pool.on('error', () => {});
      cleanups.push(() => pool.end());
      return postgresAdapter(pool);
    },
  ],
  [
    'redis',
    (port) => {
      const client = new Redis({ host: '127.0.0.1', port, lazyConnect: true });
      client.on('error', () => {});
      cleanups.push(() => client.disconnect());
      return redisAdapter(client);
    },
  ],
];

describe.each(adapters)('%s subscribe() against a server that never answers', (_name, make) => {
  it('rejects with the abort reason and closes its connection once the signal aborts', async () => {
    const hole = await blackHole();
    holes.push(hole);
    const adapter = make(hole.port);
    const controller = new AbortController();
    const pending = adapter.subscribe!(
      { invalidate: () => {}, reset: () => {} },
      { signal: controller.signal },
    );
    await until(() => hole.accepted() === 1, 'the connection attempt');
    controller.abort(new Error('shutting down'));
    await expect(pending).rejects.toThrow('shutting down');
    await until(() => hole.closed() === 1, 'the connection to close');
  });

  it('keymint.close() ends a listener that is still connecting', async () => {
    const hole = await blackHole();
    holes.push(hole);
    const keymint = createKeymint({
      adapter: make(hole.port),
      hasher: hmacSha256Hasher(HMAC_SECRET),
    });
    await until(() => hole.accepted() === 1, 'the connection attempt');
    await keymint.close();
    await until(() => hole.closed() === 1, 'the connection to close');
  });
});
