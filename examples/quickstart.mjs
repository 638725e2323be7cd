// keymint quickstart: create, show once, verify, and watch keys fail for the right reasons.
// Run it with `npm run example` (builds first, then imports the package by its own name).
// Every step checks its outcome; any surprise prints the reason and exits with code 1.
import { createKeymint, parseTtl, isKeymintError } from 'keymint';
import { memoryAdapter } from 'keymint/adapters/memory';

let failures = 0;

function check(label, ok, detail = '') {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${label}${detail ? `: ${detail}` : ''}`);
  if (!ok) failures++;
}

const outcome = (result) => (result.valid ? 'valid' : result.reason);

// A clock the example controls, so expiry shows without waiting.
let clock = Date.parse('2025-01-01T09:00:00.000Z');
const now = () => new Date(clock);
const advance = (ms) => {
  clock += ms;
};

// The default hasher (argon2id) on the in-memory adapter.
const keymint = createKeymint({
  adapter: memoryAdapter(),
  now,
  onBackgroundError: (error) => check('background work', false, String(error)),
});

// 1. Create a key. The plaintext key is returned once; only its hash is stored.
const { key, apiKey } = await keymint.createApiKey({ name: 'ci', role: 'Editor', ttl: '12h' });
console.log('\nNew key (shown once, copy it now):');
console.log(`  ${key}`);
console.log('Its record (no hash, no secret):');
console.log(`  id=${apiKey.id} name=${apiKey.name} role=${apiKey.role} scope=${apiKey.scope}`);
console.log(
  `  createdAt=${apiKey.createdAt.toISOString()} expiresAt=${apiKey.expiresAt?.toISOString()}\n`,
);
check('record has a 12 h expiry', apiKey.expiresAt?.getTime() === clock + 12 * 3_600_000);
check('record carries no secret', !JSON.stringify(apiKey).includes(key.slice(-34)));

// 2. Verify it, and time it: argon2id costs tens of milliseconds by design.
const started = performance.now();
const verified = await keymint.verifyKey(key);
const ms = performance.now() - started;
check(
  'verifyKey(key)',
  verified.valid && verified.apiKey.name === 'ci',
  `${outcome(verified)} in ${ms.toFixed(1)} ms`,
);

// 3. A valid key below the required role.
const asAdmin = await keymint.verifyKey(key, { role: 'Admin' });
check(
  "verifyKey(key, { role: 'Admin' })",
  outcome(asAdmin) === 'insufficient_role',
  outcome(asAdmin),
);

// 4. One changed character in the secret: the checksum fails and the store is never asked.
const at = key.length - 10;
const tampered = key.slice(0, at) + (key[at] === 'A' ? 'B' : 'A') + key.slice(at + 1);
const tamperedResult = await keymint.verifyKey(tampered);
check('verifyKey(tampered key)', outcome(tamperedResult) === 'malformed', outcome(tamperedResult));

// 5. parseTtl is strict: Grafana reads '1h30m' as one hour, keymint refuses it.
try {
  parseTtl('1h30m');
  check("parseTtl('1h30m') throws", false, 'it was accepted');
} catch (error) {
  check(
    "parseTtl('1h30m') throws INVALID_TTL",
    isKeymintError(error, 'INVALID_TTL'),
    error.message,
  );
}

// 6. A one-hour key, then one hour later: expired (at expiresAt exactly).
const short = await keymint.createApiKey({ name: 'deploy-bot', role: 'Viewer', ttl: '1h' });
const before = await keymint.verifyKey(short.key);
check('short key before the hour', outcome(before) === 'valid', outcome(before));
advance(3_600_000);
const after = await keymint.verifyKey(short.key);
check('short key after advancing the clock 1 h', outcome(after) === 'expired', outcome(after));

// 7. Revoke the first key: it fails from then on, although its 12 h are not over.
await keymint.revokeApiKey(apiKey.id);
const revoked = await keymint.verifyKey(key);
check('first key after revokeApiKey()', outcome(revoked) === 'revoked', outcome(revoked));

// 8. List the scope's keys. Expired keys are left out unless asked for.
const active = await keymint.listApiKeys();
const all = await keymint.listApiKeys({ includeExpired: true });
console.log('\nlistApiKeys({ includeExpired: true }):');
for (const k of all) {
  const state = k.revokedAt
    ? 'revoked'
    : k.expiresAt && k.expiresAt.getTime() <= clock
      ? 'expired'
      : 'active';
  console.log(
    `  ${k.name.padEnd(10)} ${k.role.padEnd(7)} ${state.padEnd(8)} expires ${k.expiresAt?.toISOString()}`,
  );
}
console.log('');
check('listApiKeys() leaves out the expired key', active.map((k) => k.name).join() === 'ci');
check(
  'listApiKeys({ includeExpired: true }) has both, sorted by name',
  all.map((k) => k.name).join() === 'ci,deploy-bot',
);

if (failures > 0) {
  console.error(`\nquickstart FAILED: ${failures} unexpected outcome(s)`);
  process.exit(1);
}
console.log('\nquickstart OK');
