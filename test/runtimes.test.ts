// keymint on Bun and Deno, for real: each runtime (the npm packages `bun` and `deno`, dev
// dependencies) runs test/fixtures/runtime-smoke.mjs on the built package (dist/, imported by
// name), and Node.js runs it too, as the baseline. Checked: create and verify with the default
// argon2id hasher, the Web handler's routes (in-process with Request objects, then served by
// Bun.serve / Deno.serve / node:http on a loopback port and called with fetch),
// authenticateRequest, keymint/ttl, and the SQLite adapter where the runtime loads better-sqlite3.
// Neither Bun nor Deno loads it (see docs/runtimes.md): that test is skipped with the runtime's
// own words, and fails if the refusal is anything else. Without a runtime's binary the group is
// skipped locally and fails under CI=true (describeWith in test/servers.ts).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { beforeAll, expect, it } from 'vitest';
import { ensureDistCurrent } from './build-dist.js';
import { describeWith, withheld } from './servers.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SCRIPT = fileURLToPath(new URL('./fixtures/runtime-smoke.mjs', import.meta.url));
const bin = (name: string) =>
  fileURLToPath(new URL(`../node_modules/.bin/${name}`, import.meta.url));

interface Runtime {
  name: 'node' | 'bun' | 'deno';
  label: string;
  command: string;
  args: string[];
  /** How the runtime refuses better-sqlite3, when it does. */
  sqliteRefusal?: RegExp;
}

const RUNTIMES: Runtime[] = [
  { name: 'node', label: 'Node.js', command: process.execPath, args: [] },
  {
    name: 'bun',
    label: 'Bun',
    command: bin('bun'),
    args: [],
    sqliteRefusal: /^'better-sqlite3' is not yet supported in Bun\./,
  },
  {
    name: 'deno',
    label: 'Deno',
    command: bin('deno'),
    // Native addons (argon2) need --allow-ffi, and the `bindings` loader of better-sqlite3
    // --allow-sys; the routes are served on 127.0.0.1 only.
    args: [
      'run',
      '--no-prompt',
      '--no-lock',
      '--allow-read',
      '--allow-write',
      '--allow-env',
      '--allow-ffi',
      '--allow-sys',
      '--allow-net=127.0.0.1',
    ],
    sqliteRefusal: /legacy Node\.js native addon API \(NODE_MODULE \/ nan\), which Deno does not/,
  },
];

/** Why `runtime` cannot run here, or undefined when it can. */
function missing(runtime: Runtime): string | undefined {
  if (runtime.name === 'node') return undefined;
  const hint = `npm ci installs it (the devDependency ${runtime.name}, whose binary comes in an optional dependency)`;
  if (withheld(runtime.name)) return `withheld by KEYMINT_TEST_WITHOUT; ${hint}`;
  if (!existsSync(runtime.command)) return `no ${runtime.command}: ${hint}`;
  const version = spawnSync(runtime.command, ['--version'], { encoding: 'utf8' });
  if (version.status !== 0) {
    return `${runtime.command} --version failed (${version.error?.message ?? version.stderr.trim()}): ${hint}`;
  }
  return undefined;
}

interface Observed {
  runtime: string;
  ttl: Record<string, unknown>;
  hasher: string;
  verify: Record<string, unknown>;
  routes: Record<string, unknown>;
  served: Record<string, unknown>;
  sqlite: { unsupported: string } | { before: boolean; after: string; rows: number };
}

function runSmoke(runtime: Runtime): Promise<Observed> {
  return new Promise((resolve, reject) => {
    const child = spawn(runtime.command, [...runtime.args, SCRIPT], {
      cwd: ROOT,
      env: { ...process.env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) {
        reject(new Error(`${runtime.label} exited ${code} on ${SCRIPT}:\n${stderr}${stdout}`));
        return;
      }
      try {
        resolve(JSON.parse(stdout) as Observed);
      } catch (error) {
        reject(
          new Error(`${runtime.label} printed no JSON line: ${stdout}\n${stderr}`, {
            cause: error,
          }),
        );
      }
    });
  });
}

/** What one walk through the API answers (the same in-process and over the runtime's server). */
const walk = (name: string) => ({
  create: 200,
  anonymousList: 401,
  list: 200,
  listed: [name, 'smoke'],
  viewerKey: 403,
  editorKey: 200,
  hello: 'smoke',
  noKey: 401,
  revoke: 200,
  revokedKey: 401,
  delete: 200,
});

for (const runtime of RUNTIMES) {
  const need = { what: `the ${runtime.label} runtime`, missing: missing(runtime) };
  describeWith(need, `keymint on ${runtime.label}`, () => {
    let observed: Observed;
    beforeAll(async () => {
      ensureDistCurrent();
      observed = await runSmoke(runtime);
    }, 120_000);

    it('runs the built package on that runtime', () => {
      expect(observed.runtime).toMatch(new RegExp(`^${runtime.name} \\d+\\.\\d+\\.\\d+`));
    });

    it('creates keys hashed with argon2id by default, and verifies them', () => {
      expect(observed.hasher).toBe('$argon2id$v=19');
      expect(observed.verify).toEqual({
        valid: true,
        asAdmin: 'insufficient_role',
        tampered: 'malformed',
      });
    });

    it('answers the routes and authenticateRequest for Request objects in-process', () => {
      expect(observed.routes).toEqual(walk('in-process'));
    });

    it(`answers the same over ${runtime.name === 'node' ? 'node:http' : `${runtime.label}.serve`} on a loopback port`, () => {
      expect(observed.served).toEqual(
        walk(`over-${runtime.name === 'node' ? 'node-http' : `${runtime.name}-serve`}`),
      );
    });

    it('parses TTLs with keymint/ttl', () => {
      expect(observed.ttl).toEqual({ '12h': 43_200, '1M': 2_592_000, bad: 'INVALID_TTL' });
    });

    it('stores keys in SQLite with better-sqlite3, where the runtime loads it', (context) => {
      const { sqlite } = observed;
      if ('unsupported' in sqlite) {
        // Only the runtime's own refusal of the addon is a reason to skip; anything else fails.
        expect(runtime.sqliteRefusal, `${runtime.label}: ${sqlite.unsupported}`).toBeDefined();
        expect(sqlite.unsupported).toMatch(runtime.sqliteRefusal!);
        context.skip(`better-sqlite3 does not load on ${runtime.label}: ${sqlite.unsupported}`);
      }
      expect(sqlite).toEqual({ before: true, after: 'revoked', rows: 1 });
    });
  });
}
