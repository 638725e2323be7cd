// How keymint/http answers the error codes of updateApiKey and rotateApiKey (the routes that call
// them are tested with the routes): a 409 with the message, as for NAME_TAKEN, never a 500.
import { describe, expect, it } from 'vitest';
import { fromError } from '../src/http/responses.js';
import { KeymintError, type KeymintErrorCode } from '../src/index.js';

describe('fromError()', () => {
  it.each<KeymintErrorCode>(['REVOKED', 'EXPIRED', 'CONFLICT', 'NAME_TAKEN'])(
    'answers %s with 409 and its message, not as a server fault',
    async (code) => {
      const { response, serverFault } = fromError(new KeymintError(code, `the ${code} message`));
      expect(response.status).toBe(409);
      expect(await response.json()).toEqual({ message: `the ${code} message` });
      expect(serverFault).toBe(false);
    },
  );
});
