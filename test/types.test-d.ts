import { describe, expectTypeOf, it } from 'vitest';
import {
  createKeymint,
  parseTtl,
  type ApiKey,
  type KeymintErrorCode,
  type VerifyFailureReason,
  type VerifyResult,
} from '../src/index.js';
import { memoryAdapter } from '../src/adapters/memory/index.js';
import { isKeymintError } from '../src/errors.js';

describe('public types', () => {
  it('parseTtl returns a number', () => {
    expectTypeOf(parseTtl).returns.toEqualTypeOf<number>();
  });

  it('verifyKey narrows on valid', async () => {
    const keymint = createKeymint({ adapter: memoryAdapter() });
    const result = await keymint.verifyKey('km_x');
    expectTypeOf(result).toEqualTypeOf<VerifyResult>();
    if (result.valid) {
      expectTypeOf(result.apiKey).toEqualTypeOf<ApiKey>();
      // @ts-expect-error a valid result has no reason
      void result.reason;
    } else {
      expectTypeOf(result.reason).toEqualTypeOf<VerifyFailureReason>();
    }
  });

  it('ApiKey records have no secret or hash field', () => {
    expectTypeOf<ApiKey>().not.toHaveProperty('secretHash');
    expectTypeOf<ApiKey>().not.toHaveProperty('key');
    expectTypeOf<keyof ApiKey>().toEqualTypeOf<
      | 'id'
      | 'name'
      | 'role'
      | 'scope'
      | 'createdAt'
      | 'expiresAt'
      | 'lastUsedAt'
      | 'revokedAt'
      | 'metadata'
      | 'rotatedAt'
      | 'previousKeyExpiresAt'
    >();
  });

  it('the actor type flows from authorize to the call context', () => {
    type User = { id: string; role: 'Viewer' | 'Admin' };
    const keymint = createKeymint({
      adapter: memoryAdapter(),
      authorize: ({ actor }: { actor: User }) => actor.role === 'Admin',
    });
    expectTypeOf(keymint.listApiKeys)
      .parameter(1)
      .toEqualTypeOf<{ actor: User; scope?: string } | undefined>();
  });

  it('isKeymintError narrows to a coded error', () => {
    const error: unknown = new Error('x');
    if (isKeymintError(error)) expectTypeOf(error.code).toEqualTypeOf<KeymintErrorCode>();
  });
});
