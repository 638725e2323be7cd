import { z } from 'zod';
import type { KeyAdapter } from './adapter.js';
import type { Hasher } from './core/hasher.js';
import { PREFIX_PATTERN } from './core/key-format.js';

export const ADAPTER_METHODS = [
  'insert',
  'findById',
  'list',
  'update',
  'delete',
  'deleteExpired',
] as const;

/** The object-level message for a value that is not an object at all. */
const notAnObject = (message: string) => ({
  error: (issue: { code?: string }) => (issue.code === 'invalid_type' ? message : undefined),
});

const isFunction = (value: unknown): value is (...args: never[]) => unknown =>
  typeof value === 'function';

// Cc (C0/C1 controls, DEL) and the line/paragraph separators.
const CONTROL = /[\p{Cc}\p{Zl}\p{Zp}]/u;
// In a /u pattern a surrogate pair reads as one code point, so this only finds lone halves.
const LONE_SURROGATE = /\p{Cs}/u;
const wellFormed = (value: string) => !LONE_SURROGATE.test(value);

/**
 * Characters that a terminal, a log line or a web page shows as nothing, as a space, or that move
 * the text around them: every format character (`\p{Cf}`: zero-width characters, U+FEFF,
 * the soft hyphen, the bidirectional marks, embeddings, overrides and isolates, tags), Unicode's
 * default-ignorable code points (Hangul fillers, variation selectors, the combining grapheme
 * joiner, Mongolian free variation selectors...), every space other than U+0020, and U+2800
 * BRAILLE PATTERN BLANK. With any of them, two names that render alike could both exist, and a
 * U+202E would reorder the rest of a `keymint list` line.
 */
export const INVISIBLE_CHARACTERS =
  '\\p{Cf}\\p{Default_Ignorable_Code_Point}\\u00A0\\u1680\\u2000-\\u200A\\u202F\\u205F\\u3000\\u2800';
const INVISIBLE = new RegExp(`[${INVISIBLE_CHARACTERS}]`, 'u');

/** Names of the characters people meet most; the others are named by their code point only. */
const CHARACTER_NAMES: Readonly<Record<number, string>> = {
  0x00a0: 'NO-BREAK SPACE',
  0x00ad: 'SOFT HYPHEN',
  0x034f: 'COMBINING GRAPHEME JOINER',
  0x061c: 'ARABIC LETTER MARK',
  0x115f: 'HANGUL CHOSEONG FILLER',
  0x1160: 'HANGUL JUNGSEONG FILLER',
  0x1680: 'OGHAM SPACE MARK',
  0x180e: 'MONGOLIAN VOWEL SEPARATOR',
  0x2000: 'EN QUAD',
  0x2001: 'EM QUAD',
  0x2002: 'EN SPACE',
  0x2003: 'EM SPACE',
  0x2004: 'THREE-PER-EM SPACE',
  0x2005: 'FOUR-PER-EM SPACE',
  0x2006: 'SIX-PER-EM SPACE',
  0x2007: 'FIGURE SPACE',
  0x2008: 'PUNCTUATION SPACE',
  0x2009: 'THIN SPACE',
  0x200a: 'HAIR SPACE',
  0x200b: 'ZERO WIDTH SPACE',
  0x200c: 'ZERO WIDTH NON-JOINER',
  0x200d: 'ZERO WIDTH JOINER',
  0x200e: 'LEFT-TO-RIGHT MARK',
  0x200f: 'RIGHT-TO-LEFT MARK',
  0x202a: 'LEFT-TO-RIGHT EMBEDDING',
  0x202b: 'RIGHT-TO-LEFT EMBEDDING',
  0x202c: 'POP DIRECTIONAL FORMATTING',
  0x202d: 'LEFT-TO-RIGHT OVERRIDE',
  0x202e: 'RIGHT-TO-LEFT OVERRIDE',
  0x202f: 'NARROW NO-BREAK SPACE',
  0x205f: 'MEDIUM MATHEMATICAL SPACE',
  0x2060: 'WORD JOINER',
  0x2061: 'FUNCTION APPLICATION',
  0x2062: 'INVISIBLE TIMES',
  0x2063: 'INVISIBLE SEPARATOR',
  0x2064: 'INVISIBLE PLUS',
  0x2066: 'LEFT-TO-RIGHT ISOLATE',
  0x2067: 'RIGHT-TO-LEFT ISOLATE',
  0x2068: 'FIRST STRONG ISOLATE',
  0x2069: 'POP DIRECTIONAL ISOLATE',
  0x2800: 'BRAILLE PATTERN BLANK',
  0x3000: 'IDEOGRAPHIC SPACE',
  0x3164: 'HANGUL FILLER',
  0xfeff: 'ZERO WIDTH NO-BREAK SPACE',
  0xffa0: 'HALFWIDTH HANGUL FILLER',
};

/** `U+202E RIGHT-TO-LEFT OVERRIDE`, or `U+E0041` for a character without a name here. */
export function describeCodePoint(codePoint: number): string {
  const hex = `U+${codePoint.toString(16).toUpperCase().padStart(4, '0')}`;
  let name = CHARACTER_NAMES[codePoint];
  if (codePoint >= 0xfe00 && codePoint <= 0xfe0f) {
    name = `VARIATION SELECTOR-${codePoint - 0xfe00 + 1}`;
  } else if (codePoint >= 0xe0100 && codePoint <= 0xe01ef) {
    name = `VARIATION SELECTOR-${codePoint - 0xe0100 + 17}`;
  }
  return name === undefined ? hex : `${hex} ${name}`;
}

/**
 * The check for text that people read to tell one thing from another: names and scopes now, the
 * owner of a key later. Refuses the first {@link INVISIBLE_CHARACTERS} character, named by its
 * code point (never the value itself, which may be a key given by mistake).
 */
export function visibleText(field: string) {
  return (value: string, context: z.RefinementCtx) => {
    const found = INVISIBLE.exec(value);
    if (!found) return;
    const character = describeCodePoint(found[0].codePointAt(0)!);
    context.addIssue({
      code: 'custom',
      message:
        `${field} must not contain ${character}: invisible characters, direction controls and ` +
        `spaces other than U+0020 could make one ${field} look like another`,
    });
  };
}

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

export const createInputSchema = z.strictObject(
  {
    name: nameSchema,
    role: z.unknown().optional(),
    ttl: z.unknown().optional(),
    scope: scopeSchema.optional(),
    metadata: metadataSchema.optional(),
    owner: ownerSchema.optional(),
    // Checked against the instance's permissions map (src/core/permissions.ts).
    permissions: z.unknown().optional(),
    rateLimit: z.unknown().optional(),
    credits: z.unknown().optional(),
  },
  notAnObject(
    'createApiKey() takes an object: { name, role, ttl, scope?, metadata?, owner?, permissions?, rateLimit?, credits? }',
  ),
);

export const updateInputSchema = z.strictObject(
  {
    name: nameSchema.optional(),
    role: z.unknown().optional(),
    metadata: metadataSchema.optional(),
    ttl: z.unknown().optional(),
    permissions: z.unknown().optional(),
    rateLimit: z.unknown().optional(),
    credits: z.unknown().optional(),
  },
  notAnObject(
    'updateApiKey() takes a patch object: { name?, role?, metadata?, ttl?, permissions?, rateLimit?, credits? }',
  ),
);

export const rotateOptionsSchema = z
  .strictObject(
    { gracePeriod: z.unknown().optional(), ttl: z.unknown().optional() },
    notAnObject('rotateApiKey() options must be an object: { gracePeriod?, ttl? }'),
  )
  .optional();

export const listInputSchema = z
  .strictObject(
    {
      scope: scopeSchema.optional(),
      owner: ownerSchema.optional(),
      includeExpired: z.boolean({ error: 'includeExpired must be true or false' }).optional(),
      limit: z
        .number({ error: 'limit must be a number' })
        .int('limit must be a whole number')
        .min(1, 'limit must be at least 1')
        .max(1000, 'limit must be at most 1000')
        .optional(),
      // A name from the previous page: normalised and checked as names are, so every store reads it alike.
      after: z
        .string({ error: 'after must be a string (the last name of the previous page)' })
        .transform((value) => value.trim().normalize('NFC'))
        .refine(wellFormed, 'after must be valid Unicode (it has a lone surrogate)')
        .refine((value) => [...value].length <= 190, 'after must be at most 190 characters')
        .refine((value) => !CONTROL.test(value), 'after must not contain control characters')
        .optional(),
    },
    notAnObject(
      'listApiKeys() takes an object: { scope?, owner?, includeExpired?, limit?, after? }',
    ),
  )
  .optional();

export const verifyOptionsSchema = z
  .strictObject(
    {
      role: z.string({ error: 'role must be a string' }).optional(),
      scope: scopeSchema.optional(),
    },
    notAnObject('verifyKey() options must be an object: { role?, scope? }'),
  )
  .optional();

export const purgeInputSchema = z
  .strictObject(
    { olderThan: z.unknown().optional() },
    notAnObject('purgeExpired() takes an object: { olderThan? }'),
  )
  .optional();

export const revokeOwnerInputSchema = z.strictObject(
  { owner: ownerSchema, scope: scopeSchema.optional() },
  notAnObject('revokeApiKeys() takes an object: { owner, scope? }'),
);

export const contextSchema = z
  .object({ actor: z.unknown() }, { error: 'the context must be an object: { actor }' })
  .optional();

const ttlOption = z.union([z.string(), z.number()]);

const wholeNumber = (what: string, min: number, max: number) =>
  z
    .number({ error: `${what} must be a number` })
    .int(`${what} must be a whole number`)
    .min(min, `${what} must be at least ${min}`)
    .max(max, `${what} must be at most ${max.toLocaleString('en-US')}`);

// Strict: a misspelt option (`authorise`, `minRole`) must fail, not silently switch a check off.
export const optionsSchema = z.strictObject(
  {
    adapter: z.custom<KeyAdapter>(
      (value) =>
        typeof value === 'object' &&
        value !== null &&
        ADAPTER_METHODS.every((m) => isFunction((value as Record<string, unknown>)[m])),
      `adapter must implement ${ADAPTER_METHODS.join(', ')} (for example memoryAdapter() from 'keymint/adapters/memory')`,
    ),
    roles: z
      .array(
        z
          .string()
          .trim()
          .min(1, 'a role name must not be empty')
          .max(64, 'a role name must be at most 64 characters'),
        { error: 'roles must be an array of role names, lowest to highest' },
      )
      .min(1, 'roles must name at least one role')
      .refine(
        (roles) => new Set(roles.map((r) => r.toLowerCase())).size === roles.length,
        'roles must not repeat a name (roles are matched case-insensitively)',
      )
      .optional(),
    maxTtl: ttlOption.optional(),
    allowNonExpiring: z.boolean().optional(),
    prefix: z
      .string()
      .regex(
        PREFIX_PATTERN,
        'prefix must be 1 to 16 characters: a lower-case letter, then lower-case letters or digits',
      )
      .optional(),
    hasher: z
      .custom<Hasher>(
        (value) =>
          typeof value === 'object' &&
          value !== null &&
          isFunction((value as Hasher).hash) &&
          isFunction((value as Hasher).verify),
        'hasher must have hash(secret) and verify(hash, secret) methods',
      )
      .optional(),
    authorize: z
      .custom<(request: never) => unknown>(isFunction, 'authorize must be a function')
      .optional(),
    actorRole: z
      .custom<(actor: never) => unknown>(isFunction, 'actorRole must be a function')
      .optional(),
    now: z.custom<() => Date>(isFunction, 'now must be a function returning a Date').optional(),
    lastUsedInterval: ttlOption.optional(),
    onBackgroundError: z
      .custom<(error: unknown) => void>(isFunction, 'onBackgroundError must be a function')
      .optional(),
    onEvent: z
      .custom<(event: never) => unknown>(isFunction, 'onEvent must be a function')
      .optional(),
    cache: z
      .union(
        [
          z.literal(false),
          z.strictObject({
            ttl: ttlOption.optional(),
            maxEntries: wholeNumber('cache.maxEntries', 1, 10_000_000).optional(),
          }),
        ],
        { error: "cache must be false or { ttl?, maxEntries? }, for example { ttl: '30s' }" },
      )
      .optional(),
    hashing: z
      .strictObject(
        {
          concurrency: wholeNumber('hashing.concurrency', 1, 1024).optional(),
          queue: wholeNumber('hashing.queue', 0, 1_000_000).optional(),
          maxWait: ttlOption.optional(),
          timeout: ttlOption.optional(),
        },
        { error: 'hashing must be an object: { concurrency?, queue?, maxWait?, timeout? }' },
      )
      .optional(),
    rateLimit: z
      .union(
        [
          z.literal(false),
          z.strictObject({
            failures: wholeNumber('rateLimit.failures', 1, 1_000_000).optional(),
            window: ttlOption.optional(),
            shared: z.boolean({ error: 'rateLimit.shared must be true or false' }).optional(),
          }),
        ],
        {
          error:
            "rateLimit must be false or { failures?, window?, shared? }, for example { failures: 10, window: '1m' }",
        },
      )
      .optional(),
    rateLimits: z.unknown().optional(),
    lastUsedDelayMs: wholeNumber('lastUsedDelayMs', 0, 60_000).optional(),
    storeTimeout: ttlOption.optional(),
    maxKeysPerScope: wholeNumber('maxKeysPerScope', 1, 10_000_000).optional(),
    // Checked entry by entry by PermissionMap (src/core/permissions.ts), which names the bad one.
    permissions: z
      .record(z.string(), z.unknown(), {
        error:
          "permissions must be an object from role to permissions, for example { Viewer: ['dashboards:read'] }",
      })
      .optional(),
  },
  notAnObject('createKeymint() takes an options object with at least { adapter }'),
);

/** Turns zod issues into one sentence a person can act on. Never includes input values. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.map(String).join('.');
      return path && !issue.message.startsWith(path) ? `${path}: ${issue.message}` : issue.message;
    })
    .join('; ');
}
