import { expect, it } from 'vitest';
import type { KeyAdapter, StoredLimits, UsageRequest } from '../../adapter.js';
import type { GroupBody } from '../conformance.js';

function consumer(adapter: KeyAdapter, group: string) {
  const found = adapter.consumeUsage;
  if (typeof found !== 'function') {
    throw new Error(
      `This adapter has no consumeUsage(): add '${group}' to the skip option if it is not meant to have one.`,
    );
  }
  return found.bind(adapter);
}

const WINDOW = 60_000;

const rateLimit: GroupBody = ({ adapter, record, now }) => {
  it('stores a record limits and returns them, and modify changes them', async () => {
    const limits: StoredLimits = {
      rateLimit: { limit: 100, windowMs: WINDOW },
      credits: { remaining: 5, setAt: now(), refill: { amount: 7, intervalMs: 3_600_000 } },
    };
    const a = record({ limits });
    await adapter().insert(a);
    expect(await adapter().findById(a.id)).toEqual(a);
    const b = record();
    await adapter().insert(b);
    expect((await adapter().findById(b.id))?.limits ?? null).toBeNull();
    if (adapter().modify) {
      const changed = await adapter().modify!(a.id, {
        limits: { rateLimit: { limit: 1, windowMs: 1_000 } },
      });
      expect(changed.ok && changed.record.limits).toEqual({
        rateLimit: { limit: 1, windowMs: 1_000 },
      });
      const cleared = await adapter().modify!(a.id, { limits: null });
      expect(cleared.ok && cleared.record.limits).toBeNull();
    }
  });

  it('lets exactly limit of 500 concurrent counts through in one window, then starts over in the next', async () => {
    const consume = consumer(adapter(), 'rate limit');
    const id = record().id;
    const windowStart = now() - (now() % WINDOW);
    const request: UsageRequest = { rate: { limit: 100, windowStart } };
    const outcomes = await Promise.all(Array.from({ length: 500 }, () => consume(id, request)));
    expect(outcomes.filter((o) => o.ok)).toHaveLength(100);
    expect(
      outcomes
        .map((o) => o.count)
        .sort((x, y) => x - y)
        .at(-1),
    ).toBe(100);
    expect(outcomes.every((o) => o.remaining === null)).toBe(true);
    const refused = await consume(id, request);
    expect(refused).toEqual({ ok: false, count: 100, remaining: null });
    const next = await consume(id, { rate: { limit: 100, windowStart: windowStart + WINDOW } });
    expect(next).toEqual({ ok: true, count: 1, remaining: null });
    // A late request of the older window counts in the newer one: the count never moves back.
    expect(await consume(id, request)).toEqual({ ok: true, count: 2, remaining: null });
    // Counters are per id.
    expect((await consume(record().id, request)).count).toBe(1);
  });
};

const credits: GroupBody = ({ adapter, record, now }) => {
  it('spends exactly the balance under 1,200 concurrent spends, and cost 0 spends nothing', async () => {
    const consume = consumer(adapter(), 'credits');
    const id = record().id;
    const spend = (cost: number): UsageRequest => ({
      credits: { cost, setAt: now(), fresh: 1_000 },
    });
    const outcomes = await Promise.all(Array.from({ length: 1_200 }, () => consume(id, spend(1))));
    expect(outcomes.filter((o) => o.ok)).toHaveLength(1_000);
    expect(Math.min(...outcomes.map((o) => o.remaining!))).toBe(0);
    expect(await consume(id, spend(0))).toEqual({ ok: false, count: 0, remaining: 0 });
    const other = record().id;
    expect(await consume(other, spend(0))).toEqual({ ok: true, count: 0, remaining: 1_000 });
    expect(await consume(other, spend(999))).toEqual({ ok: true, count: 0, remaining: 1 });
    expect(await consume(other, spend(2))).toEqual({ ok: false, count: 0, remaining: 1 });
  });

  it('refills to the amount in a later period, and starts again from fresh when set again', async () => {
    const consume = consumer(adapter(), 'credits');
    const id = record().id;
    const at = (period: number, setAt = now()): UsageRequest => ({
      credits: { cost: 1, setAt, fresh: 2, period, refillAmount: 3 },
    });
    expect((await consume(id, at(10))).remaining).toBe(1);
    expect((await consume(id, at(10))).remaining).toBe(0);
    expect((await consume(id, at(10))).ok).toBe(false);
    expect(await consume(id, at(11))).toEqual({ ok: true, count: 0, remaining: 2 });
    // The same period again refills nothing, nor does a late request of an older period.
    expect((await consume(id, at(11))).remaining).toBe(1);
    expect((await consume(id, at(10))).remaining).toBe(0);
    expect((await consume(id, at(11))).ok).toBe(false);
    // Credits set again (an update): the fresh balance, whatever the period; the old setting
    // (a process whose cache lags) then spends from it, never resets it.
    expect((await consume(id, at(11, now() + 1))).remaining).toBe(1);
    expect((await consume(id, at(11))).remaining).toBe(0);
  });

  it('counts a rate limit and credits together: a refusal by either spends neither', async () => {
    const consume = consumer(adapter(), 'credits');
    const id = record().id;
    const both = (cost: number): UsageRequest => ({
      rate: { limit: 2, windowStart: 0 },
      credits: { cost, setAt: now(), fresh: 3 },
    });
    expect(await consume(id, both(5))).toEqual({ ok: false, count: 0, remaining: 3 });
    expect(await consume(id, both(1))).toEqual({ ok: true, count: 1, remaining: 2 });
    expect(await consume(id, both(1))).toEqual({ ok: true, count: 2, remaining: 1 });
    expect(await consume(id, both(1))).toEqual({ ok: false, count: 2, remaining: 1 });
  });
};

export const usageGroups = { 'rate limit': rateLimit, credits } satisfies Record<string, GroupBody>;
