// OpenTelemetry with the SDK's in-memory exporters, registered before the instance is made.
import { metrics, trace } from '@opentelemetry/api';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fastKeymint } from './helpers.js';

const spans = new InMemorySpanExporter();
const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });

beforeAll(() => {
  trace.setGlobalTracerProvider(
    new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] }),
  );
  metrics.setGlobalMeterProvider(new MeterProvider({ readers: [reader] }));
});
afterAll(() => {
  trace.disable();
  metrics.disable();
});

async function collected() {
  await reader.forceFlush();
  const batches = exporter.getMetrics();
  const all = batches.at(-1)!.scopeMetrics.flatMap((scope) => scope.metrics);
  return new Map(all.map((metric) => [metric.descriptor.name, metric]));
}

describe('OpenTelemetry', () => {
  it('records a span per management operation, without key, name or actor', async () => {
    const { keymint } = fastKeymint();
    const { key, apiKey } = await keymint.createApiKey(
      { name: 'Jane Doe laptop', role: 'Viewer', ttl: '1h', scope: 'org-1' },
      { actor: { name: 'Jane Doe' } },
    );
    await keymint.revokeApiKey(apiKey.id);
    await expect(keymint.getApiKey('AAAAAAAAAAAA')).rejects.toThrow();
    const finished = spans.getFinishedSpans();
    expect(finished.map((span) => span.name)).toEqual([
      'keymint.createApiKey',
      'keymint.revokeApiKey',
      'keymint.getApiKey',
    ]);
    expect(finished[0]!.attributes).toEqual({
      'keymint.key.id': apiKey.id,
      'keymint.scope': 'org-1',
    });
    expect(finished[2]!.attributes).toEqual({ 'error.type': 'NOT_FOUND' });
    expect(finished[2]!.status.code).toBe(2);
    const text = JSON.stringify(finished.map((span) => span.attributes));
    expect(text).not.toContain(key);
    expect(text).not.toContain('Jane');
  });

  it('counts verifications by outcome, times them, and counts cache hits and misses', async () => {
    const { keymint } = fastKeymint({ hashing: { concurrency: 1 } });
    const { key } = await keymint.createApiKey({ name: 'ci', role: 'Viewer', ttl: '1h' });
    for (let i = 0; i < 3; i++) expect((await keymint.verifyKey(key)).valid).toBe(true);
    await keymint.verifyKey('km_nope');
    const found = await collected();
    const counter = found.get('keymint.verifications')!;
    const byOutcome = Object.fromEntries(
      counter.dataPoints.map((point) => [point.attributes['keymint.verify.outcome'], point.value]),
    );
    expect(byOutcome).toMatchObject({ valid: 3, malformed: 1 });
    const histogram = found.get('keymint.verify.duration')!;
    expect(histogram.descriptor.unit).toBe('s');
    const cache = found.get('keymint.verify.cache.requests')!;
    const byResult = Object.fromEntries(
      cache.dataPoints.map((point) => [point.attributes['keymint.cache.result'], point.value]),
    );
    expect(byResult.hit).toBeGreaterThanOrEqual(2);
    expect(byResult.miss).toBeGreaterThanOrEqual(1);
    expect(JSON.stringify([...found.values()])).not.toContain(key);
  });
});
