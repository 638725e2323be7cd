import type { FailureReservation, KeyAdapter } from '../adapter.js';
import { KeymintError } from '../errors.js';
import type { AttemptLimiter } from './attempt-limiter.js';

/** One attempt reserved by {@link WrongSecrets.begin}; `window` is null when counted in process. */
export interface AttemptTicket {
  readonly id: string;
  readonly window: number | null;
}

/**
 * The wrong-secret limit as the verifier sees it, counted in this process or in the store.
 * `begin` answers a ticket (hash), `null` (the id's window is full: refuse without a hash) or
 * `'gone'` (the store has no record with this id any more).
 */
export interface WrongSecrets {
  /**
   * Whether `begin` may wait (on the store): then a lookup is never run without a flight, or
   * concurrent first verifications of one right key would each take a place in the window.
   */
  readonly waits: boolean;
  blocked(id: string, nowMs: number): boolean;
  begin(
    id: string,
    nowMs: number,
  ): AttemptTicket | null | 'gone' | Promise<AttemptTicket | null | 'gone'>;
  end(ticket: AttemptTicket, wrong: boolean, nowMs: number): void;
  /** How long until a refused id may try again, in ms (at least 1). */
  retryAfter(id: string, nowMs: number): number;
}

/** The per-process limit, as a {@link WrongSecrets}. */
export function localAttempts(limiter: AttemptLimiter): WrongSecrets {
  return {
    waits: false,
    blocked: (id, nowMs) => limiter.blocked(id, nowMs),
    begin: (id, nowMs) => (limiter.begin(id, nowMs) ? { id, window: null } : null),
    end: (ticket, wrong, nowMs) => limiter.end(ticket.id, wrong, nowMs),
    retryAfter: (id, nowMs) => limiter.retryAfter(id, nowMs),
  };
}

export interface SharedAttemptsParts {
  adapter: Required<Pick<KeyAdapter, 'reserveFailure' | 'releaseFailure'>>;
  /** Used while the store's counter is failing, for one window. */
  local: AttemptLimiter;
  fromStore: <T>(operation: string, run: () => Promise<T>) => Promise<T>;
  report: (error: unknown) => void;
  monoMs: () => number;
  maxTracked?: number;
}

/**
 * The wrong-secret limit counted in the store (`reserveFailure` / `releaseFailure`), so that it
 * holds for every process of the fleet: an attempt is hashed only once the store reserved a place
 * for it in the id's window; a right secret (or one that could not be checked) gives its place
 * back. Ids the store reported full are refused here, without a store call, until their window
 * ends. When a counter call fails or times out, that attempt, and every other for one window, is
 * counted in this process, as without a shared counter (the secret is still checked, and at most the
 * per-process budget is hashed), the failure goes to the background error hook, and the store is
 * asked again after the window: a broken counter never locks everyone out.
 */
export function sharedAttempts(parts: SharedAttemptsParts): WrongSecrets {
  const { adapter, local, fromStore, report, monoMs } = parts;
  const limit = local.failures;
  const windowMs = local.windowMs;
  const maxTracked = parts.maxTracked ?? 100_000;
  /** Ids the store reported full, until when (monotonic ms). */
  const full = new Map<string, number>();
  let localUntil = -Infinity;

  const inProcess = (nowMs: number) => nowMs < localUntil;

  function markFull(id: string, untilMs: number): void {
    full.delete(id);
    // Insertion order is end order (one window each): the oldest first out.
    if (full.size >= maxTracked) full.delete(full.keys().next().value!);
    full.set(id, untilMs);
  }

  return {
    waits: true,
    blocked(id, nowMs) {
      if (inProcess(nowMs)) return local.blocked(id, nowMs);
      const until = full.get(id);
      if (until === undefined) return false;
      if (nowMs < until) return true;
      full.delete(id);
      return false;
    },

    async begin(id, nowMs) {
      if (inProcess(nowMs)) return local.begin(id, nowMs) ? { id, window: null } : null;
      let reservation: FailureReservation | null;
      try {
        reservation = await fromStore('reserveFailure', () =>
          adapter.reserveFailure(id, limit, windowMs),
        );
      } catch (error) {
        // Never valid without the secret check, never more hashes than the per-process limit,
        // and never everyone locked out by a counter that is broken (a table not migrated yet).
        localUntil = monoMs() + windowMs;
        report(
          new KeymintError(
            'STORE_FAILURE',
            `The store's wrong-secret counter failed; this process counts wrong secrets itself for the next ${windowMs} ms. See the cause.`,
            { cause: error },
          ),
        );
        return local.begin(id, nowMs) ? { id, window: null } : null;
      }
      if (reservation === null) return 'gone';
      if (reservation.ok) return { id, window: reservation.window };
      markFull(id, monoMs() + Math.max(1, reservation.retryAfterMs));
      return null;
    },

    retryAfter(id, nowMs) {
      if (inProcess(nowMs)) return local.retryAfter(id, nowMs);
      const until = full.get(id);
      return Math.max(1, until === undefined ? windowMs : until - nowMs);
    },

    end(ticket, wrong, nowMs) {
      if (ticket.window === null) {
        local.end(ticket.id, wrong, nowMs);
        return;
      }
      if (wrong) return;
      const window = ticket.window;
      // In the background: the verdict does not wait. A release that fails leaves one place
      // counted as a failure until the window ends.
      fromStore('releaseFailure', () => adapter.releaseFailure(ticket.id, window)).catch(report);
    },
  };
}
