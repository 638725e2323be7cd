import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { looksLikeKey, UsageError } from './failures.js';

/** Where the keys live, as `--db` or KEYMINT_DB names it. */
export type DbTarget =
  | { kind: 'sqlite'; path: string }
  | { kind: 'postgres'; url: string }
  | { kind: 'redis'; url: string };

/** The SQLite file used when neither --db nor KEYMINT_DB is given, in the current folder. */
export const DEFAULT_SQLITE_FILE = 'keymint.db';

const ANY_URL = /^([a-z][a-z0-9+.-]*):\/\//i;

function sqlitePath(file: string, cwd: string, given: string): DbTarget {
  if (file === '') throw new UsageError(`--db '${given}' names no file.`);
  return { kind: 'sqlite', path: file === ':memory:' ? file : path.resolve(cwd, file) };
}

/**
 * Reads `--db` (or KEYMINT_DB; an empty value counts as unset): a SQLite path, `sqlite:<path>`,
 * `file:<path>` or a `file://` URL, a `postgres://` / `postgresql://` URL, or `redis://` /
 * `rediss://`. Relative paths resolve against `cwd`. Throws UsageError for other URL schemes.
 */
export function parseDbTarget(given: string | undefined, cwd: string): DbTarget {
  const raw = given === undefined || given === '' ? DEFAULT_SQLITE_FILE : given;
  const scheme = ANY_URL.exec(raw)?.[1]?.toLowerCase();
  // A key in --db or KEYMINT_DB would be repeated in "There is no SQLite database …/km_…". A
  // URL's password and secret parameters, which may well be long random strings, are not looked
  // at: they are never shown.
  if (looksLikeKey(scheme === undefined ? raw : redactUrl(raw))) {
    throw new UsageError('--db (or KEYMINT_DB) looks like an API key; it is not repeated here.');
  }
  if (scheme === 'postgres' || scheme === 'postgresql') return { kind: 'postgres', url: raw };
  if (scheme === 'redis' || scheme === 'rediss') return { kind: 'redis', url: raw };
  if (scheme === 'file') {
    try {
      return sqlitePath(fileURLToPath(raw), cwd, raw);
    } catch (error) {
      if (error instanceof UsageError) throw error;
      throw new UsageError(
        `--db '${redactUrl(raw)}' is not a usable file URL; use a path or sqlite:<path>.`,
      );
    }
  }
  if (scheme !== undefined && scheme !== 'sqlite') {
    throw new UsageError(
      `--db: unsupported scheme '${scheme}://'. Use a SQLite path, sqlite:<path>, postgres://, postgresql://, redis:// or rediss://.`,
    );
  }
  const prefixed = /^(sqlite|file):(?:\/\/)?/i.exec(raw);
  return sqlitePath(prefixed ? raw.slice(prefixed[0].length) : raw, cwd, raw);
}

/** The target for messages, without a password. */
export function describeTarget(target: DbTarget): string {
  if (target.kind === 'sqlite') return `SQLite database ${redactPathQuery(target.path)}`;
  const name = target.kind === 'postgres' ? 'PostgreSQL' : 'Redis';
  return `${name} at ${redactUrl(target.url)}`;
}

/**
 * Query parameters whose value is never shown: a name that, decoded and in any letter case,
 * holds one of these. pg reads `password`, `sslpassword`, `sslkey`, `sslcert`, `sslrootcert` and
 * `passfile` from the query, ioredis `password`; the rule is broad on purpose (paths to key files
 * and tokens of a future driver included), since a masked harmless value costs nothing.
 */
const SECRET_PARAMETER = /pass|pwd|secret|token|key|auth|cred|cert/i;

/** `name=value&…` with the value of each secret-looking name replaced by `***`. */
function redactQuery(query: string): string {
  return query
    .split('&')
    .map((part) => {
      const equals = part.indexOf('=');
      if (equals === -1) return part;
      // Decoded as the drivers decode it: `pass%77ord` is `password` to them.
      const name = [...new URLSearchParams(part.slice(0, equals)).keys()][0] ?? '';
      return SECRET_PARAMETER.test(name) || SECRET_PARAMETER.test(part.slice(0, equals))
        ? `${part.slice(0, equals)}=***`
        : part;
    })
    .join('&');
}

/** A SQLite path given with a query (SQLite reads it as part of the name): the query redacted. */
function redactPathQuery(file: string): string {
  const query = file.indexOf('?');
  return query === -1 ? file : `${file.slice(0, query)}?${redactQuery(file.slice(query + 1))}`;
}

/**
 * A URL with its password replaced by `***`, and so the value of every query parameter that may
 * hold a secret ({@link SECRET_PARAMETER}) and any fragment; only the scheme when it does not
 * parse.
 */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    if (parsed.search !== '') parsed.search = redactQuery(parsed.search.slice(1));
    if (parsed.hash !== '') parsed.hash = '***';
    return parsed.toString();
  } catch {
    return `${ANY_URL.exec(url)?.[0] ?? ''}(unparsable URL)`;
  }
}
