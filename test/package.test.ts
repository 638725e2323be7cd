import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { entry } from '../tsup.config.js';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  exports: Record<string, unknown>;
  dependencies: Record<string, string>;
  peerDependencies?: Record<string, string>;
  sideEffects: boolean;
  engines: { node: string };
};

type Conditions = {
  import: { types: string; default: string };
  require: { types: string; default: string };
};

const subpaths = Object.keys(pkg.exports).filter((p) => p !== './package.json');

describe('package.json exports', () => {
  it('has one tsup entry per exported subpath, and no other', () => {
    const fromExports = subpaths.map((p) => (p === '.' ? 'index' : p.slice(2))).sort();
    expect(Object.keys(entry).sort()).toEqual(fromExports);
  });

  it.each(subpaths)('%s lists types first and points at the files tsup writes', (subpath) => {
    const name = subpath === '.' ? 'index' : subpath.slice(2);
    const conditions = pkg.exports[subpath] as Conditions;
    expect(Object.keys(conditions)).toEqual(['import', 'require']);
    expect(Object.keys(conditions.import)[0]).toBe('types');
    expect(Object.keys(conditions.require)[0]).toBe('types');
    expect(conditions.import).toEqual({
      types: `./dist/${name}.d.ts`,
      default: `./dist/${name}.js`,
    });
    expect(conditions.require).toEqual({
      types: `./dist/${name}.d.cts`,
      default: `./dist/${name}.cjs`,
    });
  });

  it('declares no side effects and supports Node 20', () => {
    expect(pkg.sideEffects).toBe(false);
    expect(pkg.engines.node).toBe('>=20');
  });

  it('ships no database driver or test runner as a hard dependency', () => {
    for (const driver of ['pg', 'better-sqlite3', 'ioredis', 'vitest']) {
      expect(pkg.dependencies).not.toHaveProperty(driver);
    }
  });
});
