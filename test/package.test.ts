import { readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
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

const subpaths = Object.keys(pkg.exports).filter(
  (p) => p !== './package.json' && !p.startsWith('./sql/'),
);

describe('package.json exports', () => {
  it('has one tsup entry per exported subpath, and no other', () => {
    const fromExports = subpaths.map((p) => (p === '.' ? 'index' : p.slice(2))).sort();
    expect(Object.keys(entry).sort()).toEqual(fromExports);
  });

  it.each(subpaths)('%s lists types first and points at the files tsup writes', (subpath) => {
    const name = subpath === '.' ? 'index' : subpath.slice(2);
    const conditions = pkg.exports[subpath] as Conditions;
    // keymint/testing is ESM-only, like vitest, which refuses to be require()d.
    const formats = subpath === './testing' ? ['import'] : ['import', 'require'];
    expect(Object.keys(conditions)).toEqual(formats);
    expect(Object.keys(conditions.import)[0]).toBe('types');
    expect(conditions.import).toEqual({
      types: `./dist/${name}.d.ts`,
      default: `./dist/${name}.js`,
    });
    if (subpath === './testing') return;
    expect(Object.keys(conditions.require)[0]).toBe('types');
    expect(conditions.require).toEqual({
      types: `./dist/${name}.d.cts`,
      default: `./dist/${name}.cjs`,
    });
  });

  it('ships the SQL schemas as files', () => {
    expect(pkg.exports['./sql/sqlite.sql']).toBe('./sql/sqlite.sql');
    expect(pkg.exports['./sql/sqlite/*']).toBe('./sql/sqlite/*');
    expect(pkg.exports['./sql/postgres.sql']).toBe('./sql/postgres.sql');
    expect(pkg.exports['./sql/postgres/*.sql']).toBe('./sql/postgres/*.sql');
    expect(pkg.exports['./sql/mysql.sql']).toBe('./sql/mysql.sql');
    expect(pkg.exports['./sql/mysql/*.sql']).toBe('./sql/mysql/*.sql');
    expect((pkg as { files?: string[] }).files).toContain('sql');
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

const DRIVERS = ['pg', 'mysql2', 'better-sqlite3', 'ioredis', 'vitest'];

/** Runtime (not `import type`) module specifiers of a source file. */
function runtimeImports(file: string): string[] {
  const source = readFileSync(file, 'utf8');
  const specs: string[] = [];
  // No `;` between the keyword and `from`: an `export interface { ...; }` is not an import.
  const pattern = /^\s*(import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s+)?['"]([^'"]+)['"]/gm;
  for (const match of source.matchAll(pattern)) {
    if (!match[2]) specs.push(match[3]!);
  }
  return specs;
}

/** Every source file reachable from `entry` through runtime imports, and the packages they load. */
function reachable(entryFile: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    for (const spec of runtimeImports(file)) {
      if (spec.startsWith('.'))
        visit(fileURLToPath(new URL(spec.replace(/\.js$/, '.ts'), pathToFileURL(file))));
      else packages.add(spec.startsWith('node:') ? 'node:' : spec.split('/')[0]!);
    }
  };
  visit(fileURLToPath(new URL(`../${entryFile}`, import.meta.url)));
  return { files, packages };
}

describe('what each entry point loads', () => {
  it.each([
    'src/index.ts',
    'src/errors.ts',
    'src/adapters/memory/index.ts',
    'src/http/index.ts',
    'src/http/express.ts',
    'src/http/fastify.ts',
    'src/http/hono.ts',
    'src/ttl.ts',
  ])('%s loads no database driver, no test runner and no adapter module', (file) => {
    const { files, packages } = reachable(file);
    for (const driver of DRIVERS) expect(packages).not.toContain(driver);
    for (const loaded of files)
      expect(loaded).not.toMatch(/adapters\/(sqlite|postgres|redis)|testing/);
  });

  it.each(['src/http/express.ts', 'src/http/fastify.ts', 'src/http/hono.ts'])(
    '%s imports its framework for types only: the host passes its app in',
    (file) => {
      const { packages } = reachable(file);
      for (const framework of ['express', 'fastify', 'hono']) {
        expect(packages).not.toContain(framework);
      }
    },
  );

  it('keymint/ttl loads nothing from Node.js and no package: it runs in a browser', () => {
    const { packages } = reachable('src/ttl.ts');
    expect([...packages]).toEqual([]);
  });

  it.each([
    'src/adapters/sqlite/index.ts',
    'src/adapters/postgres/index.ts',
    'src/adapters/mysql/index.ts',
    'src/adapters/redis/index.ts',
  ])('%s imports its driver for types only: the user passes the client in', (file) => {
    const { packages } = reachable(file);
    for (const driver of DRIVERS) expect(packages).not.toContain(driver);
  });

  it('keymint/testing loads vitest (an optional peer) and no driver', () => {
    const { packages } = reachable('src/testing/index.ts');
    expect(packages).toContain('vitest');
    for (const driver of ['pg', 'better-sqlite3', 'ioredis'])
      expect(packages).not.toContain(driver);
  });

  it('declares every driver and vitest as an optional peer dependency', () => {
    const meta = (pkg as { peerDependenciesMeta?: Record<string, { optional?: boolean }> })
      .peerDependenciesMeta;
    for (const driver of DRIVERS) {
      expect(pkg.peerDependencies).toHaveProperty(driver);
      expect(meta?.[driver]?.optional).toBe(true);
    }
  });
});
