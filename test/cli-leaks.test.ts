// `keymint rules` and `keymint scan` as a real process (the esbuild bundle of the CLI entry).
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
