// Two keymint processes over one MariaDB database: keys created in one verify and list in the
// other, names are unique across both, and a revoke, an update or a rotation in one reaches the
// other's verify cache through the change log within the documented second.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { bundleFixture, startPeer, type Bundle, type Peer } from './fixtures/children.js';
import { dropDatabases, openPool, randomDatabase } from './fixtures/mysql.js';
import { describeWithServer } from './servers.js';

describeWithServer('mysql', 'mysqlAdapter() across processes', (url) => {
  const database = randomDatabase();
  const peers: Peer[] = [];
  let bundle: Bundle | undefined;

  beforeAll(async () => {
    bundle = await bundleFixture('mysql-peer.ts');
    // Both peers migrate the new database at start, at the same moment.
    const env = { KEYMINT_PEER_URL: url, KEYMINT_PEER_DATABASE: database };
    peers.push(startPeer(bundle.file, env), startPeer(bundle.file, env));
    await Promise.all(peers.map((peer) => peer.ready));
  }, 60_000);

  afterAll(async () => {
    for (const { child } of peers) {
      if (child.exitCode === null) child.kill();
    }
    const pool = openPool(url, { connectionLimit: 1 });
    await dropDatabases(pool, [database]);
    await pool.end();
    await bundle?.remove();
  });

  const created = async (peer: Peer, name: string) => {
    const reply = await peer.send({ op: 'create', name });
    expect(reply.ok).toBe(true);
    return (reply as { result: { key: string; apiKey: { id: string } } }).result;
  };
  const within = (reply: unknown) => (reply as { result: { elapsedMs: number } }).result.elapsedMs;

  it('shares keys between two processes: created in A, verified and listed in B, revoked in A, refused in B within 1 s', async () => {
    const [a, b] = peers as [Peer, Peer];
    const { key, apiKey } = await created(a, 'shared');
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
    expect(await a.send({ op: 'revoke', id: apiKey.id })).toMatchObject({ ok: true });
    const polled = await b.send({ op: 'verifyUntilInvalid', key, ms: 1_000 });
    expect(polled).toMatchObject({
      ok: true,
      result: { result: { valid: false, reason: 'revoked' } },
    });
    expect(within(polled)).toBeLessThan(1_000);
  }, 30_000);

  it('an update (a new role) and a rotation in B reach A’s cache within 1 s', async () => {
    const [a, b] = peers as [Peer, Peer];
    const { key, apiKey } = await created(a, 'changing');
    expect(await a.send({ op: 'verify', key })).toMatchObject({
      ok: true,
      result: { valid: true },
    });
    expect(await b.send({ op: 'update', id: apiKey.id, patch: { role: 'Viewer' } })).toMatchObject({
      ok: true,
    });
    const narrowed = await a.send({ op: 'verifyUntilInvalid', key, ms: 1_000, role: 'Editor' });
    expect(narrowed).toMatchObject({ ok: true, result: { result: { valid: false } } });
    expect(within(narrowed)).toBeLessThan(1_000);

    expect(await b.send({ op: 'rotate', id: apiKey.id })).toMatchObject({ ok: true });
    const rotated = await a.send({ op: 'verifyUntilInvalid', key, ms: 1_000 });
    expect(rotated).toMatchObject({ ok: true, result: { result: { valid: false } } });
    expect(within(rotated)).toBeLessThan(1_000);
  }, 30_000);
});
