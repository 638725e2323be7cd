import type { ApiKey } from '../core/types.js';
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
  metadata: Readonly<Record<string, unknown>> | null;
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
    metadata: apiKey.metadata,
  };
}

/** One JSON document on one line. */
export function writeJson(out: CliOutput, value: unknown): void {
  out.write(`${JSON.stringify(value)}\n`);
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
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
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
