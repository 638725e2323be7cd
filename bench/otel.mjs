// Bench row: warm verifyKey with @opentelemetry/api installed and no SDK registered, against the
// same without the API (hidden by bench/otel-hide.cjs). Each side runs in its own process, in
// alternating rounds; each side reports its best of 5 windows, the figure is the median ratio of
// the rounds, target >= 0.95.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));

const CHILD = `
import { createKeymint } from ${JSON.stringify(path.join(here, '..', 'dist', 'index.js'))};
import { memoryAdapter } from ${JSON.stringify(path.join(here, '..', 'dist', 'adapters', 'memory.js'))};
const keymint = createKeymint({ adapter: memoryAdapter() });
const { key } = await keymint.createApiKey({ name: 'bench', role: 'Viewer', ttl: '1h' });
await keymint.verifyKey(key);
const ms = Number(process.env.OTEL_BENCH_MS);
for (let i = 0; i < 20_000; i++) await keymint.verifyKey(key);
// The best of 5 windows: on a shared machine, a window another process slowed down is dropped,
// on both sides alike.
let best = 0;
for (let window = 0; window < 5; window++) {
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < ms / 5) {
    for (let i = 0; i < 1_000; i++) await keymint.verifyKey(key);
    n += 1_000;
  }
  best = Math.max(best, n / ((performance.now() - start) / 1000));
}
process.stdout.write(String(best));
await keymint.close();
`;

function runSide(hidden, ms) {
  const args = hidden ? ['--require', path.join(here, 'otel-hide.cjs')] : [];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...args, '--input-type=module', '-e', CHILD], {
      env: { ...process.env, OTEL_BENCH_MS: String(ms) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(Number(out)) : reject(new Error(`exit ${code}`)),
    );
  });
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** `{ rows, targets }` in the shape bench/run.mjs prints. */
export async function otelScenario({ quick = false } = {}) {
  const rounds = quick ? 5 : 9;
  const ms = quick ? 500 : 1_000;
  const ratios = [];
  const withApi = [];
  const without = [];
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? [false, true] : [true, false];
    const result = {};
    for (const hidden of order) result[hidden] = await runSide(hidden, ms);
    withApi.push(result[false]);
    without.push(result[true]);
    ratios.push(result[false] / result[true]);
  }
  const ratio = median(ratios);
  return {
    rows: [
      `warm verify, no @opentelemetry/api: ${Math.round(median(without))} ops/s`,
      `warm verify, @opentelemetry/api, no SDK: ${Math.round(median(withApi))} ops/s (${ratio.toFixed(3)} x)`,
    ],
    targets: [
      {
        status: ratio >= 0.95 ? 'ok' : 'FAIL',
        row: 'warm verify with the OTel API and no SDK',
        text: 'at least 0.95 x without the API',
        value: `${ratio.toFixed(3)} x`,
      },
    ],
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { rows, targets } = await otelScenario({ quick: process.argv.includes('--quick') });
  for (const row of rows) console.log(row);
  for (const t of targets) console.log(`${t.status}: ${t.row}: ${t.text} (${t.value})`);
}
