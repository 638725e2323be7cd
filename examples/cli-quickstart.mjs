// keymint's command line on the embedded SQLite default, as an operator uses it on a fresh machine:
// mint a key, check it, list it, revoke it, check it again, purge. Run with `npm run example`
// (after quickstart.mjs). It runs the built command, dist/cli.js, which is what `npx keymint` runs,
// in a temporary folder, so the SQLite file `keymint.db` lands there. Every step checks its exit
// code and output; any surprise prints the reason and exits with code 1.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
const folder = mkdtempSync(path.join(os.tmpdir(), 'keymint-cli-quickstart-'));
let failures = 0;

function check(label, ok, detail = '') {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${label}${detail ? `: ${detail}` : ''}`);
  if (!ok) failures++;
}

/** Runs `keymint <args>` in the temporary folder; `input` goes to its stdin. */
function keymint(args, input = '') {
  console.log(`\n$ keymint ${args.join(' ')}${input ? '   (key on stdin)' : ''}`);
  const run = spawnSync(process.execPath, [cli, ...args], {
    cwd: folder,
    input,
    encoding: 'utf8',
    env: { ...process.env, KEYMINT_DB: '', KEYMINT_KEY: '' },
  });
  if (run.stderr) process.stdout.write(run.stderr.replace(/^(?=.)/gm, '  (stderr) '));
  return run;
}

try {
  // 1. Mint a key. stdout holds the key alone; it is never shown again.
  const created = keymint(['create', '--name', 'ci', '--role', 'Editor', '--ttl', '12h']);
  const key = created.stdout.trim();
  check('create exits 0', created.status === 0, `exit ${created.status}`);
  check('create prints one key on stdout', /^km_\w+$/.test(key));
  console.log('  (stdout) <the key, not repeated here>');
  const file = path.join(folder, 'keymint.db');
  check('the SQLite file is readable by its owner only', (statSync(file).mode & 0o077) === 0);

  // 2. Verify it, from stdin (a key on the command line would land in the shell history).
  const valid = keymint(['verify', '--role', 'Viewer', '--json'], key);
  check('verify exits 0 for the new key', valid.status === 0, `exit ${valid.status}`);
  const verified = JSON.parse(valid.stdout);
  check('verify reports it valid, as ci/Editor', verified.valid && verified.apiKey?.name === 'ci');
  check('verify never prints the key', !valid.stdout.includes(key) && !valid.stderr.includes(key));

  const tooLow = keymint(['verify', '--role', 'Admin'], key);
  check('verify exits 1 below the minimum role', tooLow.status === 1, tooLow.stdout.trim());

  // 3. A name is unique in its scope; sloppy TTLs are refused with keymint's message.
  const taken = keymint(['create', '--name', 'ci', '--role', 'Viewer', '--ttl', '1h']);
  check(
    'a second "ci" exits 3 (NAME_TAKEN)',
    taken.status === 3 && /NAME_TAKEN/.test(taken.stderr),
  );
  const sloppy = keymint(['create', '--name', 'deploy', '--role', 'Viewer', '--ttl', '1h30m']);
  check(
    '--ttl 1h30m exits 3 (INVALID_TTL)',
    sloppy.status === 3 && /INVALID_TTL/.test(sloppy.stderr),
  );

  // 4. List, revoke, verify again.
  const listed = keymint(['list', '--json']);
  const keys = JSON.parse(listed.stdout);
  process.stdout.write(keymint(['list']).stdout.replace(/^(?=.)/gm, '  '));
  check('list shows ci, and no secret', keys.length === 1 && !listed.stdout.includes(key));
  const revoked = keymint(['revoke', keys[0].id]);
  check('revoke exits 0', revoked.status === 0, `exit ${revoked.status}`);
  const refused = keymint(['verify'], key);
  check('verify exits 1 after the revoke', refused.status === 1, refused.stdout.trim());
  check('and says why', /revoked/.test(refused.stdout));

  // 5. Purge expired keys (none yet: ci expires in 12 hours).
  const purged = keymint(['purge', '--json']);
  check('purge exits 0', purged.status === 0, purged.stdout.trim());
} finally {
  rmSync(folder, { recursive: true, force: true });
}

console.log(failures === 0 ? '\ncli quickstart OK' : `\ncli quickstart: ${failures} FAILED`);
process.exitCode = failures === 0 ? 0 : 1;
