import type pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { bundleFixture, startPeer, type Bundle, type Peer } from './fixtures/children.js';
import { dropSchemas, openPool, randomSchema } from './fixtures/postgres.js';
import { describeWithServer } from './servers.js';

describeWithServer('postgres', 'postgresAdapter() across processes', (url) => {
  const schema = randomSchema();
  const peers: Peer[] = [];
  let pool: pg.Pool | undefined;
  let bundle: Bundle | undefined;

  beforeAll(async () => {
    bundle = await bundleFixture('postgres-peer.ts');
    // Both peers migrate the new schema at start, at the same moment.
    const env = { KEYMINT_PEER_URL: url, KEYMINT_PEER_SCHEMA: schema };
    peers.push(startPeer(bundle.file, env), startPeer(bundle.file, env));
    await Promise.all(peers.map((peer) => peer.ready));
  });

  afterAll(async () => {
    for (const { child } of peers) {
      if (child.exitCode === null) child.kill();
    }
    pool = openPool(url, { max: 1 });
    await dropSchemas(pool, [schema]);
    await pool.end();
    await bundle?.remove();
  });

  it('shares keys between two processes: created in A, verified and listed in B, revoked in A, refused in B', async () => {
    const [a, b] = peers as [Peer, Peer];
    const created = await a.send({ op: 'create', name: 'shared' });
    expect(created.ok).toBe(true);
    const { key, apiKey } = (created as { result: { key: string; apiKey: { id: string } } }).result;

    expect(await b.send({ op: 'verify', key })).toMatchObject({
      ok: true,
      result: { valid: true, apiKey: { id: apiKey.id, name: 'shared', role: 'Editor' } },
    });
    expect(await b.send({ op: 'list' })).toMatchObject({
      ok: true,
      result: [{ id: apiKey.id, name: 'shared' }],
    });
    expect(await b.send({ op: 'create', name: 'shared' })).toMatchObject({
      ok: false,
      code: 'NAME_TAKEN',
    });

    expect(await a.send({ op: 'revoke', id: apiKey.id })).toMatchObject({
      ok: true,
      result: { id: apiKey.id, revokedAt: expect.any(String) },
    });
    // B's cache learns of it by a pushed notification, which travels apart from A's answer: it
    // may land a moment after it, within the documented second.
    const polled = await b.send({ op: 'verifyUntilInvalid', key, ms: 1_000 });
    expect(polled).toMatchObject({
      ok: true,
      result: { result: { valid: false, reason: 'revoked' } },
    });
    expect((polled as { result: { elapsedMs: number } }).result.elapsedMs).toBeLessThan(1_000);
  }, 30_000);
});
