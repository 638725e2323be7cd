import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import type { Keymint, LeakedKeyResult } from '../core/types.js';
import { KeymintError } from '../errors.js';
import { readBytes } from './body.js';
import { errorResponse, fromError, json, MESSAGES } from './responses.js';

/**
 * GitHub's secret-scanning public-key document, as parsed JSON: what
 * `GET https://api.github.com/meta/public_keys/secret_scanning` answers.
 *
 * @example
 * ```ts
 * const document: GitHubPublicKeys = {
 *   public_keys: [{ key_identifier: 'abc', key: '-----BEGIN PUBLIC KEY-----\n...', is_current: true }],
 * };
 * ```
 */
export interface GitHubPublicKeys {
  public_keys: readonly { key_identifier: string; key: string; is_current?: boolean }[];
}

/**
 * Options of {@link createSecretScanningHandler}.
 *
 * @example
 * ```ts
 * const options: SecretScanningHandlerOptions = {
 *   publicKeys: async () =>
 *     (await fetch('https://api.github.com/meta/public_keys/secret_scanning')).json(),
 *   action: 'revoke',
 * };
 * ```
 */
export interface SecretScanningHandlerOptions {
  /**
   * Returns GitHub's public-key document. keymint keeps it and calls again only for a signature
   * by a key it does not know, at most once a minute.
   */
  publicKeys: () => GitHubPublicKeys | Promise<GitHubPublicKeys>;
  /** `'revoke'` (default): revoke each leaked key that verifies; `'report'`: only report it. */
  action?: 'revoke' | 'report';
  /** The largest body accepted, in bytes. Default 1 MiB (413 past it). */
  maxBodyBytes?: number;
  /** The most tokens in one request. Default 1,000 (413 past it). */
  maxTokens?: number;
  /** Told about server faults (a store failure, a public-key fetch that failed). */
  onError?: (error: unknown) => void;
  /** The clock of the re-fetch limit, epoch ms. Default `Date.now`. */
  now?: () => number;
}

/**
 * One entry of the answer to GitHub: the token's SHA-256 hex, never the token.
 *
 * @example
 * ```ts
 * const label: SecretScanningLabel = { token_hash: 'e3b0…', token_type: 'keymint_api_key', label: 'true_positive' };
 * ```
 */
export interface SecretScanningLabel {
  token_hash: string;
  token_type: string;
  label: 'true_positive' | 'false_positive';
}

/** The default body limit of {@link createSecretScanningHandler}: 1 MiB. */
const DEFAULT_MAX_BYTES = 1024 * 1024;
const DEFAULT_MAX_TOKENS = 1_000;
const REFETCH_MS = 60_000;
/** Answers to bodies seen lately: a replayed request gets the same answer and does nothing. */
const REPLAY_ENTRIES = 1_000;
const REPLAY_MS = 60 * 60_000;

const unauthorized = () => errorResponse(401, MESSAGES.unauthorized);
const badRequest = (message: string) => errorResponse(400, message);

function positive(value: unknown, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return value;
  throw new KeymintError('CONFIG', `${what} must be a positive whole number.`);
}

/** The keys of a document by identifier; entries that are not readable PEM keys are left out. */
function readKeys(document: unknown): Map<string, KeyObject> {
  const keys = new Map<string, KeyObject>();
  const list = (document as { public_keys?: unknown } | null)?.public_keys;
  if (!Array.isArray(list)) return keys;
  for (const entry of list) {
    const { key_identifier: id, key } = (entry ?? {}) as Record<string, unknown>;
    if (typeof id !== 'string' || typeof key !== 'string') continue;
    try {
      const object = createPublicKey(key);
      if (object.asymmetricKeyType === 'ec') keys.set(id, object);
    } catch {
      // Not a public key: ignore the entry.
    }
  }
  return keys;
}

interface Entry {
  token: string;
  type: string;
  url: string | undefined;
  source: string | undefined;
}

/** The body as GitHub sends it, or a message for the 400. */
function readEntries(value: unknown, maxTokens: number): Entry[] | string {
  if (!Array.isArray(value)) return 'The body must be a JSON array of { token, type, url, source }';
  if (value.length > maxTokens) return `More than ${maxTokens} tokens in one request`;
  const entries: Entry[] = [];
  for (const item of value) {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) {
      return 'Each entry must be an object { token, type, url, source }';
    }
    const { token, type, url, source } = item as Record<string, unknown>;
    if (typeof token !== 'string' || typeof type !== 'string') {
      return 'Each entry needs a string token and a string type';
    }
    entries.push({
      token,
      type: type.slice(0, 256),
      url: typeof url === 'string' ? url : undefined,
      source: typeof source === 'string' ? source : undefined,
    });
  }
  return entries;
}

/**
 * A Web-standard handler for GitHub's secret-scanning partner program: GitHub posts every token
 * that matches the pattern you registered (see `scannerRules()` and docs/security.md), signed
 * with ECDSA P-256 over SHA-256; each token that is a key of this instance and verifies is
 * revoked (or only reported, with `action: 'report'`) and emitted as a `key.leaked` event
 * (`onEvent`) with its url and source.
 *
 * - `Github-Public-Key-Identifier` and `Github-Public-Key-Signature` are checked against the keys
 *   of `options.publicKeys()` over the raw body. Unsigned, badly signed or signed by an unknown
 *   key: 401, nothing read further, nothing revoked.
 * - The body is a JSON array of `{ token, type, url, source }`, at most `maxBodyBytes` (413) and
 *   `maxTokens` (413); anything else is 400.
 * - The answer is 200 with `[{ token_hash, token_type, label }]`, one per entry: `token_hash`
 *   the SHA-256 hex of the token (never the token), `label` `true_positive` for a key of this
 *   instance whose secret verifies (revoked or expired ones too), `false_positive` otherwise.
 *   503 with `Retry-After` when the keys cannot be checked now (hashing saturated, store down).
 * - A replayed request (the same signed body within an hour, up to 1,000 remembered) gets the same
 *   answer, with nothing done again.
 *
 * It answers on whatever path the host mounts it; only POST (405 otherwise).
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http';
 * import { createKeymint } from 'keymint';
 * import { memoryAdapter } from 'keymint/adapters/memory';
 * import { createSecretScanningHandler, toNodeListener } from 'keymint/http';
 *
 * const keymint = createKeymint({
 *   adapter: memoryAdapter(),
 *   onEvent: (event) => console.log(JSON.stringify(event)),
 * });
 * const leaks = createSecretScanningHandler(keymint, {
 *   publicKeys: async () =>
 *     (await fetch('https://api.github.com/meta/public_keys/secret_scanning')).json(),
 * });
 * createServer(toNodeListener(leaks, { maxBodyBytes: 1024 * 1024 })).listen(3000, '127.0.0.1');
 * ```
 */
export function createSecretScanningHandler<Actor>(
  keymint: Keymint<Actor>,
  options: SecretScanningHandlerOptions,
): (request: Request) => Promise<Response> {
  if (typeof options?.publicKeys !== 'function') {
    throw new KeymintError('CONFIG', 'createSecretScanningHandler needs options.publicKeys().');
  }
  const action = options.action ?? 'revoke';
  if (action !== 'revoke' && action !== 'report') {
    throw new KeymintError('CONFIG', "options.action must be 'revoke' or 'report'.");
  }
  const maxBytes = positive(options.maxBodyBytes, DEFAULT_MAX_BYTES, 'options.maxBodyBytes');
  const maxTokens = positive(options.maxTokens, DEFAULT_MAX_TOKENS, 'options.maxTokens');
  const now = options.now ?? Date.now;
  const report = (error: unknown) => {
    try {
      options.onError?.(error);
    } catch {
      // A failing error hook changes no answer.
    }
  };

  let keys = new Map<string, KeyObject>();
  let fetchedAt = -Infinity;
  let fetching: Promise<void> | null = null;
  const answers = new Map<string, { body: SecretScanningLabel[]; at: number }>();

  /** The key of this identifier, fetching the document again when it is unknown (once a minute). */
  async function keyFor(id: string): Promise<KeyObject | undefined> {
    const known = keys.get(id);
    if (known || now() - fetchedAt < REFETCH_MS) return known;
    fetching ??= (async () => {
      fetchedAt = now();
      try {
        keys = readKeys(await options.publicKeys());
      } catch (error) {
        report(
          new KeymintError('CONFIG', "GitHub's public keys could not be obtained; see the cause.", {
            cause: error,
          }),
        );
      }
    })().finally(() => (fetching = null));
    await fetching;
    return keys.get(id);
  }

  async function check(entries: Entry[]): Promise<SecretScanningLabel[]> {
    const unique = new Map<string, Promise<LeakedKeyResult>>();
    for (const entry of entries) {
      if (unique.has(entry.token)) continue;
      unique.set(
        entry.token,
        keymint.reportLeakedKey(entry.token, {
          revoke: action === 'revoke',
          source: entry.source === undefined ? 'github' : `github:${entry.source}`,
          ...(entry.url !== undefined && { url: entry.url }),
        }),
      );
    }
    // Every check settles before the answer, so that a failure leaves nothing running.
    const settled = await Promise.allSettled(unique.values());
    const failed = settled.find((outcome) => outcome.status === 'rejected');
    if (failed) throw (failed as PromiseRejectedResult).reason;
    const found = new Map<string, boolean>();
    [...unique.keys()].forEach((token, index) => {
      const outcome = settled[index] as PromiseFulfilledResult<LeakedKeyResult>;
      found.set(token, outcome.value.truePositive);
    });
    return entries.map((entry) => ({
      token_hash: createHash('sha256').update(entry.token).digest('hex'),
      token_type: entry.type,
      label: found.get(entry.token) ? 'true_positive' : 'false_positive',
    }));
  }

  return async function secretScanningHandler(request: Request): Promise<Response> {
    if (request.method !== 'POST') {
      return errorResponse(405, MESSAGES.methodNotAllowed, { allow: 'POST' });
    }
    const id = request.headers.get('github-public-key-identifier');
    const signature = request.headers.get('github-public-key-signature');
    if (!id || !signature || id.length > 256 || signature.length > 512) return unauthorized();
    const key = await keyFor(id);
    if (!key) return unauthorized();
    const read = await readBytes(request, maxBytes);
    if (!('bytes' in read)) {
      return read.ok
        ? badRequest('The request body could not be read')
        : errorResponse(read.status, read.message);
    }
    let valid = false;
    try {
      valid = verify('sha256', read.bytes, key, Buffer.from(signature, 'base64'));
    } catch {
      valid = false;
    }
    if (!valid) return unauthorized();

    // By body: ECDSA signatures are randomised, and GitHub may sign a retry anew.
    const replayKey = createHash('sha256').update(read.bytes).digest('hex');
    const earlier = answers.get(replayKey);
    if (earlier && now() - earlier.at < REPLAY_MS) return json(200, earlier.body);

    let value: unknown;
    try {
      value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(read.bytes));
    } catch {
      return badRequest('The request body is not valid JSON');
    }
    const entries = readEntries(value, maxTokens);
    if (typeof entries === 'string') {
      return errorResponse(entries.startsWith('More than') ? 413 : 400, entries);
    }
    let body: SecretScanningLabel[];
    try {
      body = await check(entries);
    } catch (error) {
      const { response, serverFault } = fromError(error);
      if (serverFault) report(error);
      return response;
    }
    if (answers.size >= REPLAY_ENTRIES) answers.delete(answers.keys().next().value!);
    answers.set(replayKey, { body, at: now() });
    return json(200, body);
  };
}
