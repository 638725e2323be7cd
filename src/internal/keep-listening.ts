import type { InvalidationListener, Subscription } from '../adapter.js';

/** First reconnection delay, doubled after each failed attempt up to MAX_DELAY_MS. */
const MIN_DELAY_MS = 100;
const MAX_DELAY_MS = 5_000;
/** How long `close()` waits for a listening connection to end politely. */
const CLOSE_WAIT_MS = 2_000;

/** How one adapter opens and ends its dedicated listening connections. */
export interface ListenLink<C> {
  /** A new connection, not yet connected. */
  create(): C;
  /**
   * Connects and starts listening; resolves once it listens, rejects with the driver's error
   * otherwise. Each message's key id goes to `deliver`. `lost` must be called when the connection
   * later fails or ends (more than once is fine). `background` is true for reconnections, which
   * must never hold the process.
   */
  start(
    connection: C,
    events: { deliver(id: string): void; lost(): void },
    background: boolean,
  ): Promise<void>;
  /** Ends a listening connection politely. */
  end(connection: C): Promise<void>;
  /** Closes a connection that is not listening yet at once (its server may never answer). */
  abort(connection: C): void;
}

/** Calls into the listener; a listener that throws must not break a connection's parser. */
export function callSafely(fn: () => void): void {
  try {
    fn();
  } catch {
    // The listener's own failure: nothing useful to do with it here, and adapters never log.
  }
}

/**
 * Keeps one dedicated connection listening, for `subscribe`. Resolves once the first connection
 * listens; rejects with its error (or `signal`'s reason when aborted meanwhile, the connection
 * then closed at once). When a listening connection is lost: `listener.reset()`, then reconnect
 * in the background (100 ms, doubling up to 5 s; a connection that lived 5 s starts over) until
 * `close()`, and `listener.reset()` again once listening, since messages may have been missed.
 */
export async function keepListening<C>(
  link: ListenLink<C>,
  listener: InvalidationListener,
  signal?: AbortSignal,
): Promise<Subscription> {
  let closed = false;
  /** The connection being opened or listening; `close()` ends it. */
  let current: C | undefined;
  /** The connection that listens now, if any. */
  let listening: C | undefined;
  let timer: NodeJS.Timeout | undefined;
  let delay = MIN_DELAY_MS;
  let liveSince = 0;
  const deliver = (id: string) => {
    if (!closed) callSafely(() => listener.invalidate(id));
  };

  async function open(background: boolean): Promise<C> {
    const connection = link.create();
    current = connection;
    let live = false;
    let gone = false;
    const lost = () => {
      if (gone) return;
      gone = true;
      if (live) onLost(connection);
    };
    try {
      await link.start(connection, { deliver, lost }, background);
      if (gone) throw new Error('The connection closed while it started listening.');
      live = true;
      listening = connection;
      return connection;
    } catch (error) {
      gone = true;
      if (current === connection) current = undefined;
      link.abort(connection);
      throw error;
    }
  }

  function onLost(connection: C): void {
    if (closed || current !== connection) return;
    current = undefined;
    listening = undefined;
    void link.end(connection).catch(() => {});
    // A connection that lived a while starts the backoff again; one that died soon after it
    // started listening grows it, so that a server dropping every connection is not hammered.
    delay =
      Date.now() - liveSince >= MAX_DELAY_MS ? MIN_DELAY_MS : Math.min(delay * 2, MAX_DELAY_MS);
    callSafely(() => listener.reset());
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
    let connection: C;
    try {
      connection = await open(true);
    } catch {
      if (closed) return;
      delay = Math.min(delay * 2, MAX_DELAY_MS);
      schedule();
      return;
    }
    if (closed) {
      void link.end(connection).catch(() => {});
      return;
    }
    liveSince = Date.now();
    // Messages sent while no connection listened are lost: the listener forgets what it cached.
    callSafely(() => listener.reset());
  }

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      closed = true;
      clearTimeout(timer);
      timer = undefined;
      const connection = current;
      current = undefined;
      if (connection === undefined) return;
      if (connection === listening) {
        // Politely, but a server that stopped answering gets CLOSE_WAIT_MS, then the socket closes.
        let timeout: NodeJS.Timeout | undefined;
        await Promise.race([
          link.end(connection).catch(() => {}),
          new Promise<void>((resolve) => {
            timeout = setTimeout(resolve, CLOSE_WAIT_MS);
            timeout.unref();
          }),
        ]);
        clearTimeout(timeout);
      }
      link.abort(connection);
    })();
    return closing;
  };

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
