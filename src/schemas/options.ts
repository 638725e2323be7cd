// The schema of createKeymint()'s options, parsed once at construction, and the adapter methods
// every store must have.
import { z } from 'zod';
import type { KeyAdapter } from '../adapter.js';
import type { Hasher } from '../core/hasher.js';
import { PREFIX_PATTERN } from '../core/key-format.js';
import { notAnObject } from './fields.js';

export const ADAPTER_METHODS = [
  'insert',
  'findById',
  'list',
  'update',
  'delete',
  'deleteExpired',
] as const;

const isFunction = (value: unknown): value is (...args: never[]) => unknown =>
  typeof value === 'function';

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
