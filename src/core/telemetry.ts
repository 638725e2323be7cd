import { createRequire } from 'node:module';
import type * as OTel from '@opentelemetry/api';
import type { HashLimiter } from './hash-limiter.js';
import type { VerifyOptions, VerifyResult } from './types.js';
import type { VerifyCache } from './verify-cache.js';

type Api = typeof OTel;
type Verify = (key: unknown, options?: VerifyOptions) => Promise<VerifyResult>;

declare const __filename: string | undefined;

let loaded: Api | null | undefined;

/**
 * `@opentelemetry/api` when the host installed it (an optional peer dependency), else null.
 * Required synchronously, once, so that an SDK the host registered before `createKeymint` is
 * seen from the first call; keymint never depends on it.
 */
function otelApi(): Api | null {
  if (loaded !== undefined) return loaded;
  try {
    const from = typeof __filename === 'string' ? __filename : import.meta.url;
    loaded = createRequire(from)('@opentelemetry/api') as Api;
  } catch {
    loaded = null;
  }
  return loaded;
}

const SCOPE = 'keymint';

/**
 * What keymint tells OpenTelemetry: spans for the management operations, metrics for
 * verification. Without `@opentelemetry/api`, every method hands back what it was given. With
 * the API but no meter provider registered when the instance is made, verification is not
 * wrapped at all, so a process without an SDK spends nothing on it.
 */
export function createTelemetry(parts: { cache: VerifyCache | null; limiter: HashLimiter | null }) {
  const api = otelApi();

  function instrumentVerify(verify: Verify): Verify {
    if (!api) return verify;
    const otel = api;
    const noopHistogram = otel.createNoopMeter().createHistogram('x').constructor;

    function check(): { verifications: OTel.Counter; duration: OTel.Histogram } | null {
      const meter = otel.metrics.getMeter(SCOPE);
      const duration = meter.createHistogram('keymint.verify.duration', {
        description: 'Duration of verifyKey calls',
        unit: 's',
      });
      if (duration.constructor === noopHistogram) return null;
      const verifications = meter.createCounter('keymint.verifications', {
        description: 'verifyKey calls by outcome',
        unit: '{verification}',
      });
      const { cache, limiter } = parts;
      if (cache) {
        meter
          .createObservableCounter('keymint.verify.cache.requests', {
            description: 'Verify-cache answers (hit) and store lookups (miss)',
            unit: '{request}',
          })
          .addCallback((result) => {
            result.observe(cache.hits, { 'keymint.cache.result': 'hit' });
            result.observe(cache.misses, { 'keymint.cache.result': 'miss' });
          });
      }
      if (limiter) {
        meter
          .createObservableGauge('keymint.hashing.queue.size', {
            description: 'Hashes waiting for a hashing slot',
            unit: '{hash}',
          })
          .addCallback((result) => result.observe(limiter.waiting));
      }
      return { verifications, duration };
    }
    const found = check();
    // No SDK registered yet: verification stays exactly as it is, at no cost at all.
    if (found === null) return verify;
    const { verifications, duration } = found;

    return (key, options) => {
      const started = performance.now();
      const record = (outcome: string) => {
        const attributes = { 'keymint.verify.outcome': outcome };
        verifications.add(1, attributes);
        duration.record((performance.now() - started) / 1000, attributes);
      };
      return verify(key, options).then(
        (result) => {
          record(result.valid ? 'valid' : result.reason);
          return result;
        },
        (error: unknown) => {
          record('error');
          throw error;
        },
      );
    };
  }

  /**
   * Wraps each named async method in a span `keymint.<method>`, with `keymint.scope` and
   * `keymint.key.id` when the call names them and `error.type` (the KeymintError code) on
   * failure. Never the key, a name, metadata or the actor.
   */
  function instrumentMethods<T extends object>(target: T, names: readonly (keyof T)[]): T {
    if (!api) return target;
    const otel = api;
    const tracer = otel.trace.getTracer(SCOPE);
    for (const name of names) {
      const original = target[name];
      if (typeof original !== 'function') continue;
      const method = original as (...args: unknown[]) => Promise<unknown>;
      const spanName = `keymint.${String(name)}`;
      (target as Record<keyof T, unknown>)[name] = function (this: unknown, ...args: unknown[]) {
        return tracer.startActiveSpan(spanName, { kind: otel.SpanKind.INTERNAL }, async (span) => {
          try {
            const result = await method.apply(this, args);
            span.setAttributes(attributesOf(result));
            return result;
          } catch (error) {
            const code = (error as { code?: unknown } | null)?.code;
            span.setAttribute('error.type', typeof code === 'string' ? code : 'unknown');
            span.setStatus({ code: otel.SpanStatusCode.ERROR });
            throw error;
          } finally {
            span.end();
          }
        });
      };
    }
    return target;
  }

  return { instrumentVerify, instrumentMethods };
}

/** `keymint.key.id` and `keymint.scope` of a returned record (or a leak report's record). */
function attributesOf(result: unknown): OTel.Attributes {
  const record =
    (result as { apiKey?: unknown } | null)?.apiKey ?? (result as { id?: unknown } | null);
  const { id, scope } = (record ?? {}) as { id?: unknown; scope?: unknown };
  const attributes: OTel.Attributes = {};
  if (typeof id === 'string') attributes['keymint.key.id'] = id;
  if (typeof scope === 'string') attributes['keymint.scope'] = scope;
  if (typeof result === 'number') attributes['keymint.purged.count'] = result;
  if (Array.isArray(result)) attributes['keymint.list.size'] = result.length;
  return attributes;
}
