// Issue 14, finding 1b: the hashing queue is shared fairly between scopes and between ids, and
// keys this process has proven go first. One tenant floods wrong secrets over many of its own
// ids, with keymint's defaults (argon2id) and a 2 s cache.ttl as in the review, while another
// tenant's keys are checked: none of them may answer busy.
import { describe, expect, it } from 'vitest';
import { tenantFlood } from './fixtures/tenant-flood.js';

describe('fair hashing: one tenant flooding cannot keep another at busy', () => {
  it("100 flooding ids, 600 guesses in flight for 6 s: the other tenant's 14 uncached and 5 aged-out keys all verify", async () => {
    const report = await tenantFlood({
      attackerIds: 100,
      inFlight: 600,
      floodMs: 6_000,
      uncached: 14,
      cached: 5,
      keymint: { cache: { ttl: '2s' } },
    });
    console.log(`[figures] fair hashing, one tenant flooding: ${JSON.stringify(report)}`);
    // The flood did fill the queue: it got busy answers of its own.
    expect(report.flood.busy ?? 0).toBeGreaterThan(0);
    expect(report.uncached).toEqual({ valid: 14 });
    expect(report.cached).toEqual({ valid: 5 });
  }, 120_000);
});
