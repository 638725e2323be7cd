// The schemas of the fields several inputs share: a key's name, scope, owner and metadata; and
// the message of an input object given something that is not an object.
import { z } from 'zod';
import { CONTROL, visibleText, wellFormed } from './characters.js';

/** The object-level message for a value that is not an object at all. */
export const notAnObject = (message: string) => ({
  error: (issue: { code?: string }) => (issue.code === 'invalid_type' ? message : undefined),
});

/** A display name: trimmed and NFC-normalised, 1 to 190 characters (code points). */
export const nameSchema = z
  .string({ error: 'name must be a string' })
  .transform((value) => value.trim().normalize('NFC'))
  .refine((value) => value.length > 0, 'name must not be empty')
  .refine(wellFormed, 'name must be valid Unicode (it has a lone surrogate)')
  .refine((value) => [...value].length <= 190, 'name must be at most 190 characters')
  .refine(
    (value) => !CONTROL.test(value),
    'name must not contain control characters or line breaks',
  )
  .superRefine(visibleText('name'));

/** A scope (tenant) identifier, taken as given: 1 to 190 characters, no control characters. */
export const scopeSchema = z
  .string({ error: 'scope must be a string' })
  .min(1, 'scope must not be empty')
  .refine(wellFormed, 'scope must be valid Unicode')
  .refine((value) => [...value].length <= 190, 'scope must be at most 190 characters')
  .refine((value) => !CONTROL.test(value), 'scope must not contain control characters')
  .superRefine(visibleText('scope'))
  // purgeExpired() asks authorize() with scope '*' (every scope): no tenant may be called that.
  .refine((value) => value !== '*', "scope '*' is reserved: it stands for every scope");

/**
 * The owner of a key (a user or service-account id of the host), taken as given: 1 to 190
 * characters, the same character rules as a scope.
 */
export const ownerSchema = z
  .string({ error: 'owner must be a string' })
  .min(1, 'owner must not be empty')
  .refine(wellFormed, 'owner must be valid Unicode')
  .refine((value) => [...value].length <= 190, 'owner must be at most 190 characters')
  .refine((value) => !CONTROL.test(value), 'owner must not contain control characters')
  .superRefine(visibleText('owner'));

const METADATA_MAX_BYTES = 8_192;

/** True when every string (key or value) in a JSON value is storable everywhere: no U+0000, no lone surrogate. */
function portableStrings(value: unknown): boolean {
  if (typeof value === 'string') return !value.includes('\u0000') && wellFormed(value);
  if (Array.isArray(value)) return value.every(portableStrings);
  if (value !== null && typeof value === 'object') {
    return Object.entries(value).every(
      ([key, inner]) => portableStrings(key) && portableStrings(inner),
    );
  }
  return true;
}

/** A JSON object of at most 8 KiB, or null. */
export const metadataSchema = z
  .record(z.string(), z.json(), { error: 'metadata must be a plain JSON object' })
  .nullable()
  .refine(
    (value) => value === null || Buffer.byteLength(JSON.stringify(value)) <= METADATA_MAX_BYTES,
    `metadata must serialise to at most ${METADATA_MAX_BYTES} bytes of JSON`,
  )
  // PostgreSQL's jsonb refuses both, so no adapter may be handed them.
  .refine(
    portableStrings,
    'metadata strings must not contain U+0000 or lone surrogates (PostgreSQL jsonb cannot store them)',
  );
