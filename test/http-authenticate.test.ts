import { describe, expect, it, vi } from 'vitest';
import type { KeymintOptions } from '../src/index.js';
import {
  authenticateRequest,
  readApiKey,
  toResponse,
  type AuthenticationFailure,
} from '../src/http/index.js';
import { formatKey } from '../src/core/key-format.js';
import {
  countingHasher,
  failingAdapter,
  fastKeymint,
  HOUR,
  keyParts,
  withOtherLast,
} from './helpers.js';

async function setup(options: Partial<KeymintOptions> = {}) {
  const made = fastKeymint(options);
  const { key, apiKey } = await made.keymint.createApiKey({
    name: 'ci',
    role: 'Editor',
    ttl: '1h',
    scope: 'org-1',
  });
  const verifyKey = vi.spyOn(made.keymint, 'verifyKey');
  return { ...made, key, apiKey, verifyKey };
}

const withAuth = (authorization?: string) =>
  new Request('http://localhost/api/dashboards', {
    headers: authorization === undefined ? {} : { authorization },
  });

const basic = (credentials: string) => `Basic ${btoa(credentials)}`;

const invalid: AuthenticationFailure = {
  ok: false,
  status: 401,
  message: 'Invalid API key',
  headers: { 'www-authenticate': 'Bearer' },
};

describe('authenticateRequest(): reading the Authorization header', () => {
  it.each([
    ['Bearer', (key: string) => `Bearer ${key}`],
    ['bearer in lower case', (key: string) => `bearer ${key}`],
    ['BEARER in upper case', (key: string) => `BEARER ${key}`],
    ['several spaces after the scheme', (key: string) => `Bearer    ${key}`],
    ['a tab after the scheme', (key: string) => `Bearer\t${key}`],
    ['surrounding spaces', (key: string) => `  Bearer ${key}  `],
    ['Basic with user api_key', (key: string) => basic(`api_key:${key}`)],
    ['basic in lower case', (key: string) => basic(`api_key:${key}`).replace('Basic', 'basic')],
  ])('accepts %s', async (_what, header) => {
    const { keymint, key, apiKey } = await setup();
    const result = await authenticateRequest(keymint, withAuth(header(key)));
    expect(result).toEqual({ ok: true, apiKey });
  });

  it.each([
    ['no header', () => undefined],
    ['an empty header', () => ''],
    ['a scheme alone', () => 'Bearer'],
    ['a scheme and spaces', () => 'Bearer   '],
    ['no scheme', (key: string) => key],
    ['another scheme', (key: string) => `Token ${key}`],
    ['two tokens', (key: string) => `Bearer ${key} ${key}`],
    ['two headers joined', (key: string) => `Bearer ${key}, Bearer ${key}`],
    ['Basic without a colon', (key: string) => basic(`api_key${key}`)],
    ['Basic with another user', (key: string) => basic(`admin:${key}`)],
    ['Basic with the user in upper case', (key: string) => basic(`API_KEY:${key}`)],
    ['Basic with an empty password', () => basic('api_key:')],
    ['Basic with the key as user', (key: string) => basic(`${key}:`)],
    ['Basic that is not base64', () => 'Basic !!!not*base64!!!'],
    ['Basic with broken padding', (key: string) => basic(`api_key:${key}`).slice(0, -1)],
    ['Basic of binary garbage', () => `Basic ${btoa('\u00ff\u00fe\u0000:\u0001')}`],
    ['a Bearer key with a wrong checksum', (key: string) => `Bearer ${withOtherLast(key)}`],
  ])('answers 401 Invalid API key for %s', async (_what, header) => {
    const { keymint, key } = await setup();
    const result = await authenticateRequest(keymint, withAuth(header(key)));
    expect(result).toEqual(invalid);
  });

  it('refuses a 10 KB header without handing it to verifyKey', async () => {
    const { keymint, key, verifyKey } = await setup();
    const huge = `Bearer ${key}${'A'.repeat(10_240)}`;
    expect(await authenticateRequest(keymint, withAuth(huge))).toEqual(invalid);
    const padded = `Bearer ${' '.repeat(10_240)}${key}`;
    expect(await authenticateRequest(keymint, withAuth(padded))).toEqual(invalid);
    expect(verifyKey).not.toHaveBeenCalled();
  });

  it('reads keys with readApiKey() the same way', () => {
    const key = 'km_7Y1FsObMb7Nf_moaAvFVY6RXGJsvSIXLqpghgOqqq16Cbey';
    expect(readApiKey(`Bearer ${key}`)).toBe(key);
    expect(readApiKey(basic(`api_key:${key}`))).toBe(key);
    expect(readApiKey(basic(`api_key:a:b`))).toBe('a:b'); // the first colon splits
    expect(readApiKey(null)).toBeNull();
    expect(readApiKey(undefined)).toBeNull();
    expect(readApiKey(`Bearer ${'x'.repeat(600)}`)).toBeNull();
  });

  it('reads a plain Bearer token as the general rule reads it: commas refused, whitespace trimmed', () => {
    // 'Bearer <visible ASCII>' has a shortcut; these sit at its edges.
    expect(readApiKey('Bearer ~!#+-./:;=')).toBe('~!#+-./:;=');
    expect(readApiKey('Bearer a,b')).toBeNull();
    expect(readApiKey('Bearer ,')).toBeNull();
    expect(readApiKey('Bearer  abc')).toBe('abc');
    expect(readApiKey('Bearer abc\t')).toBe('abc');
    expect(readApiKey('Bearer abc\u00a0')).toBe('abc');
    expect(readApiKey('Bearer ab\u00e9')).toBe('ab\u00e9');
    expect(readApiKey('Bearer a b')).toBeNull();
    expect(readApiKey('Bearer ')).toBeNull();
    expect(readApiKey(`Bearer ${'x'.repeat(505)}`)).toBe('x'.repeat(505));
    expect(readApiKey(`Bearer ${'x'.repeat(506)}`)).toBeNull();
  });
});

describe('authenticateRequest(): what the key says', () => {
  it('answers 401 Invalid API key for an unknown id or a wrong secret', async () => {
    const { keymint, key } = await setup();
    const guess = formatKey('km', keyParts(key).id).key;
    expect(await authenticateRequest(keymint, withAuth(`Bearer ${guess}`))).toEqual(invalid);
    const stranger = formatKey('km', 'AAAAAAAAAAAA').key;
    expect(await authenticateRequest(keymint, withAuth(`Bearer ${stranger}`))).toEqual(invalid);
  });

  it('answers 401 Expired API key from expiresAt on', async () => {
    const { keymint, key, clock } = await setup();
    clock.advance(HOUR);
    expect(await authenticateRequest(keymint, withAuth(`Bearer ${key}`))).toEqual({
      ...invalid,
      message: 'Expired API key',
    });
  });

  it('answers 401 Revoked API key after a revoke', async () => {
    const { keymint, key, apiKey } = await setup();
    await keymint.revokeApiKey(apiKey.id);
    expect(await authenticateRequest(keymint, withAuth(basic(`api_key:${key}`)))).toEqual({
      ...invalid,
      message: 'Revoked API key',
    });
  });

  it('answers 403 below the minimum role, and ok at or above it', async () => {
    const { keymint, key } = await setup();
    const request = withAuth(`Bearer ${key}`);
    expect(await authenticateRequest(keymint, request, { role: 'Admin' })).toEqual({
      ok: false,
      status: 403,
      message: 'Insufficient role for this API key',
    });
    expect(await authenticateRequest(keymint, request, { role: 'editor' })).toMatchObject({
      ok: true,
    });
  });

  it('answers 401 for a key of another scope', async () => {
    const { keymint, key } = await setup();
    const request = withAuth(`Bearer ${key}`);
    expect(await authenticateRequest(keymint, request, { scope: 'org-2' })).toEqual(invalid);
    expect(await authenticateRequest(keymint, request, { scope: 'org-1' })).toMatchObject({
      ok: true,
    });
  });

  it('answers 429 with Retry-After once the id is rate limited', async () => {
    const { keymint, key } = await setup({ rateLimit: { failures: 2, window: '1m' } });
    const guess = () => withAuth(`Bearer ${formatKey('km', keyParts(key).id).key}`);
    await authenticateRequest(keymint, guess());
    await authenticateRequest(keymint, guess());
    expect(await authenticateRequest(keymint, withAuth(`Bearer ${key}`))).toEqual({
      ok: false,
      status: 429,
      message: 'Too many failed attempts with this API key; try again later',
      headers: { 'retry-after': '60' },
    });
  });

  it('answers 503 with Retry-After when the hashing queue is full', async () => {
    const hasher = countingHasher();
    const { keymint, key } = await setup({ hasher, hashing: { concurrency: 1, queue: 0 } });
    const other = await keymint.createApiKey({ name: 'b', role: 'Viewer', ttl: '1h' });
    const release = hasher.hold();
    const first = authenticateRequest(keymint, withAuth(`Bearer ${key}`)); // the one slot
    const busy = await authenticateRequest(keymint, withAuth(`Bearer ${other.key}`));
    release();
    expect((await first).ok).toBe(true);
    expect(busy).toEqual({
      ok: false,
      status: 503,
      message: 'Too many keys are being checked right now; try again in a moment',
      headers: { 'retry-after': '1' },
    });
  });

  it('never answers ok when the store or the hasher fails, and keeps the cause for logs', async () => {
    const faulty = failingAdapter();
    const { keymint, key } = await setup({ adapter: faulty.adapter, cache: false });
    faulty.fail('findById');
    const down = await authenticateRequest(keymint, withAuth(`Bearer ${key}`));
    expect(down).toMatchObject({
      ok: false,
      status: 503,
      message: 'The key store is unavailable; try again later',
      cause: { code: 'STORE_FAILURE' },
    });
    faulty.heal('findById');

    const broken = fastKeymint({
      hasher: { hash: async () => 'h', verify: () => Promise.reject(new Error('boom')) },
    });
    const made = await broken.keymint.createApiKey({ name: 'x', role: 'Viewer', ttl: '1h' });
    expect(await authenticateRequest(broken.keymint, withAuth(`Bearer ${made.key}`))).toMatchObject(
      {
        ok: false,
        status: 500,
        message: 'Internal server error',
        cause: { code: 'HASHER_FAILURE' },
      },
    );
  });

  it('throws for a role the instance does not know, with or without a header', async () => {
    const { keymint, key } = await setup();
    await expect(
      authenticateRequest(keymint, withAuth(`Bearer ${key}`), { role: 'Owner' }),
    ).rejects.toMatchObject({ code: 'INVALID_ROLE' });
    await expect(authenticateRequest(keymint, withAuth(), { role: 'Owner' })).rejects.toMatchObject(
      {
        code: 'INVALID_ROLE',
      },
    );
  });

  it('hands out fresh failure objects', async () => {
    const { keymint } = await setup();
    const first = (await authenticateRequest(keymint, withAuth())) as AuthenticationFailure;
    first.headers!['x-changed'] = 'yes';
    expect(await authenticateRequest(keymint, withAuth())).toEqual(invalid);
  });
});

describe('toResponse()', () => {
  it('answers the status, the headers and { message }, never the cause', async () => {
    const response = toResponse({
      ok: false,
      status: 503,
      message: 'The key store is unavailable; try again later',
      headers: { 'retry-after': '5' },
      cause: new Error('password=hunter2'),
    });
    expect(response.status).toBe(503);
    expect(response.headers.get('retry-after')).toBe('5');
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(await response.text()).toBe(
      '{"message":"The key store is unavailable; try again later"}',
    );
  });

  it('carries WWW-Authenticate on a 401', async () => {
    const { keymint } = await setup();
    const result = await authenticateRequest(keymint, withAuth('Bearer nope'));
    const response = toResponse(result as AuthenticationFailure);
    expect(response.status).toBe(401);
    expect(response.headers.get('www-authenticate')).toBe('Bearer');
    expect(await response.json()).toEqual({ message: 'Invalid API key' });
  });
});

describe('authenticateRequest(): where the key is read from', () => {
  const xkey = { headers: ['authorization', 'X-API-Key'] } as const;
  const request = (headers: ConstructorParameters<typeof Headers>[0], path = '/api/dashboards') =>
    new Request(`http://localhost${path}`, { headers });

  it('reads X-API-Key only when options.headers lists it, with verifyKey options beside it', async () => {
    const { keymint, key, apiKey, verifyKey } = await setup();
    expect(await authenticateRequest(keymint, request({ 'x-api-key': key }))).toEqual(invalid);
    const result = await authenticateRequest(keymint, request({ 'X-Api-Key': ` ${key} ` }), {
      ...xkey,
      role: 'Viewer',
      scope: 'org-1',
    });
    expect(result).toMatchObject({ ok: true, apiKey: { id: apiKey.id } });
    expect(verifyKey).toHaveBeenLastCalledWith(key, { role: 'Viewer', scope: 'org-1' });
    const onlyX = { headers: ['x-api-key'] };
    expect(await authenticateRequest(keymint, withAuth(`Bearer ${key}`), onlyX)).toEqual(invalid);
  });

  it('refuses two different keys and a repeated header; takes one key given in two headers', async () => {
    const { keymint, key, apiKey } = await setup();
    const other = (await keymint.createApiKey({ name: 'b', role: 'Viewer', ttl: '1h' })).key;
    const repeated = new Headers();
    repeated.append('x-api-key', key);
    repeated.append('x-api-key', key);
    for (const headers of <(Record<string, string> | Headers)[]>[
      { authorization: `Bearer ${key}`, 'x-api-key': other },
      { authorization: `Bearer ${other}`, 'x-api-key': key },
      { authorization: basic(`api_key:${key}`), 'x-api-key': other },
      { 'x-api-key': `${key},${other}` },
      repeated,
    ]) {
      expect(await authenticateRequest(keymint, request(headers), xkey)).toEqual(invalid);
    }
    const same = { authorization: `Bearer ${key}`, 'x-api-key': key };
    const result = await authenticateRequest(keymint, request(same), xkey);
    expect(result).toMatchObject({ ok: true, apiKey: { id: apiKey.id } });
    // Basic with another user is no key: the X-API-Key one counts.
    const basicUser = { authorization: basic('admin:pw'), 'x-api-key': key };
    expect(await authenticateRequest(keymint, request(basicUser), xkey)).toMatchObject({
      ok: true,
    });
  });

  it('never reads the query string', async () => {
    const { keymint, key, verifyKey } = await setup();
    for (const name of ['api_key', 'apiKey', 'key', 'token', 'access_token', 'authorization']) {
      const url = `/api/dashboards?${name}=${encodeURIComponent(key)}`;
      expect(await authenticateRequest(keymint, request({}, url), xkey)).toEqual(invalid);
    }
    expect(verifyKey.mock.calls.some(([given]) => given === key)).toBe(false);
  });

  it('refuses a header value over 512 characters without verifying it', async () => {
    const { keymint, key, verifyKey } = await setup();
    const long = { 'x-api-key': key + ' '.repeat(500) + 'x' };
    expect(await authenticateRequest(keymint, request(long), xkey)).toEqual(invalid);
    expect(verifyKey.mock.calls.some(([given]) => given !== '')).toBe(false);
  });

  it('answers 401 Rotated API key for the old secret after the grace period', async () => {
    const { keymint, key, apiKey, clock } = await setup();
    const rotated = await keymint.rotateApiKey(apiKey.id, { gracePeriod: '10s' });
    expect((await authenticateRequest(keymint, withAuth(`Bearer ${key}`))).ok).toBe(true);
    clock.advance(10_001);
    expect(await authenticateRequest(keymint, withAuth(`Bearer ${key}`))).toEqual({
      ok: false,
      status: 401,
      message: 'Rotated API key',
      headers: { 'www-authenticate': 'Bearer' },
    });
    const fresh = await authenticateRequest(keymint, withAuth(`Bearer ${rotated.key}`));
    expect(fresh).toMatchObject({ ok: true, apiKey: { id: apiKey.id } });
  });

  it.each([
    ['an empty list', []],
    ['a string', 'x-api-key'],
    ['a name with a space', ['x api key']],
    ['an empty name', ['']],
    ['a name listed twice', ['X-API-Key', 'x-api-key']],
    ['cookie', ['authorization', 'Cookie']],
    ['a number', [42]],
    ['nine names', ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i']],
  ])('throws CONFIG for headers: %s, before reading the request', async (_what, headers) => {
    const { keymint, key } = await setup();
    const options = { headers } as unknown as { headers: string[] };
    await expect(
      authenticateRequest(keymint, withAuth(`Bearer ${key}`), options),
    ).rejects.toMatchObject({
      code: 'CONFIG',
      message: expect.stringMatching(/headers: \['authorization', 'x-api-key'\]/),
    });
  });
});
