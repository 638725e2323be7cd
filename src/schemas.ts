// The zod schemas at keymint's boundaries, by family in src/schemas/ (characters, fields,
// operations, options), and describeIssues, which turns a zod error into one sentence.
import type { z } from 'zod';

export { describeCodePoint, INVISIBLE_CHARACTERS, visibleText } from './schemas/characters.js';
export { metadataSchema, nameSchema, ownerSchema, scopeSchema } from './schemas/fields.js';
export {
  contextSchema,
  createInputSchema,
  listInputSchema,
  purgeInputSchema,
  revokeOwnerInputSchema,
  rotateOptionsSchema,
  updateInputSchema,
  verifyOptionsSchema,
} from './schemas/operations.js';
export { ADAPTER_METHODS, optionsSchema } from './schemas/options.js';

/** Turns zod issues into one sentence a person can act on. Never includes input values. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => {
      const path = issue.path.map(String).join('.');
      return path && !issue.message.startsWith(path) ? `${path}: ${issue.message}` : issue.message;
    })
    .join('; ');
}
