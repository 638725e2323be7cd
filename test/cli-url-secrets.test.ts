// Issue 14, finding 3: a database password (or another secret) given as a query parameter of
// --db or KEYMINT_DB never reaches stderr or stdout, in any message that shows the target.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDbTarget, redactUrl } from '../src/cli/target.js';
import { cli, tempDir } from './fixtures/cli.js';

let dir: string;
let removeDir: () => Promise<void>;
// Every value is a secret of its own, so that a failure names the one that leaked. pg reads the
// sslkey and sslcert files before it connects: they exist, so its own message names no path.
let SECRET_QUERY: string;
beforeAll(async () => {
  ({ dir, remove: removeDir } = await tempDir());
  const file = (name: string) => {
    writeFileSync(path.join(dir, name), 'not a real PEM file\n');
    return encodeURIComponent(path.join(dir, name));
  };
  SECRET_QUERY =
    `password=pw1secret&sslpassword=pw2secret&sslkey=${file('key3secret.pem')}` +
    '&PassWord=pw4secret&pass%77ord=pw5secret&auth_token=tk6secret&api_key=ak7secret' +
    `&client_secret=cs8secret&passfile=%2Fhome%2Fpf9secret&sslcert=${file('cert10secret.pem')}` +
    '&sslmode=disable&application_name=cli';
});
afterAll(() => removeDir());

const SECRETS = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((n) => `${n}secret`);
const MASKED =
  'password=***&sslpassword=***&sslkey=***&PassWord=***&pass%77ord=***&auth_token=***' +
  '&api_key=***&client_secret=***&passfile=***&sslcert=***&sslmode=disable&application_name=cli';

function expectNoSecret(text: string, where: string) {
  for (const secret of [...SECRETS, 's3cret']) expect(text, where).not.toContain(secret);
}

describe('redactUrl()', () => {
  it('masks every password-like query parameter, keeps the others as written', () => {
    expect(redactUrl(`postgres://app:s3cret@db:5432/keys?${SECRET_QUERY}`)).toBe(
      `postgres://app:***@db:5432/keys?${MASKED}`,
    );
    expect(redactUrl(`rediss://db:6380/2?${SECRET_QUERY}`)).toBe(`rediss://db:6380/2?${MASKED}`);
    // A repeated name, an empty value, a name alone, and a fragment (no driver reads it).
    expect(redactUrl('redis://h?password=a&password=&password&db=1#pw=s3cret')).toBe(
      'redis://h?password=***&password=***&password&db=1#***',
    );
    expect(redactUrl('postgres://h/db?sslmode=require')).toBe('postgres://h/db?sslmode=require');
    expect(redactUrl('postgres://h:99999/db?password=s3cret')).toBe('postgres://(unparsable URL)');
  });

  it('lets a URL with a long random password parameter through: it is masked, not taken for a key', () => {
    const url = 'postgres://app@h/db?password=Xk9mQ2vB7nR4tY8wL3pZ6sD1fG5hJ0kA';
    expect(parseDbTarget(url, '/w')).toEqual({ kind: 'postgres', url });
  });
});

describe('keymint with a secret in the query of --db or KEYMINT_DB', () => {
  const unreachable = {
    postgres: () => `postgres://app:s3cret@127.0.0.1:1/keys?${SECRET_QUERY}`,
    redis: () => `redis://:s3cret@127.0.0.1:1/0?${SECRET_QUERY}`,
  };
  // Every command opens the store, and each says where it failed.
  const commands: [string, string[], string | undefined][] = [
    ['list', ['list'], undefined],
    ['list --json', ['list', '--json'], undefined],
    ['create', ['create', '--name', 'ci', '--role', 'Viewer', '--ttl', '1h'], undefined],
    [
      'create --json',
      ['create', '--name', 'ci', '--role', 'Viewer', '--ttl', '1h', '--json'],
      undefined,
    ],
    ['verify (key on stdin)', ['verify'], 'km_AbCdEf123456_Qw3rTy7uIo9pAs2dFg4hJk6lZx8cVb1nM0'],
    ['revoke', ['revoke', 'AbCdEf123456'], undefined],
    ['delete --json', ['delete', 'AbCdEf123456', '--json'], undefined],
    ['purge --json', ['purge', '--json'], undefined],
  ];

  for (const [kind, urlOf] of Object.entries(unreachable)) {
    const name = kind === 'postgres' ? 'PostgreSQL' : 'Redis';
    it.each(commands)(
      `${kind}: %s prints where it failed, without a secret`,
      async (_, args, stdin) => {
        const url = urlOf();
        const runs: [string, string[], Record<string, string>][] = [
          ['--db', [...args, '--db', url], {}],
          ['KEYMINT_DB', args, { KEYMINT_DB: url }],
          ['KEYMINT_DB, KEYMINT_DEBUG=1', args, { KEYMINT_DB: url, KEYMINT_DEBUG: '1' }],
        ];
        for (const [how, argv, env] of runs) {
          const result = await cli(argv, { cwd: dir, env, ...(stdin && { stdin }) });
          const where = `${how}: ${result.stderr}`;
          expect(result.code, where).toBe(4);
          expect(result.stdout, where).toBe('');
          expect(result.stderr, where).toContain(`Cannot use the ${name} at `);
          expect(result.stderr, where).toContain(`${MASKED}`);
          expectNoSecret(result.stderr, where);
        }
      },
    );
  }

  it('a file: URL it cannot use', async () => {
    const result = await cli(['list', '--db', `file://host.example/k.db?${SECRET_QUERY}`], {
      cwd: dir,
    });
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr).toContain(`is not a usable file URL`);
    expect(result.stderr).toContain(MASKED);
    expectNoSecret(result.stderr, result.stderr);
  });

  it('a sqlite: target with a query, which SQLite reads as part of the file name', async () => {
    const db = `sqlite:${path.join(dir, 'missing.db')}?password=s3cret`;
    const missing = await cli(['list', '--db', db], { cwd: dir });
    expect(missing.code, missing.stderr).toBe(4);
    expect(missing.stderr).toContain(`missing.db?password=***`);
    expectNoSecret(missing.stderr, missing.stderr);
    const created = await cli(
      ['create', '--name', 'ci', '--role', 'Viewer', '--ttl', '1h', '--db', db],
      { cwd: dir },
    );
    expect(created.code, created.stderr).toBe(0);
    expect(created.stderr).toContain(`Created the SQLite database `);
    expect(created.stderr).toContain(`missing.db?password=***`);
    expectNoSecret(created.stderr, created.stderr);
  });

  it('unsupported schemes show the scheme only', async () => {
    const result = await cli(['list', '--db', `mysql://app:s3cret@h/db?${SECRET_QUERY}`], {
      cwd: dir,
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/unsupported scheme 'mysql:\/\/'/);
    expectNoSecret(result.stderr, result.stderr);
  });
});
