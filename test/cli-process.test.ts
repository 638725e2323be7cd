// The `keymint` command as a real process: an esbuild bundle of src/cli/index.ts (tsup builds the
// same entry to dist/cli.js) run with plain node, as an operator's shell runs it.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyPattern } from '../src/index.js';
import { bundleCli, runProcess, tempDir } from './fixtures/cli.js';

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

const run = (argv: string[], options: { input?: string; env?: Record<string, string> } = {}) =>
  runProcess(file, argv, { cwd: dir, ...options });

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

    const { stdout } = await run(['list', '--json'], { input: '' });
    const [{ id }] = JSON.parse(stdout);
    expect((await run(['revoke', id], { input: '' })).code).toBe(0);
    const revoked = await run(['verify', '-'], { input: key });
    expect(revoked).toMatchObject({ code: 1, stdout: expect.stringMatching(/^invalid: revoked/) });
    for (const result of [created, valid, fromEnv, revoked]) {
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
});
