// createSecretScanningHandler: a locally generated P-256 key pair plays GitHub.
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KeymintEvent } from '../src/index.js';
import { createKeymint, hmacSha256Hasher } from '../src/index.js';
import { migrate, postgresAdapter } from '../src/adapters/postgres/index.js';
import { createSecretScanningHandler, type GitHubPublicKeys } from '../src/http/index.js';
import { dropSchemas, openPool, randomSchema } from './fixtures/postgres.js';
import { until } from './fixtures/wait.js';
import { failingAdapter, fastKeymint, flush, HMAC_SECRET } from './helpers.js';
import { describeWithServer } from './servers.js';

interface GitHub {
  id: string;
  privateKey: KeyObject;
  pem: string;
}

function gitHubKey(id: string): GitHub {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  return { id, privateKey, pem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

const document = (...keys: GitHub[]): GitHubPublicKeys => ({
  public_keys: keys.map((key, index) => ({
    key_identifier: key.id,
    key: key.pem,
    is_current: index === keys.length - 1,
  })),
});

/** A POST as GitHub sends it: the raw body signed with `signer`, sent under `id`. */
function post(body: string, signer: GitHub, id = signer.id, headers: Record<string, string> = {}) {
  const signature = sign('sha256', Buffer.from(body), signer.privateKey).toString('base64');
  return new Request('http://127.0.0.1/github/secret-scanning', {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'github-public-key-identifier': id,
      'github-public-key-signature': signature,
      ...headers,
    },
    body,
  });
}

const entry = (token: string, url = 'https://github.com/o/r/blob/abc/.env') => ({
  token,
  type: 'keymint_api_key',
  url,
  source: 'content',
});

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

function setup(
  options: { action?: 'revoke' | 'report'; maxBodyBytes?: number; maxTokens?: number } = {},
) {
  const github = gitHubKey('key-1');
  const events: KeymintEvent[] = [];
  const made = fastKeymint({ onEvent: (event) => void events.push(event) });
  let fetches = 0;
  let served = document(github);
  let at = 1_000_000;
  const handler = createSecretScanningHandler(made.keymint, {
    publicKeys: async () => {
      fetches++;
      return served;
    },
    now: () => at,
    ...options,
  });
  return {
    ...made,
    github,
    events,
    handler,
    fetches: () => fetches,
    serve: (next: GitHubPublicKeys) => (served = next),
    advance: (ms: number) => (at += ms),
  };
}

async function createKeys(keymint: ReturnType<typeof setup>['keymint'], count: number) {
  const keys: { key: string; id: string }[] = [];
  for (let i = 0; i < count; i++) {
    const { key, apiKey } = await keymint.createApiKey({
      name: `k${i}`,
      role: 'Viewer',
      ttl: '1h',
    });
    keys.push({ key, id: apiKey.id });
  }
  return keys;
}

describe('createSecretScanningHandler()', () => {
  it('revokes a reported key that verifies, answers labels by SHA-256, never echoes a token', async () => {
    const { keymint, handler, github, events } = setup();
    const [leaked] = await createKeys(keymint, 1);
    const other = fastKeymint();
    const { key: foreign } = await other.keymint.createApiKey({
      name: 'x',
      role: 'Viewer',
      ttl: '1h',
    });
    const body = JSON.stringify([entry(leaked!.key), entry(foreign), entry('km_not_a_key')]);
    const response = await handler(post(body, github));
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(JSON.parse(text)).toEqual([
      { token_hash: sha256(leaked!.key), token_type: 'keymint_api_key', label: 'true_positive' },
      { token_hash: sha256(foreign), token_type: 'keymint_api_key', label: 'false_positive' },
      {
        token_hash: sha256('km_not_a_key'),
        token_type: 'keymint_api_key',
        label: 'false_positive',
      },
    ]);
    for (const token of [leaked!.key, foreign, 'km_not_a_key']) expect(text).not.toContain(token);
    expect(await keymint.verifyKey(leaked!.key)).toEqual({ valid: false, reason: 'revoked' });
    expect((await other.keymint.verifyKey(foreign)).valid).toBe(true);
    await flush();
    await flush();
    expect(events.filter((event) => event.type === 'key.leaked')).toEqual([
      expect.objectContaining({
        keyId: leaked!.id,
        url: 'https://github.com/o/r/blob/abc/.env',
        source: 'github:content',
        revoked: true,
      }),
    ]);
  });

  it('refuses unsigned, badly signed, tampered and unknown-key requests with 401, revoking nothing', async () => {
    const { keymint, handler, github } = setup();
    const [leaked] = await createKeys(keymint, 1);
    const body = JSON.stringify([entry(leaked!.key)]);
    const impostor = gitHubKey('key-1');
    const signed = post(body, github);
    const requests = [
      new Request('http://127.0.0.1/', { method: 'POST', body }),
      post(body, github, 'key-1', { 'github-public-key-signature': '' }),
      post(body, github, 'key-1', { 'github-public-key-signature': 'bm90IGEgc2lnbmF0dXJl' }),
      post(body, impostor),
      post(body, github, 'key-2'),
      // Tampered: the signature of this body over another body (one character changed).
      new Request('http://127.0.0.1/', {
        method: 'POST',
        headers: Object.fromEntries(signed.headers),
        body: body.replace('"content"', '"c0ntent"'),
      }),
    ];
    for (const request of requests) expect((await handler(request)).status).toBe(401);
    expect((await keymint.verifyKey(leaked!.key)).valid).toBe(true);
    expect((await handler(new Request('http://127.0.0.1/'))).status).toBe(405);
  });

  it('fetches the public keys once, again on an unknown identifier at most once a minute', async () => {
    const { handler, github, fetches, serve, advance } = setup();
    const body = JSON.stringify([entry('km_x')]);
    expect((await handler(post(body, github))).status).toBe(200);
    expect((await handler(post(body, github))).status).toBe(200);
    expect(fetches()).toBe(1);
    // GitHub rotates its key: the new identifier is unknown until the document is fetched again.
    const next = gitHubKey('key-2');
    serve(document(github, next));
    advance(1_000);
    expect((await handler(post(body, next))).status).toBe(401); // fetched less than a minute ago
    expect(fetches()).toBe(1);
    advance(60_000);
    expect((await handler(post(body, next))).status).toBe(200);
    expect(fetches()).toBe(2);
    // A flood of unknown identifiers costs one fetch a minute.
    for (let i = 0; i < 20; i++) {
      expect((await handler(post(body, gitHubKey(`nobody-${i}`)))).status).toBe(401);
    }
    expect(fetches()).toBe(2);
  });

  it('answers a replayed request the same, and does nothing again', async () => {
    const { keymint, handler, github, events } = setup({ action: 'report' });
    const [leaked] = await createKeys(keymint, 1);
    const body = JSON.stringify([entry(leaked!.key)]);
    const request = post(body, github);
    const replayed = request.clone(); // the very request again: same headers, same signature
    const first = await (await handler(request)).json();
    const again = await handler(replayed);
    expect(again.status).toBe(200);
    expect(await again.json()).toEqual(first);
    await flush();
    await flush();
    expect(events.filter((event) => event.type === 'key.leaked')).toHaveLength(1);
    // Signed anew (a retry): the same answer, still nothing done again.
    expect(await (await handler(post(body, github))).json()).toEqual(first);
    await flush();
    expect(events.filter((event) => event.type === 'key.leaked')).toHaveLength(1);
  });

  it("with action: 'report' labels and reports a key without revoking it", async () => {
    const { keymint, handler, github, events } = setup({ action: 'report' });
    const [leaked] = await createKeys(keymint, 1);
    const response = await handler(post(JSON.stringify([entry(leaked!.key)]), github));
    expect(await response.json()).toEqual([expect.objectContaining({ label: 'true_positive' })]);
    expect((await keymint.verifyKey(leaked!.key)).valid).toBe(true);
    await flush();
    await flush();
    expect(events.at(-1)).toMatchObject({ type: 'key.leaked', revoked: false });
  });

  it('refuses oversized bodies and too many tokens with 413, other shapes with 400', async () => {
    const { keymint, handler, github } = setup({ maxBodyBytes: 4_096, maxTokens: 5 });
    const [leaked] = await createKeys(keymint, 1);
    const padded = JSON.stringify([entry(leaked!.key, `https://x.test/${'a'.repeat(5_000)}`)]);
    expect((await handler(post(padded, github))).status).toBe(413);
    const many = JSON.stringify([
      entry(leaked!.key),
      ...Array.from({ length: 5 }, () => entry('x')),
    ]);
    expect((await handler(post(many, github))).status).toBe(413);
    for (const body of [
      JSON.stringify({ token: leaked!.key, type: 't' }),
      JSON.stringify(leaked!.key),
      JSON.stringify([leaked!.key]),
      JSON.stringify([{ token: leaked!.key }]),
      JSON.stringify([entry(leaked!.key), null]),
      `[${JSON.stringify(entry(leaked!.key))}`,
    ]) {
      const response = await handler(post(body, github));
      expect(response.status, body.slice(0, 40)).toBe(400);
      expect(await response.text()).not.toContain(leaked!.key);
    }
    expect((await keymint.verifyKey(leaked!.key)).valid).toBe(true);
  });

  it('takes a 1,000-token body: revokes each real key, labels each entry in order', async () => {
    const { keymint, handler, github } = setup({ maxBodyBytes: 1024 * 1024 });
    const real = await createKeys(keymint, 500);
    const tokens = real.flatMap(({ key }, i) => [key, `km_fake${i}_${'A'.repeat(34)}`]);
    expect(tokens).toHaveLength(1_000);
    const response = await handler(
      post(JSON.stringify(tokens.map((token) => entry(token))), github),
    );
    expect(response.status).toBe(200);
    const labels = (await response.json()) as { token_hash: string; label: string }[];
    expect(labels.map((item) => item.token_hash)).toEqual(tokens.map(sha256));
    expect(labels.map((item) => item.label)).toEqual(
      tokens.map((_, i) => (i % 2 === 0 ? 'true_positive' : 'false_positive')),
    );
    for (const { key } of real.slice(0, 20)) {
      expect(await keymint.verifyKey(key)).toEqual({ valid: false, reason: 'revoked' });
    }
    const listed = await keymint.listApiKeys({ limit: 1000 });
    expect(listed.every((apiKey) => apiKey.revokedAt !== null)).toBe(true);
  });

  it('answers 503 when the store fails, and tells onError', async () => {
    const faulty = failingAdapter();
    const { keymint } = fastKeymint({ adapter: faulty.adapter });
    const [leaked] = await createKeys(keymint, 1);
    const github = gitHubKey('key-1');
    const errors: unknown[] = [];
    const handler = createSecretScanningHandler(keymint, {
      publicKeys: () => document(github),
      onError: (error) => errors.push(error),
    });
    faulty.fail('findById');
    const response = await handler(post(JSON.stringify([entry(leaked!.key)]), github));
    expect(response.status).toBe(503);
    expect(errors).toHaveLength(1);
  });

  it('refuses bad options with CONFIG', () => {
    const { keymint } = fastKeymint();
    expect(() => createSecretScanningHandler(keymint, {} as never)).toThrow(/publicKeys/);
    expect(() =>
      createSecretScanningHandler(keymint, {
        publicKeys: () => document(),
        action: 'delete' as never,
      }),
    ).toThrow(/action/);
  });
});

describeWithServer('postgres', 'createSecretScanningHandler() over two instances', (url) => {
  const schema = randomSchema();
  const pools = [openPool(url, { max: 3 }), openPool(url, { max: 3 })];
  afterAll(async () => {
    await dropSchemas(pools[0]!, [schema]);
    await Promise.all(pools.map((pool) => pool.end()));
  });
  beforeAll(async () => {
    await migrate(pools[0]!, { schema });
  });

  it('a key GitHub reports is refused by a second instance within the pushed-invalidation bound', async () => {
    const hasher = hmacSha256Hasher(HMAC_SECRET);
    // B caches "valid" for a minute: only the pushed invalidation can end it sooner.
    const [a, b] = pools.map((pool) =>
      createKeymint({ adapter: postgresAdapter(pool, { schema }), hasher, cache: { ttl: '60s' } }),
    );
    try {
      const { key } = await a!.createApiKey({ name: 'leaked', role: 'Viewer', ttl: '1h' });
      for (let i = 0; i < 2; i++) expect((await b!.verifyKey(key)).valid).toBe(true);
      const github = gitHubKey('key-1');
      const handler = createSecretScanningHandler(a!, { publicKeys: () => document(github) });
      const response = await handler(post(JSON.stringify([entry(key)]), github));
      expect(await response.json()).toEqual([expect.objectContaining({ label: 'true_positive' })]);
      const revokedAt = Date.now();
      await until(async () => !(await b!.verifyKey(key)).valid, 'B to refuse the key', 5_000);
      // The bound the adapter docs give for a pushed invalidation (generous: loaded machine).
      expect(Date.now() - revokedAt).toBeLessThan(5_000);
      expect(await b!.verifyKey(key)).toEqual({ valid: false, reason: 'revoked' });
    } finally {
      await Promise.all([a!.close(), b!.close()]);
    }
  });
});
