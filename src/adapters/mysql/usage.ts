import type { KeyAdapter, UsageOutcome, UsageRequest } from '../../adapter.js';
import { usageOutcome, usageParams } from '../../internal/usage-sql.js';
import { applyUsage } from '../../internal/usage.js';
import { rowsOf, type Runner } from './pool.js';
import type { MysqlNames } from './schema.js';

/**
 * The counting upsert of `consumeUsage` in MySQL's dialect: the rule of `applyUsage`
 * (src/internal/usage.ts) as in src/internal/usage-sql.ts, as ONE `INSERT ... ON DUPLICATE KEY
 * UPDATE` that InnoDB applies under the row's lock, so concurrent verifications in any number of
 * processes are counted one after another. MySQL has no `RETURNING`. With a rate limit or credits
 * (not both), the answer comes back in the statement's OK packet, through `LAST_INSERT_ID(expr)`
 * (mysql2's `insertId`, the connection's own): the window's count or the balance, and whether
 * it passed; an insert (a key's first count) answers 0, and its outcome follows from the request
 * alone. With both, the statement also leaves the outcome in session variables (`@keymint_ok`,
 * `@keymint_count`, `@keymint_remaining`) that a second statement on the same connection reads,
 * after the row's lock is released.
 *
 * MySQL applies an update's assignments left to right, each seeing the columns assigned before
 * it; MariaDB with `SIMULTANEOUS_ASSIGNMENT` shows the old row to all. The order below gives the
 * same row either way: `ok` first (it reads the old row, and keeps its answer in `@keymint_ok`),
 * then each column reads only itself and columns assigned after it.
 *
 * `p(name)` spells a parameter.
 */
function usageStatement(usage: string, p: (name: string) => string): string {
  const rateOk = (count: string) => `(${p('lim')} IS NULL OR ${count} < ${p('lim')})`;
  const creditOk = (balance: string) =>
    `(${p('cset')} IS NULL OR (${balance} > 0 AND ${balance} >= ${p('cost')}))`;
  const ok = (count: string, balance: string) =>
    `(CASE WHEN ${rateOk(count)} AND ${creditOk(balance)} THEN 1 ELSE 0 END)`;
  // The stored row. A request from an older window, period or setting (a process whose clock or
  // cache lags) counts against the newer one stored: counters never move back.
  const count = () => `(CASE WHEN window_start >= ${p('ws')} THEN count ELSE 0 END)`;
  const balance = () => `(CASE WHEN ${p('cset')} IS NULL THEN NULL
      WHEN credits_set IS NULL OR credits_set < ${p('cset')} THEN ${p('fresh')}
      WHEN credits_set = ${p('cset')} AND ${p('period')} IS NOT NULL AND (credits_period IS NULL OR credits_period < ${p('period')}) THEN ${p('refill')}
      ELSE remaining END)`;
  const spent = (okExpr: string, balanceExpr: string) =>
    `(CASE WHEN ${p('cset')} IS NULL THEN NULL ELSE ${balanceExpr} - ${okExpr} * ${p('cost')} END)`;
  const counted = (okExpr: string, countExpr: string) =>
    `(CASE WHEN ${p('lim')} IS NULL THEN 0 ELSE ${countExpr} + ${okExpr} END)`;
  // The VALUES row, in column order (its expressions read parameters only).
  const id = p('id');
  const ws = p('ws');
  const newCount = `(@keymint_count := ${counted(ok('0', p('fresh')), '0')})`;
  const newSet = p('cset');
  const newPeriod = p('period');
  const newRemaining = `(@keymint_remaining := ${spent(ok('0', p('fresh')), p('fresh'))})`;
  const newOk = `(@keymint_ok := ${ok('0', p('fresh'))})`;
  // The update, in an order where each column reads only columns not assigned yet.
  const okNow = `ok = (@keymint_ok := ${ok(count(), balance())})`;
  const countNow = `count = (@keymint_count := ${counted('@keymint_ok', count())})`;
  const remainingNow = `remaining = (@keymint_remaining := ${spent('@keymint_ok', balance())})`;
  const periodNow = `credits_period = (CASE WHEN credits_set > ${p('cset')} THEN credits_period
      WHEN credits_set = ${p('cset')} AND credits_period > ${p('period')} THEN credits_period
      ELSE ${p('period')} END)`;
  const setNow = `credits_set = (CASE WHEN credits_set > ${p('cset')} THEN credits_set ELSE ${p('cset')} END)`;
  // Last, the answer in the OK packet as well: (count or balance) * 2 + ok + 1. An insert never
  // reaches it, and answers 0 there: its outcome follows from the request alone.
  const packed = `(CASE WHEN ${p('lim')} IS NULL THEN @keymint_remaining ELSE @keymint_count END) * 2 + @keymint_ok + 1`;
  const windowNow = `window_start = IF(LAST_INSERT_ID(${packed}) > 0,
      CASE WHEN window_start > ${p('ws')} THEN window_start ELSE ${p('ws')} END, NULL)`;
  return `INSERT INTO ${usage} (id, window_start, count, credits_set, credits_period, remaining, ok)
VALUES (${id}, ${ws}, ${newCount}, ${newSet}, ${newPeriod}, ${newRemaining}, ${newOk})
ON DUPLICATE KEY UPDATE
  ${okNow},
  ${countNow},
  ${remainingNow},
  ${periodNow},
  ${setNow},
  ${windowNow}`;
}

/**
 * `consumeUsage` over the table of schema step 4: the counting upsert above, then the read of
 * its answer, on one connection of the pool (the row's lock is held for the upsert only).
 */
export function usageMethods(
  { run, retried, session }: Runner,
  names: MysqlNames,
): Required<Pick<KeyAdapter, 'consumeUsage'>> {
  // Parameters are marked by name, then numbered in the order they appear in the text.
  const marked = usageStatement(names.usage, (name) => `\u0000${name}\u0000`);
  const order: string[] = [];
  const upsert = marked.replace(/\u0000(\w+)\u0000/g, (_, name: string) => {
    order.push(name);
    return '?';
  });
  const answer =
    'SELECT @keymint_ok AS ok, @keymint_count AS count, @keymint_remaining AS remaining';
  return {
    async consumeUsage(id: string, request: UsageRequest): Promise<UsageOutcome> {
      const params = usageParams(id, request);
      const values = order.map((name) => params[name]);
      if (request.rate && request.credits) {
        return retried(() =>
          session(async (runOn) => {
            await runOn(upsert, values);
            const [row] = await rowsOf(runOn(answer));
            return usageOutcome(row);
          }),
        );
      }
      const header = (await retried(() => run(upsert, values))) as { insertId?: unknown };
      const packed = Number(header.insertId) - 1;
      // The key's first count: what a new row holds.
      if (packed < 0) return applyUsage(undefined, request)[1];
      const ok = packed % 2 === 1;
      const value = (packed - (ok ? 1 : 0)) / 2;
      return request.rate
        ? { ok, count: value, remaining: null }
        : { ok, count: 0, remaining: value };
    },
  };
}
