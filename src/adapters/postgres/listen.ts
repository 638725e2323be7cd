import { createHash } from 'node:crypto';
import type { InvalidationListener, Subscription } from '../../adapter.js';
import { keepListening, type ListenLink } from '../../internal/keep-listening.js';

/** PostgreSQL's identifier limit (NAMEDATALEN - 1), which channel names share. */
const MAX_CHANNEL_BYTES = 63;
const PREFIX = 'keymint:';

/**
 * The NOTIFY channel of a table, from the names as the options give them: `keymint:` followed by
 * `schema.table` (or `table` without a schema), or, when that is longer than 63 bytes, `keymint#`
 * followed by 40 hex digits of the SHA-256 of `schema.table`. Identifiers are ASCII letters, digits
 * and underscores, so the two forms never collide and every table gets a channel of its own.
 */
export function channelName(display: string): string {
  const readable = `${PREFIX}${display}`;
  if (readable.length <= MAX_CHANNEL_BYTES) return readable;
  return `keymint#${createHash('sha256').update(display).digest('hex').slice(0, 40)}`;
}

/** What a listening client needs: the parts of pg's `Client` used here. */
interface ListenClient {
  connect(): Promise<unknown>;
  query(text: string): Promise<unknown>;
  end(): Promise<unknown>;
  on(event: string, listener: (...args: never[]) => void): unknown;
}

/** A pg `Pool`: its client class and the options it builds clients with. */
export interface ClientFactory {
  Client: new (options: object) => ListenClient;
  options: object;
}

/** Whether `pool` is a pg `Pool` (or looks like one), which `subscribe` needs. */
export function isClientFactory(pool: unknown): pool is ClientFactory {
  const candidate = pool as Partial<ClientFactory> | null;
  return (
    typeof candidate?.Client === 'function' &&
    typeof candidate.options === 'object' &&
    candidate.options !== null
  );
}

/**
 * Lets the socket not keep the process alive (pg's JavaScript client; the native client has no
 * stream to unref). Called once the client listens, and for reconnections also before `connect()`.
 */
function unref(client: ListenClient): void {
  const connection = (client as { connection?: { stream?: { unref?: () => void } } }).connection;
  connection?.stream?.unref?.();
}

/** Closes the client's socket without a goodbye. */
function destroy(client: ListenClient): void {
  const connection = (client as { connection?: { stream?: { destroy?: () => void } } }).connection;
  connection?.stream?.destroy?.();
}

/**
 * Opens a dedicated connection (not from the pool) that runs `LISTEN` on `channel` and calls
 * `listener.invalidate` for each notification. See `postgresAdapter` for the behaviour.
 */
export function listen(
  pool: ClientFactory,
  channel: string,
  listener: InvalidationListener,
  signal?: AbortSignal,
): Promise<Subscription> {
  const listenSql = `LISTEN "${channel}"`;
  const link: ListenLink<ListenClient> = {
    create: () => new pool.Client(pool.options),
    async start(client, { deliver, lost }, background) {
      // Listeners stay attached for the client's whole life: pg emits 'error' without a listener
      // as an uncaught exception.
      client.on('error', lost);
      client.on('end', lost);
      client.on('notification', (message: { channel?: string; payload?: string }) => {
        if (message.channel === channel && typeof message.payload === 'string') {
          deliver(message.payload);
        }
      });
      // The first connection holds the process while subscribe() is awaited; reconnections run
      // in the background and never do.
      if (background) unref(client);
      await client.connect();
      await client.query(listenSql);
      // Again: with SSL the stream is now a TLS socket.
      unref(client);
    },
    end: async (client) => void (await client.end()),
    // Still connecting (a server that accepted the connection may never answer, and pg has no
    // connect timeout by default): close the socket at once.
    // (Not client.end() as well: a client ending while it connects never settles connect().)
    abort: destroy,
  };
  return keepListening(link, listener, signal);
}
