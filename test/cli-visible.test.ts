// Issue 14, finding 7: `keymint` never writes an invisible or direction-changing character (or a
// terminal control) as is, whatever field of a record holds it: a record stored before names
// refused them, a scope, or metadata set through the API.
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { escapeUnshowable } from '../src/cli/escape.js';
import { cli, tempDir } from './fixtures/cli.js';

let dir: string;
let removeDir: () => Promise<void>;
beforeAll(async () => ({ dir, remove: removeDir } = await tempDir()));
afterAll(() => removeDir());

// What a terminal would not show as written: each would hide, reorder or drive something.
const HOSTILE = [
  '\u202E',
  '\u2066',
  '\u200B',
  '\uFEFF',
  '\u3164',
  '\u00A0',
  '\u2028',
  '\u001B',
  '\u009B',
  '\r',
  '\u{E0041}',
];
const RAW = new RegExp(`[${HOSTILE.join('')}]`, 'u');

describe('keymint output', () => {
  it('escapes each such character as its JSON escape, keeping tab and line feed', () => {
    expect(escapeUnshowable('a\u202Eb\u{E0041}c\u001B[2J\td\n')).toBe(
      'a\\u202Eb\\uDB40\\uDC41c\\u001B[2J\td\n',
    );
    expect(JSON.parse(escapeUnshowable(JSON.stringify({ a: 'x\u202E\u0085' })))).toEqual({
      a: 'x\u202E\u0085',
    });
  });

  it('list, list --json, verify, revoke and create never print one, from any field', async () => {
    const db = path.join(dir, 'legacy.db');
    const run = (args: string[], stdin?: string) =>
      cli([...args, '--db', db], { cwd: dir, ...(stdin !== undefined && { stdin }) });
    const made = await run(['create', '--name', 'legacy', '--role', 'Viewer', '--ttl', '1h']);
    expect(made.code, made.stderr).toBe(0);
    const key = made.stdout.trim();
    const other = await run(['create', '--name', 'other', '--role', 'Viewer', '--ttl', '1h']);
    const otherKey = other.stdout.trim();
    // As a store written by an older version, or by hand, may hold them.
    const hostile = HOSTILE.join('');
    const sqlite = new Database(db);
    sqlite
      .prepare('UPDATE keymint_api_keys SET name = ?, metadata = ? WHERE name = ?')
      .run(`ci-${hostile}-txt.exe`, JSON.stringify({ note: `x${hostile}y` }), 'legacy');
    sqlite
      .prepare('UPDATE keymint_api_keys SET scope = ? WHERE name = ?')
      .run(`org${hostile}`, 'other');
    sqlite.close();

    const outputs = [
      await run(['list']),
      await run(['list', '--json']),
      await run(['verify'], key),
      await run(['verify', '--json'], key),
      await run(['verify'], otherKey),
      await run(['verify', '--json'], otherKey),
    ];
    const listed = JSON.parse(outputs[1]!.stdout) as { id: string; metadata: unknown }[];
    // The JSON is still the stored value once parsed.
    expect(listed[0]).toMatchObject({
      name: `ci-${hostile}-txt.exe`,
      metadata: { note: `x${hostile}y` },
    });
    const ids = listed.map((record) => record.id);
    outputs.push(await run(['revoke', ids[0]!]), await run(['revoke', ids[0]!, '--json']));
    const verifiedOther = JSON.parse(outputs[5]!.stdout) as { apiKey: { id: string } };
    outputs.push(await run(['revoke', verifiedOther.apiKey.id]));
    for (const [i, output] of outputs.entries()) {
      expect(output.code, `${i}: ${output.stderr}`).toBeLessThan(2);
      expect(RAW.test(output.stdout), `${i}: ${JSON.stringify(output.stdout)}`).toBe(false);
      expect(RAW.test(output.stderr), `${i}: ${JSON.stringify(output.stderr)}`).toBe(false);
    }
    expect(outputs[0]!.stdout).toContain('ci-\\u202E\\u2066\\u200B');
    expect(outputs[4]!.stdout).toContain('scope org\\u202E');
  });
});
