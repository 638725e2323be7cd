// npm run bench: verifyKey's figures next to a floor measured in the same run, with peers and
// targets. `--quick` (or BENCH_QUICK=1) for a short smoke run; `--write` also writes
// docs/benchmarks.md and docs/benchmarks.svg. Run through `npm run bench`, which builds the
// package and starts throwaway PostgreSQL and Redis servers (scripts/services.mjs), with node
// --expose-gc for the heap figures.
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { median, SubjectWorker } from './measure.mjs';
import { buildRows, machine, markdownTable, svgChart, textTable } from './report.mjs';
import { concurrentFirstVerifications, wrongSecretFlood } from './scenarios.mjs';
import { herdRows, herdScenario } from './herd.mjs';
import { coldPathScenario } from './cold-path.mjs';
import { otelScenario } from './otel.mjs';
import { limitsScenario } from './limits.mjs';
import { memoryRows, memoryScenario } from './memory.mjs';
import { steadyStateRows, steadyStateScenario } from './steady-state.mjs';
import { httpRows, httpScenario } from './http.mjs';
import { sqlitePollRows } from './sqlite-poll.mjs';
import { isCI } from '../scripts/test-env.mjs';
import { POSTGRES_ENV, REDIS_ENV, SUBJECTS, versionOf } from './subjects.mjs';

const { values: args } = parseArgs({
  // --only herd|cold-path|otel: just that section's rows (bench/herd.mjs, bench/cold-path.mjs,
  // bench/otel.mjs).
  options: { quick: { type: 'boolean' }, write: { type: 'boolean' }, only: { type: 'string' } },
});
const QUICK = args.quick === true || process.env.BENCH_QUICK === '1';
const CONFIG = QUICK
  ? { rounds: 2, timeMs: 350, warmupMs: 100, firstRounds: 3, floodMs: 2_000 }
  : { rounds: 5, timeMs: 800, warmupMs: 150, firstRounds: 7, floodMs: 3_000 };
const HEAP_FLAT_BYTES = 1024 * 1024;
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const log = (text) => process.stderr.write(`bench: ${text}\n`);

if (typeof globalThis.gc !== 'function') {
  log('warning: run node with --expose-gc (npm run bench does) for the heap figures');
}

const startedAt = performance.now();

/** Why a row that needs the server `env` names is not measured, or undefined (fails under CI). */
function noServer(env) {
  if (process.env[env]) return undefined;
  if (isCI()) throw new Error(`${env} is not set (CI=true)`);
  return 'skipped: no server';
}
let exitCode = 0;
try {
  const info = machine(root);
  log(`${QUICK ? 'quick' : 'full'} run on ${info.cpu}, node ${info.node}`);
  const subjects = SUBJECTS.map(({ id, name, group, env }) => {
    if (!env || process.env[env]) return { id, name, group };
    if (isCI()) throw new Error(`${name}: ${env} is not set (CI=true)`);
    log(`${name}: skipped, no server (${env} is not set)`);
    return { id, name, group, skipped: 'skipped: no server' };
  });
  const measured = subjects.filter((s) => !s.skipped);
  if (args.only === 'otel') {
    log('warm verify with @opentelemetry/api and no SDK, against without it (bench/otel.mjs)');
    const otel = await otelScenario({ quick: QUICK });
    for (const row of otel.rows) console.log(row);
    for (const t of otel.targets) console.log(`${t.status}: ${t.row}: ${t.text} (${t.value})`);
    process.exit(otel.targets.some((t) => t.status === 'FAIL') ? 1 : 0);
  }
  if (args.only === 'limits') {
    log('per-key rate limit rows only (bench/limits.mjs)');
    const limits = await limitsScenario({ quick: QUICK });
    for (const row of limits.rows) console.log(row);
    for (const t of limits.targets) console.log(`${t.status}: ${t.row}: ${t.text} (${t.value})`);
    process.exit(limits.targets.some((t) => t.status === 'FAIL') ? 1 : 0);
  }
  const sections = {
    herd: async () => herdRows(await herdScenario({ quick: QUICK })),
    'cold-path': () => coldPathScenario({ quick: QUICK, skip: noServer }),
  };
  // --only warm / memory / steady / http: just that section (the warm row against the floor,
  // bench/memory.mjs, bench/steady-state.mjs, bench/http.mjs); they report lines, not table rows.
  const lineSections = {
    warm: () => warmRows(),
    memory: async () => memoryRows(await memoryScenario({ quick: QUICK })),
    steady: async () => steadyStateRows(await steadyStateScenario({ quick: QUICK })),
    http: async () => httpRows(await httpScenario({ quick: QUICK })),
  };
  /**
   * --only warm: the floor and the warm memory row alone, alternating in fresh workers round
   * after round (as in the full run), the ratio taken per round and its median reported.
   */
  async function warmRows() {
    const pair = ['floor', 'warm-memory'].map((id) => SUBJECTS.find((s) => s.id === id));
    const rounds = QUICK ? 3 : 9;
    const ratios = [];
    const ns = { floor: [], 'warm-memory': [] };
    for (let round = 0; round < rounds; round++) {
      const got = {};
      for (let i = 0; i < pair.length; i++) {
        const subject = pair[(i + round) % pair.length];
        const worker = await SubjectWorker.start(subject);
        try {
          got[subject.id] = await worker.run(CONFIG);
        } finally {
          await worker.close();
        }
        ns[subject.id].push(got[subject.id]);
      }
      ratios.push(got.floor / got['warm-memory']);
    }
    const ratio = median(ratios);
    return {
      lines: [
        `warm (one key, hmac, memory): ${median(ns['warm-memory']).toFixed(0)} ns, floor ${median(ns.floor).toFixed(0)} ns; ${ratio.toFixed(2)} x the floor (median of ${rounds} per-round ratios, ${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)})`,
      ],
      targets: [
        {
          row: 'warm, one key',
          text: 'at least 0.72 x the floor (aim 0.8)',
          value: `${ratio.toFixed(2)} x`,
          status: ratio >= 0.72 ? 'PASS' : 'FAIL',
        },
      ],
    };
  }
  if (args.only !== undefined) {
    const names = [...Object.keys(sections), ...Object.keys(lineSections), 'otel', 'limits'];
    if (!(args.only in sections) && !(args.only in lineSections)) {
      throw new Error(`--only takes: ${names.join(', ')}`);
    }
    log(`${args.only} rows only`);
    if (args.only in lineSections) {
      const { lines, targets } = await lineSections[args.only]();
      for (const line of lines) console.log(line);
      for (const t of targets) console.log(`${t.status}: ${t.row}: ${t.text} (${t.value})`);
      process.exit(0);
    }
    const { rows, targets } = await sections[args.only]();
    console.log(`\n${textTable(rows)}`);
    for (const t of targets) console.log(`${t.status}: ${t.row}: ${t.text} (${t.value})`);
    process.exit(0);
  }

  log(
    `${measured.length} rows × ${CONFIG.rounds} rounds of ~${CONFIG.timeMs} ms, a fresh worker each`,
  );
  const perRound = new Map(measured.map((s) => [s.id, []]));
  for (let round = 0; round < CONFIG.rounds; round++) {
    // All rows in each round, in a rotated order: drift on a shared machine spreads over all.
    for (let i = 0; i < measured.length; i++) {
      const subject = measured[(i + round) % measured.length];
      const worker = await SubjectWorker.start(subject);
      try {
        perRound.get(subject.id).push(await worker.run(CONFIG));
        subject.note ??= worker.note;
      } finally {
        await worker.close();
      }
    }
    log(`round ${round + 1}/${CONFIG.rounds} done`);
  }
  const medians = new Map();
  const spreads = new Map();
  for (const [id, values] of perRound) {
    const m = median(values);
    medians.set(id, m);
    if (values.length > 1) {
      const spread = (Math.max(...values) - Math.min(...values)) / 2 / m;
      spreads.set(id, `rounds ±${(spread * 100).toFixed(spread < 0.1 ? 1 : 0)}%`);
    }
  }

  log(`64 concurrent first verifications vs one, ${CONFIG.firstRounds} rounds`);
  const concurrent = await concurrentFirstVerifications({ rounds: CONFIG.firstRounds });
  log(`wrong-secret flood for ${CONFIG.floodMs / 1000} s`);
  const flood = await wrongSecretFlood({ durationMs: CONFIG.floodMs });

  const { rows, targets } = buildRows({
    subjects,
    medians,
    spreads,
    concurrent,
    flood,
    heapFlatBytes: HEAP_FLAT_BYTES,
  });
  log(`herd: ${QUICK ? 200 : 1000} distinct keys at once on fresh instances`);
  const herd = herdRows(await herdScenario({ quick: QUICK }));
  rows.push(...herd.rows);
  targets.push(...herd.targets);
  log(
    'cold path: cache off, 32 callers over 2,000 keys, against the raw lookup (bench/cold-path.mjs)',
  );
  const cold = await sections['cold-path']();
  rows.push(...cold.rows);
  targets.push(...cold.targets);
  log('warm SQLite with the change-log poll on and off');
  const poll = await sqlitePollRows({ ...CONFIG, floorNs: medians.get('floor') });
  rows.push(...poll.rows);
  targets.push(poll.target);
  log('warm verify with @opentelemetry/api and no SDK, against without it (bench/otel.mjs)');
  const otel = await otelScenario({ quick: QUICK });
  targets.push(...otel.targets);
  log('warm verify with a per-key rate limit vs a raw round trip (bench/limits.mjs)');
  const limits = await limitsScenario({ quick: QUICK });
  targets.push(...limits.targets);
  const extraLines = [];
  for (const [name, run] of Object.entries(lineSections)) {
    if (name === 'warm') continue; // the table's warm row, measured above
    log(`${name} rows (bench/${name === 'steady' ? 'steady-state' : name}.mjs)`);
    const section = await run();
    extraLines.push(...section.lines);
    targets.push(...section.targets);
  }
  const seconds = (performance.now() - startedAt) / 1000;
  const mode = QUICK ? 'quick' : 'full';
  const header =
    `keymint benchmark (${mode} run, ${seconds.toFixed(0)} s): ${info.cpu}, ${info.os}, ` +
    `load ${info.load}, node ${info.node}, commit ${info.commit ?? 'unknown'}, ${info.date}. Median of ${CONFIG.rounds} rounds (tinybench, ~${CONFIG.timeMs} ms per row per round).`;
  console.log(`\n${header}\n`);
  console.log(textTable(rows));
  for (const row of otel.rows) console.log(row);
  for (const row of limits.rows) console.log(row);
  for (const line of extraLines) console.log(line);
  const failed = targets.filter((t) => t.status === 'FAIL');
  console.log(
    `\ntargets: ${targets.length - failed.length}/${targets.length} met` +
      (failed.length ? `; missed: ${failed.map((t) => `${t.row} (${t.text})`).join(', ')}` : ''),
  );

  if (args.write) {
    await writeDocs({
      info,
      mode,
      seconds,
      rows,
      targets,
      lines: [...otel.rows, ...limits.rows, ...extraLines],
    });
    log('wrote docs/benchmarks.md and docs/benchmarks.svg');
  }
} catch (error) {
  console.error(error);
  exitCode = 1;
}
log(`done in ${((performance.now() - startedAt) / 1000).toFixed(1)} s`);
process.exitCode = exitCode;
// Anything still open (a client a failed set-up never closed) must not keep the run alive.
setTimeout(() => {
  log('still running 5 s after the end: exiting');
  process.exit(exitCode);
}, 5_000).unref();

async function writeDocs({ info, mode, seconds, rows, targets, lines }) {
  const subtitle = `${info.cpu}, node ${info.node}, ${info.date.slice(0, 10)} (${mode} run)`;
  const svg = svgChart(rows, {
    title: 'keymint verifyKey and peers: operations per second',
    subtitle,
  });
  const targetLines = targets.map((t) => `- ${t.status}: ${t.row}: ${t.text} (${t.value})`);
  const c = CONFIG;
  const markdown = `# Benchmarks

Measured with \`npm run bench -- --write\` (${mode} run, ${seconds.toFixed(0)} s) on:

- CPU: ${info.cpu}
- OS: ${info.os}, ${info.memory} of memory
- Load average when the run started: ${info.load}
- Node.js: ${info.node}
- keymint: commit ${info.commit ?? 'unknown'}
- Date: ${info.date}

![Operations per second of each row, log scale](benchmarks.svg)

## Results

${markdownTable(rows)}

- **median ns/op**: the median over ${c.rounds} rounds of each round's median sample.
- **ops/s**: 10⁹ / median ns/op.
- **ratio to floor**: the floor's median ns/op divided by the row's: higher is faster, 1.0 is as
  fast as the floor. Every row is measured in the same run as the floor.

## Rows outside the table

Measured in the same run, after the table: OpenTelemetry (bench/otel.mjs), per-key rate limits
(bench/limits.mjs), memory and warm over many keys (bench/memory.mjs), steady state
(bench/steady-state.mjs) and HTTP (bench/http.mjs). Their method is in each file's header.

${lines.map((line) => `- ${line}`).join('\n')}

## Targets

${targetLines.join('\n')}

## Method

- Every row runs in a worker thread of its own, made afresh in every round: a V8 isolate with
  one keymint instance, like a server process. In one shared isolate, the other rows' instances
  (other adapters, hashers and options) make keymint's call sites polymorphic, and warm verifyKey
  measured 1.5 to 2 times slower. A fresh isolate per round also lets the median over rounds
  absorb the JIT's variation from one isolate to the next. Only one row runs at a time.
- [tinybench](https://github.com/tinylibs/tinybench) ${versionOf('tinybench')} runs each row
  in each of the ${c.rounds} rounds, for about ${c.timeMs} ms after a ${c.warmupMs} ms warm-up.
  Each round runs every row, in a rotated order, so that drift on a shared machine spreads over
  all of them.
- Each tinybench sample times a batch of calls and records the mean per call. Batches are sized
  at start-up to take about 100 µs: one call for argon2id, up to 1,000 calls for the fastest
  rows. This keeps tinybench's own cost per sample out of sub-microsecond figures.
- Every call is awaited, except in the row marked synchronous, and every result is checked: a
  valid key, or the expected reason.
- **floor**: SHA-256 of the presented key and a \`Map.get\` that finds it, in an async function:
  the least that any design that hashes the presented key and looks it up must do. SHA-256 is
  Node's one-shot \`crypto.hash()\` with a latin1 digest, as keymint's own cache uses; on Node
  before 20.12, \`createHash()\`. The synchronous variant is shown for transparency; ratios use
  the async floor.
- **warm**: the same key, verified again and again, is answered by the cache, with
  \`cache: { ttl: '30s', maxEntries: 10000 }\` (the defaults before issue 12 raised maxEntries to 20,000). The hasher is
  hmacSha256Hasher, except in the row marked argon2id. SQLite is better-sqlite3 with default settings, on a file in a temporary directory.
  PostgreSQL and Redis are throwaway servers on loopback, started by \`scripts/services.mjs\`, or
  the servers that \`${POSTGRES_ENV}\` and \`${REDIS_ENV}\` name.
- **cold**: \`cache: false\`, so every verification runs the hasher: argon2id with its default
  key parameters (256 KiB, t=8, p=1), or HMAC-SHA-256.
- **herd** (bench/herd.mjs): in each of ${QUICK ? 1 : 5} rounds, ${QUICK ? 200 : 1000} distinct
  valid keys are verified at once on a fresh instance with default options, and again on a fresh
  instance that verified one key first (so its hashing queue has measured a mean). Just before
  and just after each herd, one argon2id verification with the herd's own parameters (checked
  against the stored hashes) is timed back to back (the median of ${QUICK ? 20 : 50}); the
  physical bound is keys × the mean of the two / the hashes that can run at once (the hashing
  concurrency, at most the cores: the default concurrency is one more than the cores, and a
  machine runs no more hashes at once than it has cores). The target: 0 busy,
  all valid, and wall time at most 1.25 × that bound (the round with the median ratio). The note
  also gives the same number of verifications run straight through argon2, concurrency at a
  time, in the same round (what the machine actually allowed), and the load average. The OWASP
  row is the same herd, smaller, with \`ARGON2ID_OWASP_PARAMETERS\`; the "earlier key parameters"
  row the same herd with 2 MiB, t=1 (the default before 256 KiB, t=8). Each note gives this
  process's CPU time per key during the herd, which a loaded machine stretches least. ${QUICK ? '' : 'Then, once each, a herd of 6,000 keys (past the default queue cap of 5,000) on a fresh and on a measured instance: the excess must get busy with a Retry-After hint, the rest valid.'}
- **cold path** (bench/cold-path.mjs): one child process per store, \`cache: false\`,
  hmacSha256Hasher, 32 concurrent callers going round 2,000 keys; in ${QUICK ? 3 : 9} alternating
  rounds of ${QUICK ? 250 : 600} ms, keymint's verifyKey and the plain lookup by id through the
  same client (PostgreSQL: \`SELECT * FROM <table> WHERE id = $1\` on the same pg.Pool; SQLite:
  a prepared \`SELECT * ... WHERE id = ?\` on the same Database; Redis: HGETALL on the same ioredis
  client). The ratio column is keymint's rate over the plain lookup's (median of the rounds'
  ratios); the target is at least 0.8. The note also gives this process's CPU time per operation
  of each side. Before the rounds every key is verified once (first contact: with the store's
  wrong-secret counter, a process's first verification of a key reserves a place in the key's
  window and gives it back, two writes); its time per key is in the note, the rounds measure
  what follows.
- **Keys are presented as a server receives them**: flat strings decoded from bytes, as Node's
  HTTP parser produces, for every row including the floor and the peers. The string that
  \`createApiKey\` returns is built by concatenation (a V8 "cons" string), and V8 reads the
  characters of such strings much more slowly from code that has also seen flat ones.
- **malformed**: a real key with its last character changed (a bad checksum), once for a key of
  an id this process never verified and once for the key it verifies (its id is in the cache),
  and 50 random base62 characters. None reaches the store or the hasher. keymint checks a key's
  shape first (length, prefix, underscores: the random row stops there), then, for an id it has
  cached, the SHA-256 digest (a hit is the fast path of a valid key), and the checksum otherwise
  or after a miss. A bad checksum on a cached id therefore costs a SHA-256 and the checksum; this
  is the price of a warm path without the checksum (see docs/performance.md).
- **createApiKey**: on a memory adapter, replaced by a fresh one every 20,000 keys.
- **better-auth**: \`apiKey()\` from @better-auth/api-key on better-auth's memory adapter
  (versions: better-auth ${versionOf('better-auth')}, @better-auth/api-key
  ${versionOf('@better-auth/api-key')}). One user, one key, then
  \`auth.api.verifyApiKey({ body: { key } })\`, each result checked to be valid. The only change
  to its defaults is \`rateLimit: { enabled: false }\`: by default the plugin allows 10
  verifications of a key per day and refuses the 11th, so a benchmark would measure refusals. It
  still writes the key's \`lastRequest\` and \`updatedAt\` on every verification (its defaults
  \`storage: 'database'\` and \`deferUpdates: false\`).
- **prefixed-api-key** (version ${versionOf('prefixed-api-key')}):
  \`checkAPIKey(token, longTokenHash)\`, a SHA-256 and a constant-time compare. It does no
  store lookup: the caller does that.
- The last three rows run in the main thread, after the others:
  - **first, fresh instance** and **×64 concurrent, first**: in each round (${c.firstRounds}
    rounds), a fresh instance (argon2id default hasher, cache on) over a memory adapter that holds
    the key verifies it once, and another fresh instance verifies it 64 times at once. The
    table shows the median wall times (for the concurrent row, of all 64 together); the target
    is at most 3 times the single verification.
  - **during 1,000 wrong secrets/s**: one key on a memory adapter, with the argon2id default
    hasher, the cache on and \`rateLimit: { failures: 10, window: '1m' }\` (the defaults).
    For ${c.floodMs / 1000} s, 1,000 attempts per second present the key's id with a valid
    checksum and a fresh random secret, while one loop verifies the real key continuously,
    yielding to the event loop between calls. The row shows the valid calls' median latency.
    The targets: their p99 under 1 ms, and heapUsed growing by less than ${HEAP_FLAT_BYTES / 1024 / 1024} MiB (measured after
    a full GC, before the flood and once every attempt has settled).

## Reproduce

\`\`\`sh
npm ci
npm run bench                 # full run, about 2 minutes; prints the table
npm run bench -- --quick      # smoke run, under a minute (or BENCH_QUICK=1)
npm run bench -- --write      # also rewrites this file and benchmarks.svg
\`\`\`

The PostgreSQL and Redis rows need the servers' binaries (\`node scripts/services.mjs check\`).
Without them those rows print "skipped: no server", except under \`CI=true\`, where the run
fails. The targets are reported, not enforced: a missed target does not fail the run.

Figures move between runs, with the machine's load and with the JIT's choices in each isolate;
the rounds' spread in the notes shows how much within a run. A target close to its threshold
can pass in one run and fail in the next: compare runs by their ratios to the floor.
`;
  const prettier = await import('prettier');
  const file = path.join(root, 'docs/benchmarks.md');
  const config = (await prettier.resolveConfig(file)) ?? {};
  // proseWrap 'always' evens out the lines around interpolated values; the repository's own
  // check (proseWrap 'preserve') accepts any wrapping.
  const formatted = await prettier.format(markdown, {
    ...config,
    filepath: file,
    proseWrap: 'always',
  });
  await writeFile(file, formatted);
  await writeFile(path.join(root, 'docs/benchmarks.svg'), svg);
}
