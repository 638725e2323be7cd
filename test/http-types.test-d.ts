import { describe, expectTypeOf, it } from 'vitest';
import type {
  AuthenticateRequestOptions,
  RotateApiKeyBody,
  UpdateApiKeyBody,
} from '../src/http/index.js';
import type { RequireApiKeyOptions as ExpressOptions } from '../src/http/express.js';
import type { RequireApiKeyOptions as FastifyOptions } from '../src/http/fastify.js';
import type { RequireApiKeyOptions as HonoOptions } from '../src/http/hono.js';

describe('keymint/http types of issue 15', () => {
  it('takes headers as a readonly list of names beside the verify options', () => {
    expectTypeOf<AuthenticateRequestOptions['headers']>().toEqualTypeOf<
      readonly string[] | undefined
    >();
    expectTypeOf<{
      role: 'Viewer';
      headers: ['x-api-key'];
    }>().toMatchTypeOf<AuthenticateRequestOptions>();
    for (const options of [{} as ExpressOptions, {} as FastifyOptions, {} as HonoOptions]) {
      expectTypeOf(options.headers).toEqualTypeOf<readonly string[] | undefined>();
    }
  });

  it('describes the bodies of PATCH and rotate', () => {
    expectTypeOf<UpdateApiKeyBody>().toMatchTypeOf<{
      name?: string | null;
      role?: string | null;
    }>();
    expectTypeOf<{ gracePeriod: '1h' }>().toMatchTypeOf<RotateApiKeyBody>();
    expectTypeOf<{ gracePeriod: true }>().not.toMatchTypeOf<RotateApiKeyBody>();
  });
});
