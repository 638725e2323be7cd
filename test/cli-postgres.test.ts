// The `keymint` command against a real PostgreSQL: a fresh database per run, named in the URL.
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { postgresAdapter } from '../src/adapters/postgres/index.js';
import { createKeymint } from '../src/index.js';
import { cli, tempDir } from './fixtures/cli.js';
import { openPool } from './fixtures/postgres.js';
import { describeWithServer } from './servers.js';

describeWithServer('postgres', 'keymint --db postgres://', (serverUrl) => {
  const database = `keymint_cli_test_${randomBytes(6).toString('hex')}`;
  // Parsed when the tests run, not while they are collected.
  let url: string;
  let admin: pg.Pool;
  let pool: pg.Pool;
  let dir: string;
  let removeDir: () => Promise<void>;

  beforeAll(async () => {
    url = Object.assign(new URL(serverUrl), { pathname: `/${database}` }).toString();
    admin = openPool(serverUrl);
    await admin.query(`CREATE DATABASE ${database}`);
    pool = openPool(url);
    ({ dir, remove: removeDir } = await tempDir());
  });
  afterAll(async () => {
    await pool?.end();
    await admin?.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin?.end();
    await removeDir?.();
  });

  const run = (argv: string[], stdin?: string) =>
    cli([...argv, '--db', url], { cwd: dir, ...(stdin === undefined ? {} : { stdin }) });

  it('migrates an empty database, then creates, lists, verifies and revokes a key', async () => {
    const created = await run([
      'create',
      '--name',
      'ci',
      '--role',
      'Admin',
      '--ttl',
      '1h',
      '--json',
    ]);
    expect(created.code, created.stderr).toBe(0);
    const { id, key } = JSON.parse(created.stdout);
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM keymint_api_keys`);
    expect(rows[0].n).toBe(1);

    const listed = await run(['list', '--json']);
    expect(JSON.parse(listed.stdout)).toEqual([expect.objectContaining({ id, role: 'Admin' })]);
    expect(listed.stdout).not.toContain(key);
    expect(await run(['verify', '--role', 'Editor'], key)).toMatchObject({ code: 0 });
    expect(await run(['revoke', id])).toMatchObject({ code: 0 });
    expect(await run(['verify', '--json'], key)).toMatchObject({
      code: 1,
      stdout: '{"valid":false,"reason":"revoked"}\n',
    });
    const taken = await run(['create', '--name', 'ci', '--role', 'Viewer', '--ttl', '1h']);
    expect(taken).toMatchObject({ code: 3, stderr: expect.stringMatching(/NAME_TAKEN/) });
  });

  it('mints keys a server with keymint’s defaults accepts, and checks the server’s keys', async () => {
    const server = createKeymint({ adapter: postgresAdapter(pool) });
    try {
      const created = await run(['create', '--name', 'deploy', '--role', 'Editor', '--ttl', '2h']);
      const key = created.stdout.trim();
      expect(await server.verifyKey(key, { role: 'Editor' })).toMatchObject({
        valid: true,
        apiKey: { name: 'deploy' },
      });
      const { key: serverKey } = await server.createApiKey({
        name: 'from-server',
        role: 'Viewer',
        ttl: '1h',
      });
      expect(await run(['verify'], serverKey)).toMatchObject({ code: 0 });
      expect((await run(['verify', '--role', 'Admin'], serverKey)).code).toBe(1);
    } finally {
      await server.close();
    }
  });
});
