// The input schemas of the instance's operations: create, update, rotate, list, verify, purge,
// revoke by owner, and the context that management calls take.
import { z } from 'zod';
import { CONTROL, wellFormed } from './characters.js';
import { metadataSchema, nameSchema, notAnObject, ownerSchema, scopeSchema } from './fields.js';

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
