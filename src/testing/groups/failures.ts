import { expect, it } from 'vitest';
import type { KeyAdapter } from '../../adapter.js';
import type { GroupBody } from '../conformance.js';

type Counter = Required<Pick<KeyAdapter, 'reserveFailure' | 'releaseFailure'>>;

/** The adapter's failure counter, or a failure that says how to leave the group out. */
function counter(adapter: KeyAdapter): Counter {
  if (
    typeof adapter.reserveFailure !== 'function' ||
    typeof adapter.releaseFailure !== 'function'
  ) {
    throw new Error(
      "This adapter has no reserveFailure() and releaseFailure(): add 'failure counter' to the skip option if it is not meant to have them (keymint then counts wrong secrets per process).",
    );
  }
  return {
    reserveFailure: adapter.reserveFailure.bind(adapter),
    releaseFailure: adapter.releaseFailure.bind(adapter),
  };
}

const MINUTE = 60_000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The wrong-secret limit counted in the store: reserveFailure() and releaseFailure(). */
const failureCounter: GroupBody = ({ adapter, record }) => {
  it('reserves up to the limit in one window, then refuses with the time left', async () => {
    const { reserveFailure } = counter(adapter());
    const a = record();
    await adapter().insert(a);
    const first = await reserveFailure(a.id, 3, MINUTE);
    expect(first).toEqual({ ok: true, window: expect.any(Number) });
    const window = (first as { window: number }).window;
    // The store's clock, near this machine's (a minute either way).
    expect(Math.abs(window - Date.now())).toBeLessThan(MINUTE);
    expect(await reserveFailure(a.id, 3, MINUTE)).toEqual({ ok: true, window });
    expect(await reserveFailure(a.id, 3, MINUTE)).toEqual({ ok: true, window });
    for (let i = 0; i < 3; i++) {
      const refused = await reserveFailure(a.id, 3, MINUTE);
      expect(refused).toEqual({ ok: false, retryAfterMs: expect.any(Number) });
      const left = (refused as { retryAfterMs: number }).retryAfterMs;
      expect(left).toBeGreaterThanOrEqual(1);
      expect(left).toBeLessThanOrEqual(MINUTE);
    }
  });

  it('keeps no state for an id without a record, and drops the window with the key', async () => {
    const { reserveFailure } = counter(adapter());
    const a = record();
    for (let i = 0; i < 5; i++) expect(await reserveFailure(a.id, 2, MINUTE)).toBeNull();
    // The id now gets a record: nothing was counted for it before.
    await adapter().insert(a);
    expect(await reserveFailure(a.id, 2, MINUTE)).toMatchObject({ ok: true });
    expect(await reserveFailure(a.id, 2, MINUTE)).toMatchObject({ ok: true });
    expect(await reserveFailure(a.id, 2, MINUTE)).toMatchObject({ ok: false });
    // Deleted: no record, no count; a new record with the id starts from nothing.
    expect(await adapter().delete(a.id)).toBe(true);
    expect(await reserveFailure(a.id, 2, MINUTE)).toBeNull();
    await adapter().insert(a);
    expect(await reserveFailure(a.id, 2, MINUTE)).toMatchObject({ ok: true });
  });

  it('counts each id apart', async () => {
    const { reserveFailure } = counter(adapter());
    const a = record();
    const b = record();
    await adapter().insert(a);
    await adapter().insert(b);
    expect(await reserveFailure(a.id, 1, MINUTE)).toMatchObject({ ok: true });
    expect(await reserveFailure(a.id, 1, MINUTE)).toMatchObject({ ok: false });
    expect(await reserveFailure(b.id, 1, MINUTE)).toMatchObject({ ok: true });
  });

  it('gives a place back with releaseFailure(), only in the window it was reserved in', async () => {
    const { reserveFailure, releaseFailure } = counter(adapter());
    const a = record();
    await adapter().insert(a);
    const taken = await reserveFailure(a.id, 2, MINUTE);
    const window = (taken as { window: number }).window;
    expect(await reserveFailure(a.id, 2, MINUTE)).toEqual({ ok: true, window });
    expect(await reserveFailure(a.id, 2, MINUTE)).toMatchObject({ ok: false });
    await releaseFailure(a.id, window - 1); // another window: nothing given back
    expect(await reserveFailure(a.id, 2, MINUTE)).toMatchObject({ ok: false });
    await releaseFailure(a.id, window);
    expect(await reserveFailure(a.id, 2, MINUTE)).toEqual({ ok: true, window });
    expect(await reserveFailure(a.id, 2, MINUTE)).toMatchObject({ ok: false });
    // Never below nothing: more releases than reservations leave at most the limit.
    for (let i = 0; i < 5; i++) await releaseFailure(a.id, window);
    await sleep(5);
    const again = await Promise.all([1, 2, 3].map(() => reserveFailure(a.id, 2, MINUTE)));
    expect(again.filter((r) => r?.ok).length).toBe(2);
    // A window whose places were all given back holds nothing: the next one starts anew.
    const restarted = again.find((r) => r?.ok) as { window: number };
    expect(restarted.window).toBeGreaterThan(window);
  });

  it('lets exactly the limit of 50 concurrent reservations through', async () => {
    const { reserveFailure } = counter(adapter());
    const a = record();
    await adapter().insert(a);
    const answers = await Promise.all(
      Array.from({ length: 50 }, () => reserveFailure(a.id, 10, MINUTE)),
    );
    expect(answers.filter((r) => r?.ok === true).length).toBe(10);
    expect(answers.filter((r) => r?.ok === false).length).toBe(40);
  });

  it('starts a new window once the window has ended, on the store clock', async () => {
    const { reserveFailure } = counter(adapter());
    const a = record();
    await adapter().insert(a);
    const windowMs = 400;
    const first = await reserveFailure(a.id, 1, windowMs);
    expect(first).toMatchObject({ ok: true });
    const refused = await reserveFailure(a.id, 1, windowMs);
    expect(refused).toMatchObject({ ok: false });
    await sleep((refused as { retryAfterMs: number }).retryAfterMs + 50);
    const next = await reserveFailure(a.id, 1, windowMs);
    expect(next).toMatchObject({ ok: true });
    expect((next as { window: number }).window).toBeGreaterThanOrEqual(
      (first as { window: number }).window + windowMs,
    );
  });
};

export const failureGroups = { 'failure counter': failureCounter };
