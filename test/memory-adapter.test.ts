import { describe, expect, it } from 'vitest';
import { memoryAdapter } from '../src/adapters/memory/index.js';
import { describeAdapterConformance } from '../src/testing/index.js';
import { storedRecord, T0 } from './helpers.js';

// Every rule of the contract, as for the database adapters. The memory adapter has no failure
// counter: its keys live in one process, and keymint counts wrong secrets per process for it.
describeAdapterConformance({
  name: 'memory',
  createAdapter: () => memoryAdapter(),
  skip: ['failure counter'],
});

let counter = 0;
/** A record with a fresh, unique, well-formed id. */
function rec(overrides: Parameters<typeof storedRecord>[0] = {}) {
  counter++;
  return storedRecord({ id: `ID${String(counter).padStart(10, '0')}`, ...overrides });
}

describe('memoryAdapter()', () => {
  it('keeps separate stores for separate memoryAdapter() calls', async () => {
    const a = memoryAdapter();
    const b = memoryAdapter();
    const record = rec();
    await a.insert(record);
    expect(await b.findById(record.id)).toBeNull();
    expect(await b.list({ scope: record.scope, limit: 10 })).toEqual([]);
  });

  it('is not changed by mutating the patch dates after update', async () => {
    const adapter = memoryAdapter();
    const record = rec();
    await adapter.insert(record);
    const at = new Date(T0 + 1);
    await adapter.update(record.id, { revokedAt: at, lastUsedAt: at });
    at.setTime(0);
    const found = await adapter.findById(record.id);
    expect(found?.revokedAt).toEqual(new Date(T0 + 1));
    expect(found?.lastUsedAt).toEqual(new Date(T0 + 1));
  });

  it('keeps a record for the life of the process, with no expiry of its own', async () => {
    const adapter = memoryAdapter();
    const record = rec({ expiresAt: new Date(0) });
    await adapter.insert(record);
    expect(await adapter.findById(record.id)).toEqual(record);
  });
});
