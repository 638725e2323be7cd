// The `keymint` commands in-process (runCli), against real SQLite files in a temp folder.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKeymint, keyPattern, parseTtl } from '../src/index.js';
import { sqliteAdapter } from '../src/adapters/sqlite/index.js';
import { cli, tempDir } from './fixtures/cli.js';

let dir: string;
let removeDir: () => Promise<void>;
beforeAll(async () => ({ dir, remove: removeDir } = await tempDir()));
afterAll(() => removeDir());

let counter = 0;
/** A fresh database file in the temp folder, for one test. */
const freshDb = () => path.join(dir, `keys-${++counter}.db`);

async function createKey(db: string, name = 'ci', ...extra: string[]) {
  const result = await cli(
    ['create', '--name', name, '--role', 'Editor', '--ttl', '12h', '--db', db, ...extra],
    { cwd: dir },
  );
  expect(result.code, result.stderr).toBe(0);
  return result;
}

const messageOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('did not throw');
};

describe('keymint create, list, verify, revoke, delete, purge', () => {
  it('runs the life of a key: create, list, verify, revoke, verify again', async () => {
    const db = freshDb();
    const created = await createKey(db);
    const key = created.stdout.trim();
    expect(created.stdout).toBe(`${key}\n`);
    expect(key).toMatch(keyPattern());
    expect(created.stderr).toContain('This is the only time the key is shown');
    expect(created.stderr).not.toContain(key);
    const id = /id\s+(\S+)/.exec(created.stderr)![1]!;

    const listed = await cli(['list', '--db', db], { cwd: dir });
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^ID\s+NAME\s+ROLE\s+EXPIRES\s+LAST USED\s+REVOKED\n/);
    expect(listed.stdout).toMatch(
      new RegExp(`${id}\\s+ci\\s+Editor\\s+\\d{4}-\\d\\d-\\d\\d .* UTC`),
    );

    const valid = await cli(['verify', '--db', db, '--role', 'Viewer'], { cwd: dir, stdin: key });
    expect(valid).toMatchObject({ code: 0, stderr: '' });
    expect(valid.stdout).toMatch(new RegExp(`^valid: key ${id} "ci", role Editor`));

    const revoked = await cli(['revoke', id, '--db', db], { cwd: dir });
    expect(revoked).toMatchObject({
      code: 0,
      stdout: `Revoked key ${id} ("ci", scope default).\n`,
    });
    const refused = await cli(['verify', '--db', db], { cwd: dir, stdin: key });
    expect(refused).toMatchObject({ code: 1, stdout: expect.stringMatching(/^invalid: revoked/) });

    const listedAfter = await cli(['list', '--db', db, '--json'], { cwd: dir });
    const [record] = JSON.parse(listedAfter.stdout);
    expect(record.revokedAt).toMatch(/^\d{4}-\d\d-\d\dT.*Z$/);
    expect(record.lastUsedAt).not.toBeNull(); // close() wrote the successful verify's last use
  });

  it('prints { id, name, role, scope, expiresAt, key } with --json', async () => {
    const db = freshDb();
    const { stdout } = await createKey(db, 'deploy', '--scope', 'org-7', '--json');
    const created = JSON.parse(stdout);
    expect(Object.keys(created)).toEqual(['id', 'name', 'role', 'scope', 'expiresAt', 'key']);
    expect(created).toMatchObject({ name: 'deploy', role: 'Editor', scope: 'org-7' });
    expect(Date.parse(created.expiresAt) - Date.now()).toBeGreaterThan(11.9 * 3_600_000);
    const verified = await cli(['verify', '--json', '--scope', 'org-7', '--db', db], {
      cwd: dir,
      env: { KEYMINT_KEY: created.key },
    });
    expect(verified.code).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({ valid: true, apiKey: { id: created.id } });
    const listed = await cli(['list', '--json', '--scope', 'org-7', '--db', db], { cwd: dir });
    expect(JSON.parse(listed.stdout)).toEqual([
      expect.objectContaining({ id: created.id, scope: 'org-7', metadata: null }),
    ]);
  });

  it('refuses a taken name, a bad or too long TTL and no TTL with exit 3 and keymint’s message', async () => {
    const db = freshDb();
    await createKey(db);
    const run = (name: string, ...ttl: string[]) =>
      cli(['create', '--name', name, '--role', 'Viewer', ...ttl, '--db', db], { cwd: dir });
    const taken = await run('ci', '--ttl', '1h');
    expect(taken).toMatchObject({ code: 3, stdout: '' });
    expect(taken.stderr).toMatch(/^keymint: NAME_TAKEN: /);
    expect(await run('x', '--ttl', '1.5h')).toMatchObject({
      code: 3,
      stderr: `keymint: INVALID_TTL: ${messageOf(() => parseTtl('1.5h'))}\n`,
    });
    expect(await run('x', '--ttl', '31d')).toMatchObject({
      code: 3,
      stderr: `keymint: TTL_TOO_LONG: ${messageOf(() => parseTtl('31d'))}\n`,
    });
    expect((await run('x')).stderr).toMatch(/^keymint: INVALID_TTL: A time to live is required/);
    const role = await cli(
      ['create', '--name', 'x', '--role', 'Owner', '--ttl', '1h', '--db', db],
      {
        cwd: dir,
      },
    );
    expect(role).toMatchObject({ code: 3, stderr: expect.stringMatching(/INVALID_ROLE/) });
  });

  it('reads the key for verify from stdin, from `-`, from KEYMINT_KEY, and never prints it', async () => {
    const db = freshDb();
    const key = (await createKey(db)).stdout.trim();
    const results = [
      await cli(['verify', '--db', db], { cwd: dir, stdin: `${key}\n` }),
      await cli(['verify', '-', '--db', db], { cwd: dir, stdin: key }),
      await cli(['verify', '--db', db], { cwd: dir, stdin: 'tty', env: { KEYMINT_KEY: key } }),
      // KEYMINT_KEY wins over a stdin that is not a terminal (a CI job's empty stdin).
      await cli(['verify', '--db', db], { cwd: dir, stdin: '', env: { KEYMINT_KEY: key } }),
      await cli(['verify', key, '--db', db], { cwd: dir }),
    ];
    for (const result of results) {
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout + result.stderr).not.toContain(key);
    }
    // Only the key given as an argument draws the warning (shell history, ps).
    expect(
      results.map((result) => result.stderr.includes('warning: a key given as an argument')),
    ).toEqual([false, false, false, false, true]);
    expect(results[4]!.stderr).toMatch(
      /^keymint: warning: a key given as an argument lands in the shell history and is visible to other users in ps; pipe it on stdin .* or set KEYMINT_KEY\.\n$/,
    );
    const none = await cli(['verify', '--db', db], { cwd: dir, stdin: 'tty' });
    expect(none).toMatchObject({ code: 2, stderr: expect.stringContaining('KEYMINT_KEY') });
    expect((await cli(['verify', '--db', db], { cwd: dir, stdin: '\n' })).code).toBe(2);
  });

  it('exits 1 with the reason for a key that is not valid, and 3 for a bad --role', async () => {
    const db = freshDb();
    const key = (await createKey(db)).stdout.trim();
    const tampered = key.slice(0, -1) + (key.endsWith('a') ? 'b' : 'a');
    const verify = (stdin: string, ...args: string[]) =>
      cli(['verify', '--db', db, '--json', ...args], { cwd: dir, stdin });
    expect(JSON.parse((await verify(tampered)).stdout)).toEqual({
      valid: false,
      reason: 'malformed',
    });
    const low = await verify(key, '--role', 'Admin');
    expect(low.code).toBe(1);
    expect(JSON.parse(low.stdout)).toEqual({ valid: false, reason: 'insufficient_role' });
    expect((await verify(key, '--scope', 'other')).stdout).toContain('not_found');
    expect(await verify(key, '--role', 'Owner')).toMatchObject({ code: 3, stdout: '' });
  });

  it('purges expired keys, prints the count, and lists expired keys only when asked', async () => {
    const db = freshDb();
    await createKey(db, 'live');
    // Two keys that expired a day ago, written through the library with a clock in the past.
    const sqlite = new Database(db);
    const past = createKeymint({
      adapter: sqliteAdapter(sqlite),
      now: () => new Date(Date.now() - 2 * 86_400_000),
    });
    const { key: old } = await past.createApiKey({ name: 'old-1', role: 'Viewer', ttl: '1d' });
    await past.createApiKey({ name: 'old-2', role: 'Viewer', ttl: '1d' });
    await past.close();
    sqlite.close();

    expect((await cli(['verify', '--db', db], { cwd: dir, stdin: old })).stdout).toMatch(
      /^invalid: expired/,
    );
    const names = async (...args: string[]) =>
      JSON.parse((await cli(['list', '--json', '--db', db, ...args], { cwd: dir })).stdout).map(
        (record: { name: string }) => record.name,
      );
    expect(await names()).toEqual(['live']);
    expect(await names('--include-expired')).toEqual(['live', 'old-1', 'old-2']);
    const table = await cli(['list', '--include-expired', '--db', db], { cwd: dir });
    expect(table.stdout).toMatch(/old-1 .* UTC \(expired\)/);

    expect((await cli(['purge', '--older-than', '2d', '--db', db], { cwd: dir })).stdout).toBe(
      'Purged 0 expired keys.\n',
    );
    expect(await cli(['purge', '--db', db], { cwd: dir })).toMatchObject({
      code: 0,
      stdout: 'Purged 2 expired keys.\n',
    });
    expect(JSON.parse((await cli(['purge', '--json', '--db', db], { cwd: dir })).stdout)).toEqual({
      purged: 0,
    });
    expect(await names('--include-expired')).toEqual(['live']);
  });

  it('deletes a key, frees its name, and answers NOT_FOUND (exit 3) for an unknown id', async () => {
    const db = freshDb();
    const { id } = JSON.parse((await createKey(db, 'ci', '--json')).stdout);
    expect(
      JSON.parse((await cli(['delete', id, '--json', '--db', db], { cwd: dir })).stdout),
    ).toEqual({ id, deleted: true });
    await createKey(db); // the name is free again
    for (const command of ['revoke', 'delete']) {
      const missing = await cli([command, id, '--db', db], { cwd: dir });
      expect(missing).toMatchObject({ code: 3, stderr: expect.stringMatching(/NOT_FOUND/) });
    }
  });

  it('never shows a key or a hash in list output, nor stores the key in the SQLite file', async () => {
    const db = freshDb();
    const key = (await createKey(db)).stdout.trim();
    const secret = key.split('_')[2]!;
    for (const args of [['list'], ['list', '--json']]) {
      const { stdout } = await cli([...args, '--db', db], { cwd: dir });
      expect(stdout).not.toContain(secret.slice(0, 12));
      expect(stdout).not.toMatch(/argon2|hash/i);
    }
    const bytes = readFileSync(db);
    expect(bytes.includes(Buffer.from(secret.slice(0, 16)))).toBe(false);
    expect(bytes.includes(Buffer.from('$argon2id$'))).toBe(true); // the hash is there instead
  });
});

describe('keymint create delivers the key, or deletes it', () => {
  const names = async (db: string) =>
    JSON.parse((await cli(['list', '--json', '--db', db], { cwd: dir })).stdout).map(
      (record: { name: string }) => record.name,
    );

  it.each([
    ['stdout', 'EPIPE', []],
    ['stdout', 'EPIPE', ['--json']],
    ['stdout', 'ENOSPC', []],
    ['stderr', 'ENOSPC', []],
    ['stderr', 'EPIPE', []],
  ])('deletes the key and exits 4 when %s fails with %s %j', async (stream, code, extra) => {
    const db = freshDb();
    await createKey(db, 'kept');
    const argv = ['create', '--name', 'p1', '--role', 'Admin', '--ttl', '1h', '--db', db];
    const result = await cli([...argv, ...extra], { cwd: dir, failing: { [stream]: code } });
    expect(result.code).toBe(4);
    expect(result.stdout).toBe(''); // with stderr failing, the key is not written either
    if (stream === 'stdout') {
      expect(result.stderr).toMatch(
        new RegExp(
          `keymint: The new key "p1" \\(id \\w{12}\\) could not be delivered: writing to stdout failed \\(write ${code}\\)\\. It was deleted: no key was created\\.\\n$`,
        ),
      );
      expect(result.stderr).not.toMatch(keyPattern());
      expect(result.stderr).not.toMatch(/\n\s+at /);
    }
    expect(await names(db)).toEqual(['kept']);
    await createKey(db, 'p1'); // the name is free again
  });

  it('keeps the exit code when the reader of stdout left (EPIPE), and exits 4 on other write errors', async () => {
    const db = freshDb();
    await createKey(db);
    const commands = [
      ['list', '--db', db],
      ['list', '--json', '--db', db],
      ['purge', '--db', db],
    ];
    for (const argv of [...commands, ['--help'], ['--version']]) {
      const left = await cli(argv, { cwd: dir, failing: { stdout: 'EPIPE' } });
      expect(left, argv.join(' ')).toEqual({ code: 0, stdout: '', stderr: '' });
      const full = await cli(argv, { cwd: dir, failing: { stdout: 'ENOSPC' } });
      expect(full, argv.join(' ')).toEqual({
        code: 4,
        stdout: '',
        stderr: 'keymint: Cannot write to stdout: write ENOSPC\n',
      });
    }
  });
});

describe('keymint create --rate-limit and --credits', () => {
  it('stores the limits: the second verify of a --credits 1 key is refused as usage exceeded', async () => {
    const db = freshDb();
    const created = await createKey(db, 'limited', '--rate-limit', '100/1m', '--credits', '1');
    const key = created.stdout.trim();
    const record = new Database(db, { readonly: true })
      .prepare('SELECT limits FROM keymint_api_keys WHERE name = ?')
      .get('limited') as { limits: string };
    expect(JSON.parse(record.limits)).toMatchObject({
      rateLimit: { limit: 100, windowMs: 60_000 },
      credits: { remaining: 1 },
    });
    expect((await cli(['verify', '--db', db], { cwd: dir, stdin: key })).code).toBe(0);
    const second = await cli(['verify', '--db', db], { cwd: dir, stdin: key });
    expect(second.code).not.toBe(0);
    expect(second.stdout + second.stderr).toMatch(/credits are spent/);
  });

  it('refuses a malformed --rate-limit before creating anything', async () => {
    const db = freshDb();
    const result = await cli(
      [
        'create',
        '--name',
        'x',
        '--role',
        'Editor',
        '--ttl',
        '1h',
        '--rate-limit',
        '100',
        '--db',
        db,
      ],
      { cwd: dir },
    );
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/--rate-limit takes <limit>\/<window>/);
  });
});
