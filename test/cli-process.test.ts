// The `keymint` command as a real process: an esbuild bundle of src/cli/index.ts (tsup builds the
// same entry to dist/cli.js) run with plain node, as an operator's shell runs it.
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyPattern } from '../src/index.js';
import { bundleCli, runProcess, tempDir, type ProcessOutput } from './fixtures/cli.js';

let file: string;
let dir: string;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  const bundle = await bundleCli();
  const temp = await tempDir();
  file = bundle.file;
  dir = temp.dir;
  cleanups.push(bundle.remove, temp.remove);
});
afterAll(() => Promise.all(cleanups.map((cleanup) => cleanup())));

const run = (
  argv: string[],
  options: {
    input?: string;
    env?: Record<string, string>;
    stdout?: ProcessOutput;
    stderr?: ProcessOutput;
  } = {},
) => runProcess(file, argv, { cwd: dir, ...options });

/** Runs with stdout or stderr on /dev/full, where every write fails with ENOSPC. */
async function runOnFull(argv: string[], stream: 'stdout' | 'stderr') {
  const fd = openSync('/dev/full', 'w');
  try {
    return await run(argv, { input: '', [stream]: fd });
  } finally {
    closeSync(fd);
  }
}

const hasDevFull = existsSync('/dev/full');

describe('the keymint process', () => {
  it('prints the version of package.json', async () => {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    expect(await run(['--version'], { input: '' })).toMatchObject({
      code: 0,
      stdout: `${pkg.version}\n`,
      stderr: '',
    });
  });

  it('creates a key with only the key on stdout, and exits on its own promptly', async () => {
    // stdin stays open: a command that waited on it, or on a handle, would not exit.
    const created = await run(['create', '--name', 'ci', '--role', 'Editor', '--ttl', '12h']);
    expect(created.code, created.stderr).toBe(0);
    expect(created.stdout).toMatch(new RegExp(`^${keyPattern().source}\\n$`));
    expect(created.stderr).toContain('This is the only time the key is shown');
    expect(created.ms).toBeLessThan(5_000);
    const key = created.stdout.trim();

    const valid = await run(['verify', '--role', 'Viewer'], { input: `${key}\n` });
    expect(valid).toMatchObject({ code: 0, stderr: '' });
    expect(valid.stdout).toMatch(/^valid: key \w+ "ci", role Editor/);
    const fromEnv = await run(['verify', '--json'], { input: '', env: { KEYMINT_KEY: key } });
    expect(JSON.parse(fromEnv.stdout)).toMatchObject({ valid: true, apiKey: { name: 'ci' } });
    expect(fromEnv.ms).toBeLessThan(5_000);
    // A key in argv still works, with a warning on stderr (shell history, ps) that omits it.
    const fromArgv = await run(['verify', key], { input: '' });
    expect(fromArgv).toMatchObject({ code: 0, stdout: expect.stringMatching(/^valid: key /) });
    expect(fromArgv.stderr).toMatch(
      /^keymint: warning: a key given as an argument lands in the shell history/,
    );

    const { stdout } = await run(['list', '--json'], { input: '' });
    const [{ id }] = JSON.parse(stdout);
    expect((await run(['revoke', id], { input: '' })).code).toBe(0);
    const revoked = await run(['verify', '-'], { input: key });
    expect(revoked).toMatchObject({ code: 1, stdout: expect.stringMatching(/^invalid: revoked/) });
    for (const result of [created, valid, fromEnv, fromArgv, revoked]) {
      expect(result.stderr).not.toContain(key);
    }
    expect(revoked.stdout).not.toContain(key);
  });

  it('keeps errors on stderr with exits 2, 3 and 4, and no stack trace', async () => {
    const usage = await run(['list', '--frob'], { input: '' });
    expect(usage).toMatchObject({ code: 2, stdout: '' });
    expect(usage.stderr).toMatch(/^keymint: Unknown option '--frob' for 'list'\./);

    const ttl = await run(['create', '--name', 'x', '--role', 'Viewer', '--ttl', '1.5h'], {
      input: '',
    });
    expect(ttl).toMatchObject({ code: 3, stdout: '' });
    expect(ttl.stderr).toMatch(/^keymint: INVALID_TTL: Invalid time to live "1.5h"/);

    const missing = await run(['list', '--db', path.join(dir, 'nothing-here.db')], { input: '' });
    expect(missing).toMatchObject({ code: 4, stdout: '' });
    for (const result of [usage, ttl, missing]) expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('deletes a key it could not write, and exits 4 without a stack trace', async () => {
    const db = ['--db', path.join(dir, 'delivery.db')];
    const create = (name: string, ...extra: string[]) => [
      'create',
      ...['--name', name, '--role', 'Admin', '--ttl', '1h'],
      ...db,
      ...extra,
    ];
    expect((await run(create('kept'), { input: '' })).code).toBe(0);

    // `keymint create … | (exec 0<&-; sleep 2)`: the reader is gone before the key is written.
    const piped = await run(create('p1'), { input: '', stdout: 'closed' });
    expect(piped.code, piped.stderr).toBe(4);
    expect(piped.stderr).toMatch(
      /keymint: The new key "p1" \(id \w{12}\) could not be delivered: writing to stdout failed \(write EPIPE\)\. It was deleted: no key was created\.\n$/,
    );
    const results = [piped];
    if (hasDevFull) {
      // `keymint create … > /dev/full`, with and without --json.
      for (const extra of [[], ['--json']]) {
        const full = await runOnFull(create('p2', ...extra), 'stdout');
        expect(full.code, full.stderr).toBe(4);
        expect(full.stderr).toMatch(/writing to stdout failed \(ENOSPC: no space left on device/);
        expect(full.stderr).toContain('It was deleted: no key was created.');
        results.push(full);
      }
      // `keymint create … 2> /dev/full`: the details could not be shown, so neither is the key.
      const noStderr = await runOnFull(create('p3'), 'stderr');
      expect(noStderr).toMatchObject({ code: 4, stdout: '' });
    }
    for (const result of results) {
      expect(result.stdout).toBe('');
      expect(result.stderr).not.toMatch(/\n\s+at |node:internal/);
      expect(result.stderr).not.toMatch(keyPattern());
    }
    const listed = await run(['list', '--json', ...db], { input: '' });
    expect(JSON.parse(listed.stdout).map((key: { name: string }) => key.name)).toEqual(['kept']);
  });

  it('exits 0 when the reader of stdout leaves early (`list | head -1`), 4 when stdout fails', async () => {
    const db = ['--db', path.join(dir, 'reader.db')];
    expect(
      (await run(['create', '--name', 'a', '--role', 'Viewer', '--ttl', '1h', ...db])).code,
    ).toBe(0);
    const left = await run(['list', ...db], { input: '', stdout: 'closed' });
    expect(left).toMatchObject({ code: 0, stderr: '' });
    if (hasDevFull) {
      const full = await runOnFull(['list', ...db], 'stdout');
      expect(full).toMatchObject({
        code: 4,
        stderr: 'keymint: Cannot write to stdout: ENOSPC: no space left on device, write\n',
      });
      // stderr on /dev/full: the usage error cannot be shown, but neither does the process crash.
      expect((await runOnFull(['list', '--frob', ...db], 'stderr')).code).toBe(4);
    }
  });
  it('updates and rotates a key: the new key alone on stdout; one it could not write leaves the old key in its grace', async () => {
    const db = ['--db', path.join(dir, 'rotate.db')];
    const created = await run(
      ['create', '--name', 'r', '--role', 'Admin', '--ttl', '1h', '--json', ...db],
      {
        input: '',
      },
    );
    expect(created.code, created.stderr).toBe(0);
    const { id, key } = JSON.parse(created.stdout) as { id: string; key: string };
    const updated = await run(['update', id, '--role', 'Editor', '--json', ...db], { input: '' });
    expect(updated.code, updated.stderr).toBe(0);
    expect(JSON.parse(updated.stdout)).toMatchObject({ id, role: 'Editor' });

    const rotated = await run(['rotate', id, '--grace', '1h', ...db], { input: '' });
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.stdout).toMatch(new RegExp(`^${keyPattern().source}\\n$`));
    expect(rotated.stderr).toMatch(/old key {2}keeps working until \d{4}-\d\d-\d\d .* UTC/);
    const fresh = rotated.stdout.trim();
    for (const each of [key, fresh]) {
      const verified = await run(['verify', '--json', ...db], { input: each });
      expect(JSON.parse(verified.stdout)).toMatchObject({ valid: true, apiKey: { id } });
    }

    // `keymint rotate … | (exec 0<&-; sleep 2)`: the new key is lost, the rotation stands.
    const piped = await run(['rotate', id, '--grace', '1h', ...db], {
      input: '',
      stdout: 'closed',
    });
    expect(piped.code).toBe(4);
    expect(piped.stderr).toContain(`was rotated, but its new key could not be delivered`);
    expect(piped.stderr).not.toMatch(/\n\s+at |node:internal/);
    expect(piped.stderr).not.toMatch(keyPattern());
    // The key rotated just before is now the old one, in its grace period.
    const old = await run(['verify', '--json', ...db], { input: fresh });
    expect(JSON.parse(old.stdout).valid).toBe(true);
  });
});
