// Probe (not a bench row): client and server CPU per operation of a cache-off verification on
// Redis against a raw HGETALL of the same record, 32 callers over 2,000 keys on one ioredis
// client: HGETALL, the adapter's findById, and verifyKey (cache off, no wrong-secret limit).
// Server CPU is Redis's own used_cpu_user + used_cpu_sys (INFO cpu) over the run. Medians of
// 4 rounds of 600 ms.
//   node scripts/build.mjs --if-stale
//   node scripts/services.mjs run -- node bench/probes/redis-cold.mjs
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { redisAdapter } from 'keymint/adapters/redis';
import { coldInstance, median, run as runOnly } from './cold-probe.mjs';

const url = process.env.KEYMINT_TEST_REDIS_URL;
if (!url) throw new Error('KEYMINT_TEST_REDIS_URL is not set: run through scripts/services.mjs');
const client = new Redis(url, { maxRetriesPerRequest: 1, commandTimeout: 1_000 });
const prefix = `keymint-probe:${randomBytes(3).toString('hex')}:`;
const adapter = redisAdapter(client, { prefix });
const { keymint, keys, ids } = await coldInstance(adapter);
if (process.env.PROBE_STATS) await client.config('RESETSTAT');
const FIELDS = [
  'id',
  'name',
  'role',
  'scope',
  'secretHash',
  'createdAt',
  'expiresAt',
  'lastUsedAt',
  'revokedAt',
  'metadata',
  'ttlSeconds',
  'previousSecretHash',
  'previousSecretExpiresAt',
  'rotatedAt',
  'owner',
  'permissions',
  'limits',
];
const calls = {
  HGETALL: (i) => client.hgetall(`${prefix}key:${ids[i]}`),
  HMGET: (i) => client.hmget(`${prefix}key:${ids[i]}`, ...FIELDS),
  'adapter.findById': (i) => adapter.findById(ids[i]),
  // The same read through keymint's store wrapping (deadline, typed errors) and its record copy.
  getApiKey: (i) => keymint.getApiKey(ids[i]),
  verifyKey: (i) => keymint.verifyKey(keys[i]),
};

async function serverCpuUs() {
  const info = await client.info('cpu');
  const read = (name) => Number(new RegExp(`${name}:([0-9.]+)`).exec(info)[1]);
  return (read('used_cpu_user') + read('used_cpu_sys')) * 1e6;
}

/** Operations per second, client and server CPU µs per operation, CALLERS at once for `ms`. */
async function run(call, ms) {
  const server0 = await serverCpuUs();
  const measured = await runOnly(call, ms);
  return { ...measured, serverUs: ((await serverCpuUs()) - server0) / measured.n };
}

// PROBE_ONLY=verifyKey (say) runs one of the calls, for a CPU profile of it alone.
const only = process.env.PROBE_ONLY;
const chosen = Object.entries(calls).filter(([name]) => only === undefined || name === only);
const results = Object.fromEntries(chosen.map(([name]) => [name, []]));
for (let round = 0; round < 4; round++) {
  for (const [name, call] of chosen) results[name].push(await run(call, 600));
}
if (process.env.PROBE_STATS) console.log(await client.info('commandstats'));
for (const [name, rounds] of Object.entries(results)) {
  const ops = Math.round(median(rounds.map((r) => r.ops))).toLocaleString('en-US');
  const cpu = median(rounds.map((r) => r.cpuUs)).toFixed(1);
  const server = median(rounds.map((r) => r.serverUs)).toFixed(1);
  console.log(`${name}: ${ops} ops/s, client CPU ${cpu} us, server CPU ${server} us per operation`);
}
await keymint.close();
for (let i = 0; ;) {
  const [next, found] = await client.scan(i, 'MATCH', `${prefix}*`, 'COUNT', 1000);
  if (found.length > 0) await client.del(...found);
  i = Number(next);
  if (i === 0) break;
}
client.disconnect();
