// Issue 12's HTTP rows: Fastify, Express and Hono, each with keymint's requireApiKey on a hello
// route, against the same framework with a hand-written SHA-256 + Map check of the Bearer header,
// and against no check at all. autocannon on loopback; each server runs in a child process of
// its own, so the load generator does not share its event loop. Besides requests per second, each
// window records the CPU time the server process spent per request (process.cpuUsage() in the
// child, read before and after the window): on a shared machine another session's load moves a
// window's rate a lot more than it moves the server's own cost per request.
import { fork } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { median } from './measure.mjs';
import { fmtInt } from './report.mjs';
import { sha256 } from './subjects.mjs';

const SELF = fileURLToPath(import.meta.url);
const FRAMEWORKS = ['fastify', 'express', 'hono'];
const MODES = ['keymint', 'hand', 'none'];
/**
 * The order of the windows, round after round: keymint and the hand-written check always in
 * adjacent windows (their ratio is the target), each of them first as often as the other, and the
 * no-check window before the pair as often as after it.
 */
const ORDERS = [
  ['keymint', 'hand', 'none'],
  ['hand', 'keymint', 'none'],
  ['none', 'keymint', 'hand'],
  ['none', 'hand', 'keymint'],
];
export const MIN_HTTP_RATIO = 0.95;

/** In the child: one server, framework × mode; sends { port, key } to the parent. */
async function serve(framework, mode) {
  const { createKeymint, hmacSha256Hasher } = await import('keymint');
  const { memoryAdapter } = await import('keymint/adapters/memory');
  const keymint = createKeymint({
    adapter: memoryAdapter(),
    hasher: hmacSha256Hasher('http-bench-secret-of-at-least-32-bytes!!'),
  });
  const { key } = await keymint.createApiKey({ name: 'http', role: 'Viewer', ttl: '1d' });
  const known = new Map([[sha256(key), { name: 'http' }]]);
  /** The hand-written check: Bearer token, its SHA-256, a Map lookup. */
  const handCheck = (header) => {
    if (typeof header !== 'string' || !header.startsWith('Bearer ')) return undefined;
    return known.get(sha256(header.slice(7)));
  };
  let port;
  if (framework === 'fastify') {
    const { default: Fastify } = await import('fastify');
    const { requireApiKey } = await import('keymint/fastify');
    const app = Fastify();
    app.decorateRequest('apiKey', undefined);
    const hello = () => ({ hello: 'world' });
    if (mode === 'keymint') app.get('/', { onRequest: requireApiKey(keymint) }, hello);
    else if (mode === 'hand') {
      const onRequest = async (request, reply) => {
        if (!handCheck(request.headers.authorization)) {
          return reply.code(401).send({ message: 'unauthorized' });
        }
      };
      app.get('/', { onRequest }, hello);
    } else app.get('/', hello);
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = app.server.address().port;
  } else if (framework === 'express') {
    const { default: express } = await import('express');
    const { requireApiKey } = await import('keymint/express');
    const app = express();
    const hello = (req, res) => res.json({ hello: 'world' });
    if (mode === 'keymint') app.get('/', requireApiKey(keymint), hello);
    else if (mode === 'hand') {
      const check = (req, res, next) => {
        if (!handCheck(req.headers.authorization)) {
          return res.status(401).json({ message: 'unauthorized' });
        }
        next();
      };
      app.get('/', check, hello);
    } else app.get('/', hello);
    port = await new Promise((resolve) => {
      const server = app.listen(0, '127.0.0.1', () => resolve(server.address().port));
    });
  } else {
    const { Hono } = await import('hono');
    const { serve: honoServe } = await import('@hono/node-server');
    const { requireApiKey } = await import('keymint/hono');
    const app = new Hono();
    const hello = (c) => c.json({ hello: 'world' });
    if (mode === 'keymint') app.get('/', requireApiKey(keymint), hello);
    else if (mode === 'hand') {
      app.get(
        '/',
        async (c, next) => {
          if (!handCheck(c.req.header('authorization'))) {
            return c.json({ message: 'unauthorized' }, 401);
          }
          await next();
        },
        hello,
      );
    } else app.get('/', hello);
    port = await new Promise((resolve) => {
      honoServe({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) => resolve(info.port));
    });
  }
  // The parent asks for this process's CPU time (user + system, microseconds) around each window.
  process.on('message', (message) => {
    if (message === 'cpu') {
      const { user, system } = process.cpuUsage();
      process.send({ cpu: user + system });
    }
  });
  process.send({ port, key });
}

async function startServer(framework, mode) {
  const child = fork(SELF, ['--serve', framework, mode], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const info = await new Promise((resolve, reject) => {
    child.once('message', resolve);
    child.once('exit', (code) => reject(new Error(`${framework}/${mode} server exited (${code})`)));
  });
  const cpu = () =>
    new Promise((resolve) => {
      child.once('message', (message) => resolve(message.cpu));
      child.send('cpu');
    });
  return { ...info, cpu, close: () => child.kill() };
}

/** One window of load: the rate, and the server's CPU time per request (microseconds). */
async function window(server, seconds) {
  const before = await server.cpu();
  const result = await load(server.port, server.key, seconds);
  const after = await server.cpu();
  return { rps: result.requests.average, cpuUs: (after - before) / result.requests.total };
}

async function load(port, key, seconds) {
  const { default: autocannon } = await import('autocannon');
  const result = await autocannon({
    url: `http://127.0.0.1:${port}/`,
    connections: 32,
    pipelining: 1,
    duration: seconds,
    headers: { authorization: `Bearer ${key}` },
  });
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(`${result.non2xx} non-2xx answers, ${result.errors} errors`);
  }
  return result;
}

/**
 * Per framework, its three servers run side by side, and the load goes to each in turn in short
 * windows, in the orders of {@link ORDERS}: drift on a shared machine hits all three alike. A
 * ratio is taken per round of windows (keymint over hand-written, keymint over none, and the same
 * for CPU time per request), and the median over the rounds reported, with the median rates.
 */
export async function httpScenario({ quick = false } = {}) {
  const rounds = quick ? 2 : 12;
  const seconds = quick ? 0.3 : 1.5;
  const rps = new Map();
  const cpuUs = new Map();
  const ratios = new Map();
  const load1 = new Map();
  for (const framework of FRAMEWORKS) {
    const servers = new Map();
    try {
      for (const mode of MODES) servers.set(mode, await startServer(framework, mode));
      for (const mode of MODES) {
        const { port, key } = servers.get(mode);
        await load(port, key, quick ? 0.2 : 1); // warm-up
      }
      const loadBefore = os.loadavg()[0];
      const got = { keymint: [], hand: [], none: [] };
      const cpu = { keymint: [], hand: [], none: [] };
      const vsHand = [];
      const vsNone = [];
      const cpuVsHand = [];
      for (let round = 0; round < rounds; round++) {
        const measured = {};
        for (const mode of ORDERS[round % ORDERS.length]) {
          measured[mode] = await window(servers.get(mode), seconds);
          got[mode].push(measured[mode].rps);
          cpu[mode].push(measured[mode].cpuUs);
        }
        vsHand.push(measured.keymint.rps / measured.hand.rps);
        vsNone.push(measured.keymint.rps / measured.none.rps);
        // Less CPU per request is more requests: hand over keymint reads like the rate ratio.
        cpuVsHand.push(measured.hand.cpuUs / measured.keymint.cpuUs);
      }
      for (const mode of MODES) {
        rps.set(`${framework}/${mode}`, median(got[mode]));
        cpuUs.set(`${framework}/${mode}`, median(cpu[mode]));
      }
      ratios.set(framework, {
        hand: median(vsHand),
        none: median(vsNone),
        cpuHand: median(cpuVsHand),
      });
      load1.set(framework, [loadBefore, os.loadavg()[0]]);
    } finally {
      for (const server of servers.values()) server.close();
    }
  }
  return { rounds, seconds, rps, cpuUs, ratios, load1 };
}

export function httpRows({ rounds, seconds, rps, cpuUs, ratios, load1 }) {
  const lines = [];
  const targets = [];
  for (const framework of FRAMEWORKS) {
    const k = rps.get(`${framework}/keymint`);
    const h = rps.get(`${framework}/hand`);
    const n = rps.get(`${framework}/none`);
    const r = ratios.get(framework);
    const us = (mode) => cpuUs.get(`${framework}/${mode}`).toFixed(1);
    const [before, after] = load1.get(framework);
    lines.push(
      `http ${framework} (autocannon, 32 connections, ${rounds} rounds of ${seconds} s windows, medians): ` +
        `requireApiKey ${fmtInt(k)} req/s, SHA-256 + Map ${fmtInt(h)}, no check ${fmtInt(n)}; ` +
        `keymint/hand ${r.hand.toFixed(2)}, keymint/none ${r.none.toFixed(2)} (per-round ratios); ` +
        `server CPU per request ${us('keymint')} / ${us('hand')} / ${us('none')} us, ` +
        `hand/keymint ${r.cpuHand.toFixed(2)}; load average ${before.toFixed(1)} -> ${after.toFixed(1)}`,
    );
    targets.push({
      row: `http ${framework}`,
      text: `requireApiKey at least ${MIN_HTTP_RATIO} x a SHA-256 + Map Bearer check`,
      value: `${r.hand.toFixed(2)} x`,
      status: r.hand >= MIN_HTTP_RATIO ? 'PASS' : 'FAIL',
    });
  }
  return { lines, targets };
}

if (process.argv[2] === '--serve') {
  await serve(process.argv[3], process.argv[4]);
} else if (process.argv[1] === SELF) {
  const result = httpRows(await httpScenario({ quick: process.argv.includes('--quick') }));
  for (const line of result.lines) console.log(line);
  for (const t of result.targets) console.log(`${t.status}: ${t.row}: ${t.text} (${t.value})`);
}
