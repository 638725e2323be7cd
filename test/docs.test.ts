import { fileURLToPath } from 'node:url';
import path from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { entry } from '../tsup.config.js';

// The house style asks for a `@module` header on each entry file and an `@example` on every
// public export. The entry files are tsup's `entry` map, which test/package.test.ts keeps equal
// to package.json "exports".
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const entryFiles = Object.entries(entry).map(([name, file]) => ({
  subpath: name === 'index' ? '.' : `./${name}`,
  file: path.join(root, file),
}));

const configPath = path.join(root, 'tsconfig.json');
const { config } = ts.readConfigFile(configPath, (p) => ts.sys.readFile(p));
const { options } = ts.parseJsonConfigFileContent(config, ts.sys, root);
const program = ts.createProgram(
  entryFiles.map((e) => e.file),
  { ...options, noEmit: true },
);
const checker = program.getTypeChecker();

const hasTag = (doc: ts.JSDoc, tag: string) => (doc.tags ?? []).some((t) => t.tagName.text === tag);

/** The JSDoc blocks written for a declaration, without a file's `@module` header above it. */
function ownDocs(declaration: ts.Declaration): ts.JSDoc[] {
  return ts
    .getJSDocCommentsAndTags(declaration)
    .filter((node): node is ts.JSDoc => ts.isJSDoc(node))
    .filter((doc) => !hasTag(doc, 'module'));
}

/** The `/** … *\/` comments before the first statement of a file. */
function headerComments(source: ts.SourceFile): string[] {
  return (ts.getLeadingCommentRanges(source.text, 0) ?? [])
    .map((range) => source.text.slice(range.pos, range.end))
    .filter((text) => text.startsWith('/**'));
}

function exportsOf(file: string): { name: string; symbol: ts.Symbol }[] {
  const source = program.getSourceFile(file);
  if (!source) throw new Error(`${file} is not in the program`);
  const moduleSymbol = checker.getSymbolAtLocation(source);
  if (!moduleSymbol) throw new Error(`${file} has no exports`);
  return checker.getExportsOfModule(moduleSymbol).map((exported) => ({
    name: exported.name,
    symbol: exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported,
  }));
}

describe('API documentation', () => {
  it('compiles the entry files', () => {
    expect(entryFiles.map((e) => e.subpath)).toEqual([
      '.',
      './errors',
      './adapters/memory',
      './adapters/sqlite',
      './adapters/postgres',
      './adapters/mysql',
      './adapters/redis',
      './http',
      './express',
      './fastify',
      './hono',
      './ttl',
      './testing',
    ]);
    for (const { file } of entryFiles) expect(program.getSourceFile(file)).toBeDefined();
  });

  for (const { subpath, file } of entryFiles) {
    const relative = path.relative(root, file);

    it(`${relative} (${subpath}) starts with a @module comment`, () => {
      const source = program.getSourceFile(file)!;
      const header = headerComments(source).find((text) => /^\s*\*\s*@module\b/m.test(text));
      expect(header, `${relative} needs a leading /** ... @module */ comment`).toBeDefined();
    });

    it(`every export of ${relative} (${subpath}) has a TSDoc comment with @example`, () => {
      const exported = exportsOf(file);
      expect(exported.length).toBeGreaterThan(0);
      const missing = exported
        .filter(({ symbol }) => {
          const docs = (symbol.declarations ?? []).flatMap(ownDocs);
          return !docs.some((doc) => hasTag(doc, 'example'));
        })
        .map(({ name, symbol }) => {
          const declaration = symbol.declarations?.[0];
          if (!declaration) return name;
          const source = declaration.getSourceFile();
          const { line } = source.getLineAndCharacterOfPosition(declaration.getStart());
          return `${name} (${path.relative(root, source.fileName)}:${line + 1})`;
        });
      expect(missing, `exports of ${subpath} without an @example: ${missing.join(', ')}`).toEqual(
        [],
      );
    });
  }
});
