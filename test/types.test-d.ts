import { describe, expectTypeOf, it } from 'vitest';
import {
  createKeymint,
  parseTtl,
  type ApiKey,
  type ApiKeyAction,
  type KeyAdapter,
  type ModifyResult,
  type RotatedApiKey,
  type UpdateApiKeyInput,
  type KeymintErrorCode,
  type VerifyFailureReason,
  type VerifyResult,
  type VerifyOptions,
  type Keymint,
  type PermissionsInfo,
} from '../src/index.js';
import { memoryAdapter } from '../src/adapters/memory/index.js';
import { isKeymintError } from '../src/errors.js';

describe('public types', () => {
  it('updateApiKey and rotateApiKey have the signatures issue 15 fixes', () => {
    const keymint = createKeymint<{ id: string }>({ adapter: memoryAdapter() });
    expectTypeOf(keymint.updateApiKey).parameters.toEqualTypeOf<
      [string, UpdateApiKeyInput, ({ actor: { id: string }; scope?: string } | undefined)?]
    >();
    expectTypeOf(keymint.updateApiKey).returns.resolves.toEqualTypeOf<ApiKey>();
    expectTypeOf(keymint.rotateApiKey).returns.resolves.toEqualTypeOf<RotatedApiKey>();
    expectTypeOf<RotatedApiKey>().toEqualTypeOf<{ key: string; apiKey: ApiKey }>();
    expectTypeOf<UpdateApiKeyInput>().toEqualTypeOf<{
      name?: string;
      role?: string;
      metadata?: Record<string, unknown> | null;
      ttl?: string | number | null;
      permissions?: readonly string[] | null;
      rateLimit?: { limit: number; window: string | number } | null;
      credits?: {
        remaining: number;
        refill?: { amount: number; interval: string | number };
      } | null;
    }>();
    expectTypeOf<Parameters<typeof keymint.rotateApiKey>[1]>().toEqualTypeOf<
      { gracePeriod?: string | number; ttl?: string | number | null } | undefined
    >();
    // @ts-expect-error the scope of a key never changes
    void keymint.updateApiKey('id', { scope: 'other' });
  });

  it("has 'rotated' among the reasons and 'apikeys:write' among the actions", () => {
    expectTypeOf<'rotated'>().toMatchTypeOf<VerifyFailureReason>();
    expectTypeOf<'apikeys:write'>().toMatchTypeOf<ApiKeyAction>();
    expectTypeOf<'REVOKED' | 'EXPIRED' | 'CONFLICT'>().toMatchTypeOf<KeymintErrorCode>();
  });

  it('modify is optional in the adapter contract and reports why it refused', () => {
    expectTypeOf<KeyAdapter['modify']>().toMatchTypeOf<
      ((...args: never[]) => unknown) | undefined
    >();
    expectTypeOf<Extract<ModifyResult, { ok: false }>['reason']>().toEqualTypeOf<
      'not_found' | 'revoked' | 'secret' | 'name'
    >();
  });

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

  it('a busy result carries retryAfterMs, and only a busy one', async () => {
    const keymint = createKeymint({ adapter: memoryAdapter() });
    const result = await keymint.verifyKey('km_x');
    if (!result.valid && result.reason === 'busy') {
      expectTypeOf(result.retryAfterMs).toEqualTypeOf<number>();
    } else if (!result.valid) {
      // @ts-expect-error only a busy result has retryAfterMs
      void result.retryAfterMs;
    }
  });

  it('ApiKey records have no secret or hash field', () => {
    expectTypeOf<ApiKey>().not.toHaveProperty('secretHash');
    expectTypeOf<ApiKey>().not.toHaveProperty('key');
    expectTypeOf<keyof ApiKey>().toEqualTypeOf<
      | 'id'
      | 'limits'
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
      | 'permissions'
      | 'owner'
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

  it('permissions: the options, the effective list and the instance map (issue 16)', () => {
    expectTypeOf<VerifyOptions['permissions']>().toEqualTypeOf<readonly string[] | undefined>();
    expectTypeOf<ApiKey['permissions']>().toEqualTypeOf<readonly string[] | null>();
    expectTypeOf<VerifyFailureReason>().extract<'insufficient_permission'>().not.toBeNever();
    expectTypeOf<Keymint['permissions']>().toEqualTypeOf<PermissionsInfo | null>();
    expectTypeOf<PermissionsInfo['grants']>().toEqualTypeOf<
      Readonly<Record<string, readonly string[]>>
    >();
  });

  it('isKeymintError narrows to a coded error', () => {
    const error: unknown = new Error('x');
    if (isKeymintError(error)) expectTypeOf(error.code).toEqualTypeOf<KeymintErrorCode>();
  });
});
