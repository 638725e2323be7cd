import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { dropSchemas, openPool, randomSchema } from './fixtures/postgres.js';
import type { PeerCommand, PeerReply } from './fixtures/postgres-peer.js';
import { describeWithServer } from './servers.js';

const fixture = fileURLToPath(new URL('./fixtures/postgres-peer.ts', import.meta.url));
// Inside the repository (so the bundle's bare imports resolve from node_modules) and gitignored.
const bundle = fileURLToPath(
  new URL(`../node_modules/.cache/keymint-tests/postgres-peer-${process.pid}.mjs`, import.meta.url),
);

/** A peer process: `send` writes one command and resolves with its reply (replies come in order). */
interface Peer {
  ready: Promise<void>;
  send(command: PeerCommand): Promise<PeerReply>;
  child: ChildProcessWithoutNullStreams;
}

function startPeer(url: string, schema: string): Peer {
  const child = spawn(process.execPath, [bundle], {
    env: { ...process.env, KEYMINT_PEER_URL: url, KEYMINT_PEER_SCHEMA: schema },
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const waiting: { resolve(line: string): void; reject(error: Error): void }[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => waiting.shift()?.resolve(line));
  child.on('exit', (code) => {
    const error = new Error(`peer exited with code ${code}: ${stderr}`);
    for (const pending of waiting.splice(0)) pending.reject(error);
  });
  const next = () => new Promise<string>((resolve, reject) => waiting.push({ resolve, reject }));
  const ready = next().then((line) => expect(JSON.parse(line)).toEqual({ ready: true }));
  return {
    ready,
    child,
    async send(command) {
      const reply = next();
      child.stdin.write(`${JSON.stringify(command)}\n`);
      return JSON.parse(await reply) as PeerReply;
    },
  };
}

describeWithServer('postgres', 'postgresAdapter() across processes', (url) => {
  const schema = randomSchema();
  const peers: Peer[] = [];
  let pool: pg.Pool | undefined;

  beforeAll(async () => {
    await build({
      entryPoints: [fixture],
      outfile: bundle,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      logLevel: 'silent',
    });
    // Both peers migrate the new schema at start, at the same moment.
    peers.push(startPeer(url, schema), startPeer(url, schema));
    await Promise.all(peers.map((peer) => peer.ready));
  });

  afterAll(async () => {
    for (const { child } of peers) {
      if (child.exitCode === null) child.kill();
    }
    pool = openPool(url, { max: 1 });
    await dropSchemas(pool, [schema]);
    await pool.end();
    await rm(bundle, { force: true });
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
    expect(await b.send({ op: 'verify', key })).toEqual({
      ok: true,
      result: { valid: false, reason: 'revoked' },
    });
  }, 30_000);
});
