import { createHash } from 'node:crypto';
import type { InvalidationListener, Subscription } from '../../adapter.js';

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

/** First reconnection delay, doubled after each failed attempt up to MAX_DELAY_MS. */
const MIN_DELAY_MS = 100;
const MAX_DELAY_MS = 5_000;

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

/** Calls into the listener; a listener that throws must not break the connection's parser. */
function call(fn: () => void): void {
  try {
    fn();
  } catch {
    // The listener's own failure: nothing useful to do with it here, and adapters never log.
  }
}

/**
 * Opens a dedicated connection (not from the pool) that runs `LISTEN` on `channel` and calls
 * `listener.invalidate` for each notification. See `postgresAdapter` for the behaviour.
 */
export async function listen(
  pool: ClientFactory,
  channel: string,
  listener: InvalidationListener,
  signal?: AbortSignal,
): Promise<Subscription> {
  const listenSql = `LISTEN "${channel}"`;
  let closed = false;
  /** The client being connected or listening; `close()` ends it. */
  let current: ListenClient | undefined;
  /** The client that is listening now, if any. */
  let listening: ListenClient | undefined;
  let timer: NodeJS.Timeout | undefined;
  let delay = MIN_DELAY_MS;
  let liveSince = 0;

  /**
   * Connects a new client and runs LISTEN. Resolves with the client once it listens; rejects with
   * the driver's error otherwise (the client is then ended). `onLost` runs once, when a client that
   * was listening fails or ends.
   */
  async function open(background: boolean): Promise<ListenClient> {
    const client = new pool.Client(pool.options);
    current = client;
    let live = false;
    let gone = false;
    const lost = () => {
      if (gone) return;
      gone = true;
      if (live) onLost(client);
    };
    // Listeners stay attached for the client's whole life: pg emits 'error' without a listener as
    // an uncaught exception.
    client.on('error', lost);
    client.on('end', lost);
    client.on('notification', (message: { channel?: string; payload?: string }) => {
      if (closed || message.channel !== channel || typeof message.payload !== 'string') return;
      const id = message.payload;
      call(() => listener.invalidate(id));
    });
    // The first connection holds the process while subscribe() is awaited; reconnections run in
    // the background and never do.
    if (background) unref(client);
    try {
      await client.connect();
      await client.query(listenSql);
      if (gone) throw new Error('Connection terminated while listening');
      // Again: with SSL the stream is now a TLS socket.
      unref(client);
      live = true;
      listening = client;
      return client;
    } catch (error) {
      gone = true;
      if (current === client) current = undefined;
      void client.end().catch(() => {});
      throw error;
    }
  }

  function onLost(client: ListenClient): void {
    if (closed || current !== client) return;
    current = undefined;
    void client.end().catch(() => {});
    // A connection that lived a while starts the backoff again; one that died soon after LISTEN
    // grows it, so that a server that drops every connection at once is not hammered.
    delay =
      Date.now() - liveSince >= MAX_DELAY_MS ? MIN_DELAY_MS : Math.min(delay * 2, MAX_DELAY_MS);
    call(() => listener.reset());
    schedule();
  }

  function schedule(): void {
    timer = setTimeout(() => {
      timer = undefined;
      void reconnect();
    }, delay);
    timer.unref();
  }

  async function reconnect(): Promise<void> {
    if (closed) return;
    let client: ListenClient;
    try {
      client = await open(true);
    } catch {
      if (closed) return;
      delay = Math.min(delay * 2, MAX_DELAY_MS);
      schedule();
      return;
    }
    if (closed) {
      void client.end().catch(() => {});
      return;
    }
    liveSince = Date.now();
    // Notifications sent while no connection listened are lost: the listener forgets its cache.
    call(() => listener.reset());
  }

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      closed = true;
      clearTimeout(timer);
      timer = undefined;
      const client = current;
      current = undefined;
      if (!client) return;
      // Still connecting (a server that accepted the connection may never answer, and pg has no
      // connect timeout by default): close the socket at once. Listening: end it politely.
      if (client !== listening) {
        destroy(client);
        return;
      }
      await client.end().catch(() => {});
    })();
    return closing;
  };
  // Aborted while the first connection is still being made (pg has no connect timeout by
  // default): end it, so that nothing is left holding the process.
  signal?.throwIfAborted();
  const onAbort = () => void close();
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    await open(false);
  } catch (error) {
    await close();
    throw signal?.aborted ? signal.reason : error;
  } finally {
    signal?.removeEventListener('abort', onAbort);
  }
  liveSince = Date.now();
  return { close };
}
