import type { InvalidationListener, Subscription } from '../../adapter.js';
import { keepListening, type ListenLink } from '../../internal/keep-listening.js';

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
/** How long `close()` waits for the connection to end. */
const CLOSE_WAIT_MS = 2_000;

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
 * Subscribes to `channel` on a dedicated connection from `factory` and calls
 * `listener.invalidate` with each message. See `redisAdapter` for the behaviour.
 */
export function subscribeTo(
  factory: ConnectionFactory,
  channel: string,
  listener: InvalidationListener,
  signal?: AbortSignal,
): Promise<Subscription> {
  const link: ListenLink<SubscriberConnection> = {
    create: factory,
    // Resolves once SUBSCRIBE is confirmed; rejects when it fails, or is not confirmed within the
    // client's connectTimeout.
    async start(connection, { deliver, lost }, background) {
      let lastError: unknown;
      // Listeners stay for the connection's whole life: without an 'error' listener ioredis
      // prints the error, and adapters never log.
      connection.on('error', (error: unknown) => (lastError = error));
      connection.on('connect', () => unref(connection));
      connection.on('ready', () => unref(connection));
      connection.on('close', lost);
      connection.on('end', lost);
      connection.on('message', (from: unknown, message: unknown) => {
        if (String(from) === channel) deliver(String(message));
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
        if (connection.status !== 'ready') {
          throw new Error('The connection closed while subscribing.', { cause: lastError });
        }
      } catch (error) {
        // The connection's own error (refused, timed out, bad password) says more than the
        // "Connection is closed." that ioredis then rejects the command with.
        throw lastError ?? error;
      } finally {
        clearTimeout(bound);
      }
    },
    end,
    abort: (connection) => void end(connection),
  };
  return keepListening(link, listener, signal);
}
