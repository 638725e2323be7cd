/**
 * How an error message shows a value the caller passed. Short strings are shown; longer ones
 * are not, because a caller may have passed a key where a TTL or a role belongs, and a message
 * must never carry a key (16 characters reach at most the end of a key's public id).
 */
export function echo(value: unknown): string {
  if (typeof value === 'string') {
    return value.length <= 16 ? JSON.stringify(value) : `(a string of ${value.length} characters)`;
  }
  if (typeof value === 'number') return String(value);
  return `(${value === null ? 'null' : typeof value})`;
}
