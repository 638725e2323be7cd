// `consumeUsage` of the Redis adapter: one script on the key's `usage:<id>` hash (the scripts are
// in scripts/usage.ts).
import type { KeyAdapter, UsageOutcome, UsageRequest } from '../../adapter.js';
import { SCRIPTS, unexpected, type RunScript } from './scripts.js';

/** `consumeUsage` through `run`, for keys under `prefix`. */
export function usageMethods(
  run: RunScript,
  prefix: string,
): Required<Pick<KeyAdapter, 'consumeUsage'>> {
  return {
    async consumeUsage(id: string, request: UsageRequest): Promise<UsageOutcome> {
      const { rate, credits } = request;
      const text = (value: number | undefined) => (value === undefined ? '' : String(value));
      const reply =
        rate && !credits
          ? await run(
              SCRIPTS.usageRate,
              [`${prefix}usage:${id}`],
              [String(rate.windowStart), String(rate.limit)],
            )
          : await run(
              SCRIPTS.usage,
              [`${prefix}usage:${id}`],
              [
                text(rate?.windowStart),
                text(rate?.limit),
                text(credits?.setAt),
                text(credits?.period),
                text(credits?.fresh),
                text(credits?.refillAmount),
                text(credits?.cost),
              ],
            );
      if (!Array.isArray(reply) || reply.length !== 3) throw unexpected(reply, 'usage');
      return {
        ok: Number(reply[0]) === 1,
        count: Number(reply[1]),
        remaining: reply[2] === '' ? null : Number(reply[2]),
      };
    },
  };
}
