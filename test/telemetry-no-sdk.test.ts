// Why the OTel bench row can only show noise: with @opentelemetry/api installed and no meter
// provider registered, verification is the very same function, unwrapped; once a provider is
// registered before the instance, it is wrapped. (Speed itself is measured in bench/otel.mjs.)
import { metrics } from '@opentelemetry/api';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { afterEach, describe, expect, it } from 'vitest';
import { createTelemetry } from '../src/core/telemetry.js';
import type { VerifyResult } from '../src/core/types.js';

const verify = async (): Promise<VerifyResult> => ({ valid: false, reason: 'malformed' });

afterEach(() => {
  metrics.disable();
});

describe('OpenTelemetry without an SDK', () => {
  it('leaves verifyKey unwrapped: the same function, nothing added per call', () => {
    const telemetry = createTelemetry({ cache: null, limiter: null });
    expect(telemetry.instrumentVerify(verify)).toBe(verify);
  });

  it('wraps it once a meter provider is registered before the instance', async () => {
    metrics.setGlobalMeterProvider(new MeterProvider());
    const wrapped = createTelemetry({ cache: null, limiter: null }).instrumentVerify(verify);
    expect(wrapped).not.toBe(verify);
    expect(await wrapped('x')).toEqual({ valid: false, reason: 'malformed' });
  });
});
