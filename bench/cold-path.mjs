// Issue 12's cold-path rows: cache off, hmacSha256Hasher, 32 concurrent callers over 2,000 keys,
// keymint's verifyKey against the plain lookup by id through the same client in the same run:
// `SELECT * FROM <table> WHERE id = $1` on the same pg.Pool, a prepared `SELECT * ... WHERE id = ?`
// on the same better-sqlite3 Database, one HGETALL on the same ioredis client, `SELECT * FROM
// <table> WHERE id = ?` on the same mysql2 pool (MariaDB). Each store runs in
// a child process of its own (one adapter per isolate, like a server), raw and keymint phases
// alternating within it. Target: keymint at least 0.8 × the raw lookup's rate on each store.
//
//   node bench/cold-path.mjs [--quick] [--store sqlite|postgres|redis|mysql]   (prints the rows)
import * as crypto from 'node:crypto';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { median } from './measure.mjs';
import { fmtInt } from './report.mjs';
import { MYSQL_ENV, POSTGRES_ENV, REDIS_ENV } from './subjects.mjs';

const here = fileURLToPath(import.meta.url);
const KEYS = 2_000;
const CALLERS = 32;
const TARGET = 0.8;
const STORES = [
  { store: 'postgres', name: 'PostgreSQL', env: POSTGRES_ENV, raw: 'SELECT * ... WHERE id = $1' },
  { store: 'sqlite', name: 'SQLite', raw: 'prepared SELECT * ... WHERE id = ?' },
  { store: 'redis', name: 'Redis', env: REDIS_ENV, raw: 'HGETALL' },
  { store: 'mysql', name: 'MariaDB', env: MYSQL_ENV, raw: 'SELECT * ... WHERE id = ?' },
];

const asReceived = (key) => Buffer.from(key, 'latin1').toString('latin1');

/** Set-up in the child: the store, its raw lookup by id, and a keymint instance over it. */
export async function setUp(store, cleanup) {
  const { createKeymint, hmacSha256Hasher } = await import('keymint');
  const unique = `${process.pid}_${crypto.randomBytes(4).toString('hex')}`;
  let adapter;
  let raw;
  if (store === 'postgres') {
    const { default: pg } = await import('pg');
    const { migrate, postgresAdapter } = await import('keymint/adapters/postgres');
    const pool = new pg.Pool({
      connectionString: process.env[POSTGRES_ENV],
      connectionTimeoutMillis: 5_000,
      statement_timeout: 4_000,
      query_timeout: 5_000,
    });
    cleanup.push(() => pool.end());
    const table = `keymint_cold_${unique}`;
    await migrate(pool, { table });
    cleanup.push(() => pool.query(`DROP TABLE IF EXISTS "${table}"`));
    adapter = postgresAdapter(pool, { table });
    const text = `SELECT * FROM "${table}" WHERE id = $1`;
    raw = async (id) => (await pool.query(text, [id])).rows[0];
  } else if (store === 'sqlite') {
    const { default: Database } = await import('better-sqlite3');
    const { migrate, sqliteAdapter } = await import('keymint/adapters/sqlite');
    const dir = await mkdtemp(path.join(tmpdir(), 'keymint-cold-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    const db = new Database(path.join(dir, 'keymint.db'));
    cleanup.push(() => db.close());
    migrate(db);
    adapter = sqliteAdapter(db);
    const find = db.prepare('SELECT * FROM "keymint_api_keys" WHERE id = ?');
    raw = async (id) => find.get(id);
  } else if (store === 'mysql') {
    const { default: mysql } = await import('mysql2/promise');
    const { migrate, mysqlAdapter } = await import('keymint/adapters/mysql');
    const pool = mysql.createPool({
      uri: process.env[MYSQL_ENV],
      connectTimeout: 5_000,
      connectionLimit: 10,
    });
    cleanup.push(() => pool.end());
    const table = `keymint_cold_${unique}`;
    await migrate(pool, { table });
    cleanup.push(() =>
      pool.query(
        `DROP TABLE IF EXISTS \`${table}\`, \`${table}_changes\`, \`${table}_failures\`, \`${table}_migrations\``,
      ),
    );
    adapter = mysqlAdapter(pool, { table });
    const text = `SELECT * FROM \`${table}\` WHERE id = ?`;
    raw = async (id) => (await pool.query(text, [id]))[0][0];
  } else {
    const { Redis } = await import('ioredis');
    const { redisAdapter } = await import('keymint/adapters/redis');
    const client = new Redis(process.env[REDIS_ENV], {
      maxRetriesPerRequest: 1,
      commandTimeout: 1_000,
      lazyConnect: true,
    });
    await client.connect();
    cleanup.push(() => client.quit());
    const prefix = `keymint-cold:${unique}:`;
    cleanup.push(async () => {
      const keys = await client.keys(`${prefix}*`);
      for (let i = 0; i < keys.length; i += 500) await client.del(...keys.slice(i, i + 500));
    });
    adapter = redisAdapter(client, { prefix });
    raw = async (id) => {
      const fields = await client.hgetall(`${prefix}key:${id}`);
      return fields.id === undefined ? undefined : fields;
    };
  }
  const keymint = createKeymint({
    adapter,
    hasher: hmacSha256Hasher(crypto.randomBytes(48)),
    cache: false,
  });
  cleanup.push(() => keymint.close());
  const keys = [];
  const ids = [];
  for (let i = 0; i < KEYS; i += 100) {
    const batch = Array.from({ length: Math.min(100, KEYS - i) }, (_, j) =>
      keymint.createApiKey({ name: `cold-${i + j}`, role: 'Viewer', ttl: '1d' }),
    );
    for (const { key, apiKey } of await Promise.all(batch)) {
      keys.push(asReceived(key));
      ids.push(asReceived(apiKey.id));
    }
  }
  return { keymint, keys, ids, raw };
}

/**
 * Operations per second of `CALLERS` loops calling `call(i)` over 0..KEYS-1 for `ms`; `cpu`, when
 * given, gets this process's CPU time per operation in µs pushed.
 */
export async function rate(call, check, ms, cpu) {
  let next = 0;
  let done = 0;
  const until = performance.now() + ms;
  const cpuAt = process.cpuUsage();
  const start = performance.now();
  await Promise.all(
    Array.from({ length: CALLERS }, async () => {
      while (performance.now() < until) {
        const i = next++ % KEYS;
        check(await call(i));
        done++;
      }
    }),
  );
  const elapsed = performance.now() - start;
  const used = process.cpuUsage(cpuAt);
  cpu?.push((used.user + used.system) / done);
  return done / (elapsed / 1000);
}

async function child(store, { rounds, ms }) {
  const cleanup = [];
  try {
    const { keymint, keys, ids, raw } = await setUp(store, cleanup);
    const verify = (i) => keymint.verifyKey(keys[i]);
    const valid = (r) => {
      if (r?.valid !== true) throw new Error(`expected valid, got ${JSON.stringify(r)}`);
    };
    const found = (row) => {
      if (row === undefined) throw new Error('raw lookup: no row');
    };
    const lookup = (i) => raw(ids[i]);
    // First contact: every key verified once, CALLERS at a time, as on a server that has been up
    // a while. A process's first verification of a key reserves a place in the store's
    // wrong-secret window and gives it back (rateLimit.shared: two writes; later ones skip them,
    // as this process then holds the proof of that key). Its time per key is reported apart.
    const firstAt = performance.now();
    for (let i = 0; i < KEYS; i += CALLERS) {
      const batch = keys.slice(i, i + CALLERS);
      for (const result of await Promise.all(batch.map((key) => keymint.verifyKey(key)))) {
        valid(result);
      }
    }
    const firstContactUs = ((performance.now() - firstAt) * 1000) / KEYS;
    // Warm-up: both paths JIT-compiled, the last-used writes of the first verifications done.
    await rate(lookup, found, ms);
    await rate(verify, valid, ms);
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    const perRound = [];
    for (let round = 0; round < rounds; round++) {
      const result = {};
      const order = round % 2 === 0 ? ['raw', 'keymint'] : ['keymint', 'raw'];
      for (const side of order) {
        const cpu = [];
        result[side] =
          side === 'raw' ? await rate(lookup, found, ms, cpu) : await rate(verify, valid, ms, cpu);
        result[`${side}CpuUs`] = cpu[0];
      }
      perRound.push(result);
    }
    return { perRound, firstContactUs };
  } finally {
    for (const step of cleanup.reverse()) await step();
  }
}

function runChild(store, quick) {
  return new Promise((resolve, reject) => {
    const args = [here, '--child', store, ...(quick ? ['--quick'] : [])];
    const proc = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout.on('data', (chunk) => (out += chunk));
    proc.on('error', reject);
    proc.on('exit', (code) =>
      code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`${store}: exit ${code}`)),
    );
  });
}

// Many short rounds: on a shared machine, load comes and goes within a second.
const config = (quick) => (quick ? { rounds: 3, ms: 250 } : { rounds: 9, ms: 600 });

/**
 * `{ rows, targets }`: a row per store (ns/op: keymint's time per verification at 32 callers;
 * ratio column: keymint's rate / the raw lookup's, median over rounds). `skip(env)` says why a
 * store is not measured (no server), or undefined.
 */
export async function coldPathScenario({ quick = false, stores, skip = () => undefined } = {}) {
  const rows = [];
  const targets = [];
  for (const s of STORES) {
    if (stores && !stores.includes(s.store)) continue;
    const name = `verifyKey cold path, hmac, ${s.name}, ${CALLERS} callers × ${fmtInt(KEYS)} keys`;
    const skipped = s.env ? skip(s.env) : undefined;
    if (skipped) {
      rows.push({ id: `cold-path-${s.store}`, name, group: 'keymint', skipped, note: skipped });
      targets.push({ row: name, text: `≥ ${TARGET}× raw`, value: '-', status: 'SKIP' });
      continue;
    }
    const { perRound, firstContactUs } = await runChild(s.store, quick);
    const ratios = perRound.map((r) => r.keymint / r.raw);
    const ratio = median(ratios);
    const keymintOps = median(perRound.map((r) => r.keymint));
    const rawOps = median(perRound.map((r) => r.raw));
    const cpu = (side) => median(perRound.map((r) => r[`${side}CpuUs`])).toFixed(1);
    const status = ratio >= TARGET ? 'PASS' : 'FAIL';
    const text = `≥ ${TARGET}× ${s.raw}`;
    const value = `${ratio.toFixed(2)}×`;
    rows.push({
      id: `cold-path-${s.store}`,
      name,
      group: 'keymint',
      ns: 1e9 / keymintOps,
      ops: keymintOps,
      ratio,
      target: `${text}: ${value} ${status}`,
      status,
      note:
        `cache: false; ratio column: keymint / raw ${s.raw} through the same client ` +
        `(${fmtInt(rawOps)} ops/s), median of ${perRound.length} rounds; ` +
        `CPU of this process per operation: keymint ${cpu('keymint')} µs, raw ${cpu('raw')} µs; ` +
        `first contact (each key's first verification in the process, before the rounds): ` +
        `${fmtInt(firstContactUs)} µs per key; ` +
        `per round: ${ratios.map((r) => r.toFixed(2)).join(', ')}`,
    });
    targets.push({ row: name, text, value, status });
  }
  return { rows, targets };
}

if (process.argv[1] === here) {
  const { values: args } = parseArgs({
    options: {
      child: { type: 'string' },
      store: { type: 'string', multiple: true },
      quick: { type: 'boolean' },
    },
  });
  if (args.child) {
    const measured = await child(args.child, config(args.quick === true));
    process.stdout.write(JSON.stringify(measured));
  } else {
    const { rows, targets } = await coldPathScenario({
      quick: args.quick === true,
      stores: args.store,
      skip: (env) => (process.env[env] ? undefined : `skipped: no server (${env} is not set)`),
    });
    for (const row of rows) {
      console.log(`${row.name}: ${row.skipped ?? `${fmtInt(row.ops)} ops/s; ${row.note}`}`);
    }
    for (const t of targets) console.log(`${t.status}: ${t.row}: ${t.text} (${t.value})`);
  }
}
