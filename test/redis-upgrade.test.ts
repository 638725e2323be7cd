// Redis records of keymint 0.1.0 keep working: a record written in 0.1.0's layout (its ten
// fields, its name, order and expiry index entries, its Redis expiry) reads with null in every
// field added since, verifies, and can be updated and rotated. Also the layout after modify():
// renames move the index entries, a new expiry moves the expiry entry and the Redis expiry.
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redisAdapter } from '../src/adapters/redis/index.js';
import { createKeymint } from '../src/index.js';
import { LEGACY_HASHER, legacyKeys, type LegacyRecord } from './fixtures/keys-0.1.0.js';
import { DAY, expectCode, storedRecord } from './helpers.js';
import { describeWithServer } from './servers.js';

const FILE_PREFIX = `keymint-upgrade:${randomBytes(4).toString('hex')}:`;
let prefixes = 0;
const RETENTION_MS = 30 * DAY;

/** Writes a record the way 0.1.0's insert script did, with plain commands. */
async function writeLegacy(client: Redis, prefix: string, record: LegacyRecord) {
  const fields: string[] = [
    'id',
    record.id,
    'name',
    record.name,
    'role',
    record.role,
    'scope',
    record.scope,
    'secretHash',
    record.secretHash,
    'createdAt',
    String(record.createdAt.getTime()),
  ];
  for (const field of ['expiresAt', 'lastUsedAt', 'revokedAt'] as const) {
    const date = record[field];
    if (date) fields.push(field, String(date.getTime()));
  }
  if (record.metadata !== null) fields.push('metadata', JSON.stringify(record.metadata));
  const key = `${prefix}key:${record.id}`;
  await client.hset(key, ...fields);
  if (record.expiresAt) {
    await client.pexpireat(key, record.expiresAt.getTime() + RETENTION_MS);
    await client.zadd(
      `${prefix}expiry`,
      record.expiresAt.getTime(),
      `${record.id}\u0000${record.scope}\u0000${record.name}`,
    );
  }
  await client.hset(`${prefix}names:${record.scope}`, record.name, record.id);
  await client.zadd(`${prefix}order:${record.scope}`, 0, record.name);
}

describeWithServer(
  'redis',
  'redisAdapter() records of 0.1.0 and the layout after modify()',
  (url) => {
    let client: Redis;
    const fresh = () => {
      const prefix = `${FILE_PREFIX}${++prefixes}:`;
      return { prefix, adapter: redisAdapter(client, { prefix }) };
    };

    beforeAll(() => {
      client = new Redis(url);
    });
    afterAll(async () => {
      const keys = await client.keys(`${FILE_PREFIX}*`);
      if (keys.length > 0) await client.del(...keys);
      await client.quit();
    });

    it('reads a 0.1.0 record with null in every field added since', async () => {
      const { prefix, adapter } = fresh();
      const keys = await legacyKeys(Date.now());
      for (const { record } of Object.values(keys)) {
        await writeLegacy(client, prefix, record);
        expect(await adapter.findById(record.id)).toEqual({
          ...record,
          ttlSeconds: null,
          previousSecretHash: null,
          previousSecretExpiresAt: null,
          rotatedAt: null,
          owner: null,
          permissions: null,
          limits: null,
        });
      }
      // No owner: no owner listing finds them, and revoking an owner's keys leaves them alone.
      expect(await adapter.list({ scope: 'default', limit: 10, owner: 'deploy' })).toEqual([]);
      expect(await adapter.revokeByOwner!('default', 'deploy', new Date())).toEqual([]);
      expect((await adapter.list({ scope: 'default', limit: 10 })).map((r) => r.name)).toEqual([
        'deploy',
        'forever',
        'nightly',
        'old',
      ]);
    });

    it('verifies, updates and rotates 0.1.0 keys', async () => {
      const { prefix, adapter } = fresh();
      const keys = await legacyKeys(Date.now());
      for (const { record } of Object.values(keys)) await writeLegacy(client, prefix, record);
      const keymint = createKeymint({ adapter, hasher: LEGACY_HASHER, allowNonExpiring: true });
      expect(await keymint.verifyKey(keys.active.key)).toMatchObject({
        valid: true,
        apiKey: { name: 'deploy', role: 'Editor', metadata: { team: 'ops' } },
      });
      expect(await keymint.verifyKey(keys.revoked.key)).toEqual({
        valid: false,
        reason: 'revoked',
      });
      expect(await keymint.verifyKey(keys.expired.key)).toEqual({
        valid: false,
        reason: 'expired',
      });

      const id = keys.active.record.id;
      await keymint.updateApiKey(id, { name: 'deploy 2', role: 'Viewer' });
      expect(await keymint.verifyKey(keys.active.key, { role: 'Editor' })).toEqual({
        valid: false,
        reason: 'insufficient_role',
      });
      // The old name is free again, the new one taken.
      await keymint.createApiKey({ name: 'deploy', role: 'Viewer', ttl: '1h' });
      await expectCode(
        keymint.createApiKey({ name: 'deploy 2', role: 'Viewer', ttl: '1h' }),
        'NAME_TAKEN',
      );

      const before = Date.now();
      const rotated = await keymint.rotateApiKey(id, { gracePeriod: '10m' });
      // A 0.1.0 key's own time to live: expiry - creation = 1 day.
      expect(rotated.apiKey.expiresAt!.getTime()).toBeGreaterThanOrEqual(before + DAY);
      expect((await keymint.verifyKey(keys.active.key)).valid).toBe(true);
      expect((await keymint.verifyKey(rotated.key)).valid).toBe(true);
      await keymint.rotateApiKey(id);
      expect(await keymint.verifyKey(rotated.key)).toEqual({ valid: false, reason: 'rotated' });
      expect(await keymint.verifyKey(keys.active.key)).toEqual({
        valid: false,
        reason: 'not_found',
      });

      const forever = await keymint.rotateApiKey(keys.forever.record.id);
      expect(forever.apiKey.expiresAt).toBeNull();
      expect(await client.pttl(`${prefix}key:${keys.forever.record.id}`)).toBe(-1);
      await keymint.close();
    });

    it('moves the name, order and expiry entries and the Redis expiry with a change', async () => {
      const { prefix, adapter } = fresh();
      const now = Date.now();
      const record = storedRecord({
        id: 'RENAMEDKEY01',
        name: 'first',
        createdAt: new Date(now),
        expiresAt: new Date(now + 3_600_000),
      });
      await adapter.insert(record);
      const later = new Date(now + 7_200_000);
      const result = await adapter.modify!(record.id, { name: 'second', expiresAt: later });
      expect(result.ok).toBe(true);
      expect(await client.hgetall(`${prefix}names:default`)).toEqual({ second: record.id });
      expect(await client.zrange(`${prefix}order:default`, 0, '-1')).toEqual(['second']);
      expect(await client.zrangebyscore(`${prefix}expiry`, '-inf', '+inf', 'WITHSCORES')).toEqual([
        `${record.id}\u0000default\u0000second`,
        String(later.getTime()),
      ]);
      const dropAt = later.getTime() + RETENTION_MS;
      const pttl = await client.pttl(`${prefix}key:${record.id}`);
      expect(pttl).toBeGreaterThan(dropAt - Date.now() - 5_000);
      expect(pttl).toBeLessThanOrEqual(dropAt - Date.now() + 1_000);

      await adapter.modify!(record.id, { expiresAt: null });
      expect(await client.pttl(`${prefix}key:${record.id}`)).toBe(-1);
      expect(await client.zcard(`${prefix}expiry`)).toBe(0);
    });

    it('writes the rotation fields as epoch-ms strings and deletes them for null', async () => {
      const { prefix, adapter } = fresh();
      const record = storedRecord({ id: 'ROTATEDKEY01', createdAt: new Date(), expiresAt: null });
      await adapter.insert(record);
      const at = new Date(Date.now() + 1_000);
      await adapter.modify!(record.id, {
        secretHash: 'new',
        previousSecretHash: record.secretHash,
        previousSecretExpiresAt: at,
        rotatedAt: at,
      });
      expect(await client.hgetall(`${prefix}key:${record.id}`)).toMatchObject({
        secretHash: 'new',
        previousSecretHash: record.secretHash,
        previousSecretExpiresAt: String(at.getTime()),
        rotatedAt: String(at.getTime()),
      });
      await adapter.modify!(record.id, { previousSecretHash: null, previousSecretExpiresAt: null });
      const fields = Object.keys(await client.hgetall(`${prefix}key:${record.id}`));
      expect(fields).not.toContain('previousSecretHash');
      expect(fields).not.toContain('previousSecretExpiresAt');
    });

    it('refuses a new expiry that retention would drop at once, writing nothing', async () => {
      const { adapter } = fresh();
      const record = storedRecord({
        id: 'GONEKEY00001',
        createdAt: new Date(),
        expiresAt: new Date(Date.now() + 3_600_000),
      });
      await adapter.insert(record);
      await expect(
        adapter.modify!(record.id, { name: 'renamed', expiresAt: new Date(Date.now() - 31 * DAY) }),
      ).rejects.toThrow(/would expire from Redis at once/);
      expect(await adapter.findById(record.id)).toEqual(record);
    });
  },
);
