// The `keymint` command against a real Redis (`--db redis://`), on database 7, away from the
// other Redis tests.
import { Redis } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { cli, tempDir } from './fixtures/cli.js';
import { describeWithServer } from './servers.js';

describeWithServer('redis', 'keymint --db redis://', (serverUrl) => {
  // Parsed when the tests run, not while they are collected.
  let url: string;
  let dir: string;
  let removeDir: () => Promise<void>;

  beforeAll(async () => {
    url = Object.assign(new URL(serverUrl), { pathname: '/7' }).toString();
    ({ dir, remove: removeDir } = await tempDir());
  });
  afterAll(async () => {
    // Only what the command wrote (the default prefix), in case the server is someone's own.
    const redis = new Redis(url);
    const keys = await redis.keys('keymint:*');
    if (keys.length > 0) await redis.del(...keys);
    await redis.quit();
    await removeDir?.();
  });

  it('creates, lists, verifies, revokes and purges keys', async () => {
    const run = (argv: string[], stdin?: string) =>
      cli([...argv, '--db', url], { cwd: dir, ...(stdin === undefined ? {} : { stdin }) });
    const created = await run([
      'create',
      '--name',
      'ci',
      '--role',
      'Viewer',
      '--ttl',
      '1h',
      '--json',
    ]);
    expect(created.code, created.stderr).toBe(0);
    const { id, key } = JSON.parse(created.stdout);
    expect(JSON.parse((await run(['list', '--json'])).stdout)).toEqual([
      expect.objectContaining({ id, name: 'ci' }),
    ]);
    expect(await run(['verify'], key)).toMatchObject({ code: 0 });
    expect(await run(['revoke', id])).toMatchObject({ code: 0 });
    expect((await run(['verify'], key)).stdout).toMatch(/^invalid: revoked/);
    expect(await run(['purge', '--json'])).toMatchObject({ code: 0, stdout: '{"purged":0}\n' });
  });

  it('fails with exit 4, promptly, when Redis is unreachable', async () => {
    const started = Date.now();
    const result = await cli(['list', '--db', 'redis://:s3cret@127.0.0.1:1'], { cwd: dir });
    expect(result).toMatchObject({ code: 4, stdout: '' });
    expect(result.stderr).toMatch(
      /^keymint: Cannot use the Redis at redis:\/\/:\*\*\*@127\.0\.0\.1:1/,
    );
    expect(Date.now() - started).toBeLessThan(3_000);
  });
});
