// Without a cache, the wrong-secret limit's owner pass rests on a bounded map of proofs (the
// digest of the key that verified and the hash it matched), 10,000 ids, oldest out first. A proof
// moves to the newest end when it is half the bound old, not on every verification: a key in use
// keeps its pass through any churn of other keys, and one not seen since falls out.
import { describe, expect, it } from 'vitest';
import { fastKeymint, guessFor } from './helpers.js';

const BOUND = 10_000;

describe('the owner pass without a cache (bounded proofs)', () => {
  it('the owner of an attacked key in use keeps its pass through 15,000 other keys; an idle one loses it', async () => {
    const { keymint } = fastKeymint({ cache: false, rateLimit: { window: '1h' } });
    try {
      const { key: used } = await keymint.createApiKey({ name: 'used', role: 'Viewer', ttl: '1d' });
      const { key: idle } = await keymint.createApiKey({ name: 'idle', role: 'Viewer', ttl: '1d' });
      expect((await keymint.verifyKey(used)).valid).toBe(true);
      expect((await keymint.verifyKey(idle)).valid).toBe(true);
      // Both ids attacked until the limit holds (a window of an hour: it holds to the end).
      for (const key of [used, idle]) {
        for (let n = 0; n < 10; n++) await keymint.verifyKey(guessFor(key, n));
        expect(await keymint.verifyKey(guessFor(key, 99))).toMatchObject({
          valid: false,
          reason: 'rate_limited',
        });
      }
      const others = BOUND * 1.5;
      for (let i = 0; i < others; i += 500) {
        const batch = await Promise.all(
          Array.from({ length: 500 }, (_, j) =>
            keymint.createApiKey({ name: `k${i + j}`, role: 'Viewer', ttl: '1d' }),
          ),
        );
        for (const { key } of batch) expect((await keymint.verifyKey(key)).valid).toBe(true);
        // The owner of the attacked key in use, once per 500 others: let through on its proof
        // every time (a proof that fell out of the bound would leave it refused).
        expect(await keymint.verifyKey(used)).toMatchObject({ valid: true });
      }
      // The idle key's proof fell out of the bound: its owner waits out the limit like anyone.
      expect(await keymint.verifyKey(idle)).toMatchObject({
        valid: false,
        reason: 'rate_limited',
      });
    } finally {
      await keymint.close();
    }
  }, 60_000);
});
