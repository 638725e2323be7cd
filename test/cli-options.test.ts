// The `keymint` command in-process: --db targets, usage errors, help and version.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { looksLikeKey, redactKeys } from '../src/cli/failures.js';
import { loadDriver } from '../src/cli/store.js';
import { parseDbTarget, redactUrl } from '../src/cli/target.js';
import { cli, tempDir } from './fixtures/cli.js';

let dir: string;
let removeDir: () => Promise<void>;
beforeAll(async () => ({ dir, remove: removeDir } = await tempDir()));
afterAll(() => removeDir());

let counter = 0;
/** A fresh database file in the temp folder, for one test. */
const freshDb = () => path.join(dir, `keys-${++counter}.db`);

async function createKey(db: string, name = 'ci') {
  const result = await cli(
    ['create', '--name', name, '--role', 'Editor', '--ttl', '12h', '--db', db],
    {
      cwd: dir,
    },
  );
  expect(result.code, result.stderr).toBe(0);
  return result;
}

describe('keymint --db', () => {
  it('creates a new SQLite file with mode 0600, and only for create', async () => {
    const db = freshDb();
    const listed = await cli(['list', '--db', db], { cwd: dir });
    expect(listed).toMatchObject({
      code: 4,
      stderr: expect.stringContaining('There is no SQLite'),
    });
    expect(existsSync(db)).toBe(false);
    const created = await createKey(db);
    expect(created.stderr).toContain(`Created the SQLite database ${db} (mode 0600`);
    if (process.platform !== 'win32') expect(statSync(db).mode & 0o777).toBe(0o600);
    expect((await createKey(db, 'second')).stderr).not.toContain('Created the SQLite');
  });

  it('defaults to keymint.db in the current folder, and takes KEYMINT_DB and sqlite:/file: forms', async () => {
    const { dir: cwd, remove } = await tempDir();
    try {
      await cli(['create', '--name', 'a', '--role', 'Admin', '--ttl', '1h'], { cwd });
      expect(existsSync(path.join(cwd, 'keymint.db'))).toBe(true);
      const count = async (db: string | undefined, env: Record<string, string> = {}) => {
        const args = db === undefined ? ['list', '--json'] : ['list', '--json', '--db', db];
        return JSON.parse((await cli(args, { cwd, env })).stdout).length;
      };
      expect(await count('sqlite:keymint.db')).toBe(1);
      expect(await count(`file:${path.join(cwd, 'keymint.db')}`)).toBe(1);
      expect(await count(undefined, { KEYMINT_DB: 'keymint.db' })).toBe(1);
      // --db wins over KEYMINT_DB.
      expect(await count('keymint.db', { KEYMINT_DB: 'postgres://nowhere.invalid/x' })).toBe(1);
    } finally {
      await remove();
    }
  });

  it('reads the target forms, and refuses other URL schemes', () => {
    expect(parseDbTarget(undefined, '/w')).toEqual({ kind: 'sqlite', path: '/w/keymint.db' });
    expect(parseDbTarget('', '/w')).toEqual({ kind: 'sqlite', path: '/w/keymint.db' });
    expect(parseDbTarget('data/k.db', '/w')).toEqual({ kind: 'sqlite', path: '/w/data/k.db' });
    expect(parseDbTarget('sqlite:///tmp/k.db', '/w')).toEqual({
      kind: 'sqlite',
      path: '/tmp/k.db',
    });
    expect(parseDbTarget('file:///tmp/k.db', '/w')).toEqual({ kind: 'sqlite', path: '/tmp/k.db' });
    expect(parseDbTarget('file:k.db', '/w')).toEqual({ kind: 'sqlite', path: '/w/k.db' });
    expect(parseDbTarget('postgresql://h/db', '/w')).toEqual({
      kind: 'postgres',
      url: 'postgresql://h/db',
    });
    expect(parseDbTarget('rediss://h:6380', '/w')).toEqual({
      kind: 'redis',
      url: 'rediss://h:6380',
    });
    expect(() => parseDbTarget('mysql://h/db', '/w')).toThrow(/unsupported scheme 'mysql:\/\/'/);
    expect(redactUrl('postgres://app:s3cret@db:5432/keys')).toBe('postgres://app:***@db:5432/keys');
  });

  it('fails with exit 4 and the store’s message for a file that is not a database', async () => {
    const db = freshDb();
    writeFileSync(db, 'this is not a SQLite database, just text that is long enough'.repeat(20));
    const plain = await cli(['list', '--db', db], { cwd: dir });
    expect(plain).toMatchObject({ code: 4, stdout: '' });
    expect(plain.stderr).toMatch(
      /^keymint: Cannot prepare the SQLite database .*: file is not a database\n/,
    );
    expect(plain.stderr).not.toMatch(/\n\s+at /);
    const debug = await cli(['list', '--db', db], { cwd: dir, env: { KEYMINT_DEBUG: '1' } });
    expect(debug.stderr).toMatch(/\n\s+at /);
  });

  it('names the package to install when a driver is missing', async () => {
    const name = 'keymint-no-such-driver';
    await expect(loadDriver(name, 'A test --db', () => import(name))).rejects.toThrow(
      `A test --db needs the '${name}' package, which is not installed. Install it next to keymint: npm install ${name}`,
    );
  });

  it('redacts the password of a PostgreSQL URL it cannot reach', async () => {
    const result = await cli(['list', '--db', 'postgres://app:s3cret@127.0.0.1:1/keys'], {
      cwd: dir,
    });
    expect(result).toMatchObject({ code: 4, stdout: '' });
    expect(result.stderr).toContain('postgres://app:***@127.0.0.1:1/keys');
    expect(result.stderr).not.toContain('s3cret');
  });
});

describe('keymint usage', () => {
  it.each([
    [['frob'], /Unknown command 'frob'/],
    [[], /No command given/],
    [['list', '--frob'], /Unknown option '--frob' for 'list'/],
    [['create', '--name'], /--name <value>' argument missing/],
    [['create', '--role', 'Viewer', '--ttl', '1h'], /'create' needs --name <name>/],
    [['list', 'extra'], /'list' takes no arguments; got an extra argument: 'extra'/],
    [['revoke'], /'revoke' needs <id>/],
    [['verify', 'km_a', 'km_b'], /'verify' takes <key> only; got an extra argument\.\n/],
    [['list', '--json=yes'], /'--json' does not take an argument/],
    [['Frob_Frob'], /^keymint: Unknown command \(not repeated here\)\. Commands: create,/],
    [['revoke', 'abc', 'def'], /'revoke' takes <id> only; got an extra argument: 'def'\./],
    [['list', 'a'.repeat(30)], /'list' takes no arguments; got an extra argument\.\n/],
    [['list', '--no_such'], /Unknown option \(not repeated here\) for 'list'/],
  ])('exits 2 for %j with a message that says what to do', async (argv, message) => {
    const result = await cli(argv, { cwd: dir, stdin: 'tty' });
    expect(result).toMatchObject({ code: 2, stdout: '' });
    expect(result.stderr).toMatch(message);
    expect(result.stderr).toMatch(/Run 'keymint (\w+ )?--help' for usage\.\n$/);
  });

  it('does not repeat a key given instead of a command, as a help topic or as an extra argument', async () => {
    const db = freshDb();
    const key = (await createKey(db)).stdout.trim();
    const secret = key.split('_')[2]!;
    const cases: [string[], RegExp][] = [
      [[key], /^keymint: Expected a command, got what looks like an API key\. To check a key/],
      [['help', key], /^keymint: Expected a command, got what looks like an API key\./],
      [['list', key, '--db', db], /^keymint: 'list' takes no arguments; got an extra argument\.\n/],
    ];
    for (const [argv, message] of cases) {
      const result = await cli(argv, { cwd: dir, stdin: 'tty' });
      expect(result, argv.join(' ')).toMatchObject({ code: 2, stdout: '' });
      expect(result.stderr).toMatch(message);
      expect(result.stderr).not.toContain(secret);
    }
  });

  it('never prints a key given in the wrong place, nor uses it, in a dozen mistaken invocations', async () => {
    const db = freshDb();
    const key = (await createKey(db)).stdout.trim();
    const [, id, secret] = key.split('_') as [string, string, string];
    const mistakes: { argv: string[]; env?: Record<string, string> }[] = [
      { argv: [key] },
      { argv: ['help', key] },
      { argv: ['--json', key] },
      { argv: ['list', key] },
      { argv: ['revoke', key] },
      { argv: ['delete', key] },
      { argv: ['revoke', id, key] },
      { argv: ['create', '--name', key, '--role', 'Viewer', '--ttl', '1h'] },
      { argv: ['create', `--name=${key}`, '--role', 'Viewer', '--ttl', '1h'] },
      { argv: ['create', '--name', 'x', '--role', key, '--ttl', '1h'] },
      { argv: ['create', '--name', 'x', '--role', 'Viewer', '--ttl', key] },
      { argv: ['create', '--name', 'x', '--role', 'Viewer', '--ttl', '1h', '--scope', key] },
      { argv: ['create', '--name', 'x', '--role', 'Viewer', '--ttl', '1h', key] },
      { argv: ['verify', '--role', key] },
      { argv: ['verify', '--scope', key] },
      { argv: ['verify', key, key] },
      { argv: ['list', '--scope', key] },
      { argv: ['purge', '--older-than', key] },
      { argv: ['list', `--${key}`] },
      // Whether or not the key holds an h or a V, it is no short option group asking for help.
      { argv: [`-${key}`] },
      { argv: ['list', `-${key}`] },
      { argv: ['list', `-hV${key}`] },
      { argv: ['list', '--db', key] },
      { argv: ['list'], env: { KEYMINT_DB: key } },
      { argv: ['list', '--db', `file://${key}/keys.db`] },
      // A mangled key (a character lost from the id) and the secret on its own.
      {
        argv: ['create', '--name', key.replace(id, id.slice(1)), '--role', 'Viewer', '--ttl', '1h'],
      },
      { argv: ['list', '--scope', secret] },
    ];
    for (const { argv, env } of mistakes) {
      for (const debug of [{}, { KEYMINT_DEBUG: '1' }] as Record<string, string>[]) {
        const result = await cli([...argv, ...(env || argv.includes('--db') ? [] : ['--db', db])], {
          cwd: dir,
          stdin: 'tty',
          env: { ...env, ...debug },
        });
        const label = `${argv.map((arg) => arg.replace(key, 'KEY')).join(' ')} ${JSON.stringify(debug)}`;
        expect(result.code, `${label}: ${result.stderr}`).toBe(2);
        expect(result.stdout + result.stderr, label).not.toContain(secret.slice(0, 12));
        expect(result.stdout + result.stderr, label).not.toContain(secret.slice(-12));
      }
    }
    // Nothing was created or changed: still the one key, valid.
    const listed = await cli(['list', '--json', '--db', db], { cwd: dir });
    expect(JSON.parse(listed.stdout)).toEqual([
      expect.objectContaining({ id, name: 'ci', revokedAt: null }),
    ]);
  });

  it('tells keys from names, ids and URL passwords', async () => {
    const key = 'km_AbCdEf123456_' + 'Qw3rTy7uIo9pAs2dFg4hJk6lZx8cVb1nM0';
    for (const text of [key, `x-${key}.db`, key.slice(3), key.slice(0, 30), key.slice(16)]) {
      expect(looksLikeKey(text), text).toBe(true);
      expect(redactKeys(`got '${text}'`), text).toMatch(
        /^got '(x-|AbCdEf123456_)?<redacted>(\.db)?'$/,
      );
    }
    const fine = [
      'ci',
      'km_production',
      'AbCdEf123456',
      'deploy_service_account',
      'GitHubActionsDeployBot2024', // mixed case and digits, shorter than a secret
      'averyveryverylongnamewithoutcapitals1234',
      '/srv/app/keymint.db',
    ];
    for (const text of fine) expect(looksLikeKey(text), text).toBe(false);
    // A long random password in a URL is never shown, so it is not taken for a key.
    const db = 'postgres://app:Xk9mQ2vB7nR4tY8wL3pZ6sD1fG5hJ0kA@127.0.0.1:1/keys';
    const result = await cli(['list', '--db', db], { cwd: dir });
    expect(result).toMatchObject({ code: 4, stdout: '' });
    expect(result.stderr).toContain('postgres://app:***@127.0.0.1:1/keys');
    const named = await cli(
      ['create', '--name', fine[4]!, '--role', 'Viewer', '--ttl', '1h', '--db', freshDb()],
      { cwd: dir },
    );
    expect(named.code, named.stderr).toBe(0);
  });

  it('prints help and the version on stdout', async () => {
    const general = await cli(['--help'], { cwd: dir });
    expect(general).toMatchObject({ code: 0, stderr: '' });
    expect(general.stdout).toContain('Usage: keymint <command> [options]');
    expect(general.stdout).toMatch(/Exit codes:\n\s+0 .*\n\s+1 .*\n\s+2 .*\n\s+3 [\s\S]*\n\s+4 /);
    for (const argv of [
      ['create', '--help'],
      ['help', 'create'],
      ['create', '-h', '--frob'],
    ]) {
      expect((await cli(argv, { cwd: dir })).stdout).toMatch(/^Usage: keymint create --name/);
    }
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    expect(await cli(['--version'], { cwd: dir })).toEqual({
      code: 0,
      stdout: `${pkg.version}\n`,
      stderr: '',
    });
  });
});
