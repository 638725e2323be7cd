// The admin example's audit log: keymint's onEvent hook writes each event as one line of JSON,
// appended to a file next to the database (`<db>.audit.jsonl`, created 0600), and keeps the
// newest ones in memory for the page. Append-only: nothing here rewrites or deletes a line.
//
// What a line holds: type, at, keyId, scope, name, actor (the admin key's id and name, never the
// key), and what the event says changed (role, expiresAt, changes, revokedAt, url, source...).
// keymint events never carry a key, a secret or a hash; the line is built field by field, so
// nothing else can slip in either.
import { appendFile, open, readFile } from 'node:fs/promises';

/** Events kept in memory, newest last; the file keeps them all. */
const KEEP = 500;

/** The fields of an event a line keeps, besides actor (see events.ts in keymint). */
const FIELDS = [
  'type',
  'at',
  'keyId',
  'scope',
  'name',
  'role',
  'expiresAt',
  'previousSecretExpiresAt',
  'revokedAt',
  'changes',
  'count',
  'expiredBefore',
  'url',
  'source',
  'revoked',
];

/** The actor as the log shows it: an admin key's record becomes its id and name. */
function actorOf(actor) {
  if (typeof actor !== 'object' || actor === null) return null;
  const { id, name } = actor;
  return {
    ...(typeof id === 'string' ? { keyId: id } : {}),
    name: typeof name === 'string' ? name : '(unknown)',
  };
}

/** One event as a plain JSON-safe object (Dates become ISO strings through JSON.stringify). */
export function auditEntry(event) {
  const entry = {};
  for (const field of FIELDS) if (event[field] !== undefined) entry[field] = event[field];
  entry.actor = actorOf(event.actor);
  return JSON.parse(JSON.stringify(entry));
}

/**
 * Opens (or creates, mode 0600) the log file and reads its newest lines back, so the page shows
 * the events of earlier runs too. `record(event)` is keymint's onEvent; `recent(limit)` answers
 * the newest entries first; `flush()` waits for the writes queued so far.
 */
export async function openAuditLog(file, { onError = () => {} } = {}) {
  await (await open(file, 'a', 0o600)).close();
  const entries = [];
  for (const line of (await readFile(file, 'utf8')).split('\n')) {
    if (line.trim() === '') continue;
    try {
      entries.push(JSON.parse(line));
    } catch {
      // A torn last line (a crash mid-write): skipped, the rest stays readable.
    }
  }
  entries.splice(0, Math.max(0, entries.length - KEEP));

  // One write at a time, in event order.
  let writes = Promise.resolve();
  return {
    file,
    record(event) {
      const entry = auditEntry(event);
      entries.push(entry);
      if (entries.length > KEEP) entries.shift();
      const line = `${JSON.stringify(entry)}\n`;
      writes = writes.then(() => appendFile(file, line, { mode: 0o600 })).catch(onError);
      return writes;
    },
    recent(limit = 100) {
      return entries.slice(-limit).reverse();
    },
    flush() {
      return writes;
    },
  };
}
