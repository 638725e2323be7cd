// The `keymint` command in-process: --db targets, usage errors, help and version.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
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
  ])('exits 2 for %j with a message that says what to do', async (argv, message) => {
    const result = await cli(argv, { cwd: dir, stdin: 'tty' });
    expect(result).toMatchObject({ code: 2, stdout: '' });
    expect(result.stderr).toMatch(message);
    expect(result.stderr).toMatch(/Run 'keymint (\w+ )?--help' for usage\.\n$/);
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
