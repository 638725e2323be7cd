/**
 * Anything shaped like a key of any prefix whose secret is whole: a prefix, `_`, 12 id
 * characters, `_`, then at least the 28 characters of the secret (a checksum cut short or glued to
 * more text still carries the secret). No imports: `keymint/errors` and `keymint/ttl` load it.
 */
const KEY_SHAPED = /[a-z][a-z0-9]{0,15}_[0-9A-Za-z]{12}_[0-9A-Za-z]{28,}/g;
/**
 * A secret on its own (ids are public, so a secret and its id make the key): a run of 28 or more
 * base62 characters with both letter cases. A generated secret lacks one case with a chance of
 * about 1 in 4 million; words and ordinary identifiers are shorter or single-case.
 */
// No lookbehind (keymint/ttl runs in browsers, Safari before 16.4 has none): the character before
// the run is captured and written back.
const SECRET_SHAPED = /(^|[^0-9A-Za-z])(?=[0-9A-Za-z]*[a-z])(?=[0-9A-Za-z]*[A-Z])[0-9A-Za-z]{28,}/g;

/** Replaces every key-shaped run of `text`: a caller may pass a key where a name belongs. */
export function redactKeys(text: string): string {
  return text.replace(KEY_SHAPED, '[redacted]').replace(SECRET_SHAPED, '$1[redacted]');
}

/**
 * A copy of an error thrown by the caller's own data (a getter, a Proxy, a cyclic value) that is
 * safe to attach as a `cause`: the engine quotes property names in such messages, and a key may be
 * one. Only the name and the redacted message are kept.
 */
export function safeCause(error: unknown): Error {
  const copy = new Error(
    redactKeys(error instanceof Error ? String(error.message) : 'a non-Error value was thrown'),
  );
  copy.name = error instanceof Error ? String(error.name) : 'Error';
  return copy;
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
