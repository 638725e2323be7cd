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
  // URL's password, which may well be a long random string, is not looked at: it is never shown.
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
  if (target.kind === 'sqlite') return `SQLite database ${target.path}`;
  const name = target.kind === 'postgres' ? 'PostgreSQL' : 'Redis';
  return `${name} at ${redactUrl(target.url)}`;
}

/** A URL with its password replaced by `***`; only the scheme when it does not parse. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password !== '') parsed.password = '***';
    return parsed.toString();
  } catch {
    return `${ANY_URL.exec(url)?.[0] ?? ''}(unparsable URL)`;
  }
}
