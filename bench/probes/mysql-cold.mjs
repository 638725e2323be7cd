// Probe (not a bench row): client CPU per operation of a cache-off verification on MariaDB
// against the driver's own reads by id, 32 callers over 2,000 keys on one mysql2 pool: the
// text protocol (`pool.query`), a prepared statement (`pool.execute`), the adapter's findById,
// and verifyKey (cache off, no wrong-secret limit). Medians of 4 rounds of 600 ms.
//   node scripts/build.mjs --if-stale
//   node scripts/services.mjs run -- node bench/probes/mysql-cold.mjs
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import { migrate, mysqlAdapter } from 'keymint/adapters/mysql';
import { coldInstance, median, run } from './cold-probe.mjs';

const url = process.env.KEYMINT_TEST_MYSQL_URL;
if (!url) throw new Error('KEYMINT_TEST_MYSQL_URL is not set: run through scripts/services.mjs');
const pool = mysql.createPool({ uri: url, connectionLimit: 10 });
const table = `keymint_probe_${randomBytes(3).toString('hex')}`;
await migrate(pool, { table });
const adapter = mysqlAdapter(pool, { table });
const { keymint, keys, ids } = await coldInstance(adapter);
const text = `SELECT * FROM \`${table}\` WHERE id = ?`;
const calls = {
  'pool.query': (i) => pool.query(text, [ids[i]]),
  'pool.execute': (i) => pool.execute(text, [ids[i]]),
  'adapter.findById': (i) => adapter.findById(ids[i]),
  verifyKey: (i) => keymint.verifyKey(keys[i]),
};

const results = Object.fromEntries(Object.keys(calls).map((name) => [name, []]));
for (let round = 0; round < 4; round++) {
  for (const [name, call] of Object.entries(calls)) results[name].push(await run(call, 600));
}
for (const [name, rounds] of Object.entries(results)) {
  const ops = Math.round(median(rounds.map((r) => r.ops))).toLocaleString('en-US');
  const cpu = median(rounds.map((r) => r.cpuUs)).toFixed(1);
  console.log(`${name}: ${ops} ops/s, client CPU ${cpu} us per operation`);
}
await keymint.close();
await pool.query(
  `DROP TABLE IF EXISTS \`${table}\`, \`${table}_changes\`, \`${table}_failures\`, \`${table}_migrations\``,
);
await pool.end();
