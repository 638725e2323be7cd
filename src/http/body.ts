import { KeymintError } from '../errors.js';

/**
 * The default request-body limit of {@link createApiKeyRoutes} and {@link toNodeListener}: 16 KiB
 * (a create request is a few hundred bytes).
 *
 * @example
 * ```ts
 * import { DEFAULT_MAX_BODY_BYTES } from 'keymint/http';
 * createApiKeyRoutes(keymint, { authenticate, maxBodyBytes: 4 * DEFAULT_MAX_BODY_BYTES });
 * ```
 */
export const DEFAULT_MAX_BODY_BYTES = 16 * 1024;

/** Thrown into a request body stream (by `toNodeListener`) when the body passes its limit. */
export class BodyTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`The request body is larger than ${limit} bytes.`);
    this.name = 'BodyTooLargeError';
  }
}

export type BodyResult =
  { ok: true; value: unknown } | { ok: false; status: 400 | 413 | 415; message: string };

const tooLarge = (limit: number): BodyResult => ({
  ok: false,
  status: 413,
  message: `The request body is larger than ${limit} bytes`,
});

/** `application/json`, with or without parameters, in any letter case. */
export function isJsonContentType(value: string | null): boolean {
  if (value === null) return false;
  const semicolon = value.indexOf(';');
  const type = (semicolon === -1 ? value : value.slice(0, semicolon)).trim().toLowerCase();
  return type === 'application/json';
}

/** A positive whole number of bytes; checked once when the routes are created. */
export function checkLimit(value: unknown, what: string): number {
  if (value === undefined) return DEFAULT_MAX_BODY_BYTES;
  if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) return value;
  throw new KeymintError('CONFIG', `${what} must be a positive whole number of bytes.`);
}

/** Reads at most `limit` bytes of the body, then stops reading: the rest is never buffered. */
export async function readBytes(
  request: Request,
  limit: number,
): Promise<{ ok: true; bytes: Uint8Array } | BodyResult> {
  const declared = request.headers.get('content-length');
  if (declared !== null && /^\d{1,15}$/.test(declared) && Number(declared) > limit) {
    return tooLarge(limit);
  }
  if (request.body === null) return { ok: true, bytes: new Uint8Array(0) };
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      size += value.byteLength;
      if (size > limit) {
        reader.cancel().catch(() => {});
        return tooLarge(limit);
      }
      chunks.push(value);
    }
  } catch (error) {
    if (error instanceof BodyTooLargeError) return tooLarge(Math.min(limit, error.limit));
    return { ok: false, status: 400, message: 'The request body could not be read' };
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return { ok: true, bytes };
}

/**
 * The JSON body of a request: 415 unless `application/json`, 413 past `limit`, 400 if unreadable.
 * With `allowEmpty`, an empty body is `undefined` rather than a 400.
 */
export async function readJsonBody(
  request: Request,
  limit: number,
  allowEmpty = false,
): Promise<BodyResult> {
  if (!isJsonContentType(request.headers.get('content-type'))) {
    return { ok: false, status: 415, message: 'Content-Type must be application/json' };
  }
  const read = await readBytes(request, limit);
  if (!('bytes' in read)) return read;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(read.bytes);
  } catch {
    return { ok: false, status: 400, message: 'The request body is not valid UTF-8' };
  }
  if (allowEmpty && text.trim() === '') return { ok: true, value: undefined };
  try {
    return { ok: true, value: JSON.parse(text) as unknown };
  } catch {
    return { ok: false, status: 400, message: 'The request body is not valid JSON' };
  }
}
