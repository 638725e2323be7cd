// `keymint rules` and `keymint scan` as a real process (the esbuild bundle of the CLI entry).
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse as parseToml } from 'smol-toml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { scannerRules } from '../src/index.js';
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

const run = (argv: string[], env: Record<string, string> = {}) =>
  runProcess(file, argv, { cwd: dir, input: '', env });

describe('keymint rules', () => {
  it('prints the gitleaks rule scannerRules() gives, which TOML parsers read', async () => {
    const result = await run(['rules', '--format', 'gitleaks', '--prefix', 'acme']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toBe(scannerRules({ format: 'gitleaks', prefix: 'acme' }));
    expect(parseToml(result.stdout)).toMatchObject({ rules: [{ keywords: ['acme_'] }] });
  });

  it('prints the TruffleHog detector for the default prefix, which YAML parsers read', async () => {
    const result = await run(['rules', '--format', 'trufflehog']);
    expect(result.code, result.stderr).toBe(0);
    expect(parseYaml(result.stdout)).toMatchObject({ detectors: [{ keywords: ['km_'] }] });
  });

  it('exits 2 without --format, 3 for a bad prefix, and opens no store', async () => {
    const missing = await run(['rules']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--format gitleaks');
    const bad = await run(['rules', '--format', 'gitleaks', '--prefix', 'Bad']);
    expect(bad.code).toBe(3);
    expect(bad.stderr).toContain('INVALID_INPUT');
    const unreachable = await run(['rules', '--format', 'gitleaks'], {
      KEYMINT_DB: 'postgres://nobody@127.0.0.1:1/none',
    });
    expect(unreachable.code, unreachable.stderr).toBe(0);
  });
});

describe('keymint scan', () => {
  async function createKey(db: string, name: string): Promise<string> {
    const created = await run([
      'create',
      '--name',
      name,
      '--role',
      'Viewer',
      '--ttl',
      '1h',
      '--db',
      db,
    ]);
    expect(created.code, created.stderr).toBe(0);
    return created.stdout.trim();
  }

  it('prints file:line:column id name for keys with a valid checksum, never the key; --revoke revokes', async () => {
    const db = path.join(dir, 'scan.db');
    const leaked = await createKey(db, 'deploy bot');
    const elsewhere = await createKey(path.join(dir, 'other.db'), 'other');
    const id = leaked.split('_')[1]!;
    const otherId = elsewhere.split('_')[1]!;
    const tree = path.join(dir, 'repo');
    await mkdir(path.join(tree, '.git'), { recursive: true });
    await mkdir(path.join(tree, 'src'), { recursive: true });
    await writeFile(path.join(tree, 'src', 'config.ts'), `// config\n\nconst key = '${leaked}';\n`);
    await writeFile(path.join(tree, '.env'), `A=1\nTOKEN=${elsewhere} # copied\n`);
    // Not reported: a mistyped key (checksum), a key under .git, in a binary, in a huge file.
    const typo = leaked.slice(0, 20) + (leaked[20] === 'a' ? 'b' : 'a') + leaked.slice(21);
    await writeFile(path.join(tree, 'notes.md'), `typo: ${typo}\n`);
    await writeFile(path.join(tree, '.git', 'COMMIT_EDITMSG'), leaked);
    await writeFile(
      path.join(tree, 'blob.bin'),
      Buffer.concat([Buffer.from([0, 1, 2]), Buffer.from(leaked)]),
    );
    await writeFile(path.join(tree, 'huge.log'), `${'x'.repeat(10 * 1024 * 1024)}\n${leaked}\n`);

    const scanned = await run(['scan', 'repo', '--db', db]);
    expect(scanned.code, scanned.stderr).toBe(1);
    expect(scanned.stdout).toBe(
      `${path.join('repo', '.env')}:2:7 ${otherId} -\n` +
        `${path.join('repo', 'src', 'config.ts')}:3:14 ${id} deploy bot\n`,
    );
    expect(scanned.stderr).toContain('2 keys found; skipped 1 over 10 MiB, 1 binary');
    for (const output of [scanned.stdout, scanned.stderr]) {
      expect(output).not.toContain(leaked);
      expect(output).not.toContain(elsewhere);
    }
    const stillValid = await run(['verify', '--db', db], { KEYMINT_KEY: leaked });
    expect(stillValid.code).toBe(0);

    const revoking = await run(['scan', 'repo', '--revoke', '--json', '--db', db]);
    expect(revoking.code, revoking.stderr).toBe(1);
    expect(JSON.parse(revoking.stdout)).toEqual([
      {
        file: path.join('repo', '.env'),
        line: 2,
        column: 7,
        id: otherId,
        name: null,
        truePositive: false,
        revoked: false,
      },
      {
        file: path.join('repo', 'src', 'config.ts'),
        line: 3,
        column: 14,
        id,
        name: 'deploy bot',
        truePositive: true,
        revoked: true,
      },
    ]);
    expect(revoking.stderr).toContain('2 keys found, 1 revoked');
    expect(revoking.stdout + revoking.stderr).not.toContain(leaked);
    const verified = await run(['verify', '--db', db], { KEYMINT_KEY: leaked });
    expect(verified.code).toBe(1);
    expect(verified.stdout).toContain('revoked');
    // The other store's key is not this store's to revoke.
    const other = await run(['verify', '--db', path.join(dir, 'other.db')], {
      KEYMINT_KEY: elsewhere,
    });
    expect(other.code).toBe(0);
  });

  it('exits 0 when nothing is found, 2 without a path', async () => {
    const db = path.join(dir, 'empty.db');
    await createKey(db, 'unused');
    await mkdir(path.join(dir, 'clean'), { recursive: true });
    await writeFile(path.join(dir, 'clean', 'a.txt'), 'nothing here\n');
    const clean = await run(['scan', 'clean', path.join(dir, 'clean', 'a.txt'), '--db', db]);
    expect(clean.code, clean.stderr).toBe(0);
    expect(clean.stdout).toBe('');
    expect(clean.stderr).toContain('0 keys found');
    const none = await run(['scan', '--db', db]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain("'scan' needs <path>");
  });
});
