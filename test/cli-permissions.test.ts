// `keymint create|update|verify --permission` in-process (runCli), against real SQLite files, with
// the host's map in KEYMINT_PERMISSIONS (JSON or the path of a JSON file).
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, tempDir } from './fixtures/cli.js';

let dir: string;
let removeDir: () => Promise<void>;
beforeAll(async () => ({ dir, remove: removeDir } = await tempDir()));
afterAll(() => removeDir());

const MAP = JSON.stringify({
  Viewer: ['dashboards:read'],
  Editor: ['dashboards:write', 'folders:read'],
});
const env = { KEYMINT_PERMISSIONS: MAP };
let counter = 0;
const freshDb = () => path.join(dir, `permissions-${++counter}.db`);

async function create(db: string, ...extra: string[]) {
  return cli(['create', '--name', 'ci', '--role', 'Editor', '--ttl', '12h', '--db', db, ...extra], {
    cwd: dir,
    env,
  });
}

describe('keymint --permission', () => {
  it('create narrows the key and shows what it permits', async () => {
    const created = await create(
      freshDb(),
      '--permission',
      'dashboards:read',
      '--permission',
      'folders:read',
      '--json',
    );
    expect(created.code, created.stderr).toBe(0);
    const db = freshDb();
    const human = await create(db, '--permission', 'folders:read');
    expect(human.code, human.stderr).toBe(0);
    expect(human.stderr).toContain('permits  folders:read');
    const list = await cli(['list', '--json', '--db', db], { cwd: dir, env });
    expect(JSON.parse(list.stdout)[0].permissions).toEqual(['folders:read']);
  });

  it('refuses a permission the role does not grant, or an unknown one, with exit 3', async () => {
    const db = freshDb();
    const extra = await cli(
      [
        'create',
        '--name',
        'v',
        '--role',
        'Viewer',
        '--ttl',
        '1h',
        '--permission',
        'dashboards:write',
        '--db',
        db,
      ],
      { cwd: dir, env },
    );
    expect(extra.code).toBe(3);
    expect(extra.stderr).toContain('the role Viewer does not grant "dashboards:write"');
    const typo = await create(db, '--permission', 'dashbords:read');
    expect(typo.code).toBe(3);
    expect(typo.stderr).toContain('unknown permission "dashbords:read"');
  });

  it('without KEYMINT_PERMISSIONS, --permission is refused (exit 3), never ignored', async () => {
    const result = await cli(
      [
        'create',
        '--name',
        'ci',
        '--role',
        'Editor',
        '--ttl',
        '1h',
        '--permission',
        'dashboards:read',
        '--db',
        freshDb(),
      ],
      { cwd: dir },
    );
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('permissions option of createKeymint()');
  });

  it('reads the map from a file, and refuses one that is not JSON (exit 2)', async () => {
    const file = path.join(dir, 'permissions.json');
    await writeFile(file, MAP);
    const db = freshDb();
    const ok = await cli(
      [
        'create',
        '--name',
        'ci',
        '--role',
        'Viewer',
        '--ttl',
        '1h',
        '--permission',
        'dashboards:read',
        '--db',
        db,
      ],
      { cwd: dir, env: { KEYMINT_PERMISSIONS: 'permissions.json' } },
    );
    expect(ok.code, ok.stderr).toBe(0);
    const bad = await cli(['list', '--db', db], {
      cwd: dir,
      env: { KEYMINT_PERMISSIONS: '{nope' },
    });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('KEYMINT_PERMISSIONS must hold a JSON object');
  });

  it('update --permission and --all-permissions change what verify --permission accepts', async () => {
    const db = freshDb();
    const created = await create(db, '--json');
    const { id, key } = JSON.parse(created.stdout) as { id: string; key: string };
    const verify = (...extra: string[]) =>
      cli(['verify', '--json', '--db', db, ...extra], { cwd: dir, env, stdin: key });
    expect((await verify('--permission', 'dashboards:write')).code).toBe(0);
    const narrowed = await cli(['update', id, '--permission', 'folders:read', '--db', db], {
      cwd: dir,
      env,
    });
    expect(narrowed.code, narrowed.stderr).toBe(0);
    expect(narrowed.stdout).toContain('permits folders:read');
    const refused = await verify('--permission', 'dashboards:write');
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout)).toEqual({ valid: false, reason: 'insufficient_permission' });
    const reset = await cli(['update', id, '--all-permissions', '--db', db], { cwd: dir, env });
    expect(reset.code, reset.stderr).toBe(0);
    expect((await verify('--permission', 'dashboards:write')).code).toBe(0);
    const both = await cli(
      ['update', id, '--all-permissions', '--permission', 'folders:read', '--db', db],
      { cwd: dir, env },
    );
    expect(both.code).toBe(2);
  });
});
