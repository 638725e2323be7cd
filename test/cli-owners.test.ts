// `keymint create --owner`, `keymint list --owner` and `keymint revoke --owner`, in-process
// (runCli), against real SQLite files.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, tempDir } from './fixtures/cli.js';

let dir: string;
let removeDir: () => Promise<void>;
beforeAll(async () => ({ dir, remove: removeDir } = await tempDir()));
afterAll(() => removeDir());

let counter = 0;
const freshDb = () => path.join(dir, `owners-${++counter}.db`);

async function create(db: string, name: string, ...extra: string[]) {
  const result = await cli(
    ['create', '--name', name, '--role', 'Viewer', '--ttl', '1h', '--json', '--db', db, ...extra],
    { cwd: dir },
  );
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as { id: string; key: string; owner?: string };
}

const listed = async (db: string, ...extra: string[]) =>
  (
    JSON.parse((await cli(['list', '--json', '--db', db, ...extra], { cwd: dir })).stdout) as {
      name: string;
      owner: string | null;
      revokedAt: string | null;
    }[]
  ).map((r) => [r.name, r.owner, r.revokedAt !== null]);

describe('keymint --owner', () => {
  it("creates keys with an owner, lists one owner's keys, revokes them all at once", async () => {
    const db = freshDb();
    expect((await create(db, 'b', '--owner', 'alice')).owner).toBe('alice');
    await create(db, 'a', '--owner', 'alice');
    await create(db, 'c', '--owner', 'bob');
    expect((await create(db, 'd')).owner).toBeUndefined();
    expect(await listed(db, '--owner', 'alice')).toEqual([
      ['a', 'alice', false],
      ['b', 'alice', false],
    ]);
    const revoked = await cli(['revoke', '--owner', 'alice', '--db', db], { cwd: dir });
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toBe('Revoked 2 keys of owner "alice" in scope "default".\n');
    expect(await listed(db)).toEqual([
      ['a', 'alice', true],
      ['b', 'alice', true],
      ['c', 'bob', false],
      ['d', null, false],
    ]);
    const again = await cli(['revoke', '--owner', 'alice', '--json', '--db', db], { cwd: dir });
    expect(JSON.parse(again.stdout)).toEqual({ owner: 'alice', scope: 'default', revoked: 0 });
  });

  it('shows the owner in the details of create, and refuses a bad owner or revoke without a target', async () => {
    const db = freshDb();
    const human = await cli(
      ['create', '--name', 'x', '--role', 'Viewer', '--ttl', '1h', '--owner', 'sa-1', '--db', db],
      { cwd: dir },
    );
    expect(human.stderr).toContain('  owner    sa-1\n');
    const bad = await cli(
      ['create', '--name', 'y', '--role', 'Viewer', '--ttl', '1h', '--owner', '', '--db', db],
      { cwd: dir },
    );
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/owner must not be empty/);
    const neither = await cli(['revoke', '--db', db], { cwd: dir });
    expect(neither.code).toBe(2);
    expect(neither.stderr).toMatch(/needs <id> \(or --owner <owner>/);
    const both = await cli(['revoke', 'AAAAAAAAAAAA', '--owner', 'a', '--db', db], { cwd: dir });
    expect(both.code).toBe(2);
  });
});
