import type { ApiKey } from '../core/types.js';
import { escapeUnshowable } from './escape.js';
import { OutputError } from './failures.js';
import type { CliOutput } from './io.js';

/** A key's record for JSON output: ISO 8601 dates, never a key or a hash. */
export interface RecordJson {
  id: string;
  name: string;
  role: string;
  scope: string;
  createdAt: string;
  expiresAt: string | null;
  lastUsedAt: string | null;
  revokedAt: string | null;
  rotatedAt: string | null;
  /** When the secret replaced by the last rotation stops (stopped) verifying. */
  previousKeyExpiresAt: string | null;
  metadata: Readonly<Record<string, unknown>> | null;
  /** The user or service account the key belongs to, or null. */
  owner: string | null;
}

const iso = (date: Date | null): string | null => (date ? date.toISOString() : null);

export function recordJson(apiKey: ApiKey): RecordJson {
  return {
    id: apiKey.id,
    name: apiKey.name,
    role: apiKey.role,
    scope: apiKey.scope,
    createdAt: apiKey.createdAt.toISOString(),
    expiresAt: iso(apiKey.expiresAt),
    lastUsedAt: iso(apiKey.lastUsedAt),
    revokedAt: iso(apiKey.revokedAt),
    rotatedAt: iso(apiKey.rotatedAt),
    previousKeyExpiresAt: iso(apiKey.previousKeyExpiresAt),
    metadata: apiKey.metadata,
    owner: apiKey.owner,
  };
}

/**
 * Writes `text` (through {@link escapeUnshowable}) and resolves once `out` has taken it (its write callback: for process.stdout, the
 * pipe, file or terminal accepted it); rejects with the write's error.
 */
export function deliver(out: CliOutput, text: string): Promise<void> {
  return new Promise((resolve, reject) => {
    try {
      out.write(escapeUnshowable(text), (error) => (error ? reject(error) : resolve()));
    } catch (error) {
      reject(error);
    }
  });
}

const errnoCode = (error: unknown): unknown => (error as { code?: unknown } | null)?.code;

/**
 * Writes a command's result to stdout and waits for it. A reader that went away (EPIPE, as in
 * `keymint list | head -1`) is not a failure: the command did its work and keeps its exit code.
 * Any other write error is an OutputError (exit 4).
 */
export async function printOut(out: CliOutput, text: string): Promise<void> {
  try {
    await deliver(out, text);
  } catch (error) {
    if (errnoCode(error) === 'EPIPE') return;
    const message = error instanceof Error ? error.message : String(error);
    throw new OutputError(`Cannot write to stdout: ${message}`, { cause: error });
  }
}

/** One JSON document on one line, printed with {@link printOut}. */
export function printJson(out: CliOutput, value: unknown): Promise<void> {
  return printOut(out, `${JSON.stringify(value)}\n`);
}

/** `2026-05-01 12:00:00 UTC`: readable, sortable, the same on every machine. */
export function readableDate(date: Date): string {
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** The expiry for people: `never`, a date, and `(expired)` once it has passed. */
export function readableExpiry(expiresAt: Date | null, now: Date): string {
  if (!expiresAt) return 'never';
  const when = readableDate(expiresAt);
  return expiresAt.getTime() <= now.getTime() ? `${when} (expired)` : when;
}

/** Lines of left-aligned columns separated by two spaces, without trailing spaces. */
export function table(header: readonly string[], given: readonly (readonly string[])[]): string {
  // Escaped before the widths are measured, so that the columns stay aligned.
  const rows = given.map((row) => row.map(escapeUnshowable));
  const widths = header.map((title, column) =>
    Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join('  ')
      .trimEnd();
  return [header, ...rows].map(line).join('\n') + '\n';
}

/** The `list` table: id, name, role, expiry, last use, revocation. */
export function keyTable(keys: readonly ApiKey[], now: Date): string {
  return table(
    ['ID', 'NAME', 'ROLE', 'EXPIRES', 'LAST USED', 'REVOKED'],
    keys.map((key) => [
      key.id,
      key.name,
      key.role,
      readableExpiry(key.expiresAt, now),
      key.lastUsedAt ? readableDate(key.lastUsedAt) : 'never',
      key.revokedAt ? readableDate(key.revokedAt) : 'no',
    ]),
  );
}
