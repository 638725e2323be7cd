// Baseline figures for verifyKey (issue 4 grows this into the full benchmark). Prints medians of
// several rounds and each figure's ratio to the floor measured in the same run: a bare SHA-256
// of the presented key plus a Map lookup, the least any design that hashes the key must do.
import { createHash } from 'node:crypto';
import { cpus } from 'node:os';
import { createKeymint, hmacSha256Hasher } from 'keymint';
import { memoryAdapter } from 'keymint/adapters/memory';

const ROUNDS = Number(process.env.ROUNDS ?? 5);
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Runs `fn` sequentially `n` times per round and returns the median operations per second. */
async function opsPerSecond(n, fn) {
  const rates = [];
  for (let r = 0; r < ROUNDS; r++) {
    const start = performance.now();
    for (let i = 0; i < n; i++) await fn(i);
    rates.push((n * 1000) / (performance.now() - start));
  }
  return median(rates);
}

const sha = (s) => createHash('sha256').update(s).digest('base64url');

async function setup(hasher) {
  const keymint = createKeymint({ adapter: memoryAdapter(), ...(hasher && { hasher }) });
  const { key } = await keymint.createApiKey({ name: 'bench', role: 'Editor', ttl: '1h' });
  const check = await keymint.verifyKey(key);
  if (!check.valid) throw new Error('bench key does not verify');
  return { keymint, key };
}

const argon = await setup();
const hmac = await setup(hmacSha256Hasher('b'.repeat(32)));
const floorMap = new Map([[sha(hmac.key), { id: 'x' }]]);

const rows = [];
const floor = await opsPerSecond(20_000, () => {
  if (!floorMap.get(sha(hmac.key))) throw new Error('floor miss');
});
rows.push(['floor: SHA-256 + Map.get', floor]);
rows.push([
  'verifyKey, hmacSha256Hasher, memory',
  await opsPerSecond(20_000, () => hmac.keymint.verifyKey(hmac.key)),
]);
rows.push([
  'verifyKey, argon2id (default), memory',
  await opsPerSecond(30, () => argon.keymint.verifyKey(argon.key)),
]);
const tampered = argon.key.slice(0, -1) + (argon.key.endsWith('A') ? 'B' : 'A');
rows.push([
  'verifyKey, malformed (bad checksum)',
  await opsPerSecond(20_000, () => argon.keymint.verifyKey(tampered)),
]);
rows.push([
  'createApiKey, argon2id (default), memory',
  await opsPerSecond(20, (i) =>
    argon.keymint.createApiKey({ name: `c${Math.random()}${i}`, role: 'Viewer', ttl: '1h' }),
  ),
]);

console.log(
  `node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}; median of ${ROUNDS} rounds`,
);
console.log('| operation | ops/s | ms/op | ratio to floor |');
console.log('| --- | ---: | ---: | ---: |');
for (const [name, rate] of rows) {
  console.log(
    `| ${name} | ${Math.round(rate).toLocaleString('en')} | ${(1000 / rate).toFixed(3)} | ${(rate / floor).toFixed(4)} |`,
  );
}
