import { KeymintError } from '../errors.js';

/**
 * Every value a request carries for a header name (lower case): one entry per header line, or
 * the single value the Web `Headers` joined with `", "`. Empty when the header is absent.
 */
export type HeaderValues = (name: string) => readonly string[];

/** Where a key is read by default: `Authorization` only (Bearer, or Basic with `api_key`). */
export const DEFAULT_KEY_HEADERS: readonly string[] = Object.freeze(['authorization']);

/** Longer than any `Basic` form of the longest key (64 characters): refused unread. */
export const MAX_HEADER_VALUE_LENGTH = 512;

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const MAX_HEADERS = 8;
/** Never credentials of an API client; a typo for 'cookie' must not read session cookies as keys. */
const REFUSED = new Set(['cookie', 'set-cookie', 'host', 'content-type', 'content-length']);

function config(message: string): KeymintError {
  return new KeymintError(
    'CONFIG',
    `Invalid headers option: ${message}. Give the header names to read a key from, for example ` +
      `headers: ['authorization', 'x-api-key'] (the default is ['authorization']).`,
  );
}

/**
 * The `headers` option of `authenticateRequest()` and every `requireApiKey()`, checked: a
 * non-empty list of distinct header names, in lower case. `undefined` is the default list.
 */
export function checkKeyHeaders(value: unknown): readonly string[] {
  if (value === undefined) return DEFAULT_KEY_HEADERS;
  if (!Array.isArray(value)) throw config('it must be an array of header names');
  if (value.length === 0) throw config('the list is empty, so no key could ever be read');
  if (value.length > MAX_HEADERS) throw config(`at most ${MAX_HEADERS} header names`);
  const names: string[] = [];
  for (const entry of value as unknown[]) {
    if (typeof entry !== 'string' || !TOKEN.test(entry)) {
      throw config(`${JSON.stringify(entry) ?? String(entry)} is not a header name`);
    }
    const name = entry.toLowerCase();
    if (REFUSED.has(name)) throw config(`${JSON.stringify(entry)} never carries an API key`);
    if (names.includes(name)) throw config(`${JSON.stringify(entry)} is listed twice`);
    names.push(name);
  }
  return Object.freeze(names);
}

/** What the headers of a request say about its key. */
export type FoundKey = { kind: 'none' } | { kind: 'key'; key: string } | { kind: 'refused' };

/**
 * The one key a request carries in the listed headers. `Authorization` is read with `parse`
 * (Bearer, or Basic with the user `api_key`; other credentials are no key and are skipped); any
 * other header's whole value is the key. Refused: a listed header given twice (or as a comma
 * list: proxies and frameworks disagree about which copy counts), a value over 512 characters,
 * and two different keys in two headers. The same key in two headers is that key: clients that
 * send both `Authorization` and `X-API-Key` for compatibility carry no ambiguity.
 */
export function findKey(
  names: readonly string[],
  values: HeaderValues,
  parse: (authorization: string) => string | null,
): FoundKey {
  let found: string | null = null;
  for (const name of names) {
    const given = values(name);
    if (given.length === 0) continue;
    if (given.length > 1) return { kind: 'refused' };
    const value = given[0]!;
    if (value.length > MAX_HEADER_VALUE_LENGTH || value.includes(',')) return { kind: 'refused' };
    const key = name === 'authorization' ? parse(value) : value.trim() || null;
    if (key === null) continue;
    // Both values came from this request and no stored secret is involved: a plain compare.
    if (found !== null && found !== key) return { kind: 'refused' };
    found = key;
  }
  return found === null ? { kind: 'none' } : { kind: 'key', key: found };
}

const NO_VALUES: readonly string[] = Object.freeze([]);

/** The values of a Web `Headers` (or anything with `get`): the joined value, if any. */
export function webHeaderValues(headers: Pick<Headers, 'get'>): HeaderValues {
  return (name) => {
    const value = headers.get(name);
    return value === null ? [] : [value];
  };
}

/**
 * The values of a Node request (`IncomingMessage`, Express, Fastify's `request.raw`): one per
 * header line, from `rawHeaders`, since `headers` keeps only the first `Authorization` and joins
 * other repeated headers. Without `rawHeaders` (a hand-made request object), `headers` is read.
 */
export function nodeHeaderValues(
  headers: { readonly [name: string]: string | string[] | undefined } | undefined,
  rawHeaders: unknown,
): HeaderValues {
  if (Array.isArray(rawHeaders)) {
    return (name) => {
      let found: string[] | undefined;
      for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
        const line: unknown = rawHeaders[i];
        const value: unknown = rawHeaders[i + 1];
        // The length first: most lines are other headers, and lower-casing one costs a string.
        // (No header name lower-cases to a name of another length made of token characters.)
        if (
          typeof line === 'string' &&
          line.length === name.length &&
          typeof value === 'string' &&
          line.toLowerCase() === name
        ) {
          (found ??= []).push(value);
        }
      }
      return found ?? NO_VALUES;
    };
  }
  return (name) => {
    const value = headers?.[name];
    if (typeof value === 'string') return [value];
    return Array.isArray(value) ? value.filter((item) => typeof item === 'string') : [];
  };
}
