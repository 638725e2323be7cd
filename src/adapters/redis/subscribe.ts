import type { InvalidationListener, Subscription } from '../../adapter.js';

/** The parts of an ioredis `Redis` connection a subscription uses (ioredis 5 and 6). */
export interface SubscriberConnection {
  readonly status: string;
  readonly stream?: { unref?: () => unknown; destroy?: () => unknown } | null;
  readonly options?: { connectTimeout?: unknown };
  connect(): Promise<unknown>;
  subscribe(channel: string): Promise<unknown>;
  disconnect(): void;
  on(event: string, listener: (...args: never[]) => void): unknown;
  once(event: string, listener: (...args: never[]) => void): unknown;
}

/** Makes a new, not yet connected, subscriber connection; throws when it cannot. */
export type ConnectionFactory = () => SubscriberConnection;

/**
 * What the subscriber connection changes from the client's options. The adapter reconnects by
 * itself (with a new connection each time), so ioredis must not; `keyPrefix` is dropped because
 * the channel is spelled out in full (ioredis does not prefix channels today, and must not start
 * to); commands wait for the connection, which `connect()` starts.
 */
export const SUBSCRIBER_OPTIONS = Object.freeze({
  lazyConnect: true,
  retryStrategy: null,
  autoResubscribe: false,
  enableOfflineQueue: true,
  keyPrefix: '',
  monitor: false,
});

/** ioredis's default connectTimeout, the bound of each subscribe attempt when the client has none. */
const DEFAULT_TIMEOUT_MS = 10_000;
/** First reconnection delay, doubled after each failed attempt up to MAX_DELAY_MS. */
const MIN_DELAY_MS = 100;
const MAX_DELAY_MS = 5_000;
/** How long `close()` waits for the connection to end. */
const CLOSE_WAIT_MS = 2_000;

/** Calls into the listener; a listener that throws must not break the connection's parser. */
function call(fn: () => void): void {
  try {
    fn();
  } catch {
    // The listener's own failure: nothing useful to do with it here, and adapters never log.
  }
}

/** Lets the socket not keep the process alive; called on each connection's 'connect' and 'ready'. */
function unref(connection: SubscriberConnection): void {
  connection.stream?.unref?.();
}

function timeoutOf(connection: SubscriberConnection): number {
  const ms = connection.options?.connectTimeout;
  return typeof ms === 'number' && Number.isFinite(ms) && ms > 0 ? ms : DEFAULT_TIMEOUT_MS;
}

/** Ends a connection; resolves once it has ended, or after CLOSE_WAIT_MS (never holds the process). */
function end(connection: SubscriberConnection): Promise<void> {
  if (connection.status === 'end') return Promise.resolve();
  return new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, CLOSE_WAIT_MS);
    timer.unref();
    connection.once('end', () => {
      clearTimeout(timer);
      resolve();
    });
    connection.disconnect();
    // A server that accepted the connection but never answers gets no say: close the socket now.
    connection.stream?.destroy?.();
  });
}

/**
 * Subscribes to `channel` on a dedicated connection from `connect` and calls
 * `listener.invalidate` with each message. See `redisAdapter` for the behaviour.
 */
export async function subscribeTo(
  factory: ConnectionFactory,
  channel: string,
  listener: InvalidationListener,
  signal?: AbortSignal,
): Promise<Subscription> {
  let closed = false;
  /** The connection being set up or subscribed; `close()` ends it. */
  let current: SubscriberConnection | undefined;
  let timer: NodeJS.Timeout | undefined;
  let delay = MIN_DELAY_MS;
  let liveSince = 0;

  /**
   * Opens a connection and subscribes. Resolves once SUBSCRIBE is confirmed; rejects (the
   * connection then ended) when it fails, or is not confirmed within the client's connectTimeout.
   */
  async function open(background: boolean): Promise<SubscriberConnection> {
    const connection = factory();
    current = connection;
    let live = false;
    let gone = false;
    let lastError: unknown;
    const lost = () => {
      if (gone) return;
      gone = true;
      if (live) onLost(connection);
    };
    // Listeners stay for the connection's whole life: without an 'error' listener ioredis prints
    // the error, and adapters never log.
    connection.on('error', (error: unknown) => (lastError = error));
    connection.on('connect', () => unref(connection));
    connection.on('ready', () => unref(connection));
    connection.on('close', lost);
    connection.on('end', lost);
    connection.on('message', (from: unknown, message: unknown) => {
      if (closed || String(from) !== channel) return;
      const id = String(message);
      call(() => listener.invalidate(id));
    });

    const ms = timeoutOf(connection);
    let bound: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      bound = setTimeout(
        () =>
          reject(
            new Error(
              `The Redis subscriber connection did not subscribe within ${ms} ms (the client's connectTimeout).`,
            ),
          ),
        ms,
      );
      // The first attempt holds the process while subscribe() is awaited; reconnections run in
      // the background and never do.
      if (background) bound.unref();
    });
    try {
      await Promise.race([
        (async () => {
          await connection.connect();
          await connection.subscribe(channel);
        })(),
        timedOut,
      ]);
      if (gone || connection.status !== 'ready') {
        throw new Error('The connection closed while subscribing.', { cause: lastError });
      }
      live = true;
      return connection;
    } catch (error) {
      gone = true;
      if (current === connection) current = undefined;
      void end(connection);
      // The connection's own error (refused, timed out, bad password) says more than the
      // "Connection is closed." that ioredis then rejects the command with.
      throw lastError ?? error;
    } finally {
      clearTimeout(bound);
    }
  }

  function onLost(connection: SubscriberConnection): void {
    if (closed || current !== connection) return;
    current = undefined;
    void end(connection);
    // A connection that lived a while starts the backoff again; one that dies right after
    // SUBSCRIBE keeps growing it, so a server that drops every connection is not hammered.
    if (Date.now() - liveSince >= MAX_DELAY_MS) delay = MIN_DELAY_MS;
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
    let connection: SubscriberConnection;
    try {
      connection = await open(true);
    } catch {
      if (closed) return;
      delay = Math.min(delay * 2, MAX_DELAY_MS);
      schedule();
      return;
    }
    if (closed) {
      void end(connection);
      return;
    }
    liveSince = Date.now();
    // Messages published while no connection was subscribed are lost: the listener forgets.
    call(() => listener.reset());
  }

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      closed = true;
      clearTimeout(timer);
      timer = undefined;
      const connection = current;
      current = undefined;
      if (connection) await end(connection);
    })();
    return closing;
  };
  // Aborted while the first connection is still being made: end it, so nothing holds the process.
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
