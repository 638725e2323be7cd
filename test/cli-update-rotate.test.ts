// `keymint update` and `keymint rotate` in-process (runCli), against real SQLite files.
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyPattern } from '../src/index.js';
import { cli, tempDir } from './fixtures/cli.js';

let dir: string;
let removeDir: () => Promise<void>;
beforeAll(async () => ({ dir, remove: removeDir } = await tempDir()));
afterAll(() => removeDir());

let counter = 0;
const freshDb = () => path.join(dir, `change-${++counter}.db`);

/** A new key in a new database: its key, id and the database. */
async function newKey(name = 'ci', role = 'Editor') {
  const db = freshDb();
  const created = await cli(
    ['create', '--name', name, '--role', role, '--ttl', '12h', '--json', '--db', db],
    { cwd: dir },
  );
  expect(created.code, created.stderr).toBe(0);
  const { id, key } = JSON.parse(created.stdout) as { id: string; key: string };
  return { db, id, key };
}

const verify = (db: string, key: string, ...extra: string[]) =>
  cli(['verify', '--json', '--db', db, ...extra], { cwd: dir, stdin: key });

const record = async (db: string) =>
  JSON.parse((await cli(['list', '--json', '--db', db], { cwd: dir })).stdout)[0];

describe('keymint update', () => {
  it('renames and changes the role; the key verifies with the new role at once', async () => {
    const { db, id, key } = await newKey();
    const result = await cli(['update', id, '--name', 'ci-ro', '--role', 'viewer', '--db', db], {
      cwd: dir,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(
      new RegExp(
        `^Updated key ${id} \\("ci-ro", role Viewer, scope default, expires .* UTC\\)\\.\\n$`,
      ),
    );
    expect((await verify(db, key, '--role', 'Editor')).stdout).toContain('insufficient_role');
    expect(await record(db)).toMatchObject({ id, name: 'ci-ro', role: 'Viewer' });
  });

  it('sets a new expiry from now with --ttl and prints the record with --json', async () => {
    const { db, id } = await newKey();
    const before = Date.now();
    const result = await cli(['update', id, '--ttl', '2d', '--json', '--db', db], { cwd: dir });
    expect(result.code, result.stderr).toBe(0);
    const printed = JSON.parse(result.stdout);
    expect(printed).toMatchObject({ id, name: 'ci', role: 'Editor', rotatedAt: null });
    const expires = Date.parse(printed.expiresAt);
    expect(expires).toBeGreaterThanOrEqual(before + 2 * 86_400_000 - 1_000);
    expect(expires).toBeLessThanOrEqual(Date.now() + 2 * 86_400_000);
    expect(result.stdout).not.toMatch(/hash|km_/);
  });

  it('exits 2 without an option, before opening the store', async () => {
    const db = freshDb();
    const result = await cli(['update', 'AAAAAAAAAAAA', '--db', db], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("'update' needs at least one of --name <name>");
  });

  it('exits 3 for a taken name, a bad role or TTL, an unknown id and a revoked key, and changes nothing', async () => {
    const { db, id } = await newKey('a');
    const other = await cli(
      ['create', '--name', 'b', '--role', 'Viewer', '--ttl', '1h', '--db', db],
      {
        cwd: dir,
      },
    );
    expect(other.code).toBe(0);
    for (const [argv, code] of [
      [['--name', 'b'], 'NAME_TAKEN'],
      [['--role', 'Owner'], 'INVALID_ROLE'],
      [['--ttl', '31d'], 'TTL_TOO_LONG'],
    ] as const) {
      const result = await cli(['update', id, ...argv, '--db', db], { cwd: dir });
      expect(result.code, result.stderr).toBe(3);
      expect(result.stderr).toMatch(new RegExp(`^keymint: ${code}: `));
    }
    const unknown = await cli(['update', 'AAAAAAAAAAAA', '--name', 'x', '--db', db], { cwd: dir });
    expect(unknown.code).toBe(3);
    expect(unknown.stderr).toMatch(/NOT_FOUND/);
    expect((await cli(['revoke', id, '--db', db], { cwd: dir })).code).toBe(0);
    const revoked = await cli(['update', id, '--name', 'c', '--db', db], { cwd: dir });
    expect(revoked.code).toBe(3);
    expect(revoked.stderr).toMatch(/^keymint: REVOKED: /);
    expect(await record(db)).toMatchObject({ name: 'a', role: 'Editor' });
  });

  it('refuses a key given instead of the id, without repeating it', async () => {
    const { db, key } = await newKey();
    const result = await cli(['update', key, '--name', 'x', '--db', db], { cwd: dir });
    expect(result.code).toBe(2);
    expect(result.stderr).not.toContain(key);
  });
});

describe('keymint rotate', () => {
  it('prints only the new key on stdout; without --grace the old key stops at once', async () => {
    const { db, id, key } = await newKey();
    const result = await cli(['rotate', id, '--db', db], { cwd: dir });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^${keyPattern().source}\\n$`));
    const fresh = result.stdout.trim();
    expect(fresh).not.toBe(key);
    expect(fresh.split('_')[1]).toBe(key.split('_')[1]); // same id
    expect(result.stderr).toContain('old key  stopped at once (no grace period)');
    expect(result.stderr).toContain('This is the only time the new key is shown');
    expect(result.stderr).not.toContain(fresh);
    expect(JSON.parse((await verify(db, key)).stdout)).toEqual({ valid: false, reason: 'rotated' });
    const text = await cli(['verify', '--db', db], { cwd: dir, stdin: key });
    expect(text.stdout).toBe(
      'invalid: rotated (the key was rotated and its grace period is over: use the new key)\n',
    );
    expect(JSON.parse((await verify(db, fresh)).stdout)).toMatchObject({
      valid: true,
      apiKey: { id, name: 'ci', role: 'Editor' },
    });
  });

  it('keeps the old key working for --grace, and prints both expiries with --json', async () => {
    const { db, id, key } = await newKey();
    const before = Date.now();
    const result = await cli(['rotate', id, '--grace', '1h', '--ttl', '2d', '--json', '--db', db], {
      cwd: dir,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toBe('');
    const printed = JSON.parse(result.stdout);
    expect(Object.keys(printed)).toEqual([
      'id',
      'name',
      'role',
      'scope',
      'expiresAt',
      'previousKeyExpiresAt',
      'key',
    ]);
    expect(printed).toMatchObject({ id, name: 'ci', role: 'Editor', scope: 'default' });
    expect(Date.parse(printed.previousKeyExpiresAt)).toBeGreaterThanOrEqual(before + 3_599_000);
    expect(Date.parse(printed.expiresAt)).toBeGreaterThanOrEqual(before + 2 * 86_400_000 - 1_000);
    expect(JSON.parse((await verify(db, key)).stdout).valid).toBe(true);
    expect(JSON.parse((await verify(db, printed.key)).stdout).valid).toBe(true);
    // Only one old key is kept: rotating again ends the first one's grace at once.
    const again = await cli(['rotate', id, '--grace', '1h', '--db', db], { cwd: dir });
    expect(again.code).toBe(0);
    // The first key is no longer kept at all: it is a wrong secret now.
    expect(JSON.parse((await verify(db, key)).stdout)).toEqual({
      valid: false,
      reason: 'not_found',
    });
    expect(JSON.parse((await verify(db, printed.key)).stdout).valid).toBe(true);
  });

  it('exits 3 for a grace period over 7 days, a revoked key or an unknown id; the key is unchanged', async () => {
    const { db, id, key } = await newKey();
    const long = await cli(['rotate', id, '--grace', '8d', '--db', db], { cwd: dir });
    expect(long.code).toBe(3);
    expect(long.stdout).toBe('');
    expect((await record(db)).rotatedAt).toBeNull();
    expect((await cli(['rotate', 'AAAAAAAAAAAA', '--db', db], { cwd: dir })).code).toBe(3);
    await cli(['revoke', id, '--db', db], { cwd: dir });
    const revoked = await cli(['rotate', id, '--db', db], { cwd: dir });
    expect(revoked.code).toBe(3);
    expect(revoked.stderr).toMatch(/^keymint: REVOKED: /);
    expect(JSON.parse((await verify(db, key)).stdout)).toEqual({ valid: false, reason: 'revoked' });
  });

  it.each([
    ['stdout', 'EPIPE', []],
    ['stdout', 'ENOSPC', ['--json']],
    ['stderr', 'ENOSPC', []],
  ])(
    'exits 4 when %s fails with %s %j; the rotation stands and the old key keeps its grace',
    async (stream, code, extra) => {
      const { db, id, key } = await newKey();
      const argv = ['rotate', id, '--grace', '1h', '--db', db, ...extra];
      const result = await cli(argv, { cwd: dir, failing: { [stream]: code } });
      expect(result.code).toBe(4);
      expect(result.stdout).toBe('');
      expect(result.stderr).not.toMatch(keyPattern());
      if (stream === 'stdout') {
        expect(result.stderr).toMatch(
          new RegExp(
            `keymint: The key "ci" \\(id ${id}\\) was rotated, but its new key could not be delivered: writing to stdout failed \\(write ${code}\\)\\. The old key keeps working until .* UTC\\. Run 'keymint rotate ${id}' again`,
          ),
        );
      }
      expect((await record(db)).rotatedAt).not.toBeNull();
      expect(JSON.parse((await verify(db, key)).stdout).valid).toBe(true);
    },
  );
});
