// What the cold-path probes (mysql-cold.mjs, redis-cold.mjs) share: a cache-off keymint instance
// over an adapter with KEYS keys verified once, and CALLERS concurrent loops over them.
import { randomBytes } from 'node:crypto';
import { createKeymint, hmacSha256Hasher } from 'keymint';

export const KEYS = 2_000;
export const CALLERS = 32;

/** keymint over `adapter`, cache off, no wrong-secret limit; its keys and ids, each verified once. */
export async function coldInstance(adapter) {
  const keymint = createKeymint({
    adapter,
    hasher: hmacSha256Hasher(randomBytes(32).toString('hex')),
    cache: false,
    rateLimit: false,
    lastUsedDelayMs: 60_000,
  });
  const keys = [];
  const ids = [];
  for (let i = 0; i < KEYS; i++) {
    const { key, apiKey } = await keymint.createApiKey({
      name: `k${i}`,
      role: 'Viewer',
      ttl: '1d',
    });
    keys.push(key);
    ids.push(apiKey.id);
  }
  for (const key of keys) {
    if (!(await keymint.verifyKey(key)).valid) throw new Error('probe key refused');
  }
  return { keymint, keys, ids };
}

/** Operations per second and client CPU µs per operation of CALLERS loops of `call` for `ms`. */
export async function run(call, ms) {
  let n = 0;
  let stop = false;
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  const timer = setTimeout(() => (stop = true), ms);
  await Promise.all(
    Array.from({ length: CALLERS }, async (_, caller) => {
      for (let i = caller; !stop; i += CALLERS) {
        await call(i % KEYS);
        n++;
      }
    }),
  );
  clearTimeout(timer);
  const cpu = process.cpuUsage(cpu0);
  return {
    n,
    ops: n / ((performance.now() - start) / 1000),
    cpuUs: (cpu.user + cpu.system) / n,
  };
}

export const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
