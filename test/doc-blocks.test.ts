// Every code block of README.md and docs/*.md, compiled against the BUILT package, and run where
// marked. A snippet with an undefined name or a wrong signature fails here.
//
// The convention (also in docs/contributing.md):
// - ```ts, ```typescript, ```js and ```javascript blocks are type-checked, all of them together
//   in one TypeScript program, each block its own ES module (.mts or .mjs, top-level await
//   allowed), importing `keymint`, `keymint/adapters/sqlite`, ... exactly as a user does: they
//   resolve to this repository's dist/ through package.json "exports". Other languages (sh, sql,
//   json, text) are not compiled.
// - An HTML comment on the line above the fence (blank lines between are fine) changes that:
//     <!-- doc-test: run -->        also runs the block with node, in an empty temporary folder;
//                                   it must exit 0 within 30 s (no servers, no network).
//     <!-- doc-test: typecheck -->  the default, written out for a block that needs a server or a
//                                   listening port, to say why it is not run.
//     <!-- doc-test: skip REASON --> not compiled at all: only for fragments shown for reading
//                                   (an interface to implement); the reason is required.
//     <!-- doc-test: serve -->      the README Quickstart: run as a server, then the curl lines
//                                   of the next sh block are played against it (see below).
// - A marker comment spread over several lines puts its inner lines before the block, as hidden
//   set-up (for example `declare const app: import('express').Express;` above a fragment in a
//   docs page). Keep it rare: a reader does not see those lines, so README blocks define what
//   they use.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KEYMINT_ERROR_CODES, KeymintError } from '../src/errors.js';
import { errorToHttp, KEYMINT_ERROR_STATUS } from '../src/http/index.js';
import { ensureDistCurrent } from './build-dist.js';
import {
  allBlocks,
  extractBlocks,
  isCode,
  JS_LANGS,
  shellWords,
  type DocBlock,
} from './fixtures/doc-blocks.js';
import { freePort } from './fixtures/net.js';
import { runProcess } from './fixtures/cli.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const blocks = allBlocks(root);
const code = blocks.filter(isCode);
const compiled = code.filter((block) => block.mode !== 'skip');
const where = (block: DocBlock) => `${block.file}:${block.line}`;
const fileName = (block: DocBlock, index: number) =>
  `${index.toString().padStart(3, '0')}-${block.file.replace(/[^\w]+/g, '-')}-${block.line}.${
    JS_LANGS.has(block.lang) ? 'mjs' : 'mts'
  }`;

// Inside node_modules, so that `express`, `better-sqlite3`, ... resolve from the repository's
// node_modules; `keymint` is a symlink to the repository itself, resolved through its "exports".
// The folder is named after the process, so that two checkouts sharing one node_modules (git
// worktrees with a symlinked node_modules) or two runs at once never remove each other's files.
const workDir = path.join(root, 'node_modules', `.keymint-doc-blocks-${process.pid}`);

interface Prepared {
  block: DocBlock;
  file: string;
  /** Lines of set-up before the block's first line in `file`. */
  offset: number;
}
let prepared: Prepared[] = [];
let program: ts.Program | undefined;

function source(block: DocBlock): { text: string; offset: number } {
  const setup = block.setup === '' ? [] : block.setup.split('\n');
  // `export {}` keeps each block its own module, so two blocks may both declare `keymint`.
  return { text: [...setup, block.code, 'export {};', ''].join('\n'), offset: setup.length };
}

beforeAll(() => {
  ensureDistCurrent();
  rmSync(workDir, { recursive: true, force: true });
  mkdirSync(path.join(workDir, 'node_modules'), { recursive: true });
  symlinkSync(root, path.join(workDir, 'node_modules', 'keymint'), 'dir');
  prepared = compiled.map((block, index) => {
    const file = path.join(workDir, fileName(block, index));
    const { text, offset } = source(block);
    writeFileSync(file, text);
    return { block, file, offset };
  });
  program = ts.createProgram(
    prepared.map((p) => p.file),
    {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      lib: ['lib.es2023.d.ts', 'lib.dom.d.ts'],
      types: ['node'],
      typeRoots: [path.join(root, 'node_modules', '@types')],
      strict: true,
      allowJs: true,
      checkJs: true,
      noEmit: true,
      skipLibCheck: true,
      esModuleInterop: true,
    },
  );
}, 180_000);

afterAll(() => {
  rmSync(workDir, { recursive: true, force: true });
});

function diagnosticsOf(entry: Prepared): string[] {
  const sourceFile = program!.getSourceFile(entry.file);
  if (!sourceFile) return [`${where(entry.block)}: not in the program`];
  const found = [
    ...program!.getSyntacticDiagnostics(sourceFile),
    ...program!.getSemanticDiagnostics(sourceFile),
  ];
  return found.map((diagnostic) => {
    const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n');
    const { line } = sourceFile.getLineAndCharacterOfPosition(diagnostic.start ?? 0);
    const mdLine = entry.block.line + line - entry.offset;
    return `${entry.block.file}:${mdLine}: TS${diagnostic.code} ${message}`;
  });
}

describe('the block extractor', () => {
  it('reads the marker above a fence, hidden set-up lines, and indented blocks', () => {
    const text = [
      'Text.',
      '',
      '<!-- doc-test: run -->',
      '',
      '```ts',
      "console.log('a');",
      '```',
      '<!-- doc-test: skip shown for reading -->',
      '```js',
      'interface X {}',
      '```',
      '<!-- doc-test: typecheck',
      'declare const app: unknown;',
      '-->',
      '```typescript',
      'app;',
      '```',
      '- a list item:',
      '',
      '  ```sh',
      '  npm test',
      '  ```',
      '```ts',
      'const inline = "```";',
      '```',
    ].join('\n');
    expect(
      extractBlocks('x.md', text).map(({ line, lang, mode, reason, setup, code }) => ({
        line,
        lang,
        mode,
        reason,
        setup,
        code,
      })),
    ).toEqual([
      { line: 6, lang: 'ts', mode: 'run', reason: '', setup: '', code: "console.log('a');" },
      {
        line: 10,
        lang: 'js',
        mode: 'skip',
        reason: 'shown for reading',
        setup: '',
        code: 'interface X {}',
      },
      {
        line: 16,
        lang: 'typescript',
        mode: 'typecheck',
        reason: '',
        setup: 'declare const app: unknown;',
        code: 'app;',
      },
      { line: 21, lang: 'sh', mode: 'typecheck', reason: '', setup: '', code: 'npm test' },
      {
        line: 24,
        lang: 'ts',
        mode: 'typecheck',
        reason: '',
        setup: '',
        code: 'const inline = "```";',
      },
    ]);
  });

  it('refuses an unknown mode', () => {
    expect(() => extractBlocks('x.md', '<!-- doc-test: runn -->\n```ts\n1;\n```')).toThrow(
      /x.md:1: unknown doc-test mode "runn"/,
    );
  });

  it('splits a shell line into words, with quotes and variables', () => {
    expect(shellWords(`curl -H "Authorization: Bearer $KEY" 'a b' x`, { KEY: 'k' })).toEqual([
      'curl',
      '-H',
      'Authorization: Bearer k',
      'a b',
      'x',
    ]);
  });
});

describe('code blocks of README.md and docs/*.md', () => {
  it('finds the blocks, and every skip says why', () => {
    expect(compiled.length).toBeGreaterThan(10);
    expect(compiled.some((block) => block.mode === 'run')).toBe(true);
    const unexplained = code.filter((b) => b.mode === 'skip' && b.reason === '').map(where);
    expect(unexplained, 'a doc-test: skip marker needs a reason').toEqual([]);
    const onOther = blocks
      .filter((b) => !isCode(b) && b.mode !== 'typecheck' && b.mode !== 'skip')
      .map(where);
    expect(onOther, 'run/serve markers belong on ts or js blocks').toEqual([]);
  });

  it.each(compiled.map((block) => [where(block), block] as const))(
    '%s compiles against the built package',
    (_where, block) => {
      const entry = prepared.find((p) => p.block === block)!;
      expect(diagnosticsOf(entry)).toEqual([]);
    },
  );

  const runnable = compiled.filter((block) => block.mode === 'run');
  it.each(runnable.map((block) => [where(block), block] as const))(
    '%s runs and exits 0',
    async (_where, block) => {
      const entry = prepared.find((p) => p.block === block)!;
      const js = ts.transpileModule(source(block).text, {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
      }).outputText;
      const runFile = entry.file.replace(/\.m?[jt]s$/, '.run.mjs');
      writeFileSync(runFile, js);
      const cwd = mkdtempSync(path.join(os.tmpdir(), 'keymint-doc-run-'));
      try {
        const result = await runProcess(runFile, [], { cwd, input: '' });
        expect(result.stderr, `${where(block)} wrote to stderr`).not.toMatch(/Error/);
        expect(result.code, `${where(block)} exited ${result.code}: ${result.stderr}`).toBe(0);
      } finally {
        rmSync(cwd, { recursive: true, force: true });
      }
    },
    30_000,
  );
});

describe('README Quickstart, as a reader follows it', () => {
  const readme = blocks.filter((block) => block.file === 'README.md');
  const server = readme.find((block) => block.mode === 'serve');
  const commands =
    server &&
    readme.slice(readme.indexOf(server) + 1).find((b) => b.lang === 'sh' && /curl /.test(b.code));
  let child: ChildProcess | undefined;
  let cwd = '';

  afterAll(() => {
    child?.kill();
    if (cwd !== '') rmSync(cwd, { recursive: true, force: true });
  });

  it('has a server block and, after it, the curl lines with the status each shows', () => {
    expect(server, 'README.md needs a block marked <!-- doc-test: serve -->').toBeDefined();
    expect(commands, 'an sh block with curl lines after the Quickstart server').toBeDefined();
    expect(commands!.code).toMatch(/# 200/);
    expect(commands!.code).toMatch(/# 401/);
    expect(commands!.code).toMatch(/# 403/);
  });

  it('serves, and each curl line gets the status written after it', async () => {
    const port = await freePort();
    // Beside the other blocks, so that express and better-sqlite3 resolve as in the reader's
    // project; its own folder, for the keymint.db file it makes.
    cwd = mkdtempSync(path.join(workDir, 'quickstart-'));
    const js = ts.transpileModule(server!.code, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    writeFileSync(path.join(cwd, 'server.mjs'), js);
    child = spawn(process.execPath, ['server.mjs'], {
      cwd,
      env: { ...process.env, PORT: String(port) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (chunk) => (output += chunk));
    child.stderr!.on('data', (chunk) => (output += chunk));
    const deadline = Date.now() + 20_000;
    while (!/listening/i.test(output)) {
      if (Date.now() > deadline || child.exitCode !== null) {
        throw new Error(`the Quickstart server did not start: ${output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }

    const vars: Record<string, string> = {};
    const played: string[] = [];
    for (const raw of commands!.code.split('\n')) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) continue;
      const assignment = /^(\w+)=\$\((.*)\)$/.exec(line);
      if (assignment) {
        // KEY=$(npx keymint create ...): the package's own bin, in the same folder.
        const [command, bin, ...args] = shellWords(assignment[2]!, vars);
        expect([command, bin]).toEqual(['npx', 'keymint']);
        const result = await runProcess(path.join(root, 'dist', 'cli.js'), args, {
          cwd,
          input: '',
        });
        expect(result.code, result.stderr).toBe(0);
        vars[assignment[1]!] = result.stdout.trim();
        continue;
      }
      const [command, ...words] = shellWords(line.replace(/\s+#.*$/, ''), vars);
      if (command !== 'curl') continue;
      const expected = Number(/#\s*(\d{3})\b/.exec(line)?.[1]);
      let method = 'GET';
      const headers: Record<string, string> = {};
      let url = '';
      for (let i = 0; i < words.length; i++) {
        const word = words[i]!;
        if (word === '-X') method = words[++i]!;
        else if (word === '-H') {
          const [name, ...value] = words[++i]!.split(':');
          headers[name!.trim()] = value.join(':').trim();
        } else if (word.startsWith('http')) url = word;
      }
      const target = new URL(url);
      expect(target.port).toBe('3000');
      target.port = String(port);
      const response = await fetch(target, { method, headers });
      await response.arrayBuffer();
      played.push(`${method} ${target.pathname} ${response.status}`);
      expect(response.status, `${line}\n(server said: ${output})`).toBe(expected);
    }
    expect(played.length).toBeGreaterThanOrEqual(3);
  }, 60_000);
});

describe('the error table of the README', () => {
  it('lists every code with the status errorToHttp() answers', () => {
    const text = readFileSync(path.join(root, 'README.md'), 'utf8');
    const rows = new Map<string, string>();
    for (const match of text.matchAll(/^\|\s*`([A-Z_]+)`\s*\|.*\|\s*(\d{3})[^|]*\|\s*$/gm)) {
      rows.set(match[1]!, match[2]!);
    }
    const table = Object.fromEntries(KEYMINT_ERROR_CODES.map((c) => [c, rows.get(c)]));
    const expected = Object.fromEntries(
      KEYMINT_ERROR_CODES.map((c) => [c, String(KEYMINT_ERROR_STATUS[c])]),
    );
    expect(table).toEqual(expected);
  });

  it('docs/http.md lists every code with the status and Retry-After of errorToHttp()', () => {
    const text = readFileSync(path.join(root, 'docs', 'http.md'), 'utf8');
    const rows = new Map<string, string>();
    for (const match of text.matchAll(/^\|([^|]*`[A-Z_]+`[^|]*)\|\s*(\d{3})\s*\|([^|]*)\|\s*$/gm)) {
      const retryAfter = /Retry-After: (\d+)/.exec(match[3]!)?.[1];
      for (const code of match[1]!.matchAll(/`([A-Z_]+)`/g)) {
        rows.set(code[1]!, `${match[2]}${retryAfter ? ` retry-after ${retryAfter}` : ''}`);
      }
    }
    const expected = Object.fromEntries(
      KEYMINT_ERROR_CODES.map((c) => {
        const { status, headers } = errorToHttp(new KeymintError(c, 'x'));
        // BUSY's Retry-After depends on the error's estimate: the table says so in words.
        const retry = c === 'BUSY' ? undefined : headers['retry-after'];
        return [c, `${status}${retry ? ` retry-after ${retry}` : ''}`];
      }),
    );
    expect(Object.fromEntries(KEYMINT_ERROR_CODES.map((c) => [c, rows.get(c)]))).toEqual(expected);
  });
});
