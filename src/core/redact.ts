/**
 * Anything shaped like a key of any prefix whose secret is whole: a prefix, `_`, 12 id
 * characters, `_`, then at least the 28 characters of the secret (a checksum cut short or glued to
 * more text still carries the secret). No imports: `keymint/errors` and `keymint/ttl` load it.
 */
const KEY_SHAPED = /[a-z][a-z0-9]{0,15}_[0-9A-Za-z]{12}_[0-9A-Za-z]{28,}/g;

/** Replaces every key-shaped run of `text`: a caller may pass a key where a name belongs. */
export function redactKeys(text: string): string {
  return text.replace(KEY_SHAPED, '[redacted]');
}

/**
 * Redacts, in place, every string inside a plain data value (objects and arrays, such as zod's
 * issues with their paths and unknown keys), so that an error's `cause` cannot carry a key either.
 */
export function redactKeysDeep(value: unknown, depth = 0): void {
  if (depth > 20 || typeof value !== 'object' || value === null) return;
  const record = value as Record<PropertyKey, unknown>;
  for (const key of Object.keys(record)) {
    const inner = record[key];
    if (typeof inner === 'string') record[key] = redactKeys(inner);
    else redactKeysDeep(inner, depth + 1);
  }
}
